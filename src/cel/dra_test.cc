// DRA selector tests: NVIDIA's DeviceClass selectors and typical user selectors against
// hand-built MIG and full-GPU devices, as published by NVIDIA's DRA driver.
#include <gtest/gtest.h>

#include <atomic>

#include <string>
#include <thread>
#include <vector>

#include "cel/cel.h"
#include "cel/test_devices.h"

namespace migdra::cel {
namespace {

using testing::Int;
using testing::Str;
using testing::Version;

constexpr const char* kDriver = "gpu.nvidia.com";

api::DeviceCapacity Cap(std::string_view q) {
  api::DeviceCapacity c;
  c.value = *api::Quantity::Parse(q);
  return c;
}

// gpu-0-mig-1g10gb-19-6 on an A100 80GB, as the NVIDIA driver publishes it.
api::Device MigDevice(std::string profile = "1g.10gb", std::string memory = "9728Mi",
                      int64_t sms = 14) {
  api::Device d;
  d.name = "gpu-0-mig-1g10gb-19-6";
  d.attributes = {
      {"type", Str("mig")},
      {"parentUUID", Str("GPU-4e0c6c5e-7b1d-4a5e-9d0f-1f2e3d4c5b6a")},
      {"profile", Str(profile)},
      {"productName", Str("NVIDIA A100-SXM4-80GB")},
      {"brand", Str("Nvidia")},
      {"architecture", Str("Ampere")},
      {"cudaComputeCapability", Version("8.0.0")},
      {"driverVersion", Version("580.95.5")},
      {"cudaDriverVersion", Version("13.0.0")},
      {"resource.kubernetes.io/pciBusID", Str("0000:07:00.0")},
      {"resource.kubernetes.io/numaNode", Int(0)},
  };
  d.capacity = {
      {"memory", Cap(memory)},   {"multiprocessors", Cap(std::to_string(sms))},
      {"copyEngines", Cap("1")}, {"decoders", Cap("0")},
      {"encoders", Cap("0")},    {"jpegEngines", Cap("0")},
      {"ofaEngines", Cap("0")},
  };
  return d;
}

api::Device FullGpu() {
  api::Device d;
  d.name = "gpu-0";
  d.attributes = {
      {"type", Str("gpu")},
      {"uuid", Str("GPU-4e0c6c5e-7b1d-4a5e-9d0f-1f2e3d4c5b6a")},
      {"productName", Str("NVIDIA A100-SXM4-80GB")},
      {"cudaComputeCapability", Version("8.0.0")},
      {"driverVersion", Version("580.95.5")},
  };
  d.capacity = {{"memory", Cap("80Gi")}};
  return d;
}

Result<bool> Match(std::string_view expr, const api::Device& device,
                   std::string_view driver = kDriver) {
  auto sel = CompiledSelector::Compile(expr);
  if (!sel.ok()) return sel.error();
  return sel->Matches(device, driver);
}

bool MustMatch(std::string_view expr, const api::Device& device) {
  auto r = Match(expr, device);
  EXPECT_TRUE(r.ok()) << expr << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() && *r;
}

TEST(DraSelectorTest, WalkthroughAndNvidiaDeviceClasses) {
  const api::Device mig = MigDevice();
  const api::Device gpu = FullGpu();
  EXPECT_TRUE(MustMatch("device.driver == 'gpu.nvidia.com'", mig));
  EXPECT_FALSE(*Match("device.driver == 'gpu.nvidia.com'", mig, "other.example.com"));
  const char* mig_class =
      "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'mig'";
  const char* gpu_class =
      "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'";
  EXPECT_TRUE(MustMatch(mig_class, mig));
  EXPECT_FALSE(MustMatch(mig_class, gpu));
  EXPECT_TRUE(MustMatch(gpu_class, gpu));
  EXPECT_FALSE(MustMatch(gpu_class, mig));
}

// The driver-equality selector is answered without the evaluator; it must agree with it.
TEST(DraSelectorTest, DriverEqualityShortcutAgreesWithTheEvaluator) {
  const api::Device mig = MigDevice();
  for (const char* expr : {"device.driver == 'gpu.nvidia.com'", "'gpu.nvidia.com' == device.driver",
                           "(device.driver == 'gpu.nvidia.com') == true"}) {
    EXPECT_TRUE(*Match(expr, mig)) << expr;
    EXPECT_FALSE(*Match(expr, mig, "gpu.nvidia.co")) << expr;
    EXPECT_FALSE(*Match(expr, mig, "")) << expr;
  }
  EXPECT_FALSE(*Match("device.driver == 'GPU.NVIDIA.COM'", mig));
  EXPECT_FALSE(MustMatch("device.driver != 'gpu.nvidia.com'", mig));
}

TEST(DraSelectorTest, TypicalUserSelectors) {
  const api::Device mig = MigDevice();
  EXPECT_TRUE(MustMatch("device.attributes['gpu.nvidia.com'].profile == '1g.10gb'", mig));
  EXPECT_FALSE(MustMatch("device.attributes['gpu.nvidia.com'].profile == '3g.40gb'", mig));
  EXPECT_TRUE(
      MustMatch("device.capacity['gpu.nvidia.com'].memory.compareTo(quantity('8Gi')) >= 0", mig));
  EXPECT_FALSE(
      MustMatch("device.capacity['gpu.nvidia.com'].memory.compareTo(quantity('10Gi')) >= 0", mig));
  EXPECT_TRUE(
      MustMatch("device.capacity['gpu.nvidia.com'].memory.isGreaterThan(quantity('9Gi'))", mig));
  EXPECT_TRUE(
      MustMatch("device.capacity['gpu.nvidia.com'].memory.isLessThan(quantity('11G'))", mig));
  EXPECT_TRUE(
      MustMatch("device.attributes['gpu.nvidia.com'].productName.startsWith('NVIDIA A100')", mig));
  EXPECT_TRUE(
      MustMatch("device.attributes['gpu.nvidia.com'].productName.matches('A100.*80GB$')", mig));
  EXPECT_TRUE(MustMatch(
      "device.attributes['gpu.nvidia.com'].driverVersion.isGreaterThan(semver('550.0.0'))", mig));
  EXPECT_FALSE(MustMatch(
      "device.attributes['gpu.nvidia.com'].driverVersion.isGreaterThan(semver('600.0.0'))", mig));
  EXPECT_TRUE(MustMatch(
      "device.attributes['gpu.nvidia.com'].driverVersion.compareTo(semver('580.95.5')) == 0", mig));
  EXPECT_TRUE(
      MustMatch("device.attributes['gpu.nvidia.com'].cudaComputeCapability.major() >= 8", mig));
  EXPECT_TRUE(MustMatch(
      "device.attributes['gpu.nvidia.com'].cudaComputeCapability.isGreaterThan(semver('7.5.0'))",
      mig));
  EXPECT_TRUE(
      MustMatch("device.capacity['gpu.nvidia.com'].multiprocessors.asInteger() >= 14", mig));
  EXPECT_TRUE(
      MustMatch("device.attributes['resource.kubernetes.io'].pciBusID == '0000:07:00.0'", mig));
  EXPECT_TRUE(MustMatch("device.attributes['resource.kubernetes.io'].numaNode == 0", mig));
  // The 3-clause selector of the benchmark.
  EXPECT_TRUE(
      MustMatch("device.attributes['gpu.nvidia.com'].type == 'mig' && "
                "device.attributes['gpu.nvidia.com'].profile.startsWith('1g') && "
                "device.capacity['gpu.nvidia.com'].memory.compareTo(quantity('8Gi')) >= 0",
                mig));
  EXPECT_FALSE(MustMatch("device.allowMultipleAllocations", mig));
}

TEST(DraSelectorTest, MissingAttributeIsARuntimeError) {
  const api::Device mig = MigDevice();
  auto r = Match("device.attributes['gpu.nvidia.com'].uuid == 'x'", mig);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no such key: uuid"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("1:"), std::string::npos) << r.error().message;  // position
  // A false clause on the left does not save it in the other order either: && absorbs errors
  // only when the other side is false.
  EXPECT_FALSE(*Match("device.attributes['gpu.nvidia.com'].uuid == 'x' && false", mig));
  EXPECT_FALSE(Match("device.attributes['gpu.nvidia.com'].uuid == 'x' && true", mig).ok());
}

TEST(DraSelectorTest, UnknownDomainIsEmptyAndPresenceTestsWork) {
  const api::Device mig = MigDevice();
  EXPECT_FALSE(MustMatch("'model' in device.attributes['other.example.com']", mig));
  EXPECT_TRUE(MustMatch("size(device.attributes['other.example.com']) == 0", mig));
  EXPECT_TRUE(MustMatch("'profile' in device.attributes['gpu.nvidia.com']", mig));
  EXPECT_FALSE(MustMatch("has(device.attributes['gpu.nvidia.com'].uuid)", mig));
  EXPECT_TRUE(MustMatch("has(device.attributes['gpu.nvidia.com'].parentUUID)", mig));
  EXPECT_TRUE(
      MustMatch("device.attributes['gpu.nvidia.com'].?uuid.orValue('none') == 'none'", mig));
  EXPECT_TRUE(
      MustMatch("device.attributes['gpu.nvidia.com'].?profile.orValue('') == '1g.10gb'", mig));
  EXPECT_TRUE(
      MustMatch("!has(device.attributes['other.example.com'].model) || false == false", mig));
  EXPECT_TRUE(MustMatch("device.attributes.exists(d, d == 'resource.kubernetes.io')", mig));
  EXPECT_TRUE(MustMatch("device.capacity['gpu.nvidia.com'].all(k, k != 'uuid')", mig));
  EXPECT_TRUE(
      MustMatch("cel.bind(a, device.attributes['gpu.nvidia.com'], a.type == 'mig' && "
                "a.profile.endsWith('10gb'))",
                mig));
}

TEST(DraSelectorTest, QualifiedDriverKeysAndUnqualifiedNames) {
  api::Device d = MigDevice();
  d.attributes["gpu.nvidia.com/extra"] = Str("yes");
  EXPECT_TRUE(MustMatch("device.attributes['gpu.nvidia.com'].extra == 'yes'", d));
  EXPECT_TRUE(MustMatch("device.attributes['gpu.nvidia.com'].type == 'mig'", d));
  // Published by another driver, the bare names belong to that driver's domain.
  auto r = Match("device.attributes['dra.example.com'].type == 'mig'", d, "dra.example.com");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(*r);
  EXPECT_FALSE(*Match("'type' in device.attributes['gpu.nvidia.com']", d, "dra.example.com"));
}

TEST(DraSelectorTest, CompileErrors) {
  EXPECT_FALSE(CompiledSelector::Compile("device.driver ==").ok());
  EXPECT_FALSE(CompiledSelector::Compile("devices.driver == 'x'").ok());
  EXPECT_FALSE(CompiledSelector::Compile("device.vendor == 'x'").ok());
  EXPECT_FALSE(CompiledSelector::Compile("'a string'").ok());
  auto err = CompiledSelector::Compile("device.driver == 'x' &&\n  nosuchfn(1)");
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.error().message.find("2:"), std::string::npos) << err.error().message;
}

TEST(DraSelectorTest, NonBoolResultIsAnError) {
  auto r = Match("device.attributes['gpu.nvidia.com'].profile", MigDevice());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("bool"), std::string::npos);
}

TEST(DraSelectorTest, CostEstimateRejectsRunawayComprehensions) {
  auto r = Match(
      "[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, "
      "[1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, "
      "[1,2,3,4,5,6,7,8,9,10].all(e, [1,2,3,4,5,6,7,8,9,10].all(f, true))))))",
      MigDevice());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "too complex, exceeds cost limit");
  // ext.Lists' estimate of lists.range(n) is n: a large range is rejected, not built.
  auto range = CompiledSelector::Compile("lists.range(2000000).size() > 0");
  ASSERT_FALSE(range.ok());
  EXPECT_EQ(range.error().message, "too complex, exceeds cost limit");
  EXPECT_TRUE(CompiledSelector::Compile("lists.range(1000).size() > 0").ok());
}

TEST(DraSelectorTest, CompiledSelectorIsSharedAcrossThreads) {
  auto sel = CompiledSelector::Compile(
      "device.attributes['gpu.nvidia.com'].profile == '1g.10gb' && "
      "device.capacity['gpu.nvidia.com'].memory.compareTo(quantity('8Gi')) >= 0");
  ASSERT_TRUE(sel.ok());
  const api::Device yes = MigDevice();
  const api::Device no = MigDevice("3g.40gb", "40Gi", 42);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        auto a = sel->Matches(yes, kDriver);
        auto b = sel->Matches(no, kDriver);
        if (!a.ok() || !*a || !b.ok() || *b) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  CompiledSelector copy = *sel;
  EXPECT_EQ(copy.expression(), sel->expression());
}

}  // namespace
}  // namespace migdra::cel
