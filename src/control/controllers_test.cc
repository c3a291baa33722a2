#include "control/controllers.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "api/codec.h"
#include "control/objects.h"
#include "control/resources.h"

namespace migdra::control {
namespace {

const ResourceInfo& Info(const std::string& plural) {
  for (const ResourceInfo& r : AllResources()) {
    if (r.plural == plural) return r;
  }
  return AllResources().front();
}

// The Node objects and ResourceSlices of simulated GPU nodes, as serve and `migdra plugin`
// publish them (src/control/testdata/gpu_nodes.json): node-a (an A100-80GB, MIG on, serve's
// policy), node-b (two H100-80GB, --dynamic-mig all), node-c (an A100-80GB, --dynamic-mig all).
const json& GpuNodes() {
  static const json nodes = [] {
    const char* root = std::getenv("MIGDRA_SOURCE_DIR");
    std::ifstream in(std::string(root ? root : ".") + "/src/control/testdata/gpu_nodes.json");
    return json::parse(in, nullptr, /*allow_exceptions=*/false);
  }();
  return nodes;
}

class ControllersTest : public ::testing::Test {
 protected:
  // Creates the Node and the ResourceSlices of `name` in GpuNodes().
  void AddGpuNode(const std::string& name) {
    const json& fixture = GpuNodes()[name];
    ASSERT_TRUE(fixture.is_object()) << "no node " << name << " in testdata/gpu_nodes.json";
    auto node = CreateObject(*store_, Info("nodes"), fixture["node"]);
    ASSERT_TRUE(node.ok()) << node.error().message;
    for (const json& slice : fixture["slices"]) {
      auto created = CreateObject(*store_, Info("resourceslices"), slice);
      ASSERT_TRUE(created.ok()) << created.error().message;
    }
  }

  void SetUp() override {
    auto opened = Store::Open("");
    ASSERT_TRUE(opened.ok());
    store_ = std::move(*opened);
    ASSERT_TRUE(
        CreateObject(*store_, Info("namespaces"), json{{"metadata", {{"name", "default"}}}}).ok());
    AddGpuNode("node-a");
    ASSERT_TRUE(CreateObject(*store_, Info("deviceclasses"), json::parse(R"({
      "metadata": {"name": "nvidia-mig"},
      "spec": {"selectors": [{"cel": {"expression": "device.driver == 'gpu.nvidia.com'"}}]}})"))
                    .ok());
    ASSERT_TRUE(CreateObject(*store_, Info("resourceclaimtemplates"), json::parse(R"({
      "metadata": {"name": "mig-gpu-1g", "namespace": "default"},
      "spec": {"spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "nvidia-mig"}}]}}}})"))
                    .ok());
    controllers_ = std::make_unique<Controllers>(*store_, ControllerOptions{});
  }

  void CreateJob(const std::string& name, const std::string& claim_template = "mig-gpu-1g") {
    json job = json::parse(R"({"metadata": {"namespace": "default"},
      "spec": {"template": {"spec": {"restartPolicy": "OnFailure",
        "containers": [{"name": "c", "image": "busybox:1", "resources": {"claims": [{"name": "gpu"}]}}],
        "resourceClaims": [{"name": "gpu"}]}}}})");
    job["metadata"]["name"] = name;
    job["spec"]["template"]["spec"]["resourceClaims"][0]["resourceClaimTemplateName"] =
        claim_template;
    auto created = CreateObject(*store_, Info("jobs"), job);
    ASSERT_TRUE(created.ok()) << created.error().message;
  }

  void Reconcile(int passes = 3) {
    for (int i = 0; i < passes; ++i) controllers_->ReconcileOnce();
  }

  std::vector<json> List(const std::string& plural) {
    return store_->List(Info(plural).StoreKey(), "");
  }

  // A class and a claim template for one exact MIG profile, both named `name`.
  void CreateProfileTemplate(const std::string& name, const std::string& profile) {
    json cls = json::parse(R"({"spec": {"selectors": [{"cel": {"expression": ""}}]}})");
    cls["metadata"]["name"] = name;
    cls["spec"]["selectors"][0]["cel"]["expression"] =
        "'profile' in device.attributes['gpu.nvidia.com'] && "
        "device.attributes['gpu.nvidia.com'].profile == '" +
        profile + "'";
    ASSERT_TRUE(CreateObject(*store_, Info("deviceclasses"), cls).ok());
    json tmpl = json::parse(R"({"metadata": {"namespace": "default"},
      "spec": {"spec": {"devices": {"requests": [{"name": "gpu", "exactly": {}}]}}}})");
    tmpl["metadata"]["name"] = name;
    tmpl["spec"]["spec"]["devices"]["requests"][0]["exactly"]["deviceClassName"] = name;
    ASSERT_TRUE(CreateObject(*store_, Info("resourceclaimtemplates"), tmpl).ok());
  }

  // job name -> device of its claim ("" while unallocated).
  std::map<std::string, std::string> DevicesByJob() {
    std::map<std::string, std::string> out;
    for (const json& p : List("pods")) {
      std::string job = p["metadata"]["labels"]["job-name"];
      out[job] = "";
      for (const json& c : List("resourceclaims")) {
        if (c["metadata"]["ownerReferences"][0]["uid"] != p["metadata"]["uid"]) continue;
        if (c.contains("status") && c["status"].contains("allocation")) {
          out[job] = c["status"]["allocation"]["devices"]["results"][0]["device"];
        }
      }
    }
    return out;
  }

  std::unique_ptr<Store> store_;
  std::unique_ptr<Controllers> controllers_;
};

TEST_F(ControllersTest, JobGetsPodClaimAndRightSizedDevice) {
  CreateJob("demo");
  Reconcile();
  auto pods = List("pods");
  ASSERT_EQ(pods.size(), 1u);
  const json& pod = pods[0];
  EXPECT_EQ(pod["spec"]["nodeName"], "node-a");
  EXPECT_EQ(pod["metadata"]["labels"]["job-name"], "demo");
  auto claims = List("resourceclaims");
  ASSERT_EQ(claims.size(), 1u);
  const json& claim = claims[0];
  std::string claim_name = claim["metadata"]["name"];
  EXPECT_EQ(claim_name.rfind(pod["metadata"]["name"].get<std::string>() + "-gpu-", 0), 0u);
  EXPECT_EQ(claim["metadata"]["annotations"]["resource.kubernetes.io/pod-claim-name"], "gpu");
  EXPECT_EQ(claim["metadata"]["ownerReferences"][0]["uid"], pod["metadata"]["uid"]);
  EXPECT_EQ(claim["metadata"]["finalizers"][0], "resource.kubernetes.io/delete-protection");
  EXPECT_EQ(claim["status"]["reservedFor"][0]["uid"], pod["metadata"]["uid"]);
  std::string device = claim["status"]["allocation"]["devices"]["results"][0]["device"];
  EXPECT_NE(device.find("-mig-1g10gb-"), std::string::npos) << device;
  EXPECT_EQ(pod["status"]["resourceClaimStatuses"][0]["resourceClaimName"], claim_name);
}

TEST_F(ControllersTest, SevenFitOnOneGpuTheEighthWaitsUntilOneIsDeleted) {
  for (int i = 0; i < 8; ++i) CreateJob("job-" + std::to_string(i));
  Reconcile();
  std::set<std::string> devices;
  for (const json& c : List("resourceclaims")) {
    if (c.contains("status") && c["status"].contains("allocation")) {
      devices.insert(
          c["status"]["allocation"]["devices"]["results"][0]["device"].get<std::string>());
    }
  }
  EXPECT_EQ(devices.size(), 7u);
  const json* waiting = nullptr;
  auto pods = List("pods");
  for (const json& p : pods) {
    if (!p["spec"].contains("nodeName")) waiting = &p;
  }
  ASSERT_NE(waiting, nullptr);
  bool unschedulable = false;
  for (const json& c : (*waiting)["status"]["conditions"]) {
    unschedulable =
        unschedulable ||
        (c["type"] == "PodScheduled" && c["status"] == "False" &&
         c["message"].get<std::string>().find("cannot allocate all claims") != std::string::npos);
  }
  EXPECT_TRUE(unschedulable) << (*waiting)["status"].dump();
  bool event = false;
  for (const json& e : List("events")) event = event || e["reason"] == "FailedScheduling";
  EXPECT_TRUE(event);

  // Delete a bound pod's job: its pod and claim go away, and the waiting pod gets the device.
  std::string waiting_job = (*waiting)["metadata"]["labels"]["job-name"];
  std::string victim = waiting_job == "job-0" ? "job-1" : "job-0";
  DeleteOptions background;
  background.propagation = "Background";
  ASSERT_TRUE(DeleteObject(*store_, Info("jobs"), "default", victim, background).ok());
  Reconcile(6);
  int bound = 0;
  for (const json& p : List("pods")) bound += p["spec"].contains("nodeName") ? 1 : 0;
  EXPECT_EQ(bound, 7);
  EXPECT_EQ(List("pods").size(), 7u);
  devices.clear();
  int allocated = 0;
  for (const json& c : List("resourceclaims")) {
    if (c.contains("status") && c["status"].contains("allocation")) {
      ++allocated;
      devices.insert(
          c["status"]["allocation"]["devices"]["results"][0]["device"].get<std::string>());
    }
  }
  EXPECT_EQ(allocated, 7);
  EXPECT_EQ(devices.size(), 7u);
}

TEST_F(ControllersTest, PackSchedulesTheLargestPendingPodFirstKubernetesTheOldest) {
  // Two 1g jobs, then a 7g job, all pending in one pass on one GPU. Creation order (then name
  // order, within one second) binds the two 1g pods and leaves the 7g waiting for the whole GPU;
  // pack binds the 7g first.
  for (alloc::Strategy strategy : {alloc::Strategy::kPack, alloc::Strategy::kKubernetes}) {
    controllers_.reset();  // before the store it uses
    SetUp();
    controllers_ = std::make_unique<Controllers>(*store_, ControllerOptions{strategy});
    CreateProfileTemplate("mig-1g", "1g.10gb");
    CreateProfileTemplate("mig-7g", "7g.80gb");
    CreateJob("small-1", "mig-1g");
    CreateJob("small-2", "mig-1g");
    CreateJob("z-big", "mig-7g");
    Reconcile();
    auto devices = DevicesByJob();
    ASSERT_EQ(devices.size(), 3u);
    if (strategy == alloc::Strategy::kPack) {
      EXPECT_NE(devices["z-big"].find("-mig-7g80gb-"), std::string::npos) << devices["z-big"];
      EXPECT_EQ(devices["small-1"], "");
      EXPECT_EQ(devices["small-2"], "");
    } else {
      EXPECT_EQ(devices["z-big"], "");
      EXPECT_NE(devices["small-1"].find("-mig-1g10gb-"), std::string::npos);
      EXPECT_NE(devices["small-2"].find("-mig-1g10gb-"), std::string::npos);
    }
  }
}

TEST_F(ControllersTest, PackKeepsTheTurnOfPodsThatWaited) {
  // The GPU is full; a 1g pod, then a 7g pod, wait. When the GPU frees up, the 1g pod that waited
  // first goes first: only pods a pass sees for the first time are ordered largest first.
  CreateProfileTemplate("mig-1g", "1g.10gb");
  CreateProfileTemplate("mig-7g", "7g.80gb");
  for (int i = 0; i < 7; ++i) CreateJob("fill-" + std::to_string(i), "mig-1g");
  Reconcile();
  CreateJob("a-small", "mig-1g");
  Reconcile();
  CreateJob("b-big", "mig-7g");
  Reconcile();
  auto devices = DevicesByJob();
  ASSERT_EQ(devices.size(), 9u);
  EXPECT_EQ(devices["a-small"], "");
  EXPECT_EQ(devices["b-big"], "");
  DeleteOptions background;
  background.propagation = "Background";
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(
        DeleteObject(*store_, Info("jobs"), "default", "fill-" + std::to_string(i), background)
            .ok());
  }
  Reconcile(6);
  devices = DevicesByJob();
  ASSERT_EQ(devices.size(), 2u);
  EXPECT_NE(devices["a-small"].find("-mig-1g10gb-"), std::string::npos) << devices["a-small"];
  EXPECT_EQ(devices["b-big"], "");
}

TEST_F(ControllersTest, FinishedPodReleasesItsDevice) {
  CreateJob("demo");
  Reconcile();
  json pod = List("pods")[0];
  pod["status"]["phase"] = "Succeeded";
  ASSERT_TRUE(UpdateObject(*store_, Info("pods"), pod, /*status_only=*/true).ok());
  Reconcile(4);
  // The generated claim of a finished pod is deallocated and deleted; the Job completes.
  EXPECT_TRUE(List("resourceclaims").empty());
  json job = List("jobs")[0];
  bool complete = false;
  for (const json& c : job["status"]["conditions"])
    complete = complete || (c["type"] == "Complete" && c["status"] == "True");
  EXPECT_TRUE(complete) << job["status"].dump();
  EXPECT_EQ(job["status"]["succeeded"], 1);
}

// An object stored before admission typed its fields (here a pod whose resourceClaimStatuses is a
// string) fails only its own step: a FailedSync Event, once however many passes, and the other
// objects are served.
TEST_F(ControllersTest, AnObjectThatCannotBeHandledIsReportedAndTheRestGoOn) {
  json bad = json::parse(R"({"apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "aaa-bad", "namespace": "default", "uid": "u-bad"},
    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1"}],
             "resourceClaims": [{"name": "gpu", "resourceClaimTemplateName": "mig-gpu-1g"}]},
    "status": {"phase": "Pending", "resourceClaimStatuses": "x"}})");
  ASSERT_TRUE(store_->Create("pods", bad).ok());
  CreateJob("train");
  EXPECT_NO_THROW(Reconcile(5));
  int reports = 0;
  for (const json& event : store_->List("events", "default")) {
    if (event["reason"] == "FailedSync" && event["involvedObject"]["name"] == "aaa-bad") {
      ++reports;
      EXPECT_EQ(event["type"], "Warning");
      EXPECT_NE(event["message"].get<std::string>().find("resourceclaim-controller: "),
                std::string::npos);
    }
  }
  EXPECT_EQ(reports, 1);
  int job_pods = 0;
  for (const json& pod : store_->List("pods", "default")) {
    if (pod["metadata"]["name"].get<std::string>().rfind("train-", 0) == 0) {
      ++job_pods;
      EXPECT_FALSE(pod["spec"].value("nodeName", "").empty()) << pod.dump();
    }
  }
  EXPECT_EQ(job_pods, 1);
}

// The scheduler's choices for a fixed input: bindings recorded from the controllers before the
// allocator was kept across passes (a fresh one each pass). Keeping it, with claims committed and
// released as they change, must choose exactly the same devices: three nodes, exact-profile and
// class claims in several passes, finished pods releasing their devices in between.
TEST_F(ControllersTest, BindingsForAFixedInputAreUnchanged) {
  AddGpuNode("node-b");
  AddGpuNode("node-c");
  CreateProfileTemplate("mig-1g", "1g.10gb");
  CreateProfileTemplate("mig-2g", "2g.20gb");
  CreateProfileTemplate("mig-3g", "3g.40gb");
  const char* kinds[] = {"mig-1g", "mig-2g", "mig-3g", "mig-gpu-1g", "mig-1g", "mig-2g"};
  auto finish = [&](const std::string& job) {
    for (json pod : List("pods")) {
      if (pod["metadata"]["labels"]["job-name"] != job) continue;
      pod["status"]["phase"] = "Succeeded";
      ASSERT_TRUE(UpdateObject(*store_, Info("pods"), pod, /*status_only=*/true).ok());
    }
  };
  std::string trace;
  int job = 0;
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 7; ++i, ++job) {
      CreateJob("j" + std::to_string(100 + job), kinds[(job * 5 + round) % 6]);
      if (i % 3 == 2) Reconcile(1);
    }
    Reconcile();
    finish("j" + std::to_string(100 + job - 7));
    finish("j" + std::to_string(100 + job - 4));
    Reconcile();
  }
  for (const json& p : List("pods")) {
    const std::string name = p["metadata"]["labels"]["job-name"];
    if (!p["spec"].contains("nodeName")) trace += name + "=pending ";
    for (const json& c : List("resourceclaims")) {
      if (c["metadata"]["ownerReferences"][0]["uid"] != p["metadata"]["uid"]) continue;
      if (!c.contains("status") || !c["status"].contains("allocation")) continue;
      const json& result = c["status"]["allocation"]["devices"]["results"][0];
      trace += name + "=" + result["pool"].get<std::string>() + "/" +
               result["device"].get<std::string>() + " ";
    }
  }
  EXPECT_EQ(trace,
            "j101=node-a/gpu-0-mig-2g20gb-14-4 j102=node-a/gpu-0-mig-1g10gb-19-0 "
            "j104=node-c/gpu-0-mig-3g40gb-9-4 j105=node-a/gpu-0-mig-2g20gb-14-2 "
            "j106=node-c/gpu-0-mig-1g10gb-19-0 j108=node-c/gpu-0-mig-2g20gb-14-2 "
            "j109=node-a/gpu-0-mig-1g10gb-19-1 j111=node-b/gpu-0-mig-3g40gb-9-4 "
            "j112=node-b/gpu-0-mig-2g20gb-14-0 j113=node-b/gpu-0-mig-1g10gb-19-2 "
            "j115=node-b/gpu-1-mig-2g20gb-14-4 j116=node-a/gpu-0-mig-1g10gb-19-6 "
            "j118=node-b/gpu-1-mig-3g40gb-9-0 j119=pending j120=node-b/gpu-1-mig-1g10gb-19-6 "
            "j122=pending j123=node-b/gpu-0-mig-1g10gb-19-3 j124=pending j125=pending j126=pending "
            "j127=node-c/gpu-0-mig-1g10gb-19-1 ");
}

}  // namespace
}  // namespace migdra::control
