// What ContainerdRuntime asks of a CRI runtime, through the real CRI client, of a small CRI server
// in the test that answers as containerd would and records the requests: the pod network
// decision (Status NetworkReady, spec.hostNetwork) and the CDI decision (verbose Status config:
// enableCDI, cdiSpecDirs). The CDI-by-name path needs containerd >= 1.7, which Debian lacks: this
// is where it is covered.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include "cri/containerd_runtime.h"

namespace migdra::cri {
namespace {

namespace fs = std::filesystem;

class FakeCri final : public v1::RuntimeService::Service {
 public:
  grpc::Status Version(grpc::ServerContext*, const v1::VersionRequest*,
                       v1::VersionResponse* response) override {
    response->set_runtime_name("containerd");
    response->set_runtime_version("v1.7.0");
    response->set_runtime_api_version("v1");
    return grpc::Status::OK;
  }
  grpc::Status Status(grpc::ServerContext*, const v1::StatusRequest* request,
                      v1::StatusResponse* response) override {
    std::lock_guard lock(mu);
    auto* runtime = response->mutable_status()->add_conditions();
    runtime->set_type("RuntimeReady");
    runtime->set_status(true);
    auto* network = response->mutable_status()->add_conditions();
    network->set_type("NetworkReady");
    network->set_status(network_ready);
    if (request->verbose()) (*response->mutable_info())["config"] = config_json;
    return grpc::Status::OK;
  }
  grpc::Status RunPodSandbox(grpc::ServerContext*, const v1::RunPodSandboxRequest* request,
                             v1::RunPodSandboxResponse* response) override {
    std::lock_guard lock(mu);
    sandbox = *request;
    response->set_pod_sandbox_id("sandbox-1");
    return grpc::Status::OK;
  }
  grpc::Status ListPodSandbox(grpc::ServerContext*, const v1::ListPodSandboxRequest*,
                              v1::ListPodSandboxResponse*) override {
    return grpc::Status::OK;
  }
  // containerd's answer: the config's namespaces; an IP only in the pod network.
  grpc::Status PodSandboxStatus(grpc::ServerContext*, const v1::PodSandboxStatusRequest*,
                                v1::PodSandboxStatusResponse* response) override {
    std::lock_guard lock(mu);
    v1::PodSandboxStatus* status = response->mutable_status();
    status->set_id("sandbox-1");
    *status->mutable_metadata() = sandbox.config().metadata();
    const v1::NamespaceOption& ns = sandbox.config().linux().security_context().namespace_options();
    *status->mutable_linux()->mutable_namespaces()->mutable_options() = ns;
    if (ns.network() == v1::POD) {
      status->mutable_network()->set_ip("10.88.7.5");
      status->mutable_network()->add_additional_ips()->set_ip("fd00::5");
    }
    return grpc::Status::OK;
  }
  grpc::Status CreateContainer(grpc::ServerContext*, const v1::CreateContainerRequest* request,
                               v1::CreateContainerResponse* response) override {
    std::lock_guard lock(mu);
    container = *request;
    response->set_container_id("container-1");
    return grpc::Status::OK;
  }

  std::mutex mu;
  bool network_ready = false;
  std::string config_json = "{}";
  v1::RunPodSandboxRequest sandbox;
  v1::CreateContainerRequest container;
};

class ContainerdRequestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cri-requests-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    options_.socket = dir_ + "/cri.sock";
    options_.cdi_root = dir_ + "/cdi";
    fs::create_directories(options_.cdi_root);
    std::ofstream(options_.cdi_root + "/k8s.gpu.nvidia.com-claim_c1.json") << R"({
      "cdiVersion": "0.5.0", "kind": "k8s.gpu.nvidia.com/claim",
      "devices": [{"name": "c1-gpu-5", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia5"}]}}],
      "containerEdits": {"env": ["NVIDIA_VISIBLE_DEVICES=MIG-test-uuid"]}})";
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix://" + options_.socket, grpc::InsecureServerCredentials());
    builder.RegisterService(&cri_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    sandbox_.uid = "0123abcd";
    sandbox_.namespace_ = "default";
    sandbox_.name = "test-pod";
    sandbox_.hostname = "test-pod";
    sandbox_.log_directory = dir_ + "/logs";
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    fs::remove_all(dir_);
  }

  std::unique_ptr<ContainerdRuntime> Connect() {
    auto runtime = ContainerdRuntime::Connect(options_);
    EXPECT_TRUE(runtime.ok()) << runtime.error().message;
    return runtime.ok() ? std::move(*runtime) : nullptr;
  }

  // Runs the sandbox and creates a container with the claim's device in it; the requests sent.
  void RunWithDevice(ContainerdRuntime& runtime) {
    auto sandbox = runtime.RunPodSandbox(sandbox_);
    ASSERT_TRUE(sandbox.ok()) << sandbox.error().message;
    node::ContainerConfig c;
    c.name = "main";
    c.image = "localhost/migdra/demo:1";
    c.env = {"GREETING=hello"};
    c.cdi_devices = {"k8s.gpu.nvidia.com/claim=c1-gpu-5"};
    c.log_path = sandbox_.log_directory + "/main.log";
    auto id = runtime.CreateContainer(*sandbox, c, sandbox_);
    ASSERT_TRUE(id.ok()) << id.error().message;
  }

  std::vector<std::string> Env() {
    std::vector<std::string> env;
    for (const v1::KeyValue& kv : cri_.container.config().envs()) {
      env.push_back(kv.key() + "=" + kv.value());
    }
    return env;
  }

  std::string dir_;
  ContainerdOptions options_;
  FakeCri cri_;
  std::unique_ptr<grpc::Server> server_;
  node::PodSandboxConfig sandbox_;
};

TEST_F(ContainerdRequestsTest, CdiDevicesByNameWhereContainerdAppliesCdiFromTheNodesSpecs) {
  cri_.config_json = R"({"enableCDI": true, "cdiSpecDirs": ["/etc/cdi", ")" + options_.cdi_root +
                     R"("], "containerdRootDir": "/var/lib/containerd"})";
  auto runtime = Connect();
  ASSERT_TRUE(runtime);
  EXPECT_NE(runtime->Describe().find("CDI devices by name"), std::string::npos)
      << runtime->Describe();
  RunWithDevice(*runtime);
  const v1::ContainerConfig& sent = cri_.container.config();
  ASSERT_EQ(sent.cdi_devices_size(), 1);
  EXPECT_EQ(sent.cdi_devices(0).name(), "k8s.gpu.nvidia.com/claim=c1-gpu-5");
  // containerd applies the edits: none are spelled out as well.
  EXPECT_EQ(sent.devices_size(), 0);
  EXPECT_EQ(sent.mounts_size(), 0);
  EXPECT_EQ(Env(), std::vector<std::string>{"GREETING=hello"});
}

TEST_F(ContainerdRequestsTest, ExplicitEditsForAContainerdWithoutCdi) {
  // containerd 1.6: its configuration has no CDI keys.
  cri_.config_json = R"({"containerdRootDir": "/var/lib/containerd", "enableSelinux": false})";
  auto runtime = Connect();
  ASSERT_TRUE(runtime);
  EXPECT_NE(runtime->Describe().find("CDI edits as explicit devices"), std::string::npos)
      << runtime->Describe();
  RunWithDevice(*runtime);
  const v1::ContainerConfig& sent = cri_.container.config();
  EXPECT_EQ(sent.cdi_devices_size(), 0);
  ASSERT_EQ(sent.devices_size(), 1);
  EXPECT_EQ(sent.devices(0).container_path(), "/dev/nvidia5");
  EXPECT_EQ(sent.devices(0).host_path(), "/dev/nvidia5");
  EXPECT_EQ(Env(),
            (std::vector<std::string>{"GREETING=hello", "NVIDIA_VISIBLE_DEVICES=MIG-test-uuid"}));
}

TEST_F(ContainerdRequestsTest, ExplicitEditsWhenContainerdReadsOtherCdiFolders) {
  cri_.config_json = R"({"enableCDI": true, "cdiSpecDirs": ["/etc/cdi", "/var/run/cdi"]})";
  auto runtime = Connect();
  ASSERT_TRUE(runtime);
  RunWithDevice(*runtime);
  EXPECT_EQ(cri_.container.config().cdi_devices_size(), 0);
  EXPECT_EQ(cri_.container.config().devices_size(), 1);
}

TEST_F(ContainerdRequestsTest, ExplicitEditsForSimulatedDevices) {
  if (geteuid() != 0) GTEST_SKIP() << "stand-ins are device nodes: mknod needs root";
  cri_.config_json = R"({"enableCDI": true, "cdiSpecDirs": [")" + options_.cdi_root + R"("]})";
  options_.device_stand_ins = dir_ + "/stand-ins";
  auto runtime = Connect();
  ASSERT_TRUE(runtime);
  RunWithDevice(*runtime);
  EXPECT_EQ(cri_.container.config().cdi_devices_size(), 0);
  ASSERT_EQ(cri_.container.config().devices_size(), 1);
  EXPECT_EQ(cri_.container.config().devices(0).host_path(), dir_ + "/stand-ins/_dev_nvidia5");
}

TEST_F(ContainerdRequestsTest, PodNetworkWhereContainerdHasOne) {
  cri_.network_ready = true;
  auto runtime = Connect();
  ASSERT_TRUE(runtime);
  RunWithDevice(*runtime);
  const v1::PodSandboxConfig& made = cri_.sandbox.config();
  EXPECT_EQ(made.linux().security_context().namespace_options().network(), v1::POD);
  EXPECT_EQ(made.hostname(), "test-pod");
  EXPECT_EQ(cri_.container.config().linux().security_context().namespace_options().network(),
            v1::POD);
  EXPECT_EQ(cri_.container.sandbox_config().hostname(), "test-pod");
  auto status = runtime->PodSandboxStatus("sandbox-1");
  ASSERT_TRUE(status.ok()) << status.error().message;
  EXPECT_EQ(status->ips, (std::vector<std::string>{"10.88.7.5", "fd00::5"}));
}

TEST_F(ContainerdRequestsTest, HostNetworkWithoutAPodNetwork) {
  auto runtime = Connect();
  ASSERT_TRUE(runtime);
  RunWithDevice(*runtime);
  const v1::PodSandboxConfig& made = cri_.sandbox.config();
  EXPECT_EQ(made.linux().security_context().namespace_options().network(), v1::NODE);
  EXPECT_EQ(made.hostname(), "");  // the host's UTS namespace
  EXPECT_EQ(cri_.container.config().linux().security_context().namespace_options().network(),
            v1::NODE);
  auto status = runtime->PodSandboxStatus("sandbox-1");
  ASSERT_TRUE(status.ok()) << status.error().message;
  EXPECT_TRUE(status->ips.empty());
}

TEST_F(ContainerdRequestsTest, HostNetworkWhenThePodAsksForIt) {
  cri_.network_ready = true;
  sandbox_.host_network = true;
  auto runtime = Connect();
  ASSERT_TRUE(runtime);
  RunWithDevice(*runtime);
  EXPECT_EQ(cri_.sandbox.config().linux().security_context().namespace_options().network(),
            v1::NODE);
  EXPECT_EQ(cri_.sandbox.config().hostname(), "");
  EXPECT_EQ(cri_.container.config().linux().security_context().namespace_options().network(),
            v1::NODE);
}

TEST(RuntimeAppliesCdi, ReadsEnableCdiAndSpecDirs) {
  EXPECT_TRUE(RuntimeAppliesCdi(R"({"enableCDI": true, "cdiSpecDirs": ["/var/run/cdi/"]})",
                                "/var/run/cdi"));
  EXPECT_TRUE(
      RuntimeAppliesCdi(R"({"enableCDI": true, "cdiSpecDirs": ["/etc/cdi", "/x/../y"]})", "/y"));
  EXPECT_FALSE(RuntimeAppliesCdi(R"({"enableCDI": false, "cdiSpecDirs": ["/y"]})", "/y"));
  EXPECT_FALSE(RuntimeAppliesCdi(R"({"enableCDI": "true", "cdiSpecDirs": ["/y"]})", "/y"));
  EXPECT_FALSE(RuntimeAppliesCdi(R"({"enableCDI": true, "cdiSpecDirs": "/y"})", "/y"));
  EXPECT_FALSE(RuntimeAppliesCdi(R"({"enableCDI": true})", "/y"));
  EXPECT_FALSE(RuntimeAppliesCdi(R"({"containerdRootDir": "/var/lib/containerd"})", "/y"));
  EXPECT_FALSE(RuntimeAppliesCdi("not json", "/y"));
  EXPECT_FALSE(RuntimeAppliesCdi("", "/y"));
}

}  // namespace
}  // namespace migdra::cri
