// Tests of the driver's building blocks: device names, opaque configs, checkpoint, CDI, claims.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "driver/cdi.h"
#include "driver/checkpoint.h"
#include "driver/claim_source.h"
#include "driver/device_name.h"
#include "driver/opaque_config.h"

namespace migdra::driver {
namespace {

namespace fs = std::filesystem;

TEST(DeviceName, ParsesGpuAndMigNames) {
  auto gpu = ParseDeviceName("gpu-3");
  ASSERT_TRUE(gpu.ok());
  EXPECT_FALSE(gpu->is_mig);
  EXPECT_EQ(gpu->gpu_minor, 3);
  auto mig = ParseDeviceName("gpu-1-mig-1g10gb-19-6");
  ASSERT_TRUE(mig.ok());
  EXPECT_TRUE(mig->is_mig);
  EXPECT_EQ(mig->gpu_minor, 1);
  EXPECT_EQ(mig->profile, "1g10gb");
  EXPECT_EQ(mig->gi_profile_id, 19);
  EXPECT_EQ(mig->placement_start, 6);
  auto me = ParseDeviceName("gpu-0-mig-1g10gb-me-20-0");
  ASSERT_TRUE(me.ok());
  EXPECT_EQ(me->profile, "1g10gb-me");
  for (const char* bad : {"gpu-", "gpu-x", "gpu-01", "gpu-0-mig-19-0", "cpu-0", "gpu-0-mig--1-2"}) {
    EXPECT_FALSE(ParseDeviceName(bad).ok()) << bad;
  }
}

TEST(OpaqueConfig, DecodesStrictly) {
  auto ok = DecodeOpaqueConfig(
      R"({"apiVersion":"resource.nvidia.com/v1beta1","kind":"GpuConfig",)"
      R"("sharing":{"strategy":"TimeSlicing","timeSlicingConfig":{"interval":"Default"}}})");
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_TRUE(CheckApplicable(*ok, false, "gpu-0").ok());
  EXPECT_FALSE(CheckApplicable(*ok, true, "gpu-0-mig-1g10gb-19-0").ok());

  auto unknown = DecodeOpaqueConfig(
      R"({"apiVersion":"resource.nvidia.com/v1beta1","kind":"GpuConfig","sharng":{}})");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().field, "sharng");

  auto bad_version = DecodeOpaqueConfig(R"({"apiVersion":"v9","kind":"GpuConfig"})");
  ASSERT_FALSE(bad_version.ok());
  EXPECT_EQ(bad_version.error().field, "apiVersion");

  auto mig_ts =
      DecodeOpaqueConfig(R"({"apiVersion":"resource.nvidia.com/v1beta1","kind":"MigDeviceConfig",)"
                         R"("sharing":{"strategy":"TimeSlicing","timeSlicingConfig":{}}})");
  ASSERT_FALSE(mig_ts.ok()) << "MIG devices have no time-slicing settings";

  auto long_slice = DecodeOpaqueConfig(
      R"({"apiVersion":"resource.nvidia.com/v1beta1","kind":"GpuConfig",)"
      R"("sharing":{"strategy":"TimeSlicing","timeSlicingConfig":{"interval":"Long"}}})");
  ASSERT_TRUE(long_slice.ok());
  Status refused = CheckApplicable(*long_slice, false, "gpu-0");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("Long"), std::string::npos);

  auto mps = DecodeOpaqueConfig(
      R"({"apiVersion":"resource.nvidia.com/v1beta1","kind":"GpuConfig",)"
      R"("sharing":{"strategy":"MPS","mpsConfig":{"defaultActiveThreadPercentage":50}}})");
  ASSERT_TRUE(mps.ok());
  EXPECT_FALSE(CheckApplicable(*mps, false, "gpu-0").ok());
}

TEST(OpaqueConfig, ClaimConfigsComeAfterClassConfigsAndMatchRequests) {
  const std::string gpu_cfg = R"({"apiVersion":"resource.nvidia.com/v1beta1","kind":"GpuConfig"})";
  const std::string mig_cfg =
      R"({"apiVersion":"resource.nvidia.com/v1beta1","kind":"MigDeviceConfig"})";
  std::vector<AllocatedConfig> configs = {
      {"FromClaim", {"a"}, "gpu.nvidia.com", mig_cfg},
      {"FromClass", {}, "gpu.nvidia.com", gpu_cfg},
      {"FromClaim", {"b"}, "gpu.nvidia.com", gpu_cfg},
      {"FromClaim", {}, "other.example.com", "not json"},
  };
  auto for_a = ConfigsForRequest(configs, "gpu.nvidia.com", "a/sub");
  ASSERT_TRUE(for_a.ok());
  ASSERT_EQ(for_a->size(), 2u);
  EXPECT_EQ((*for_a)[0].kind, "GpuConfig");
  EXPECT_EQ((*for_a)[1].kind, "MigDeviceConfig");
}

TEST(Checkpoint, RoundTripsAndDetectsCorruption) {
  Checkpoint cp;
  cp.boot_id = "b1";
  PreparedDevice d;
  d.requests = {"r"};
  d.pool = "n";
  d.device = "gpu-0-mig-1g10gb-19-0";
  d.kind = DeviceKind::kMigDynamic;
  d.gi_profile_id = 19;
  d.placement_start = 0;
  d.gi_id = 7;
  d.ci_id = 0;
  d.uuid = "MIG-1";
  cp.claims["u1"] = {ClaimState::kPrepareCompleted, "ns", "c", {d}};
  std::string text = SerializeCheckpoint(cp);
  auto back = ParseCheckpoint(text);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->boot_id, "b1");
  EXPECT_EQ(back->claims.at("u1").devices[0].gi_id, 7);
  EXPECT_EQ(back->claims.at("u1").devices[0].kind, DeviceKind::kMigDynamic);
  std::string tampered = text;
  tampered.replace(tampered.find("MIG-1"), 5, "MIG-2");
  auto bad = ParseCheckpoint(tampered);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("checksum"), std::string::npos);
  EXPECT_FALSE(ParseCheckpoint("{").ok());
}

TEST(Checkpoint, JournalReplaysOverTheSnapshotAndEndsAtATornAppend) {
  const fs::path dir = fs::temp_directory_path() / ("migdra-journal-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "checkpoint.json").string();
  Checkpoint cp;
  cp.boot_id = "b1";
  cp.claims["u1"] = {ClaimState::kPrepareCompleted, "ns", "one", {}};
  {
    CheckpointJournal journal(path);
    ASSERT_TRUE(journal.Reset(cp).ok());
    ClaimRecord two{ClaimState::kPrepareStarted, "ns", "two", {}};
    cp.claims["u2"] = two;
    auto seq = journal.Append("u2", &two, cp);
    ASSERT_TRUE(seq.ok());
    cp.claims.erase("u1");
    ASSERT_TRUE(journal.Append("u1", nullptr, cp).ok());
    ASSERT_TRUE(journal.Sync(*seq).ok());
  }
  auto loaded = LoadCheckpoint(path);
  ASSERT_TRUE(loaded.ok() && loaded->has_value());
  EXPECT_EQ((*loaded)->claims.count("u1"), 0u);
  EXPECT_EQ((*loaded)->claims.at("u2").name, "two");

  // An append cut short (the last record, followed by zero bytes) ends the journal...
  std::fstream f(JournalPath(path), std::ios::in | std::ios::out | std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t last = text.rfind('\n', text.find('\0') - 2) + 1;
  f.seekp(static_cast<std::streamoff>(last + 70));
  f.write("\0\0\0\0", 4);
  f.flush();
  loaded = LoadCheckpoint(path);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ((*loaded)->claims.count("u1"), 1u) << "the forgetting was cut short";
  // ...damage before the last record makes the checkpoint corrupt.
  f.seekp(70);
  f.write("x", 1);
  f.flush();
  EXPECT_FALSE(LoadCheckpoint(path).ok());
  fs::remove_all(dir);
}

TEST(Cdi, AddsMigCapabilityNodesFromProc) {
  fs::path root = fs::temp_directory_path() / ("migdra-cdi-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "proc/driver/nvidia/capabilities/gpu1/mig/gi3/ci0");
  std::ofstream(root / "proc/driver/nvidia/capabilities/gpu1/mig/gi3/access")
      << "DeviceFileMinor: 30\nDeviceFileMode: 292\n";
  std::ofstream(root / "proc/driver/nvidia/capabilities/gpu1/mig/gi3/ci0/access")
      << "DeviceFileMinor: 31\nDeviceFileMode: 292\n";
  CdiWriter writer((root / "cdi").string(), (root / "proc").string());
  PreparedDevice d;
  d.device = "gpu-1-mig-1g10gb-19-0";
  d.kind = DeviceKind::kMigDynamic;
  d.gpu_minor = 1;
  d.gi_id = 3;
  d.ci_id = 0;
  d.uuid = "MIG-x";
  std::string spec = writer.RenderSpec("uid-1", {d});
  EXPECT_NE(spec.find("/dev/nvidia-caps/nvidia-cap30"), std::string::npos);
  EXPECT_NE(spec.find("/dev/nvidia-caps/nvidia-cap31"), std::string::npos);
  EXPECT_NE(spec.find("/dev/nvidia1\""), std::string::npos);
  EXPECT_NE(spec.find("CUDA_VISIBLE_DEVICES=MIG-x"), std::string::npos);
  EXPECT_NE(spec.find("\"name\": \"uid-1-gpu-1-mig-1g10gb-19-0\""), std::string::npos);
  ASSERT_TRUE(writer.Write("uid-1", {d}).ok());
  EXPECT_TRUE(fs::exists(writer.SpecPath("uid-1")));
  ASSERT_TRUE(writer.Delete("uid-1").ok());
  EXPECT_FALSE(fs::exists(writer.SpecPath("uid-1")));
  EXPECT_TRUE(writer.Delete("uid-1").ok());
  EXPECT_FALSE(writer.Write("../x", {d}).ok());
  fs::remove_all(root);
}

TEST(ClaimJson, ReadsAllocationResultsAndConfigs) {
  auto info = ParseClaimJson(R"({
    "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
    "metadata": {"name": "c", "namespace": "ns", "uid": "u-1"},
    "status": {
      "reservedFor": [{"resource": "pods", "name": "p", "uid": "p1"}],
      "allocation": {"devices": {
        "results": [{"request": "mig", "driver": "gpu.nvidia.com", "pool": "n1",
                     "device": "gpu-0-mig-1g10gb-19-0"}],
        "config": [{"source": "FromClaim", "requests": ["mig"],
                    "opaque": {"driver": "gpu.nvidia.com",
                               "parameters": {"apiVersion": "resource.nvidia.com/v1beta1",
                                              "kind": "MigDeviceConfig"}}}]}}}})");
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_EQ(info->ref.uid, "u-1");
  EXPECT_TRUE(info->allocated);
  EXPECT_TRUE(info->reserved);
  ASSERT_EQ(info->results.size(), 1u);
  EXPECT_EQ(info->results[0].pool, "n1");
  ASSERT_EQ(info->configs.size(), 1u);
  EXPECT_NE(info->configs[0].parameters_json.find("MigDeviceConfig"), std::string::npos);
  auto unallocated = ParseClaimJson(R"({"metadata": {"uid": "u"}})");
  ASSERT_TRUE(unallocated.ok());
  EXPECT_FALSE(unallocated->allocated);
}

}  // namespace
}  // namespace migdra::driver
