// Decoding a realistic 128-device dynamic-MIG ResourceSlice (7 H100-80GB GPUs: the full GPU and
// every MIG placement, each with NVIDIA's attributes, capacities and consumesCounters), from YAML
// and from JSON text, beside the bare parsers (yaml-cpp, nlohmann::json) as baselines in the same
// process. One iteration = one slice, so the reported time is the time per slice.
// Run: build/bench/decode_bench
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "api/codec.h"

namespace migdra::api {
namespace {

struct Profile {
  const char* name;
  int gi_profile;
  int slices;
  std::vector<int> placements;
  int multiprocessors;
  int memory_mib;
  int copy_engines;
  int decoders;
};

// H100 80GB HBM3 (reference/mig-profiles.json).
const std::vector<Profile> kProfiles = {
    {"1g.10gb", 19, 1, {0, 1, 2, 3, 4, 5, 6}, 16, 9856, 1, 1},
    {"1g.20gb", 15, 2, {0, 2, 4, 6}, 26, 19968, 1, 1},
    {"2g.20gb", 14, 2, {0, 2, 4}, 32, 19968, 2, 2},
    {"3g.40gb", 9, 4, {0, 4}, 60, 40192, 3, 3},
    {"4g.40gb", 5, 4, {0}, 64, 40192, 4, 4},
    {"7g.80gb", 0, 8, {0}, 132, 80896, 8, 7},
};

DeviceAttribute String(const std::string& s) {
  DeviceAttribute a;
  a.string_value = s;
  return a;
}
DeviceAttribute Version(const std::string& s) {
  DeviceAttribute a;
  a.version_value = s;
  return a;
}
DeviceCapacity Capacity(const std::string& q) {
  return DeviceCapacity{*Quantity::Parse(q), std::nullopt};
}
Counter CounterOf(const std::string& q) { return Counter{*Quantity::Parse(q)}; }

void AddCommonAttributes(Device& d, int gpu) {
  d.attributes["productName"] = String("NVIDIA H100 80GB HBM3");
  d.attributes["brand"] = String("Nvidia");
  d.attributes["architecture"] = String("Hopper");
  d.attributes["cudaComputeCapability"] = Version("9.0.0");
  d.attributes["driverVersion"] = Version("550.54.15");
  d.attributes["cudaDriverVersion"] = Version("12.4.0");
  d.attributes["resource.kubernetes.io/pciBusID"] =
      String("0000:" + std::to_string(0x18 + gpu) + ":00.0");
}

ResourceSlice MakeSlice() {
  ResourceSlice slice;
  slice.metadata.name = "node-1-gpu.nvidia.com-x7k2p";
  slice.spec.driver = "gpu.nvidia.com";
  slice.spec.node_name = "node-1";
  slice.spec.pool = ResourcePool{"node-1", 1, 1};
  for (int gpu = 0; slice.spec.devices.size() < 128; ++gpu) {
    const std::string prefix = "gpu-" + std::to_string(gpu);
    const std::string uuid = "GPU-4cf8db2d-06c0-7d70-1a51-e59b25b2c1" + std::to_string(10 + gpu);
    CounterSet set{prefix + "-counter-set", {}};
    set.counters["multiprocessors"] = CounterOf("132");
    set.counters["copy-engines"] = CounterOf("8");
    set.counters["decoders"] = CounterOf("7");
    set.counters["memory"] = CounterOf("80Gi");
    for (int s = 0; s < 8; ++s) set.counters["memory-slice-" + std::to_string(s)] = CounterOf("1");
    slice.spec.shared_counters.push_back(set);

    Device full;
    full.name = prefix;
    full.attributes["type"] = String("gpu");
    full.attributes["uuid"] = String(uuid);
    AddCommonAttributes(full, gpu);
    full.capacity["memory"] = Capacity("80Gi");
    full.capacity["multiprocessors"] = Capacity("132");
    full.consumes_counters.push_back(DeviceCounterConsumption{set.name, set.counters});
    slice.spec.devices.push_back(full);
    for (const Profile& p : kProfiles) {
      for (int start : p.placements) {
        if (slice.spec.devices.size() == 128) break;
        std::string compact = p.name;
        compact.erase(std::remove(compact.begin(), compact.end(), '.'), compact.end());
        Device d;
        d.name = prefix + "-mig-" + compact + "-" + std::to_string(p.gi_profile) + "-" +
                 std::to_string(start);
        d.attributes["type"] = String("mig");
        d.attributes["profile"] = String(p.name);
        d.attributes["parentUUID"] = String(uuid);
        AddCommonAttributes(d, gpu);
        d.capacity["multiprocessors"] = Capacity(std::to_string(p.multiprocessors));
        d.capacity["memory"] = Capacity(std::to_string(p.memory_mib) + "Mi");
        d.capacity["copyEngines"] = Capacity(std::to_string(p.copy_engines));
        d.capacity["decoders"] = Capacity(std::to_string(p.decoders));
        d.capacity["encoders"] = Capacity("0");
        d.capacity["jpegEngines"] = Capacity(std::to_string(p.decoders));
        d.capacity["ofaEngines"] = Capacity(p.slices == 8 ? "1" : "0");
        DeviceCounterConsumption c{set.name, {}};
        c.counters["multiprocessors"] = CounterOf(std::to_string(p.multiprocessors));
        c.counters["copy-engines"] = CounterOf(std::to_string(p.copy_engines));
        c.counters["decoders"] = CounterOf(std::to_string(p.decoders));
        c.counters["memory"] = CounterOf(std::to_string(p.memory_mib) + "Mi");
        for (int s = start; s < start + p.slices; ++s)
          c.counters["memory-slice-" + std::to_string(s)] = CounterOf("1");
        d.consumes_counters.push_back(c);
        slice.spec.devices.push_back(d);
      }
    }
  }
  return slice;
}

const std::string& SliceJson() {
  static const std::string text = ToJsonText(ToJson(MakeSlice()));
  return text;
}
const std::string& SliceYaml() {
  static const std::string text = ToYaml(ToJson(MakeSlice()));
  return text;
}

void Decode(benchmark::State& state, const std::string& text) {
  for (auto _ : state) {
    auto documents = ParseDocuments(text);
    auto slice = FromJson<ResourceSlice>(documents->front());
    if (!slice.ok() || slice->spec.devices.size() != 128) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(slice);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["bytes"] = static_cast<double>(text.size());
}

void BM_DecodeSliceFromYaml(benchmark::State& state) { Decode(state, SliceYaml()); }
void BM_DecodeSliceFromJson(benchmark::State& state) { Decode(state, SliceJson()); }

// Baselines: the parsers alone, without conversion or typed decoding.
void BM_BaselineYamlCppLoad(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(YAML::Load(SliceYaml()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * SliceYaml().size()));
}
void BM_BaselineNlohmannParse(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(nlohmann::json::parse(SliceJson()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * SliceJson().size()));
}

// The other direction, for completeness.
void BM_EncodeSliceToJson(benchmark::State& state) {
  const ResourceSlice slice = MakeSlice();
  for (auto _ : state) benchmark::DoNotOptimize(ToJsonText(ToJson(slice)));
}
void BM_EncodeSliceToYaml(benchmark::State& state) {
  const ResourceSlice slice = MakeSlice();
  for (auto _ : state) benchmark::DoNotOptimize(ToYaml(ToJson(slice)));
}

BENCHMARK(BM_DecodeSliceFromYaml)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BaselineYamlCppLoad)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DecodeSliceFromJson)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BaselineNlohmannParse)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EncodeSliceToJson)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EncodeSliceToYaml)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace migdra::api

BENCHMARK_MAIN();
