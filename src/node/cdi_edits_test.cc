#include "node/cdi_edits.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace migdra::node {
namespace {

class CdiEditsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cdi-edits-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(root_ + "/" + name) << text;
  }
  std::string root_;
};

TEST_F(CdiEditsTest, MergesDeviceAndSpecEditsOfTheNamedDevicesOnly) {
  Write("k8s.gpu.nvidia.com-claim_a.json", R"({
    "cdiVersion": "0.5.0", "kind": "k8s.gpu.nvidia.com/claim",
    "devices": [
      {"name": "a-gpu-0", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia0",
        "hostPath": "/tmp/dev/nvidia0"}]}},
      {"name": "a-gpu-1", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia1"}]}}],
    "containerEdits": {"env": ["NVIDIA_VISIBLE_DEVICES=GPU-0", "A=1"],
      "deviceNodes": [{"path": "/dev/nvidiactl", "permissions": "rw"}],
      "mounts": [{"hostPath": "/usr/lib/libcuda.so.1", "containerPath": "/usr/lib/libcuda.so.1",
                  "options": ["ro", "nosuid"]}],
      "hooks": [{"hookName": "createContainer", "path": "/usr/bin/nvidia-cdi-hook",
                 "args": ["nvidia-cdi-hook", "update-ldcache"]}]}})");
  Write("other.json", R"({"kind": "other.com/x", "devices": [{"name": "y",
    "containerEdits": {"env": ["B=2"]}}], "containerEdits": {"env": ["A=2"]}})");
  Write("broken.json", "{");

  auto edits = ResolveCdiEdits(root_, {"k8s.gpu.nvidia.com/claim=a-gpu-0"});
  ASSERT_TRUE(edits.ok()) << edits.error().message;
  EXPECT_EQ(edits->env, (std::vector<std::string>{"NVIDIA_VISIBLE_DEVICES=GPU-0", "A=1"}));
  ASSERT_EQ(edits->device_nodes.size(), 2u);
  EXPECT_EQ(edits->device_nodes[0].path, "/dev/nvidia0");
  EXPECT_EQ(edits->device_nodes[0].host_path, "/tmp/dev/nvidia0");
  EXPECT_EQ(edits->device_nodes[0].permissions, "rwm");
  EXPECT_EQ(edits->device_nodes[1].host_path, "/dev/nvidiactl");
  EXPECT_EQ(edits->device_nodes[1].permissions, "rw");
  ASSERT_EQ(edits->mounts.size(), 1u);
  EXPECT_TRUE(edits->mounts[0].read_only);
  EXPECT_EQ(edits->hooks,
            (std::vector<std::string>{"createContainer /usr/bin/nvidia-cdi-hook nvidia-cdi-hook "
                                      "update-ldcache"}));

  auto both = ResolveCdiEdits(root_, {"k8s.gpu.nvidia.com/claim=a-gpu-0", "other.com/x=y"});
  ASSERT_TRUE(both.ok());
  // A later spec's A=2 replaces A=1 in place.
  EXPECT_EQ(both->env, (std::vector<std::string>{"NVIDIA_VISIBLE_DEVICES=GPU-0", "A=2", "B=2"}));
}

TEST_F(CdiEditsTest, AMissingDeviceIsAnError) {
  auto edits = ResolveCdiEdits(root_, {"k8s.gpu.nvidia.com/claim=gone"});
  ASSERT_FALSE(edits.ok());
  EXPECT_NE(edits.error().message.find("claim=gone not found"), std::string::npos);
}

}  // namespace
}  // namespace migdra::node
