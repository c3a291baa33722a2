// CEL selector evaluation against a device, next to hand-written C++ doing the same work.
//
// Each CEL benchmark has a *_Native twin in the same process; the reported ratio
// (CEL ns/eval divided by native ns/eval) is the number that matters.
// Run: build/bench/cel_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "api/resource.h"
#include "cel/cel.h"

namespace {

using migdra::api::Device;
using migdra::api::DeviceAttribute;
using migdra::api::DeviceCapacity;
using migdra::api::Quantity;

constexpr std::string_view kDriver = "gpu.nvidia.com";

Device MakeMigDevice() {
  auto str = [](const char* s) {
    DeviceAttribute a;
    a.string_value = s;
    return a;
  };
  auto version = [](const char* s) {
    DeviceAttribute a;
    a.version_value = s;
    return a;
  };
  auto cap = [](const char* q) {
    DeviceCapacity c;
    c.value = *Quantity::Parse(q);
    return c;
  };
  Device d;
  d.name = "gpu-0-mig-1g10gb-19-6";
  d.attributes = {{"type", str("mig")},
                  {"parentUUID", str("GPU-4e0c6c5e-7b1d-4a5e-9d0f-1f2e3d4c5b6a")},
                  {"profile", str("1g.10gb")},
                  {"productName", str("NVIDIA A100-SXM4-80GB")},
                  {"brand", str("Nvidia")},
                  {"architecture", str("Ampere")},
                  {"cudaComputeCapability", version("8.0.0")},
                  {"driverVersion", version("580.95.5")},
                  {"cudaDriverVersion", version("13.0.0")},
                  {"resource.kubernetes.io/pciBusID", str("0000:07:00.0")}};
  d.capacity = {{"memory", cap("9728Mi")}, {"multiprocessors", cap("14")},
                {"copyEngines", cap("1")}, {"decoders", cap("0")},
                {"encoders", cap("0")},    {"jpegEngines", cap("0")},
                {"ofaEngines", cap("0")}};
  return d;
}

// Resolves `id` in `domain` the way the DRA environment does (bare keys belong to the driver).
const std::string* NativeString(const Device& d, std::string_view driver, std::string_view domain,
                                const std::string& id) {
  auto it = d.attributes.end();
  if (domain == driver) it = d.attributes.find(id);
  if (it == d.attributes.end()) it = d.attributes.find(std::string(domain) + "/" + id);
  if (it == d.attributes.end() || !it->second.string_value) return nullptr;
  return &*it->second.string_value;
}

const Quantity* NativeCapacity(const Device& d, std::string_view driver, std::string_view domain,
                               const std::string& id) {
  auto it = d.capacity.end();
  if (domain == driver) it = d.capacity.find(id);
  if (it == d.capacity.end()) it = d.capacity.find(std::string(domain) + "/" + id);
  return it == d.capacity.end() ? nullptr : &it->second.value;
}

const char* kWalkthrough = "device.driver == 'gpu.nvidia.com'";
const char* kThreeClauses =
    "device.attributes['gpu.nvidia.com'].type == 'mig' && "
    "device.attributes['gpu.nvidia.com'].profile.startsWith('1g') && "
    "device.capacity['gpu.nvidia.com'].memory.compareTo(quantity('8Gi')) >= 0";

void BM_Walkthrough_Cel(benchmark::State& state) {
  const Device device = MakeMigDevice();
  auto selector = migdra::cel::CompiledSelector::Compile(kWalkthrough);
  for (auto _ : state) {
    auto r = selector->Matches(device, kDriver);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Walkthrough_Cel);

void BM_Walkthrough_Native(benchmark::State& state) {
  const Device device = MakeMigDevice();
  std::string_view driver = kDriver;
  for (auto _ : state) {
    benchmark::DoNotOptimize(driver);
    bool r = driver == "gpu.nvidia.com";
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Walkthrough_Native);

void BM_ThreeClauses_Cel(benchmark::State& state) {
  const Device device = MakeMigDevice();
  auto selector = migdra::cel::CompiledSelector::Compile(kThreeClauses);
  if (!selector.ok() || !*selector->Matches(device, kDriver))
    state.SkipWithError("selector does not match");
  for (auto _ : state) {
    auto r = selector->Matches(device, kDriver);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ThreeClauses_Cel);

void BM_ThreeClauses_Native(benchmark::State& state) {
  const Device device = MakeMigDevice();
  const std::string type = "type", profile = "profile", memory = "memory";
  std::string_view driver = kDriver;
  for (auto _ : state) {
    benchmark::DoNotOptimize(driver);
    // Each evaluation parses its literal, as an uncompiled hand-written check would not need
    // to: keep the comparison value constant instead.
    static const Quantity eight_gi = *Quantity::Parse("8Gi");
    bool r = false;
    const std::string* t = NativeString(device, driver, "gpu.nvidia.com", type);
    if (t && *t == "mig") {
      const std::string* p = NativeString(device, driver, "gpu.nvidia.com", profile);
      if (p && std::string_view(*p).substr(0, 2) == "1g") {
        const Quantity* m = NativeCapacity(device, driver, "gpu.nvidia.com", memory);
        r = m && m->Compare(eight_gi) >= 0;
      }
    }
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ThreeClauses_Native);

void BM_Compile_ThreeClauses(benchmark::State& state) {
  for (auto _ : state) {
    auto s = migdra::cel::CompiledSelector::Compile(kThreeClauses);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_Compile_ThreeClauses);

}  // namespace

BENCHMARK_MAIN();
