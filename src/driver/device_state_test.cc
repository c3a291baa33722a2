#include "driver/device_state.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "driver/fake_mig_backend.h"

namespace migdra::driver {
namespace {

namespace fs = std::filesystem;

class FakeClaims : public ClaimSource {
 public:
  Result<ClaimInfo> Get(const std::string& ns, const std::string& name) override {
    auto it = claims.find(ns + "/" + name);
    if (it == claims.end()) return MakeError("ResourceClaim " + ns + "/" + name + " not found");
    return it->second;
  }
  Result<std::vector<ClaimInfo>> List() override {
    std::vector<ClaimInfo> out;
    for (const auto& [k, v] : claims) out.push_back(v);
    return out;
  }
  ClaimInfo& Add(const std::string& name, const std::string& uid,
                 const std::vector<std::string>& devices, const std::string& pool = "node-a",
                 const std::string& driver = "gpu.nvidia.com") {
    ClaimInfo c;
    c.ref = {"default", name, uid};
    c.allocated = true;
    c.reserved = true;
    for (size_t i = 0; i < devices.size(); ++i) {
      c.results.push_back({"req" + std::to_string(i), driver, pool, devices[i], false});
    }
    return claims[std::string("default/") + name] = c;
  }
  std::map<std::string, ClaimInfo> claims;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class DeviceStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("migdra-ds-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "proc/sys/kernel/random");
    SetBootId("boot-1");
    options_.pool_name = "node-a";
    options_.state_dir = (root_ / "state").string();
    options_.cdi_root = (root_ / "cdi").string();
    options_.proc_root = (root_ / "proc").string();
    options_.in_use_attempts = 3;
    options_.in_use_backoff = std::chrono::milliseconds(1);
    backend_ = std::make_unique<FakeMigBackend>(std::vector<GpuInfo>{
        {0, "GPU-aaaa", "0000:01:00.0", true, true, false},    // A100, MIG on
        {1, "GPU-bbbb", "0000:02:00.0", true, false, true},    // H100, MIG off
        {2, "GPU-cccc", "0000:03:00.0", false, false, false},  // no MIG
    });
  }
  void TearDown() override { fs::remove_all(root_); }

  void SetBootId(const std::string& id) {
    std::ofstream(root_ / "proc/sys/kernel/random/boot_id") << id << "\n";
  }
  std::unique_ptr<DeviceState> Start() {
    auto s = DeviceState::Create(options_, backend_.get(), &claims_);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? std::move(s).value() : nullptr;
  }
  std::string CdiPath(const std::string& uid) {
    return options_.cdi_root + "/k8s.gpu.nvidia.com-claim_" + uid + ".json";
  }

  fs::path root_;
  DeviceStateOptions options_;
  std::unique_ptr<FakeMigBackend> backend_;
  FakeClaims claims_;
};

TEST_F(DeviceStateTest, PreparesDynamicMigAndIsIdempotent) {
  claims_.Add("c1", "uid-1", {"gpu-0-mig-1g10gb-19-3"});
  auto s = Start();
  auto devices = s->Prepare({"default", "c1", "uid-1"});
  ASSERT_TRUE(devices.ok()) << devices.error().message;
  ASSERT_EQ(devices->size(), 1u);
  const PreparedDevice& d = (*devices)[0];
  EXPECT_EQ(d.kind, DeviceKind::kMigDynamic);
  EXPECT_EQ(d.placement_start, 3);
  EXPECT_EQ(d.uuid.rfind("MIG-", 0), 0u);
  EXPECT_EQ(d.cdi_device_ids,
            std::vector<std::string>{"k8s.gpu.nvidia.com/claim=uid-1-gpu-0-mig-1g10gb-19-3"});
  EXPECT_EQ(backend_->InstanceCount(), 1u);
  std::string spec = ReadAll(CdiPath("uid-1"));
  EXPECT_NE(spec.find("\"kind\": \"k8s.gpu.nvidia.com/claim\""), std::string::npos);
  EXPECT_NE(spec.find("NVIDIA_VISIBLE_DEVICES=" + d.uuid), std::string::npos);
  EXPECT_NE(spec.find("/dev/nvidia0"), std::string::npos);
  EXPECT_EQ(s->Snapshot().claims.at("uid-1").state, ClaimState::kPrepareCompleted);

  const size_t ops = backend_->ops.size();
  auto again = s->Prepare({"default", "c1", "uid-1"});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[0].uuid, d.uuid);
  EXPECT_EQ(backend_->ops.size(), ops) << "a second prepare must not touch the GPU";
}

TEST_F(DeviceStateTest, UnprepareDestroysWhatItCreatedAndForgetsTheClaim) {
  claims_.Add("c1", "uid-1", {"gpu-0-mig-3g40gb-9-4"});
  auto s = Start();
  ASSERT_TRUE(s->Prepare({"default", "c1", "uid-1"}).ok());
  ASSERT_TRUE(s->Unprepare({"default", "c1", "uid-1"}).ok());
  EXPECT_EQ(backend_->InstanceCount(), 0u);
  EXPECT_FALSE(fs::exists(CdiPath("uid-1")));
  EXPECT_TRUE(s->Snapshot().claims.empty());
  EXPECT_TRUE(s->Unprepare({"default", "c1", "uid-1"}).ok()) << "unknown claims unprepare fine";
}

TEST_F(DeviceStateTest, RejectsARecreatedClaim) {
  claims_.Add("c1", "uid-new", {"gpu-0-mig-1g10gb-19-0"});
  auto s = Start();
  auto r = s->Prepare({"default", "c1", "uid-old"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("deleted and re-created"), std::string::npos);
  EXPECT_EQ(backend_->InstanceCount(), 0u);
}

// The claim exists and is allocated a MIG partition, so only DeviceState's UID check keeps a
// path-like UID out of the checkpoint and from creating the partition (the CDI writer's own check
// would refuse the spec only after both).
TEST_F(DeviceStateTest, RejectsUnsafeClaimUids) {
  claims_.Add("c1", "../../etc/passwd", {"gpu-0-mig-1g10gb-19-3"});
  auto s = Start();
  auto prepared = s->Prepare({"default", "c1", "../../etc/passwd"});
  ASSERT_FALSE(prepared.ok());
  EXPECT_NE(prepared.error().message.find("invalid claim UID"), std::string::npos)
      << prepared.error().message;
  EXPECT_TRUE(backend_->ops.empty()) << "no MIG instance created for an unsafe UID";
  EXPECT_EQ(backend_->InstanceCount(), 0u);
  Status unprepared = s->Unprepare({"default", "c2", "a/b"});
  ASSERT_FALSE(unprepared.ok());
  EXPECT_NE(unprepared.error().message.find("invalid claim UID"), std::string::npos)
      << unprepared.error().message;
}

TEST_F(DeviceStateTest, PreparesOnlyItsOwnDriverAndPool) {
  auto& c = claims_.Add("c1", "uid-1", {"gpu-2"});
  c.results.push_back({"other", "gpu.nvidia.com", "node-b", "gpu-0", false});
  c.results.push_back({"net", "net.example.com", "node-a", "eth0", false});
  auto s = Start();
  auto devices = s->Prepare({"default", "c1", "uid-1"});
  ASSERT_TRUE(devices.ok()) << devices.error().message;
  ASSERT_EQ(devices->size(), 1u);
  EXPECT_EQ((*devices)[0].device, "gpu-2");
  EXPECT_EQ((*devices)[0].uuid, "GPU-cccc");
  EXPECT_TRUE(backend_->ops.empty()) << "a whole GPU needs no MIG change";
}

TEST_F(DeviceStateTest, StaticMigUsesTheExistingInstanceAndNeverDestroysIt) {
  options_.dynamic_mig = DynamicMigPolicy::kNone;
  std::string uuid = backend_->AddForeignInstance(0, 14, 2);
  claims_.Add("c1", "uid-1", {"gpu-0-mig-2g20gb-14-2"});
  claims_.Add("c2", "uid-2", {"gpu-0-mig-2g20gb-14-4"});
  auto s = Start();
  auto devices = s->Prepare({"default", "c1", "uid-1"});
  ASSERT_TRUE(devices.ok()) << devices.error().message;
  EXPECT_EQ((*devices)[0].kind, DeviceKind::kMigStatic);
  EXPECT_EQ((*devices)[0].uuid, uuid);
  ASSERT_TRUE(s->Unprepare({"default", "c1", "uid-1"}).ok());
  EXPECT_EQ(backend_->InstanceCount(), 1u);
  auto missing = s->Prepare({"default", "c2", "uid-2"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("does not exist"), std::string::npos);
}

TEST_F(DeviceStateTest, DefaultPolicyNeverTurnsMigOn) {
  claims_.Add("c1", "uid-1", {"gpu-1-mig-1g10gb-19-0"});
  auto s = Start();
  EXPECT_FALSE(s->IsDynamic(1));
  EXPECT_FALSE(s->Prepare({"default", "c1", "uid-1"}).ok());
  EXPECT_TRUE(backend_->ops.empty());
}

TEST_F(DeviceStateTest, PolicyAllTurnsMigOnForIdleHopper) {
  options_.dynamic_mig = DynamicMigPolicy::kAll;
  claims_.Add("c1", "uid-1", {"gpu-1-mig-1g10gb-19-0"});
  auto s = Start();
  EXPECT_TRUE(s->IsDynamic(1));
  EXPECT_FALSE(s->IsDynamic(2));
  auto devices = s->Prepare({"default", "c1", "uid-1"});
  ASSERT_TRUE(devices.ok()) << devices.error().message;
  EXPECT_EQ(backend_->ops.front(), "mode 1");
}

TEST_F(DeviceStateTest, NeverPreparesOneDeviceForTwoClaims) {
  claims_.Add("c1", "uid-1", {"gpu-0-mig-1g10gb-19-0"});
  claims_.Add("c2", "uid-2", {"gpu-0-mig-1g10gb-19-0"});
  claims_.Add("c3", "uid-3", {"gpu-0"});
  auto s = Start();
  ASSERT_TRUE(s->Prepare({"default", "c1", "uid-1"}).ok());
  auto second = s->Prepare({"default", "c2", "uid-2"});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("uid-1"), std::string::npos) << second.error().message;
  EXPECT_FALSE(s->Prepare({"default", "c3", "uid-3"}).ok());
  EXPECT_EQ(backend_->InstanceCount(), 1u);
}

TEST_F(DeviceStateTest, LeavesForeignInstancesAlone) {
  std::string foreign = backend_->AddForeignInstance(0, 19, 5);
  claims_.Add("c1", "uid-1", {"gpu-0-mig-1g10gb-19-5"});
  auto s = Start();
  auto r = s->Prepare({"default", "c1", "uid-1"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("did not create"), std::string::npos);
  EXPECT_EQ(backend_->InstanceCount(), 1u);
  EXPECT_TRUE(s->Snapshot().claims.empty());
}

TEST_F(DeviceStateTest, FailedCreationRollsBackEverything) {
  claims_.Add("c1", "uid-1", {"gpu-0-mig-1g10gb-19-0", "gpu-0-mig-1g10gb-19-1"});
  auto s = Start();
  backend_->FailNext("create-ci", MigCode::kFailed);
  auto r = s->Prepare({"default", "c1", "uid-1"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("creating compute instance"), std::string::npos);
  EXPECT_EQ(backend_->InstanceCount(), 0u);
  EXPECT_TRUE(s->Snapshot().claims.empty());
  EXPECT_FALSE(fs::exists(CdiPath("uid-1")));
  // The kubelet retries; now it works.
  auto retry = s->Prepare({"default", "c1", "uid-1"});
  ASSERT_TRUE(retry.ok()) << retry.error().message;
  EXPECT_EQ(backend_->InstanceCount(), 2u);
}

TEST_F(DeviceStateTest, InUseIsRetriedThenReportedAndFinishedLater) {
  claims_.Add("c1", "uid-1", {"gpu-0-mig-1g10gb-19-0"});
  auto s = Start();
  auto devices = s->Prepare({"default", "c1", "uid-1"});
  ASSERT_TRUE(devices.ok());
  backend_->in_use.insert((*devices)[0].uuid);
  Status busy = s->Unprepare({"default", "c1", "uid-1"});
  ASSERT_FALSE(busy.ok());
  EXPECT_NE(busy.error().message.find("in use"), std::string::npos);
  EXPECT_EQ(s->Snapshot().claims.at("uid-1").state, ClaimState::kUnprepareStarted);
  backend_->in_use.clear();
  ASSERT_TRUE(s->Unprepare({"default", "c1", "uid-1"}).ok());
  EXPECT_EQ(backend_->InstanceCount(), 0u);
}

TEST_F(DeviceStateTest, RecoveryRollsBackPrepareStartedAndKeepsCompleted) {
  claims_.Add("done", "uid-done", {"gpu-0-mig-1g10gb-19-0"});
  {
    auto s = Start();
    ASSERT_TRUE(s->Prepare({"default", "done", "uid-done"}).ok());
  }
  // Simulate a crash after the GI of a second claim was created: intent recorded, GI live.
  auto cp = LoadCheckpoint(options_.state_dir + "/checkpoint.json");
  ASSERT_TRUE(cp.ok() && cp->has_value());
  Checkpoint checkpoint = **cp;
  PreparedDevice planned;
  planned.requests = {"req0"};
  planned.pool = "node-a";
  planned.device = "gpu-0-mig-2g20gb-14-2";
  planned.kind = DeviceKind::kMigDynamic;
  planned.gpu_minor = 0;
  planned.gi_profile_id = 14;
  planned.placement_start = 2;
  checkpoint.claims["uid-crash"] = {ClaimState::kPrepareStarted, "default", "crash", {planned}};
  ASSERT_TRUE(SaveCheckpoint(options_.state_dir + "/checkpoint.json", checkpoint).ok());
  int gi = 0;
  ASSERT_TRUE(backend_->CreateGpuInstance(0, 14, 2, &gi).ok());
  std::string foreign = backend_->AddForeignInstance(0, 19, 6);  // not migdra's
  ASSERT_EQ(backend_->InstanceCount(), 3u);

  auto s = Start();
  auto snap = s->Snapshot();
  EXPECT_EQ(snap.claims.count("uid-crash"), 0u);
  EXPECT_EQ(snap.claims.at("uid-done").state, ClaimState::kPrepareCompleted);
  EXPECT_EQ(backend_->InstanceCount(), 2u) << "the half-made GI goes, the rest stays";
  auto live = backend_->ListMigInstances(0);
  bool foreign_alive = false;
  for (const auto& m : *live) foreign_alive = foreign_alive || m.uuid == foreign;
  EXPECT_TRUE(foreign_alive);
}

TEST_F(DeviceStateTest, ANewBootForgetsEverything) {
  claims_.Add("c1", "uid-1", {"gpu-2"});
  {
    auto s = Start();
    ASSERT_TRUE(s->Prepare({"default", "c1", "uid-1"}).ok());
  }
  SetBootId("boot-2");
  auto s = Start();
  EXPECT_TRUE(s->Snapshot().claims.empty());
  EXPECT_EQ(s->Snapshot().boot_id, "boot-2");
  EXPECT_FALSE(fs::exists(CdiPath("uid-1")));
}

TEST_F(DeviceStateTest, CorruptCheckpointIsMovedAsideAndRebuilt) {
  claims_.Add("c1", "uid-1", {"gpu-0-mig-1g10gb-19-0"});
  claims_.Add("c2", "uid-2", {"gpu-0-mig-1g10gb-19-1"});  // allocated, never prepared
  {
    auto s = Start();
    ASSERT_TRUE(s->Prepare({"default", "c1", "uid-1"}).ok());
  }
  std::string path = options_.state_dir + "/checkpoint.json";
  std::string text = ReadAll(path);
  text[text.size() / 2] ^= 1;
  std::ofstream(path) << text;

  auto s = Start();
  ASSERT_NE(s, nullptr);
  bool aside = false;
  for (const auto& e : fs::directory_iterator(options_.state_dir)) {
    aside = aside || e.path().filename().string().rfind("checkpoint.json.corrupt-", 0) == 0;
  }
  EXPECT_TRUE(aside);
  auto snap = s->Snapshot();
  ASSERT_EQ(snap.claims.count("uid-1"), 1u);
  EXPECT_EQ(snap.claims.count("uid-2"), 0u);
  // The rebuilt record lets unprepare clean up the instance.
  ASSERT_TRUE(s->Unprepare({"default", "c1", "uid-1"}).ok());
  EXPECT_EQ(backend_->InstanceCount(), 0u);
}

TEST_F(DeviceStateTest, RefusesSharingItCannotApply) {
  auto& c = claims_.Add("c1", "uid-1", {"gpu-0-mig-1g10gb-19-0"});
  c.configs.push_back({"FromClaim",
                       {},
                       "gpu.nvidia.com",
                       R"({"apiVersion":"resource.nvidia.com/v1beta1","kind":"MigDeviceConfig",)"
                       R"("sharing":{"strategy":"MPS"}})"});
  auto s = Start();
  auto r = s->Prepare({"default", "c1", "uid-1"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("MPS"), std::string::npos);
  EXPECT_TRUE(backend_->ops.empty());
}

TEST_F(DeviceStateTest, OneDurableWritePerPrepareAndUnprepare) {
  claims_.Add("c1", "uid-1", {"gpu-0-mig-1g10gb-19-0"});
  auto s = Start();
  const uint64_t before = s->DurableWrites();
  ASSERT_TRUE(s->Prepare({"default", "c1", "uid-1"}).ok());
  EXPECT_EQ(s->DurableWrites() - before, 1u);
  ASSERT_TRUE(s->Unprepare({"default", "c1", "uid-1"}).ok());
  EXPECT_EQ(s->DurableWrites() - before, 2u);
  // Both survive a restart: the records in the journal are replayed over the snapshot.
  ASSERT_TRUE(s->Prepare({"default", "c1", "uid-1"}).ok());
  s.reset();
  s = Start();
  EXPECT_EQ(s->Snapshot().claims.at("uid-1").state, ClaimState::kPrepareCompleted);
}

TEST_F(DeviceStateTest, ConcurrentClaimsOnOneGpuAllSucceed) {
  for (int i = 0; i < 7; ++i) {
    claims_.Add("c" + std::to_string(i), "uid-" + std::to_string(i),
                {"gpu-0-mig-1g10gb-19-" + std::to_string(i)});
  }
  auto s = Start();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 7; ++i) {
    threads.emplace_back([&, i] {
      auto r = s->Prepare({"default", "c" + std::to_string(i), "uid-" + std::to_string(i)});
      if (r.ok()) ok++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 7);
  EXPECT_EQ(backend_->InstanceCount(), 7u);
  EXPECT_EQ(s->Snapshot().claims.size(), 7u);
}

}  // namespace
}  // namespace migdra::driver
