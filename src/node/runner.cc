#include "node/runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "api/validation.h"
#include "common/guard.h"
#include "control/controllers.h"
#include "control/json_access.h"
#include "control/objects.h"
#include "control/resources.h"
#include "dra_v1.grpc.pb.h"
#include "driver/cdi_edits.h"
#include "driver/claim_source.h"
#include "driver/device_state.h"
#include "driver/dra_service.h"
#include "driver/metrics.h"
#include "driver/nvml_mig_backend.h"
#include "gpu/nvml.h"
#include "gpu/simulator.h"
#include "kube/client.h"
#include "node/container_env.h"
#include "node/kubelet_events.h"
#include "node/local_node.h"
#include "node/runner_process.h"

namespace migdra::node {

using control::ApiResult;
using control::Field;
using control::FindResource;
using control::json;
using control::NowRfc3339;
using control::ReportFailure;
using control::ResourceInfo;
using control::Store;
using control::Str;
using control::UpdateObject;
using control::WatchEvent;
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kPods = "pods";
constexpr const char* kClaims = "resourceclaims.resource.k8s.io";
constexpr const char* kDriverName = "gpu.nvidia.com";
constexpr const char* kHostPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// Restart back-off: kubelet uses 10 s doubling to 5 min; a single-node runner restarts sooner.
constexpr std::chrono::milliseconds kInitialRestartDelay{500};
constexpr std::chrono::milliseconds kMaxRestartDelay{30000};
// How often the runner looks for sandboxes whose pod is gone or finished (a CRI runtime).
constexpr std::chrono::seconds kSandboxSweepInterval{10};

const ResourceInfo& PodInfo() {
  static const ResourceInfo* info = FindResource("", "v1", "pods");
  return *info;
}

std::string PodKey(const json& pod) {
  return Str(pod["metadata"], "namespace") + "/" + Str(pod["metadata"], "name");
}

bool HasFinalizer(const json& pod) {
  const json& meta = pod["metadata"];
  if (!meta.contains("finalizers") || !meta["finalizers"].is_array()) return false;
  for (const json& f : meta["finalizers"]) {
    if (f == kPodRunnerFinalizer) return true;
  }
  return false;
}

bool Terminal(const json& pod) {
  std::string phase = pod.contains("status") ? Str(pod["status"], "phase") : "";
  return phase == "Succeeded" || phase == "Failed";
}

bool Deleting(const json& pod) { return pod["metadata"].contains("deletionTimestamp"); }

// One container's process and what is known of it.
struct ContainerRun {
  std::string name;
  json spec;
  bool init = false;
  std::unique_ptr<ContainerProcess> process;  // the running attempt (host processes)
  std::string container_id;                   // the running attempt (a CRI runtime)
  Clock::time_point next_poll{};              // when to ask the CRI runtime for its state
  int restarts = 0;                           // also the number of the current or last attempt
  std::string started_at;
  std::string finished_at;
  std::optional<int> exit_code;
  std::string reason;
  std::string message;
  Clock::time_point next_start{};
  int pull_failures = 0;  // consecutive image pulls that failed (ImagePullBackOff)
  bool done = false;      // exited for good (no restart coming)

  bool running() const { return (process || !container_id.empty()) && !exit_code; }
};

// Sets NAME=VALUE in `env`, replacing an earlier NAME.
void SetEnv(std::vector<std::string>& env, const std::string& entry) {
  std::string name = entry.substr(0, entry.find('='));
  for (std::string& e : env) {
    if (e.compare(0, name.size() + 1, name + "=") == 0) {
      e = entry;
      return;
    }
  }
  env.push_back(entry);
}

class PodRunner;

// Runs one pod from preparation to the release of its devices, on its own thread.
class PodWorker {
 public:
  PodWorker(PodRunner* runner, json pod);
  ~PodWorker();
  // The pod was deleted: stop its processes, release its devices and the pod.
  void RequestStop() {
    stop_.store(true);
    cv_.notify_all();
  }
  // The server is shutting down: leave the processes running; the next start adopts them.
  void RequestShutdown() {
    shutdown_.store(true);
    cv_.notify_all();
  }
  bool finished() const { return finished_.load(); }

 private:
  void Run();
  bool PrepareClaims(std::vector<std::string>* env);
  void UnprepareClaims();
  void Start(ContainerRun& c, const std::vector<std::string>& cdi_env);
  void StartInRuntime(ContainerRun& c, ContainerConfig config);
  void RecoverFromRuntime(ContainerRun& c);
  bool ReapFromRuntime(ContainerRun& c);
  std::optional<std::string> SandboxId();
  void RemoveSandbox();
  PodSandboxConfig Sandbox() const;
  void Recover(ContainerRun& c);
  bool Reap(ContainerRun& c);
  void OnExit(ContainerRun& c);
  // False when serve began to stop first (the processes are left to the next start).
  bool StopProcesses();
  std::string ContainerDir(const ContainerRun& c) const { return dir_ + "/" + c.name; }
  std::string AttemptDir(const ContainerRun& c) const {
    return ContainerDir(c) + "/" + std::to_string(c.restarts);
  }
  bool Interrupted() const { return stop_.load() || shutdown_.load(); }
  void WriteStatus(const std::string& phase, const std::string& reason = "",
                   const std::string& message = "");
  void ReleasePod();
  bool WaitFor(std::chrono::milliseconds d);

  PodRunner* runner_;
  json pod_;
  std::string uid_;
  std::string dir_;
  std::vector<ContainerRun> containers_;
  std::string restart_policy_;
  std::vector<driver::ClaimRef> claims_;
  std::vector<std::string> cdi_devices_;  // of the prepared claims
  std::string start_time_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> shutdown_{false};
  std::atomic<bool> finished_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
};

class PodRunner : public NodeAgent {
 public:
  explicit PodRunner(NodeAgentContext context) : ctx_(std::move(context)) {}
  ~PodRunner() override { Stop(); }

  std::string Start() override;
  void Stop() override;
  std::optional<std::string> PodLog(const std::string& ns, const std::string& pod,
                                    const std::string& container) override;

  Store& store() { return *ctx_.store; }
  const std::string& runner_dir() const { return runner_dir_; }
  const std::string& cdi_root() const { return cdi_root_; }
  const ProcessRuntime& runtime() const { return *runtime_; }
  // The CRI runtime (containerd) when serve runs containers through one; null for processes.
  ContainerRuntime* cri() const { return ctx_.container_runtime.get(); }
  k8s::io::kubelet::pkg::apis::dra::v1::DRAPlugin::Stub& dra() { return *dra_; }

  // Read-modify-write of a pod with retries on conflicts; `mutate` returns false to skip.
  bool UpdatePod(const std::string& ns, const std::string& name, const std::string& uid,
                 bool status_only, const std::function<bool(json&)>& mutate);

 private:
  void Loop();
  void Reconcile();
  void RemoveOrphanSandboxes();
  bool PodsOfThisNodeChangedAfter(int64_t version);

  NodeAgentContext ctx_;
  std::string runner_dir_;
  std::string cdi_root_;
  std::unique_ptr<ProcessRuntime> runtime_;
  std::unique_ptr<gpu::Nvml> nvml_;
  std::unique_ptr<driver::MigBackend> backend_;
  std::unique_ptr<kube::Client> client_;
  std::unique_ptr<driver::KubeClaimSource> claim_source_;
  std::unique_ptr<driver::DeviceState> device_state_;
  std::unique_ptr<driver::DraServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<k8s::io::kubelet::pkg::apis::dra::v1::DRAPlugin::Stub> dra_;

  std::atomic<bool> stop_{false};
  std::thread loop_;
  std::mutex workers_mu_;
  std::map<std::string, std::unique_ptr<PodWorker>> workers_;  // by pod UID
};

// ---- PodWorker -------------------------------------------------------------------------------

PodWorker::PodWorker(PodRunner* runner, json pod) : runner_(runner), pod_(std::move(pod)) {
  uid_ = Str(pod_["metadata"], "uid");  // checked (SafeUid) before any path is built from it
  dir_ = runner_->runner_dir() + "/pods/" + uid_;
  thread_ = std::thread([this] {
    RunGuarded([this] { Run(); },
               [this](const std::string& what) {
                 ReportFailure(runner_->store(), pod_, "kubelet", what);
                 finished_ = true;
               });
  });
}

PodWorker::~PodWorker() {
  RequestShutdown();
  if (thread_.joinable()) thread_.join();
}

bool PodWorker::WaitFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, d, [this] { return Interrupted(); });
}

bool PodRunner::UpdatePod(const std::string& ns, const std::string& name, const std::string& uid,
                          bool status_only, const std::function<bool(json&)>& mutate) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    std::optional<json> current = store().Get(kPods, ns, name);
    if (!current || Str((*current)["metadata"], "uid") != uid) return false;
    json updated = *current;
    bool skip = false;
    if (!RunGuarded(
            [&] { skip = !mutate(updated); },
            [&](const std::string& what) { ReportFailure(store(), *current, "kubelet", what); })) {
      return false;
    }
    if (skip) return true;
    ApiResult<json> r = UpdateObject(store(), PodInfo(), updated, status_only);
    if (r.ok()) return true;
    if (r.error.code != 409) {
      std::fprintf(stderr, "migdra serve: runner: updating pod %s/%s: %s\n", ns.c_str(),
                   name.c_str(), r.error.message.c_str());
      return false;
    }
  }
  return false;
}

void PodWorker::WriteStatus(const std::string& phase, const std::string& reason,
                            const std::string& message) {
  const json& meta = pod_["metadata"];
  runner_->UpdatePod(Str(meta, "namespace"), Str(meta, "name"), uid_, true, [&](json& pod) {
    json& status = pod["status"];
    status["phase"] = phase;
    status["hostIP"] = "127.0.0.1";
    status["podIP"] = "127.0.0.1";
    status["podIPs"] = json::array({{{"ip", "127.0.0.1"}}});
    if (!start_time_.empty()) status["startTime"] = start_time_;
    if (!reason.empty()) {
      status["reason"] = reason;
      status["message"] = message;
    }
    bool all_ready = true;
    json init_statuses = json::array(), statuses = json::array();
    for (const ContainerRun& c : containers_) {
      json s = {{"name", c.name}, {"image", Str(c.spec, "image")},
                {"imageID", ""},  {"restartCount", c.restarts},
                {"ready", false}, {"started", false}};
      if (c.running()) {
        s["state"] = {{"running", {{"startedAt", c.started_at}}}};
        s["ready"] = true;
        s["started"] = true;
        s["containerID"] = c.process ? "migdra://" + std::to_string(c.process->shim_pid())
                                     : "containerd://" + c.container_id;
      } else if (c.exit_code) {
        json t = {
            {"exitCode", *c.exit_code},
            {"reason", c.reason.empty() ? (*c.exit_code == 0 ? "Completed" : "Error") : c.reason},
            {"finishedAt", c.finished_at}};
        if (!c.started_at.empty()) t["startedAt"] = c.started_at;
        if (!c.message.empty()) t["message"] = c.message;
        s["state"] = c.done
                         ? json{{"terminated", t}}
                         : json{{"waiting",
                                 {{"reason", "CrashLoopBackOff"},
                                  {"message", "back-off restarting failed container " + c.name}}}};
        if (!c.done) s["lastState"] = {{"terminated", t}};
      } else {
        s["state"] = {{"waiting", {{"reason", c.reason.empty() ? "ContainerCreating" : c.reason}}}};
        if (!c.message.empty()) s["state"]["waiting"]["message"] = c.message;
      }
      if (!c.init && !s["ready"].get<bool>()) all_ready = false;
      (c.init ? init_statuses : statuses).push_back(s);
    }
    status["containerStatuses"] = statuses;
    if (!init_statuses.empty()) status["initContainerStatuses"] = init_statuses;
    std::string now = NowRfc3339();
    auto condition = [&](const char* type, bool value) {
      json& conds = status["conditions"];
      if (!conds.is_array()) conds = json::array();
      std::string want = value ? "True" : "False";
      for (json& c : conds) {
        if (Str(c, "type") == type) {
          if (Str(c, "status") != want) {
            c["status"] = want;
            c["lastTransitionTime"] = now;
          }
          return;
        }
      }
      conds.push_back({{"type", type}, {"status", want}, {"lastTransitionTime", now}});
    };
    bool running = phase == "Running";
    condition("Initialized", phase != "Pending");
    condition("ContainersReady", running && all_ready);
    condition("Ready", running && all_ready);
    return true;
  });
}

bool PodWorker::PrepareClaims(std::vector<std::string>* env) {
  namespace dra = k8s::io::kubelet::pkg::apis::dra::v1;
  const json& spec = pod_["spec"];
  std::string ns = Str(pod_["metadata"], "namespace");
  if (!spec.contains("resourceClaims") || spec["resourceClaims"].empty()) return true;

  std::chrono::milliseconds delay{500};
  while (!Interrupted()) {
    std::string problem;
    claims_.clear();
    std::optional<json> current = runner_->store().Get(kPods, ns, Str(pod_["metadata"], "name"));
    if (!current) return false;
    const json& status = (*current)["status"];
    for (const json& pc : spec["resourceClaims"]) {
      std::string claim_name = Str(pc, "resourceClaimName");
      if (claim_name.empty() && status.contains("resourceClaimStatuses")) {
        for (const json& s : status["resourceClaimStatuses"]) {
          if (Str(s, "name") == Str(pc, "name")) claim_name = Str(s, "resourceClaimName");
        }
      }
      if (claim_name.empty()) {
        problem = "claim " + Str(pc, "name") + " has not been created yet";
        break;
      }
      std::optional<json> claim = runner_->store().Get(kClaims, ns, claim_name);
      if (!claim) {
        problem = "resourceclaim " + ns + "/" + claim_name + " not found";
        break;
      }
      claims_.push_back({ns, claim_name, Str((*claim)["metadata"], "uid")});
    }
    if (problem.empty()) {
      dra::NodePrepareResourcesRequest request;
      for (const auto& c : claims_) {
        dra::Claim* claim = request.add_claims();
        claim->set_namespace_(c.namespace_);
        claim->set_name(c.name);
        claim->set_uid(c.uid);
      }
      dra::NodePrepareResourcesResponse response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      grpc::Status rpc = runner_->dra().NodePrepareResources(&context, request, &response);
      if (!rpc.ok()) {
        problem = "NodePrepareResources: " + rpc.error_message();
      } else {
        std::vector<std::string> ids;
        for (const auto& c : claims_) {
          auto it = response.claims().find(c.uid);
          if (it == response.claims().end()) {
            problem = "driver returned nothing for claim " + c.name;
            break;
          }
          if (!it->second.error().empty()) {
            problem = "claim " + c.name + ": " + it->second.error();
            break;
          }
          for (const auto& d : it->second.devices()) {
            for (const auto& id : d.cdi_device_ids()) ids.push_back(id);
          }
        }
        if (problem.empty()) {
          auto cdi = driver::ResolveCdiEdits(runner_->cdi_root(), ids);
          if (cdi.ok()) {
            *env = std::move(cdi->env);
            cdi_devices_ = ids;
            for (const auto& c : claims_)
              RecordMigDevices(runner_->store(), true, c.namespace_, c.name, pod_);
            return true;
          }
          problem = cdi.error().message;
        }
      }
    }
    if (claims_.size() == spec["resourceClaims"].size()) {
      RecordPrepareFailure(runner_->store(), pod_, problem);
    }
    for (ContainerRun& c : containers_) {
      c.reason = "ContainerCreating";
      c.message = "preparing devices: " + problem;
    }
    WriteStatus("Pending");
    if (WaitFor(delay)) return false;
    delay = std::min(delay * 2, std::chrono::milliseconds(10000));
  }
  return false;
}

void PodWorker::UnprepareClaims() {
  namespace dra = k8s::io::kubelet::pkg::apis::dra::v1;
  if (claims_.empty()) return;
  for (int attempt = 0; attempt < 10; ++attempt) {
    dra::NodeUnprepareResourcesRequest request;
    for (const auto& c : claims_) {
      dra::Claim* claim = request.add_claims();
      claim->set_namespace_(c.namespace_);
      claim->set_name(c.name);
      claim->set_uid(c.uid);
    }
    dra::NodeUnprepareResourcesResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    grpc::Status rpc = runner_->dra().NodeUnprepareResources(&context, request, &response);
    std::string problem = rpc.ok() ? "" : rpc.error_message();
    for (const auto& [uid, r] : response.claims()) {
      if (!r.error().empty()) problem += " claim " + uid + ": " + r.error();
    }
    if (problem.empty()) {
      for (const auto& c : claims_)
        RecordMigDevices(runner_->store(), false, c.namespace_, c.name, pod_);
      claims_.clear();
      return;
    }
    std::fprintf(stderr, "migdra serve: runner: unpreparing claims of pod %s: %s\n",
                 PodKey(pod_).c_str(), problem.c_str());
    std::this_thread::sleep_for(std::chrono::milliseconds(200 << std::min(attempt, 5)));
  }
}

void PodWorker::Start(ContainerRun& c, const std::vector<std::string>& cdi_env) {
  c.exit_code.reset();
  c.reason.clear();
  c.message.clear();
  c.finished_at.clear();
  Result<ContainerCommand> built = BuildContainerCommand(pod_, c.spec);
  if (runner_->cri()) {
    c.container_id.clear();
    // The kubelet's mapping: command and args apart (empty ones keep the image's), the pod's
    // environment on top of the image's; the claims' devices by their CDI names.
    ContainerConfig config;
    config.name = c.name;
    config.attempt = c.restarts;
    config.image = Str(c.spec, "image");
    config.image_pull_policy = Str(c.spec, "imagePullPolicy");
    if (built.ok()) {
      size_t commands = c.spec.contains("command") ? c.spec["command"].size() : 0;
      commands = std::min(commands, built->argv.size());
      config.command.assign(built->argv.begin(), built->argv.begin() + commands);
      config.args.assign(built->argv.begin() + commands, built->argv.end());
      for (const auto& [name, value] : built->env) SetEnv(config.env, name + "=" + value);
    }
    config.working_dir = Str(c.spec, "workingDir");
    config.cdi_devices = cdi_devices_;
    config.log_path = ContainerDir(c) + "/log";
    StartInRuntime(c, std::move(config));
    return;
  }
  ContainerLaunch launch;
  if (built.ok()) launch.argv = built->argv;
  launch.env = {std::string("PATH=") + kHostPath, "HOSTNAME=" + Str(pod_["metadata"], "name"),
                "HOME=/root"};
  if (built.ok()) {
    for (const auto& [name, value] : built->env) SetEnv(launch.env, name + "=" + value);
  }
  for (const std::string& e : cdi_env) SetEnv(launch.env, e);
  launch.working_dir = Str(c.spec, "workingDir");
  launch.log_path = ContainerDir(c) + "/log";
  launch.attempt_dir = AttemptDir(c);
  auto started = launch.argv.empty()
                     ? Result<std::unique_ptr<ContainerProcess>>(
                           MakeError("container " + c.name + " has no command"))
                     : runner_->runtime().Start(uid_, c.name, c.restarts, std::move(launch));
  if (started.ok()) {
    c.process = std::move(*started);
    c.started_at = c.process->started_at();
    return;
  }
  // As a kubelet reports a container its runtime could not start.
  c.started_at = NowRfc3339();
  c.finished_at = c.started_at;
  c.exit_code = 128;
  OnExit(c);
  c.reason = "StartError";
  c.message = started.error().message;
}

// The pod's sandbox in the CRI runtime.
PodSandboxConfig PodWorker::Sandbox() const {
  PodSandboxConfig sandbox;
  sandbox.uid = uid_;
  sandbox.namespace_ = Str(pod_["metadata"], "namespace");
  sandbox.name = Str(pod_["metadata"], "name");
  sandbox.log_directory = dir_;
  return sandbox;
}

// The pod's sandbox if the CRI runtime has one (nullopt when not, or when it cannot say).
std::optional<std::string> PodWorker::SandboxId() {
  auto sandboxes = runner_->cri()->ListPodSandboxes();
  if (!sandboxes.ok()) return std::nullopt;
  for (const PodSandbox& s : *sandboxes) {
    if (s.uid == uid_) return s.id;
  }
  return std::nullopt;
}

void PodWorker::RemoveSandbox() {
  std::optional<std::string> sandbox = SandboxId();
  if (!sandbox) return;
  Status stopped = runner_->cri()->StopPodSandbox(*sandbox);
  Status removed = stopped.ok() ? runner_->cri()->RemovePodSandbox(*sandbox) : stopped;
  if (!removed.ok()) {
    std::fprintf(stderr, "migdra serve: runner: removing the sandbox of pod %s: %s\n",
                 PodKey(pod_).c_str(), removed.error().message.c_str());
  }
}

// One attempt through the CRI runtime: the image as its pull policy says (a failed pull keeps the
// container waiting, ErrImagePull then ImagePullBackOff, with the kubelet's back-off and no
// restart counted), the pod's sandbox, then the container.
void PodWorker::StartInRuntime(ContainerRun& c, ContainerConfig config) {
  ContainerRuntime& cri = *runner_->cri();
  if (Status pulled = cri.PullImage(config.image, config.image_pull_policy); !pulled.ok()) {
    c.reason = c.pull_failures == 0 ? pulled.error().field : "ImagePullBackOff";
    if (c.reason.empty()) c.reason = "ErrImagePull";
    c.message = pulled.error().message;
    c.next_start =
        Clock::now() +
        std::min(kInitialRestartDelay * (1 << std::min(c.pull_failures, 10)), kMaxRestartDelay);
    ++c.pull_failures;
    return;
  }
  c.pull_failures = 0;
  PodSandboxConfig sandbox = Sandbox();
  Result<std::string> created = MakeError("no sandbox");
  auto sandbox_id = cri.RunPodSandbox(sandbox);
  created = sandbox_id.ok() ? cri.CreateContainer(*sandbox_id, config, sandbox)
                            : Result<std::string>(std::move(sandbox_id).error());
  Status started = created.ok() ? cri.StartContainer(*created) : Status(created.error());
  if (started.ok()) {
    c.container_id = *created;
    c.started_at = NowRfc3339();
    c.next_poll = Clock::now();
    return;
  }
  // As a kubelet reports a container its runtime could not create or start.
  c.started_at = NowRfc3339();
  c.finished_at = c.started_at;
  c.exit_code = 128;
  OnExit(c);
  c.reason = created.ok() ? "StartError" : "CreateContainerError";
  c.message = started.error().message;
}

// Takes up the container's last attempt from the CRI runtime after a restart of serve: running
// (adopted), exited (its exit recorded), or none (started as usual).
void PodWorker::RecoverFromRuntime(ContainerRun& c) {
  std::optional<std::string> sandbox = SandboxId();
  if (!sandbox) return;
  auto containers = runner_->cri()->ListContainers(*sandbox);
  if (!containers.ok()) return;
  const ContainerStatus* last = nullptr;
  for (const ContainerStatus& status : *containers) {
    if (status.name == c.name && (!last || status.attempt > last->attempt)) last = &status;
  }
  if (!last) return;
  c.restarts = last->attempt;
  c.container_id = last->id;
  c.started_at = last->started_at;
  c.next_poll = Clock::now();
  if (last->state == ContainerState::kCreated) {
    // Created, never started (serve stopped in between): start it now.
    Status started = runner_->cri()->StartContainer(last->id);
    if (!started.ok()) c.next_poll = Clock::now();
    return;
  }
  ReapFromRuntime(c);
}

// Whether the CRI runtime's container ended (asked at most once a second per container);
// then records its exit.
bool PodWorker::ReapFromRuntime(ContainerRun& c) {
  if (c.container_id.empty() || c.exit_code || Clock::now() < c.next_poll) return false;
  c.next_poll = Clock::now() + std::chrono::seconds(1);
  auto status = runner_->cri()->GetContainerStatus(c.container_id);
  // An error is the runtime not answering (busy, restarting): asked again later. A container it
  // lost comes back as exited with ContainerStatusUnknown (container_runtime.h).
  if (!status.ok() || status->state != ContainerState::kExited) return false;
  c.exit_code = status->exit_code;
  c.finished_at = status->finished_at.empty() ? NowRfc3339() : status->finished_at;
  if (!status->started_at.empty()) c.started_at = status->started_at;
  OnExit(c);
  c.reason = status->reason;
  c.message = status->message;
  return true;
}

// Decides what follows an attempt's exit: a restart after a back-off, or the end.
void PodWorker::OnExit(ContainerRun& c) {
  bool restart =
      restart_policy_ == "Always" || (restart_policy_ == "OnFailure" && *c.exit_code != 0);
  if (c.init && *c.exit_code == 0) restart = false;
  if (restart) {
    auto delay = std::min(kInitialRestartDelay * (1 << std::min(c.restarts, 10)), kMaxRestartDelay);
    c.next_start = Clock::now() + delay;
  } else {
    c.done = true;
  }
}

// Takes up what a previous runner left of the container (runner_process.h, crash semantics).
void PodWorker::Recover(ContainerRun& c) {
  if (runner_->cri()) {
    RecoverFromRuntime(c);
    return;
  }
  std::error_code ec;
  int last = -1;
  for (const auto& entry : fs::directory_iterator(ContainerDir(c), ec)) {
    const std::string n = entry.path().filename().string();
    if (!n.empty() && n.size() < 9 && std::all_of(n.begin(), n.end(), ::isdigit)) {
      last = std::max(last, std::stoi(n));
    }
  }
  if (last < 0) return;
  c.restarts = last;
  AttemptState attempt = ReadAttempt(AttemptDir(c));
  c.started_at = attempt.started_at;
  switch (attempt.kind) {
    case AttemptState::kNotStarted:
      return;  // never ran: Start reuses the attempt's number
    case AttemptState::kRunning:
      c.process = std::move(attempt.process);
      return;
    case AttemptState::kExited:
      c.exit_code = attempt.exit_code;
      c.finished_at = attempt.finished_at;
      OnExit(c);
      return;
    case AttemptState::kLost:
      runner_->runtime().KillAttempt(uid_, c.name, c.restarts);
      c.exit_code = attempt.exit_code;
      c.finished_at = attempt.finished_at;
      OnExit(c);
      c.reason = "ContainerStatusUnknown";
      c.message = attempt.message;
      return;
  }
}

// Whether the running attempt ended just now; then records its exit.
bool PodWorker::Reap(ContainerRun& c) {
  if (runner_->cri()) return ReapFromRuntime(c);
  if (!c.process || !c.process->Ended()) return false;
  c.process.reset();  // reaps the shim first: its exit record is complete now
  AttemptState attempt = ReadAttempt(AttemptDir(c));
  c.finished_at = NowRfc3339();
  if (attempt.kind == AttemptState::kExited) {
    c.exit_code = attempt.exit_code;
    c.finished_at = attempt.finished_at;
    OnExit(c);
  } else {
    runner_->runtime().KillAttempt(uid_, c.name, c.restarts);
    c.exit_code = 137;
    OnExit(c);
    c.reason = "ContainerStatusUnknown";
    c.message = "the container's supervisor ended without recording an exit status";
  }
  return true;
}

// Deletion: SIGTERM, then after the pod's grace period every process of the container.
bool PodWorker::StopProcesses() {
  int64_t grace = 30;
  if (pod_["spec"].contains("terminationGracePeriodSeconds") &&
      pod_["spec"]["terminationGracePeriodSeconds"].is_number_integer()) {
    grace = pod_["spec"]["terminationGracePeriodSeconds"].get<int64_t>();
  }
  if (runner_->cri()) {
    // The runtime sends SIGTERM and kills after the grace period; it returns once stopped.
    for (ContainerRun& c : containers_) {
      if (!c.running()) continue;
      Status stopped = runner_->cri()->StopContainer(
          c.container_id, std::chrono::seconds(std::max<int64_t>(grace, 0)));
      if (!stopped.ok()) {
        std::fprintf(stderr, "migdra serve: runner: stopping %s of pod %s: %s\n", c.name.c_str(),
                     PodKey(pod_).c_str(), stopped.error().message.c_str());
      }
      c.next_poll = Clock::now();
      if (!ReapFromRuntime(c)) {
        c.exit_code = 137;
        c.finished_at = NowRfc3339();
      }
      c.reason = "Error";
      c.message = "stopped: pod deleted";
    }
    for (ContainerRun& c : containers_) c.done = true;
    return true;
  }
  for (ContainerRun& c : containers_) {
    if (c.process) c.process->Terminate();
  }
  auto all_ended = [&] {
    for (const ContainerRun& c : containers_) {
      if (c.process && !c.process->Ended()) return false;
    }
    return true;
  };
  auto deadline = Clock::now() + std::chrono::seconds(std::max<int64_t>(grace, 0));
  while (!all_ended() && Clock::now() < deadline) {
    // Serve is stopping: leave the rest of the grace period to the next start.
    if (shutdown_.load()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (ContainerRun& c : containers_) {
    if (c.process && !c.process->Ended()) c.process->Kill();
  }
  // The shims kill and reap their trees, then exit; bounded in case one is stuck.
  deadline = Clock::now() + std::chrono::seconds(10);
  while (!all_ended() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (ContainerRun& c : containers_) {
    if (!c.process && (c.done || !c.exit_code)) continue;  // ended earlier, or never started
    if (c.process) {
      if (!Reap(c)) {  // its shim is stuck: report it killed
        c.process.reset();
        c.exit_code = 137;
        c.finished_at = NowRfc3339();
      }
      c.reason = "Error";
      c.message = "stopped: pod deleted";
    }
    c.done = true;
  }
  return true;
}

void PodWorker::ReleasePod() {
  const json& meta = pod_["metadata"];
  runner_->UpdatePod(Str(meta, "namespace"), Str(meta, "name"), uid_, false, [](json& pod) {
    if (!HasFinalizer(pod)) return false;
    json kept = json::array();
    for (const json& f : pod["metadata"]["finalizers"]) {
      if (f != kPodRunnerFinalizer) kept.push_back(f);
    }
    pod["metadata"]["finalizers"] = kept;
    return true;
  });
}

// A name that becomes a path: a DNS-1123 label (what API validation admits for a container).
bool SafePathPart(const std::string& name) { return api::IsDNS1123Label(name).empty(); }

// A UID as the store makes them (hex digits and dashes).
bool SafeUid(const std::string& uid) {
  return !uid.empty() && uid.size() <= 64 && std::all_of(uid.begin(), uid.end(), [](char ch) {
    return std::isxdigit(ch) || ch == '-';
  });
}

void PodWorker::Run() {
  const json& spec = pod_["spec"];
  for (const char* list : {"initContainers", "containers"}) {
    if (!spec.contains(list)) continue;
    for (const json& c : spec[list]) {
      ContainerRun run;
      run.name = Str(c, "name");
      run.spec = c;
      run.init = std::string(list) == "initContainers";
      containers_.push_back(std::move(run));
    }
  }
  restart_policy_ = Str(spec, "restartPolicy");
  if (restart_policy_.empty()) restart_policy_ = "Always";

  // Paths are built from these names only: refuse the pod unless all are safe (API validation
  // admits no other; this guards rows stored before it did).
  std::string unsafe = SafeUid(uid_) ? "" : "pod UID " + uid_;
  std::set<std::string> names;
  for (const ContainerRun& c : containers_) {
    if (!SafePathPart(c.name) || !names.insert(c.name).second) unsafe = "container name " + c.name;
  }
  if (unsafe.empty()) {
    for (ContainerRun& c : containers_) {
      std::error_code ec;
      fs::create_directories(ContainerDir(c), ec);
      Recover(c);
    }
  }

  // Like a kubelet that cannot create a container's configuration, the runner keeps such a pod
  // Pending with the reason on the container, until it is deleted.
  for (const ContainerRun& c : containers_) {
    std::string reason, message;
    Result<ContainerCommand> built = BuildContainerCommand(pod_, c.spec);
    if (!unsafe.empty()) {
      reason = "CreateContainerConfigError";
      message = "invalid " + unsafe + ": not a DNS-1123 label, or not unique";
    } else if (!runner_->cri() && (!c.spec.contains("command") || c.spec["command"].empty())) {
      reason = "CommandRequired";
      message = "container " + c.name +
                " has no command: migdra's host runtime runs commands, not container images "
                "(image " +
                Str(c.spec, "image") + "); set command (and args) to run it";
    } else if (!built.ok()) {
      reason = "CreateContainerConfigError";
      message = built.error().message;
    } else {
      continue;
    }
    for (ContainerRun& each : containers_) {
      each.reason = reason;
      each.message = message;
    }
    WriteStatus("Pending");
    while (!Interrupted()) WaitFor(std::chrono::seconds(1));
    if (stop_.load()) ReleasePod();
    finished_ = true;
    return;
  }

  std::vector<std::string> cdi_env;
  start_time_ = NowRfc3339();
  bool failed = false;
  if (PrepareClaims(&cdi_env)) {
    auto restart_due = [](const ContainerRun& c) {
      return !c.running() && !c.done && Clock::now() >= c.next_start;
    };
    auto start = [&](ContainerRun& c) {
      if (c.exit_code) ++c.restarts;
      Start(c, cdi_env);
    };
    // Init containers, one after another.
    for (ContainerRun& c : containers_) {
      if (!c.init || failed) continue;
      if (!c.done) WriteStatus("Pending");  // a finished one (adopted state) changes nothing
      while (!Interrupted() && !c.done) {
        bool changed = Reap(c);
        if (restart_due(c)) {
          start(c);
          changed = true;
        }
        if (changed) WriteStatus("Pending");
        WaitFor(std::chrono::milliseconds(50));
      }
      if (c.exit_code && *c.exit_code != 0) failed = true;
    }
    // Then the containers together.
    if (!failed && !Interrupted()) {
      for (ContainerRun& c : containers_) {
        if (!c.init && restart_due(c)) start(c);
      }
      WriteStatus("Running");
      while (!Interrupted()) {
        bool changed = false, all_done = true;
        for (ContainerRun& c : containers_) {
          if (c.init) continue;
          if (Reap(c)) changed = true;
          if (restart_due(c)) {
            start(c);
            changed = true;
          }
          if (!c.done) all_done = false;
        }
        if (all_done) break;
        if (changed) WriteStatus("Running");
        WaitFor(std::chrono::milliseconds(50));
      }
    }
  }

  // Serve is stopping: the containers go on running; the next start adopts them.
  if ((shutdown_.load() && !stop_.load()) || (stop_.load() && !StopProcesses())) {
    finished_ = true;
    return;
  }
  if (!runner_->cri()) runner_->runtime().KillPod(uid_);
  bool all_zero = !failed;
  for (const ContainerRun& c : containers_) {
    if (!c.init && (!c.exit_code || *c.exit_code != 0)) all_zero = false;
  }
  UnprepareClaims();
  WriteStatus(all_zero ? "Succeeded" : "Failed");
  // The containers have ended: the kubelet removes the sandbox after reporting the phase (a
  // busy runtime takes a while); the logs stay in dir_. One left behind is removed by the
  // runner's sweep (RemoveOrphanSandboxes).
  if (runner_->cri()) RemoveSandbox();
  ReleasePod();
  finished_ = true;
}

// ---- PodRunner -------------------------------------------------------------------------------

std::string PodRunner::Start() {
  std::error_code ec;
  // The driver's socket path is a unix address: relative paths would depend on the cwd.
  ctx_.data_dir = fs::absolute(ctx_.data_dir, ec).string();
  runner_dir_ = ctx_.data_dir + "/runner";
  cdi_root_ = ctx_.data_dir + "/cdi";
  std::string driver_dir = ctx_.data_dir + "/driver";
  fs::create_directories(runner_dir_ + "/pods", ec);
  fs::create_directories(driver_dir, ec);
  runtime_ = ProcessRuntime::Create(runner_dir_);
  std::fprintf(stderr, "migdra serve: runner: confining pods with %s\n",
               runtime_->description().c_str());

  std::string simulate = ctx_.simulate;
  if (simulate.empty()) {
    auto real = gpu::Nvml::Open();
    if (real.ok()) {
      nvml_ = std::move(*real);
    } else {
      simulate = "a100-80gb:8";
    }
  }
  if (!nvml_) {
    auto sim = gpu::OpenSimulator(simulate, driver_dir + "/nvmlsim-state.json");
    if (!sim.ok()) return "opening nvmlsim: " + sim.error().message;
    nvml_ = std::move(*sim);
  }
  backend_ = std::make_unique<driver::TimedMigBackend>(
      std::make_unique<driver::NvmlMigBackend>(nvml_.get()));
  driver::GlobalDriverMetrics().SetNode(ctx_.node_name);

  auto config = kube::LoadKubeconfig(ctx_.data_dir + "/kubeconfig");
  if (!config.ok()) return "reading the kubeconfig: " + config.error().message;
  auto client = kube::Client::Create(*config);
  if (!client.ok()) return "API client: " + client.error().message;
  client_ = std::move(*client);
  claim_source_ = std::make_unique<driver::KubeClaimSource>(client_.get());

  driver::DeviceStateOptions options;
  options.driver_name = kDriverName;
  options.pool_name = ctx_.node_name;
  options.state_dir = driver_dir;
  options.cdi_root = cdi_root_;
  options.dynamic_mig = kServeDynamicMig;
  auto state = driver::DeviceState::Create(options, backend_.get(), claim_source_.get());
  if (!state.ok()) return "driver state: " + state.error().message;
  device_state_ = std::move(*state);

  driver::DraServerOptions server_options;
  server_options.driver_name = kDriverName;
  server_options.plugins_dir = ctx_.data_dir + "/plugins";
  server_options.registry_dir = ctx_.data_dir + "/plugins_registry";
  server_options.register_with_kubelet = false;
  server_ = std::make_unique<driver::DraServer>(server_options, device_state_.get());
  if (Status s = server_->Start(); !s.ok()) return "driver gRPC server: " + s.error().message;

  channel_ =
      grpc::CreateChannel("unix://" + server_->dra_socket(), grpc::InsecureChannelCredentials());
  dra_ = k8s::io::kubelet::pkg::apis::dra::v1::DRAPlugin::NewStub(channel_);
  if (cri()) RemoveOrphanSandboxes();
  loop_ = std::thread([this] { Loop(); });
  return "";
}

// Sandboxes (with their containers) that no pod's worker will remove: those of pods that no
// longer exist (a finalizer removed by hand while serve was down) or that finished while their
// removal failed (a runtime too busy to answer in time).
void PodRunner::RemoveOrphanSandboxes() {
  auto sandboxes = cri()->ListPodSandboxes();
  if (!sandboxes.ok() || sandboxes->empty()) return;
  std::set<std::string> kept;  // pods still running, or with a worker that will remove its own
  for (const json& pod : store().List(kPods, "")) {
    if (!Terminal(pod)) kept.insert(Str(pod["metadata"], "uid"));
  }
  {
    std::lock_guard lock(workers_mu_);
    for (const auto& [uid, worker] : workers_) {
      if (!worker->finished()) kept.insert(uid);
    }
  }
  for (const PodSandbox& sandbox : *sandboxes) {
    if (kept.count(sandbox.uid)) continue;
    Status stopped = cri()->StopPodSandbox(sandbox.id);
    Status removed = stopped.ok() ? cri()->RemovePodSandbox(sandbox.id) : stopped;
    std::fprintf(stderr,
                 "migdra serve: runner: removing the sandbox of finished or gone pod %s: %s\n",
                 sandbox.uid.c_str(), removed.ok() ? "done" : removed.error().message.c_str());
  }
}

void PodRunner::Stop() {
  if (stop_.exchange(true)) return;
  if (ctx_.store) ctx_.store->WakeAll();
  if (loop_.joinable()) loop_.join();
  {
    // Shutdown leaves the pods' processes running, their devices prepared and their status;
    // the next start adopts them (see runner_process.h).
    std::lock_guard lock(workers_mu_);
    for (auto& [uid, worker] : workers_) worker->RequestShutdown();
    workers_.clear();
  }
  if (server_) server_->Stop();
}

// Reconciles when a write touched a pod bound to this node, and every 500 ms without writes. A
// pass lists every pod in the store, so doing one for each write elsewhere (a scheduler binding
// thousands of pods to other nodes) would cost a copy of all pods per write.
void PodRunner::Loop() {
  std::optional<int64_t> seen;  // the version up to which writes were looked at
  auto next_sweep = Clock::now() + kSandboxSweepInterval;
  while (!stop_.load()) {
    if (cri() && Clock::now() >= next_sweep) {
      RunGuarded([this] { RemoveOrphanSandboxes(); },
                 [](const std::string& what) {
                   std::fprintf(stderr, "migdra serve: runner: sandbox sweep failed: %s\n",
                                what.c_str());
                 });
      next_sweep = Clock::now() + kSandboxSweepInterval;
    }
    int64_t version = store().CurrentVersion();
    if (!seen || PodsOfThisNodeChangedAfter(*seen)) {
      RunGuarded([this] { Reconcile(); },
                 [](const std::string& what) {
                   std::fprintf(stderr, "migdra serve: runner: pass failed: %s\n", what.c_str());
                 });
    }
    seen = version;
    if (!store().WaitForVersion(version, std::chrono::milliseconds(500))) seen.reset();
  }
}

// Whether a write after `version` touched a pod bound to this node (true when the watch log no
// longer holds those writes).
bool PodRunner::PodsOfThisNodeChangedAfter(int64_t version) {
  for (;;) {
    ApiResult<std::vector<WatchEvent>> events = store().EventsAfter(version, 1000);
    if (!events.ok()) return true;
    if (events.value->empty()) return false;
    for (const WatchEvent& event : *events.value) {
      if (event.resource == kPods &&
          Str(Field(event.object, {"spec"}), "nodeName") == ctx_.node_name) {
        return true;
      }
      version = event.resource_version;
    }
  }
}

void PodRunner::Reconcile() {
  std::vector<json> pods = store().List(kPods, "");
  std::set<std::string> seen;
  std::lock_guard lock(workers_mu_);
  for (json& pod : pods) {
    if (Str(pod["spec"], "nodeName") != ctx_.node_name) continue;
    std::string uid = Str(pod["metadata"], "uid");
    seen.insert(uid);
    auto it = workers_.find(uid);
    if (it != workers_.end()) {
      if (Deleting(pod)) it->second->RequestStop();
      continue;
    }
    if (Terminal(pod)) {
      if (HasFinalizer(pod)) {
        // Finished earlier (or by a runner that crashed before releasing it).
        UpdatePod(Str(pod["metadata"], "namespace"), Str(pod["metadata"], "name"), uid, false,
                  [](json& p) {
                    json kept = json::array();
                    for (const json& f : p["metadata"]["finalizers"]) {
                      if (f != kPodRunnerFinalizer) kept.push_back(f);
                    }
                    p["metadata"]["finalizers"] = kept;
                    return true;
                  });
      }
      continue;
    }
    if (Deleting(pod) && !HasFinalizer(pod)) continue;
    if (!HasFinalizer(pod)) {
      bool taken = UpdatePod(Str(pod["metadata"], "namespace"), Str(pod["metadata"], "name"), uid,
                             false, [](json& p) {
                               if (!p["metadata"].contains("finalizers")) {
                                 p["metadata"]["finalizers"] = json::array();
                               }
                               p["metadata"]["finalizers"].push_back(kPodRunnerFinalizer);
                               return true;
                             });
      if (!taken) continue;
      std::optional<json> fresh =
          store().Get(kPods, Str(pod["metadata"], "namespace"), Str(pod["metadata"], "name"));
      if (!fresh) continue;
      pod = *fresh;
    }
    auto worker = std::make_unique<PodWorker>(this, pod);
    if (Deleting(pod)) worker->RequestStop();
    workers_.emplace(uid, std::move(worker));
  }
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (it->second->finished() || !seen.count(it->first)) {
      if (!seen.count(it->first)) it->second->RequestStop();
      if (it->second->finished()) {
        it = workers_.erase(it);
        continue;
      }
    }
    ++it;
  }
}

std::optional<std::string> PodRunner::PodLog(const std::string& ns, const std::string& pod,
                                             const std::string& container) {
  std::optional<json> object = store().Get(kPods, ns, pod);
  if (!object) return std::nullopt;
  std::string uid = Str((*object)["metadata"], "uid");
  if (!SafeUid(uid) || !SafePathPart(container)) return std::nullopt;
  bool in_pod = false;
  for (const char* list : {"initContainers", "containers"}) {
    const json& spec = (*object)["spec"];
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (const json& c : spec[list]) in_pod = in_pod || Str(c, "name") == container;
  }
  if (!in_pod) return std::nullopt;
  std::string path = runner_dir_ + "/pods/" + uid + "/" + container + "/log";
  if (cri()) {
    auto log = cri()->ReadLog(path);
    if (!log.ok()) return std::nullopt;
    return *log;
  }
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::unique_ptr<NodeAgent> MakePodRunner(const NodeAgentContext& context) {
  return std::make_unique<PodRunner>(context);
}

}  // namespace migdra::node
