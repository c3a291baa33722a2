// ContainerdRuntime against a real containerd: run by tests/containerd/cri_runtime.sh, which
// starts a private containerd with the CRI plugin, imports the pause and demo images
// (scripts/oci_image.sh) and sets MIGDRA_CRI_SOCKET; skipped without it.
#include "cri/containerd_runtime.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

namespace migdra::cri {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kDemo = "localhost/migdra/demo:1";

class ContainerdRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* socket = std::getenv("MIGDRA_CRI_SOCKET");
    if (!socket) GTEST_SKIP() << "MIGDRA_CRI_SOCKET not set (tests/containerd/cri_runtime.sh)";
    char tmpl[] = "/tmp/cri-runtime-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    options_.socket = socket;
    options_.cdi_root = dir_ + "/cdi";
    options_.device_stand_ins = dir_ + "/stand-ins";
    fs::create_directories(options_.cdi_root);
    auto runtime = ContainerdRuntime::Connect(options_);
    ASSERT_TRUE(runtime.ok()) << runtime.error().message;
    runtime_ = std::move(*runtime);
    sandbox_.uid = "0123abcd-" + std::to_string(::getpid()) + "-" +
                   ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : sandbox_.uid) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
    sandbox_.namespace_ = "default";
    sandbox_.name = "test-pod";
    sandbox_.log_directory = dir_ + "/logs";
  }
  void TearDown() override {
    if (!runtime_) return;
    auto sandboxes = runtime_->ListPodSandboxes();
    if (sandboxes.ok()) {
      for (const node::PodSandbox& s : *sandboxes) {
        if (s.uid != sandbox_.uid) continue;
        EXPECT_TRUE(runtime_->StopPodSandbox(s.id).ok());
        EXPECT_TRUE(runtime_->RemovePodSandbox(s.id).ok());
      }
    }
    fs::remove_all(dir_);
  }

  node::ContainerConfig Container(const std::string& name, int attempt) const {
    node::ContainerConfig c;
    c.name = name;
    c.attempt = attempt;
    c.image = kDemo;
    c.log_path = sandbox_.log_directory + "/" + name + ".log";
    return c;
  }

  // Waits (bounded) for the container to exit; its final status.
  node::ContainerStatus WaitExited(const std::string& id) {
    for (int i = 0; i < 600; ++i) {
      auto status = runtime_->GetContainerStatus(id);
      EXPECT_TRUE(status.ok());
      if (!status.ok() || status->state == node::ContainerState::kExited) return *status;
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << "container " << id << " did not exit in 60 s";
    return {};
  }

  std::string Run(node::ContainerConfig c) {
    auto sandbox = runtime_->RunPodSandbox(sandbox_);
    EXPECT_TRUE(sandbox.ok()) << sandbox.error().message;
    auto id = runtime_->CreateContainer(*sandbox, c, sandbox_);
    EXPECT_TRUE(id.ok()) << id.error().message;
    if (!id.ok()) return "";
    Status started = runtime_->StartContainer(*id);
    EXPECT_TRUE(started.ok()) << started.error().message;
    return *id;
  }

  std::string dir_;
  ContainerdOptions options_;
  std::unique_ptr<ContainerdRuntime> runtime_;
  node::PodSandboxConfig sandbox_;
};

TEST_F(ContainerdRuntimeTest, DescribesTheRuntime) {
  EXPECT_EQ(runtime_->RuntimeVersion().rfind("containerd://", 0), 0u) << runtime_->RuntimeVersion();
  EXPECT_NE(runtime_->Describe().find("(CRI v1) at " + options_.socket), std::string::npos)
      << runtime_->Describe();
}

TEST_F(ContainerdRuntimeTest, PullPolicies) {
  EXPECT_TRUE(runtime_->PullImage(kDemo, "IfNotPresent").ok());
  EXPECT_TRUE(runtime_->PullImage(kDemo, "Never").ok());
  Status never = runtime_->PullImage("localhost/migdra/absent:1", "Never");
  ASSERT_FALSE(never.ok());
  EXPECT_EQ(never.error().field, "ErrImageNeverPull");
  // Nothing listens on port 1: the pull fails with the runtime's reason.
  Status pull = runtime_->PullImage("localhost:1/migdra/absent:1", "");
  ASSERT_FALSE(pull.ok());
  EXPECT_EQ(pull.error().field, "ErrImagePull");
  EXPECT_NE(pull.error().message.find("localhost:1/migdra/absent:1"), std::string::npos)
      << pull.error().message;
}

TEST_F(ContainerdRuntimeTest, ImageEntrypointWithArgsAndTheClaimsDevice) {
  std::ofstream(options_.cdi_root + "/k8s.gpu.nvidia.com-claim_c1.json") << R"({
    "cdiVersion": "0.5.0", "kind": "k8s.gpu.nvidia.com/claim",
    "devices": [{"name": "c1-gpu-5", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia5"}]}}],
    "containerEdits": {"env": ["NVIDIA_VISIBLE_DEVICES=MIG-test-uuid"]}})";
  setenv("MIGDRA_TEST_SECRET", "serve-only", 1);
  node::ContainerConfig c = Container("demo", 0);
  c.args = {"--max_steps", "3"};  // the image's ENTRYPOINT stays
  c.cdi_devices = {"k8s.gpu.nvidia.com/claim=c1-gpu-5"};
  std::string id = Run(c);
  node::ContainerStatus status = WaitExited(id);
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_EQ(status.reason, "");
  EXPECT_EQ(status.attempt, 0);
  EXPECT_FALSE(status.finished_at.empty());
  auto log = runtime_->ReadLog(c.log_path);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(*log,
            "gpu device nodes: /dev/nvidia5\nvisible devices: MIG-test-uuid\nstep 3/3\ndone\n");
  // The simulated device has no node on the host: a /dev/null stand-in was made for it.
  struct stat st {};
  ASSERT_EQ(stat((options_.device_stand_ins + "/_dev_nvidia5").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST_F(ContainerdRuntimeTest, CommandWorkingDirEnvAndIsolation) {
  setenv("MIGDRA_TEST_SECRET", "serve-only", 1);
  node::ContainerConfig c = Container("cmd", 0);
  c.command = {"/bin/sh", "-c", "echo $0 $GREETING $(pwd); ls " + dir_ + " 2>&1; env; exit 7"};
  c.args = {"arg0"};
  c.env = {"GREETING=hello"};
  c.working_dir = "/tmp";
  std::string id = Run(c);
  node::ContainerStatus status = WaitExited(id);
  EXPECT_EQ(status.exit_code, 7);
  std::string log = *runtime_->ReadLog(c.log_path);
  EXPECT_EQ(log.rfind("arg0 hello /tmp\n", 0), 0u) << log;
  EXPECT_NE(log.find(dir_ + ": No such file or directory"), std::string::npos) << log;
  EXPECT_EQ(log.find("MIGDRA_TEST_SECRET"), std::string::npos) << log;
}

TEST_F(ContainerdRuntimeTest, SandboxAndAttemptsAreFoundAgainAfterARestart) {
  auto first = runtime_->RunPodSandbox(sandbox_);
  ASSERT_TRUE(first.ok()) << first.error().message;
  node::ContainerConfig c = Container("main", 0);
  c.command = {"/bin/sh", "-c", "echo attempt"};
  std::string id0 = Run(c);
  WaitExited(id0);

  // A restarted serve makes a new client: the same sandbox, the same containers.
  auto again = ContainerdRuntime::Connect(options_);
  ASSERT_TRUE(again.ok());
  auto second = (*again)->RunPodSandbox(sandbox_);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, *first);
  auto sandboxes = (*again)->ListPodSandboxes();
  ASSERT_TRUE(sandboxes.ok());
  int mine = 0;
  for (const node::PodSandbox& s : *sandboxes) mine += s.uid == sandbox_.uid && s.ready;
  EXPECT_EQ(mine, 1);
  // An attempt is never created twice.
  auto duplicate = (*again)->CreateContainer(*first, c, sandbox_);
  EXPECT_FALSE(duplicate.ok());
  c.attempt = 1;
  std::string id1 = Run(c);
  WaitExited(id1);
  auto containers = (*again)->ListContainers(*first);
  ASSERT_TRUE(containers.ok());
  ASSERT_EQ(containers->size(), 2u);
  // Both attempts appended to the one log path.
  EXPECT_EQ(*runtime_->ReadLog(c.log_path), "attempt\nattempt\n");

  ASSERT_TRUE(runtime_->StopPodSandbox(*first).ok());
  ASSERT_TRUE(runtime_->RemovePodSandbox(*first).ok());
  auto after = runtime_->ListContainers(*first);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->empty());
  // Stopping or removing what is gone succeeds (cleanup after a crash repeats itself).
  EXPECT_TRUE(runtime_->StopPodSandbox(*first).ok());
  EXPECT_TRUE(runtime_->RemovePodSandbox(*first).ok());
}

TEST_F(ContainerdRuntimeTest, StopSendsSigtermThenKillsAfterTheGracePeriod) {
  node::ContainerConfig polite = Container("polite", 0);
  polite.command = {
      "/bin/sh", "-c",
      "trap 'echo got-sigterm; exit 0' TERM; echo ready; while :; do sleep 0.1; done"};
  node::ContainerConfig stubborn = Container("stubborn", 0);
  stubborn.command = {"/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"};
  std::string p = Run(polite), s = Run(stubborn);
  for (const auto& [id, config] : {std::pair{p, polite}, std::pair{s, stubborn}}) {
    // The trap is set once the container printed "ready".
    for (int i = 0; i < 300 && runtime_->ReadLog(config.log_path)->empty(); ++i) {
      std::this_thread::sleep_for(100ms);
    }
  }
  ASSERT_TRUE(runtime_->StopContainer(p, 10s).ok());
  ASSERT_TRUE(runtime_->StopContainer(s, 1s).ok());
  EXPECT_EQ(WaitExited(p).exit_code, 0);
  EXPECT_EQ(*runtime_->ReadLog(polite.log_path), "ready\ngot-sigterm\n");
  EXPECT_EQ(WaitExited(s).exit_code, 137);
}

}  // namespace
}  // namespace migdra::cri
