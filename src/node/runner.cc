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
#include "common/clock.h"
#include "common/guard.h"
#include "control/json_access.h"
#include "control/object_meta.h"
#include "dra_v1.grpc.pb.h"
#include "kube/client.h"
#include "node/cdi_edits.h"
#include "node/container_env.h"
#include "node/host_streaming.h"
#include "node/kubelet_events.h"
#include "node/pod_config.h"
#include "node/runner_process.h"

namespace migdra::node {

using control::AddFinalizer;
using control::Deleting;
using control::Field;
using control::HasFinalizer;
using control::RemoveFinalizer;
using control::SetCondition;
using control::Str;
using control::Terminal;
using json = nlohmann::json;
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kHostPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// Restart back-off: kubelet uses 10 s doubling to 5 min; a single-node runner restarts sooner.
constexpr std::chrono::milliseconds kInitialRestartDelay{500};
constexpr std::chrono::milliseconds kMaxRestartDelay{30000};
// How often a container waiting for what its pod reads (ConfigMaps, Secrets) asks again.
constexpr std::chrono::seconds kConfigRetryInterval{1};
// How often the runner looks for sandboxes whose pod is gone or finished (a CRI runtime).
constexpr std::chrono::seconds kSandboxSweepInterval{10};

std::string PodPath(const std::string& ns, const std::string& name) {
  return "/api/v1/namespaces/" + ns + "/pods/" + name;
}

std::string ClaimPath(const std::string& ns, const std::string& name) {
  return "/apis/resource.k8s.io/v1/namespaces/" + ns + "/resourceclaims/" + name;
}

// The object at `path`; nullopt when it does not exist or cannot be read (then logged).
std::optional<json> GetObject(kube::Client& client, const std::string& path) {
  auto got = client.Get(path);
  if (!got.ok() || (!got->ok() && got->status != 404)) {
    std::fprintf(
        stderr, "migdra serve: runner: GET %s: %s\n", path.c_str(),
        got.ok() ? ("HTTP " + std::to_string(got->status)).c_str() : got.error().message.c_str());
    return std::nullopt;
  }
  if (!got->ok()) return std::nullopt;
  json object = json::parse(got->body, nullptr, false);
  if (!object.is_object()) return std::nullopt;
  return object;
}

// A claim of a pod, as the DRA gRPC API names it.
struct ClaimRef {
  std::string namespace_;
  std::string name;
  std::string uid;
};

std::string PodKey(const json& pod) {
  return Str(pod["metadata"], "namespace") + "/" + Str(pod["metadata"], "name");
}

// Whether the runner has taken the pod under its care.
bool Taken(const json& pod) { return HasFinalizer(pod, kPodRunnerFinalizer); }

// Drops the runner's finalizer; false (nothing to write) when the pod has none.
bool DropRunnerFinalizer(json& pod) {
  if (!Taken(pod)) return false;
  RemoveFinalizer(pod, kPodRunnerFinalizer);
  return true;
}

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
  int pull_failures = 0;       // consecutive image pulls that failed (ImagePullBackOff)
  bool create_failed = false;  // creating the current attempt failed (StartInRuntime)
  bool done = false;           // exited for good (no restart coming)
  json last_termination;       // the previous attempt's end (lastState.terminated), once restarted

  bool running() const { return (process || !container_id.empty()) && !exit_code; }
};

// An ended attempt as containerStatuses' state.terminated.
json Termination(const ContainerRun& c) {
  json t = {{"exitCode", *c.exit_code},
            {"reason", c.reason.empty() ? (*c.exit_code == 0 ? "Completed" : "Error") : c.reason},
            {"finishedAt", c.finished_at}};
  if (!c.started_at.empty()) t["startedAt"] = c.started_at;
  if (!c.message.empty()) t["message"] = c.message;
  return t;
}

// Stops the sandbox (every process left in it), then removes it with its containers.
Status StopAndRemoveSandbox(ContainerRuntime& runtime, const std::string& sandbox_id) {
  Status stopped = runtime.StopPodSandbox(sandbox_id);
  return stopped.ok() ? runtime.RemovePodSandbox(sandbox_id) : stopped;
}

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
  // Why the containers cannot be created yet: shown as their waiting reason and message;
  // `final` when only a new pod spec could change it.
  struct Waiting {
    std::string reason;
    std::string message;
    bool final = false;
  };

  // The phases of a pod, in the order Run goes through them.
  void Run();
  void TakeContainers();
  std::string UnsafeName() const;
  void AdoptContainers();
  bool AnyContainerRan() const;
  bool WaitUntilCreatable(const std::string& unsafe);
  std::optional<Waiting> CreationBlocker(const std::string& unsafe);
  std::optional<Waiting> MountVolumes();
  bool PrepareClaims();
  bool RunInitContainers();
  void RunContainers();
  bool EndContainers();
  void Release(bool init_failed);

  // Claims, through the driver's DRA gRPC socket.
  std::string FindClaims(const json& current);
  std::string PrepareFoundClaims();
  void UnprepareClaims();

  // One container's attempts, on whichever runtime runs them (the two sides below).
  static bool StartDue(const ContainerRun& c);
  void StartAttempt(ContainerRun& c);
  void Start(ContainerRun& c);
  void FailStart(ContainerRun& c, const std::string& reason, const std::string& message);
  void Recover(ContainerRun& c);
  bool Reap(ContainerRun& c);
  void OnExit(ContainerRun& c);
  // Deletion: false when serve began to stop first (the processes are left to the next start).
  bool StopProcesses();

  // Host processes (runner_process.h).
  ContainerLaunch HostLaunch(const ContainerRun& c, const Result<ContainerCommand>& built);
  void StartHostProcess(ContainerRun& c, ContainerLaunch launch);
  void RecoverHostProcess(ContainerRun& c);
  bool ReapHostProcess(ContainerRun& c);
  bool StopHostProcesses(std::chrono::seconds grace);

  // A CRI runtime (container_runtime.h).
  ContainerConfig RuntimeConfig(const ContainerRun& c, const Result<ContainerCommand>& built);
  void StartInRuntime(ContainerRun& c, ContainerConfig config);
  void RecoverFromRuntime(ContainerRun& c);
  void AdoptFromRuntime(ContainerRun& c, const ContainerStatus& attempt);
  bool ReapFromRuntime(ContainerRun& c);
  void StopInRuntime(std::chrono::seconds grace);
  PodSandboxConfig Sandbox() const;
  bool RunSandbox(ContainerRun& c);
  void ReadPodIps(const std::string& sandbox_id);
  void SetPodIps(json& status) const;
  std::optional<std::string> SandboxId();
  void RemoveSandbox();

  std::string ContainerDir(const ContainerRun& c) const { return dir_ + "/" + c.name; }
  std::string AttemptDir(const ContainerRun& c) const {
    return ContainerDir(c) + "/" + std::to_string(c.restarts);
  }
  bool Interrupted() const { return stop_.load() || shutdown_.load(); }
  // The ConfigMaps and Secrets of the pod's namespace, as the API server has them now.
  ConfigLookup ConfigOfPod() const;
  void ShowWaiting(const std::string& reason, const std::string& message);
  void WriteStatus(const std::string& phase);
  void DropFinalizer();
  bool WaitFor(std::chrono::milliseconds d);

  PodRunner* runner_;
  json pod_;
  std::string uid_;
  std::string dir_;
  std::vector<ContainerRun> containers_;
  std::map<std::string, std::vector<BindMount>> mounts_;  // by container name
  bool volumes_mounted_ = false;                          // mounts_ holds the pod's volumes
  std::string restart_policy_;
  std::vector<ClaimRef> claims_;
  std::vector<std::string> cdi_devices_;  // of the prepared claims
  std::vector<std::string> cdi_env_;      // their CDI edits' environment (host processes)
  std::string sandbox_id_;                // the CRI runtime's sandbox of the pod (RunSandbox)
  std::vector<std::string> pod_ips_;      // in the CRI runtime's pod network (none: the node's)
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

  Status Start() override;
  void Stop() override;
  std::optional<std::string> PodLog(const std::string& ns, const std::string& pod,
                                    const std::string& container, int attempt,
                                    size_t offset) override;
  stream::ContainerStreaming* Streaming() override { return streaming_.get(); }

  kube::Client& client() { return *client_; }
  const std::string& runner_dir() const { return ctx_.state_dir; }
  const std::string& cdi_root() const { return ctx_.cdi_root; }
  const ProcessRuntime& runtime() const { return *runtime_; }
  // The CRI runtime (containerd) when serve runs containers through one; null for processes.
  ContainerRuntime* cri() const { return ctx_.container_runtime.get(); }
  k8s::io::kubelet::pkg::apis::dra::v1::DRAPlugin::Stub& dra() { return *dra_; }

  // Read-modify-write of a pod with retries on conflicts; `mutate` returns false to skip.
  bool UpdatePod(const std::string& ns, const std::string& name, const std::string& uid,
                 bool status_only, const std::function<bool(json&)>& mutate);

 private:
  void Loop();
  // One pass over the pods of this node; the list's resourceVersion ("" when it failed).
  std::string Reconcile();
  // Removes the CRI sandboxes of pods that are gone or finished (the last pass's pods).
  void RemoveOrphanSandboxes();

  NodeAgentContext ctx_;
  std::unique_ptr<ProcessRuntime> runtime_;
  std::unique_ptr<HostProcessStreaming> streaming_;
  std::unique_ptr<kube::Client> client_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<k8s::io::kubelet::pkg::apis::dra::v1::DRAPlugin::Stub> dra_;

  std::atomic<bool> stop_{false};
  std::thread loop_;
  std::mutex workers_mu_;
  std::map<std::string, std::unique_ptr<PodWorker>> workers_;  // by pod UID
  std::mutex pods_mu_;
  std::map<std::string, json> pods_;  // "namespace/name" → pod, as of the last pass (PodLog)
};

// ---- PodWorker -------------------------------------------------------------------------------

PodWorker::PodWorker(PodRunner* runner, json pod) : runner_(runner), pod_(std::move(pod)) {
  uid_ = Str(pod_["metadata"], "uid");  // checked (SafeUid) before any path is built from it
  dir_ = runner_->runner_dir() + "/pods/" + uid_;
  thread_ = std::thread([this] {
    RunGuarded([this] { Run(); },
               [this](const std::string& what) {
                 ReportFailure(runner_->client(), pod_, what);
                 finished_ = true;
               });
  });
}

PodWorker::~PodWorker() {
  RequestShutdown();
  if (thread_.joinable()) thread_.join();
}

ConfigLookup PodWorker::ConfigOfPod() const {
  kube::Client* client = &runner_->client();
  std::string ns = Str(pod_["metadata"], "namespace");
  if (ns.empty()) ns = "default";
  return [client, ns](const std::string& resource, const std::string& name) {
    return GetObject(*client, "/api/v1/namespaces/" + ns + "/" + resource + "/" + name);
  };
}

bool PodWorker::WaitFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, d, [this] { return Interrupted(); });
}

bool PodRunner::UpdatePod(const std::string& ns, const std::string& name, const std::string& uid,
                          bool status_only, const std::function<bool(json&)>& mutate) {
  const std::string path = PodPath(ns, name);
  for (int attempt = 0; attempt < 20; ++attempt) {
    std::optional<json> current = GetObject(client(), path);
    if (!current || Str((*current)["metadata"], "uid") != uid) return false;
    json updated = *current;
    bool skip = false;
    if (!RunGuarded([&] { skip = !mutate(updated); },
                    [&](const std::string& what) { ReportFailure(client(), *current, what); })) {
      return false;
    }
    if (skip) return true;
    auto r = client().Update(status_only ? path + "/status" : path, updated.dump());
    if (r.ok() && r->ok()) return true;
    if (!r.ok() || r->status != 409) {
      std::fprintf(stderr, "migdra serve: runner: updating pod %s/%s: %s\n", ns.c_str(),
                   name.c_str(), r.ok() ? r->body.c_str() : r.error().message.c_str());
      return false;
    }
  }
  return false;
}

// The container's entry in status.containerStatuses (or initContainerStatuses).
json StatusOf(const ContainerRun& c) {
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
    json t = Termination(c);
    s["state"] = c.done ? json{{"terminated", t}}
                        : json{{"waiting",
                                {{"reason", "CrashLoopBackOff"},
                                 {"message", "back-off restarting failed container " + c.name}}}};
    if (!c.done) s["lastState"] = {{"terminated", t}};
  } else {
    s["state"] = {{"waiting", {{"reason", c.reason.empty() ? "ContainerCreating" : c.reason}}}};
    if (!c.message.empty()) s["state"]["waiting"]["message"] = c.message;
  }
  if (!s.contains("lastState") && !c.last_termination.is_null()) {
    s["lastState"] = {{"terminated", c.last_termination}};
  }
  return s;
}

// Writes the pod's status: `phase`, the containers' states, and the conditions they imply.
void PodWorker::WriteStatus(const std::string& phase) {
  const json& meta = pod_["metadata"];
  runner_->UpdatePod(Str(meta, "namespace"), Str(meta, "name"), uid_, true, [&](json& pod) {
    json& status = pod["status"];
    status["phase"] = phase;
    status["hostIP"] = "127.0.0.1";
    SetPodIps(status);
    if (!start_time_.empty()) status["startTime"] = start_time_;
    bool all_ready = true;
    json init_statuses = json::array(), statuses = json::array();
    for (const ContainerRun& c : containers_) {
      if (!c.init && !c.running()) all_ready = false;
      (c.init ? init_statuses : statuses).push_back(StatusOf(c));
    }
    status["containerStatuses"] = statuses;
    if (!init_statuses.empty()) status["initContainerStatuses"] = init_statuses;
    auto condition = [&status](const char* type, bool value) {
      SetCondition(status, type, value ? "True" : "False");
    };
    const bool ready = phase == "Running" && all_ready;
    condition("Initialized", phase != "Pending");
    condition("ContainersReady", ready);
    condition("Ready", ready);
    return true;
  });
}

// The claims of the pod, as the DRA gRPC API names them.
template <typename Request>
void AddClaims(Request& request, const std::vector<ClaimRef>& claims) {
  for (const auto& c : claims) {
    auto* claim = request.add_claims();
    claim->set_namespace_(c.namespace_);
    claim->set_name(c.name);
    claim->set_uid(c.uid);
  }
}

// Prepares the pod's claims through the driver. Until that succeeds the containers wait
// (ContainerCreating, "preparing devices: ...", a FailedPrepareDynamicResources Event once every
// claim exists), retried with back-off. False when interrupted or the pod is gone.
bool PodWorker::PrepareClaims() {
  const json& spec = pod_["spec"];
  if (!spec.contains("resourceClaims") || spec["resourceClaims"].empty()) return true;

  std::chrono::milliseconds delay{500};
  while (!Interrupted()) {
    claims_.clear();
    std::optional<json> current =
        GetObject(runner_->client(),
                  PodPath(Str(pod_["metadata"], "namespace"), Str(pod_["metadata"], "name")));
    if (!current) return false;
    std::string problem = FindClaims(*current);
    if (problem.empty()) problem = PrepareFoundClaims();
    if (problem.empty()) return true;
    if (claims_.size() == spec["resourceClaims"].size()) {
      RecordPrepareFailure(runner_->client(), pod_, problem);
    }
    ShowWaiting("ContainerCreating", "preparing devices: " + problem);
    WriteStatus("Pending");
    if (WaitFor(delay)) return false;
    delay = std::min(delay * 2, std::chrono::milliseconds(10000));
  }
  return false;
}

// Fills claims_ with the pod's claims, by name from the spec or from the pod's status (claims
// made from templates); what is missing ("" when all exist).
std::string PodWorker::FindClaims(const json& current) {
  const std::string ns = Str(pod_["metadata"], "namespace");
  const json& status = current["status"];
  for (const json& pc : pod_["spec"]["resourceClaims"]) {
    std::string claim_name = Str(pc, "resourceClaimName");
    if (claim_name.empty() && status.contains("resourceClaimStatuses")) {
      for (const json& s : status["resourceClaimStatuses"]) {
        if (Str(s, "name") == Str(pc, "name")) claim_name = Str(s, "resourceClaimName");
      }
    }
    if (claim_name.empty()) return "claim " + Str(pc, "name") + " has not been created yet";
    std::optional<json> claim = GetObject(runner_->client(), ClaimPath(ns, claim_name));
    if (!claim) return "resourceclaim " + ns + "/" + claim_name + " not found";
    claims_.push_back({ns, claim_name, Str((*claim)["metadata"], "uid")});
  }
  return "";
}

// NodePrepareResources for claims_, then the CDI edits of the devices it returned (cdi_env_,
// cdi_devices_) and a MigDeviceCreated Event per MIG device; what failed ("" when nothing).
std::string PodWorker::PrepareFoundClaims() {
  namespace dra = k8s::io::kubelet::pkg::apis::dra::v1;
  dra::NodePrepareResourcesRequest request;
  AddClaims(request, claims_);
  dra::NodePrepareResourcesResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  grpc::Status rpc = runner_->dra().NodePrepareResources(&context, request, &response);
  if (!rpc.ok()) return "NodePrepareResources: " + rpc.error_message();
  std::vector<std::string> ids;
  for (const auto& c : claims_) {
    auto it = response.claims().find(c.uid);
    if (it == response.claims().end()) return "driver returned nothing for claim " + c.name;
    if (!it->second.error().empty()) return "claim " + c.name + ": " + it->second.error();
    for (const auto& d : it->second.devices()) {
      for (const auto& id : d.cdi_device_ids()) ids.push_back(id);
    }
  }
  auto cdi = ResolveCdiEdits(runner_->cdi_root(), ids);
  if (!cdi.ok()) return cdi.error().message;
  cdi_env_ = std::move(cdi->env);
  cdi_devices_ = ids;
  for (const auto& c : claims_) {
    RecordMigDevices(runner_->client(), true, c.namespace_, c.name, pod_);
  }
  return "";
}

void PodWorker::UnprepareClaims() {
  namespace dra = k8s::io::kubelet::pkg::apis::dra::v1;
  if (claims_.empty()) return;
  for (int attempt = 0; attempt < 10; ++attempt) {
    dra::NodeUnprepareResourcesRequest request;
    AddClaims(request, claims_);
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
        RecordMigDevices(runner_->client(), false, c.namespace_, c.name, pod_);
      claims_.clear();
      return;
    }
    std::fprintf(stderr, "migdra serve: runner: unpreparing claims of pod %s: %s\n",
                 PodKey(pod_).c_str(), problem.c_str());
    std::this_thread::sleep_for(std::chrono::milliseconds(200 << std::min(attempt, 5)));
  }
}

// Starts one attempt of the container: through the CRI runtime, or as host processes.
void PodWorker::Start(ContainerRun& c) {
  c.exit_code.reset();
  c.reason.clear();
  c.message.clear();
  c.finished_at.clear();
  c.container_id.clear();
  // As the kubelet: the pod's sandbox first, so that the container's environment reads the
  // pod's IPs (status.podIP) of the runtime's pod network.
  if (runner_->cri() && !RunSandbox(c)) return;
  Result<ContainerCommand> built = BuildContainerCommand(pod_, c.spec, ConfigOfPod());
  // What the pod reads may be gone since it started (a ConfigMap or Secret deleted): as the
  // kubelet, this attempt is not created; the container waits with the reason, tried again.
  std::optional<Waiting> blocker;
  if (!built.ok()) {
    blocker = Waiting{"CreateContainerConfigError", built.error().message};
  } else if (!volumes_mounted_) {
    blocker = MountVolumes();  // an adopted pod's, at its first restart
  }
  if (blocker) {
    c.reason = blocker->reason;
    c.message = blocker->message;
    c.next_start = Clock::now() + kConfigRetryInterval;
    return;
  }
  if (runner_->cri()) {
    StartInRuntime(c, RuntimeConfig(c, built));
  } else {
    StartHostProcess(c, HostLaunch(c, built));
  }
}

// The kubelet's mapping for a CRI runtime: command and args apart (empty ones keep the
// image's), the pod's environment on top of the image's; the claims' devices by their CDI names.
ContainerConfig PodWorker::RuntimeConfig(const ContainerRun& c,
                                         const Result<ContainerCommand>& built) {
  ContainerConfig config;
  config.name = c.name;
  config.attempt = c.restarts;
  config.image = Str(c.spec, "image");
  config.image_pull_policy = Str(c.spec, "imagePullPolicy");
  config.stdin = Field(c.spec, {"stdin"}) == true;
  config.stdin_once = Field(c.spec, {"stdinOnce"}) == true;
  config.tty = Field(c.spec, {"tty"}) == true;
  if (built.ok()) {
    size_t commands = c.spec.contains("command") ? c.spec["command"].size() : 0;
    commands = std::min(commands, built->argv.size());
    config.command.assign(built->argv.begin(), built->argv.begin() + commands);
    config.args.assign(built->argv.begin() + commands, built->argv.end());
    for (const auto& [name, value] : built->env) SetEnv(config.env, name + "=" + value);
  }
  config.working_dir = Str(c.spec, "workingDir");
  for (const BindMount& m : mounts_[c.name]) {
    config.mounts.push_back({m.source, m.target, m.read_only});
  }
  config.cdi_devices = cdi_devices_;
  config.log_path = AttemptDir(c) + "/log";
  return config;
}

// Host processes: command + args with the host's PATH, the pod's environment and the claims'
// CDI environment on top.
ContainerLaunch PodWorker::HostLaunch(const ContainerRun& c,
                                      const Result<ContainerCommand>& built) {
  ContainerLaunch launch;
  if (built.ok()) launch.argv = built->argv;
  launch.env = {std::string("PATH=") + kHostPath, "HOSTNAME=" + Str(pod_["metadata"], "name"),
                "HOME=/root"};
  if (built.ok()) {
    for (const auto& [name, value] : built->env) SetEnv(launch.env, name + "=" + value);
  }
  for (const std::string& e : cdi_env_) SetEnv(launch.env, e);
  launch.working_dir = Str(c.spec, "workingDir");
  launch.log_path = AttemptDir(c) + "/log";
  launch.attempt_dir = AttemptDir(c);
  launch.mounts = mounts_[c.name];
  launch.open_stdin = Field(c.spec, {"stdin"}) == true;
  return launch;
}

void PodWorker::StartHostProcess(ContainerRun& c, ContainerLaunch launch) {
  auto started = launch.argv.empty()
                     ? Result<std::unique_ptr<ContainerProcess>>(
                           MakeError("container " + c.name + " has no command"))
                     : runner_->runtime().Start(uid_, c.name, c.restarts, std::move(launch));
  if (started.ok()) {
    c.process = std::move(*started);
    c.started_at = c.process->started_at();
  } else {
    FailStart(c, "StartError", started.error().message);
  }
}

// As a kubelet reports a container its runtime could not create or start: exited with 128,
// restarted as the restart policy says.
void PodWorker::FailStart(ContainerRun& c, const std::string& reason, const std::string& message) {
  c.started_at = NowRfc3339();
  c.finished_at = c.started_at;
  c.exit_code = 128;
  OnExit(c);
  c.reason = reason;
  c.message = message;
}

// The pod's sandbox in the CRI runtime.
PodSandboxConfig PodWorker::Sandbox() const {
  PodSandboxConfig sandbox;
  sandbox.uid = uid_;
  sandbox.namespace_ = Str(pod_["metadata"], "namespace");
  sandbox.name = Str(pod_["metadata"], "name");
  sandbox.log_directory = dir_;
  const json& spec = pod_["spec"];
  // The kubelet's: spec.hostname or the pod's name, cut to a DNS label's 63 characters without
  // a trailing '-' or '.'.
  std::string hostname = Str(spec, "hostname");
  if (hostname.empty()) hostname = sandbox.name;
  if (hostname.size() > 63) hostname.resize(63);
  while (!hostname.empty() && (hostname.back() == '-' || hostname.back() == '.')) {
    hostname.pop_back();
  }
  sandbox.hostname = hostname;
  sandbox.host_network = spec.contains("hostNetwork") && spec["hostNetwork"] == true;
  return sandbox;
}

// The pod's IPs from its sandbox (none on the node's network; the last known when the runtime
// does not answer), also in the pod's status as the container's environment reads it.
void PodWorker::ReadPodIps(const std::string& sandbox_id) {
  auto status = runner_->cri()->PodSandboxStatus(sandbox_id);
  if (status.ok()) pod_ips_ = status->ips;
  SetPodIps(pod_["status"]);
}

// status.podIP and podIPs: the pod network's, or the node's for a pod on the node's network.
void PodWorker::SetPodIps(json& status) const {
  const std::vector<std::string> ips =
      pod_ips_.empty() ? std::vector<std::string>{"127.0.0.1"} : pod_ips_;
  status["podIP"] = ips.front();
  status["podIPs"] = json::array();
  for (const std::string& ip : ips) status["podIPs"].push_back({{"ip", ip}});
}

// The pod's sandbox in the CRI runtime, made when it has none (sandbox_id_). When that fails no
// container is created, so no attempt is counted (as with the kubelet): the pod waits and the
// sandbox is asked for again (e.g. one a killed serve left half made is still reserved).
bool PodWorker::RunSandbox(ContainerRun& c) {
  auto sandbox_id = runner_->cri()->RunPodSandbox(Sandbox());
  if (!sandbox_id.ok()) {
    c.reason = "ContainerCreating";
    c.message = "FailedCreatePodSandBox: " + sandbox_id.error().message;
    c.next_start = Clock::now() + kInitialRestartDelay;
    return false;
  }
  sandbox_id_ = *sandbox_id;
  ReadPodIps(sandbox_id_);
  return true;
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
  Status removed = StopAndRemoveSandbox(*runner_->cri(), *sandbox);
  if (!removed.ok()) {
    std::fprintf(stderr, "migdra serve: runner: removing the sandbox of pod %s: %s\n",
                 PodKey(pod_).c_str(), removed.error().message.c_str());
  }
}

// One attempt through the CRI runtime, in the pod's sandbox (RunSandbox): the image as its pull
// policy says (a failed pull keeps the container waiting, ErrImagePull then ImagePullBackOff,
// with the kubelet's back-off and no restart counted), then the container.
void PodWorker::StartInRuntime(ContainerRun& c, ContainerConfig config) {
  ContainerRuntime& cri = *runner_->cri();
  if (Status pulled = cri.PullImage(config.image, config.image_pull_policy); !pulled.ok()) {
    // As the kubelet: a pull policy of Never is no pull to back off from.
    const bool never = pulled.error().field == "ErrImageNeverPull";
    c.reason = c.pull_failures == 0 || never ? pulled.error().field : "ImagePullBackOff";
    if (c.reason.empty()) c.reason = "ErrImagePull";
    c.message = pulled.error().message;
    c.next_start =
        Clock::now() +
        std::min(kInitialRestartDelay * (1 << std::min(c.pull_failures, 10)), kMaxRestartDelay);
    ++c.pull_failures;
    return;
  }
  c.pull_failures = 0;
  // The runtime may hold this attempt's container after all when creating it failed: a serve
  // killed during its CreateContainer leaves the name reserved until containerd has finished
  // that call, which may yet make the container. It is taken up, never made twice.
  if (c.create_failed) {
    auto containers = cri.ListContainers(sandbox_id_);
    if (containers.ok()) {
      for (const ContainerStatus& status : *containers) {
        if (status.name != c.name || status.attempt != c.restarts) continue;
        c.create_failed = false;
        AdoptFromRuntime(c, status);
        return;
      }
    }
  }
  Result<std::string> created = cri.CreateContainer(sandbox_id_, config, Sandbox());
  if (!created.ok()) {
    // As the kubelet: no container, so no attempt ended and none is counted; the container
    // waits (CreateContainerError) and the same attempt is made again.
    c.create_failed = true;
    c.reason = "CreateContainerError";
    c.message = created.error().message;
    c.next_start = Clock::now() + kInitialRestartDelay;
    return;
  }
  c.create_failed = false;
  Status started = cri.StartContainer(*created);
  if (started.ok()) {
    c.container_id = *created;
    c.started_at = NowRfc3339();
    c.next_poll = Clock::now();
    return;
  }
  FailStart(c, "StartError", started.error().message);
}

// Takes up the container's last attempt from the CRI runtime after a restart of serve: running
// (adopted), exited (its exit recorded), or none (started as usual).
void PodWorker::RecoverFromRuntime(ContainerRun& c) {
  std::optional<std::string> sandbox = SandboxId();
  if (!sandbox) return;
  ReadPodIps(*sandbox);
  auto containers = runner_->cri()->ListContainers(*sandbox);
  if (!containers.ok()) return;
  const ContainerStatus* last = nullptr;
  for (const ContainerStatus& status : *containers) {
    if (status.name == c.name && (!last || status.attempt > last->attempt)) last = &status;
  }
  if (last) AdoptFromRuntime(c, *last);
}

// Takes up the runtime's container of an attempt as the container's current one: started when
// it was created but never started (serve stopped in between), its exit recorded when it ended.
void PodWorker::AdoptFromRuntime(ContainerRun& c, const ContainerStatus& attempt) {
  c.restarts = attempt.attempt;
  c.container_id = attempt.id;
  c.started_at = attempt.started_at;
  c.reason.clear();
  c.message.clear();
  c.next_poll = Clock::now();
  if (attempt.state == ContainerState::kCreated) {
    // When this start fails the runtime's state says what became of the container: exited
    // (StartError), or running where a killed serve's start of it was still under way.
    if (runner_->cri()->StartContainer(attempt.id).ok()) c.started_at = NowRfc3339();
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

// Takes up what a previous runner left of the container.
void PodWorker::Recover(ContainerRun& c) {
  if (runner_->cri()) {
    RecoverFromRuntime(c);
  } else {
    RecoverHostProcess(c);
  }
}

// From the attempt directories (runner_process.h, crash semantics).
void PodWorker::RecoverHostProcess(ContainerRun& c) {
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
  return runner_->cri() ? ReapFromRuntime(c) : ReapHostProcess(c);
}

// From its shim's exit record (runner_process.h).
bool PodWorker::ReapHostProcess(ContainerRun& c) {
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
  const std::chrono::seconds grace_period(std::max<int64_t>(grace, 0));
  if (runner_->cri()) {
    StopInRuntime(grace_period);
    return true;
  }
  return StopHostProcesses(grace_period);
}

// The runtime sends SIGTERM and kills after the grace period; it returns once stopped.
void PodWorker::StopInRuntime(std::chrono::seconds grace) {
  for (ContainerRun& c : containers_) {
    if (!c.running()) continue;
    Status stopped = runner_->cri()->StopContainer(c.container_id, grace);
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
}

// Every container's process group gets SIGTERM at once, the whole container SIGKILL after the
// grace period. False when serve began to stop during the grace period.
bool PodWorker::StopHostProcesses(std::chrono::seconds grace) {
  for (ContainerRun& c : containers_) {
    if (c.process) c.process->Terminate();
  }
  auto all_ended = [&] {
    for (const ContainerRun& c : containers_) {
      if (c.process && !c.process->Ended()) return false;
    }
    return true;
  };
  auto deadline = Clock::now() + grace;
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

void PodWorker::DropFinalizer() {
  const json& meta = pod_["metadata"];
  runner_->UpdatePod(Str(meta, "namespace"), Str(meta, "name"), uid_, false, DropRunnerFinalizer);
}

// A name that becomes a path: a DNS-1123 label (what API validation admits for a container).
bool SafePathPart(const std::string& name) { return api::IsDNS1123Label(name).empty(); }

// A UID as the store makes them (hex digits and dashes).
bool SafeUid(const std::string& uid) {
  return !uid.empty() && uid.size() <= 64 && std::all_of(uid.begin(), uid.end(), [](char ch) {
    return std::isxdigit(ch) || ch == '-';
  });
}

// The pod's life on this node, phase by phase. Every path that lets the pod go runs through
// Release (or, for a pod deleted before any container could be created, DropFinalizer alone).
void PodWorker::Run() {
  TakeContainers();
  const std::string unsafe = UnsafeName();
  if (unsafe.empty()) AdoptContainers();
  // A pod whose containers ran under an earlier serve is past creation: it keeps running
  // whatever it reads now, as a kubelet keeps a started pod whose ConfigMap is deleted (a
  // restart that cannot be built waits, Start).
  if (!AnyContainerRan() && !WaitUntilCreatable(unsafe)) {
    // Deleted, or serve stopping, before a container could be created: no claim is prepared.
    if (stop_.load()) DropFinalizer();
    finished_ = true;
    return;
  }
  start_time_ = NowRfc3339();
  bool init_failed = false;
  if (PrepareClaims()) {
    init_failed = !RunInitContainers();
    if (!init_failed && !Interrupted()) RunContainers();
  }
  // Serve is stopping: the containers go on running; the next start adopts them.
  if (EndContainers()) Release(init_failed);
  finished_ = true;
}

// The pod's init containers and containers, in the order the spec lists them.
void PodWorker::TakeContainers() {
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
}

// Paths are built from the pod's UID and container names only: the first one that is not safe
// ("" when all are). API validation admits no other; this guards rows stored before it did.
std::string PodWorker::UnsafeName() const {
  std::string unsafe = SafeUid(uid_) ? "" : "pod UID " + uid_;
  std::set<std::string> names;
  for (const ContainerRun& c : containers_) {
    if (!SafePathPart(c.name) || !names.insert(c.name).second) unsafe = "container name " + c.name;
  }
  return unsafe;
}

// Takes up what an earlier runner left of each container (after a restart of serve).
void PodWorker::AdoptContainers() {
  for (ContainerRun& c : containers_) {
    std::error_code ec;
    fs::create_directories(ContainerDir(c), ec);
    Recover(c);
  }
}

// Whether an attempt of any container ran (running or exited), so its claims were prepared.
bool PodWorker::AnyContainerRan() const {
  return std::any_of(containers_.begin(), containers_.end(),
                     [](const ContainerRun& c) { return c.running() || c.exit_code; });
}

// Like a kubelet that cannot create a container's configuration, the runner keeps such a pod
// Pending with the reason on the containers: until it is deleted for what the pod spec asks (it
// cannot change), and until the ConfigMaps and Secrets it reads exist otherwise. False when
// the wait was interrupted (deletion or shutdown).
bool PodWorker::WaitUntilCreatable(const std::string& unsafe) {
  std::string shown;  // the message on the containers now
  for (;;) {
    std::optional<Waiting> blocker = CreationBlocker(unsafe);
    if (!blocker) break;
    if (blocker->message != shown) {
      ShowWaiting(blocker->reason, blocker->message);
      WriteStatus("Pending");
      shown = blocker->message;
    }
    if (blocker->final) {
      while (!Interrupted()) WaitFor(std::chrono::seconds(1));
    } else {
      WaitFor(std::chrono::seconds(1));
    }
    if (Interrupted()) return false;
  }
  if (!shown.empty()) ShowWaiting("", "");  // the waiting reason shown so far no longer holds
  return true;
}

// Why the pod's containers cannot be created now (nullopt: they can, and mounts_ holds their
// volumes).
std::optional<PodWorker::Waiting> PodWorker::CreationBlocker(const std::string& unsafe) {
  std::optional<Error> unsupported = UnsupportedPodField(pod_);
  if (!unsafe.empty()) {
    return Waiting{"CreateContainerConfigError",
                   "invalid " + unsafe + ": not a DNS-1123 label, or not unique", true};
  }
  if (unsupported) return Waiting{"UnsupportedField", unsupported->ToString(), true};
  for (const ContainerRun& c : containers_) {
    Result<ContainerCommand> built = BuildContainerCommand(pod_, c.spec, ConfigOfPod());
    if (!runner_->cri() && (!c.spec.contains("command") || c.spec["command"].empty())) {
      return Waiting{"CommandRequired",
                     "container " + c.name +
                         " has no command: migdra's host runtime runs commands, not container "
                         "images (image " +
                         Str(c.spec, "image") + "); set command (and args) to run it",
                     true};
    }
    if (!built.ok()) return Waiting{"CreateContainerConfigError", built.error().message, false};
  }
  return MountVolumes();
}

// Writes the pod's volumes and fills mounts_ (nullopt), or why they cannot be made now.
std::optional<PodWorker::Waiting> PodWorker::MountVolumes() {
  Result<std::map<std::string, std::vector<BindMount>>> mounts =
      ProjectVolumes(pod_, ConfigOfPod(), dir_ + "/volumes", CanMountPrivately());
  if (mounts) {
    mounts_ = std::move(*mounts);
    volumes_mounted_ = true;
    return std::nullopt;
  }
  // A ConfigMap or Secret may appear, a mountPath be made: not final.
  if (mounts.error().field.find("volumeMounts") != std::string::npos) {
    return Waiting{"UnsupportedField", mounts.error().ToString(), false};
  }
  return Waiting{"ContainerCreating", "MountVolume.SetUp failed: " + mounts.error().ToString(),
                 false};
}

// Shows `reason` and `message` as every container's waiting state (both "" to clear them).
void PodWorker::ShowWaiting(const std::string& reason, const std::string& message) {
  for (ContainerRun& c : containers_) {
    c.reason = reason;
    c.message = message;
  }
}

// Whether the container is due to start (its first attempt, or a restart after its back-off).
bool PodWorker::StartDue(const ContainerRun& c) {
  return !c.running() && !c.done && Clock::now() >= c.next_start;
}

// Starts the container's next attempt (a restart counts when an attempt has exited).
void PodWorker::StartAttempt(ContainerRun& c) {
  if (c.exit_code) {
    c.last_termination = Termination(c);
    ++c.restarts;
  }
  Start(c);
}

// Init containers, one after another, each until it is done. False when one ended with a
// non-zero exit code (then the containers never start).
bool PodWorker::RunInitContainers() {
  for (ContainerRun& c : containers_) {
    if (!c.init) continue;
    if (!c.done) WriteStatus("Pending");  // a finished one (adopted state) changes nothing
    while (!Interrupted() && !c.done) {
      bool changed = Reap(c);
      if (StartDue(c)) {
        StartAttempt(c);
        changed = true;
      }
      if (changed) WriteStatus("Pending");
      WaitFor(std::chrono::milliseconds(50));
    }
    if (c.exit_code && *c.exit_code != 0) return false;
  }
  return true;
}

// The containers together, restarted as the pod's restartPolicy says, until all are done for
// good or the worker is interrupted.
void PodWorker::RunContainers() {
  for (ContainerRun& c : containers_) {
    if (!c.init && StartDue(c)) StartAttempt(c);
  }
  WriteStatus("Running");
  while (!Interrupted()) {
    bool changed = false, all_done = true;
    for (ContainerRun& c : containers_) {
      if (c.init) continue;
      if (Reap(c)) changed = true;
      if (StartDue(c)) {
        StartAttempt(c);
        changed = true;
      }
      if (!c.done) all_done = false;
    }
    if (all_done) break;
    if (changed) WriteStatus("Running");
    WaitFor(std::chrono::milliseconds(50));
  }
}

// After the containers' run: a deleted pod's are stopped (grace period). False when serve is
// shutting down first: the containers are left running for the next start to adopt.
bool PodWorker::EndContainers() {
  if (stop_.load()) return StopProcesses();
  return !shutdown_.load();
}

// The one place a pod that ran is let go: whatever is left of it is killed, its claims are
// unprepared, its final phase written, its sandbox removed and its finalizer dropped.
void PodWorker::Release(bool init_failed) {
  if (!runner_->cri()) runner_->runtime().KillPod(uid_);
  // Claims PrepareClaims did not get to (deleted as serve restarted) are still prepared when a
  // container ran: found on the pod as it is now.
  const json& spec = pod_["spec"];
  if (claims_.empty() && AnyContainerRan() && spec.contains("resourceClaims")) {
    std::optional<json> current =
        GetObject(runner_->client(),
                  PodPath(Str(pod_["metadata"], "namespace"), Str(pod_["metadata"], "name")));
    if (current) FindClaims(*current);
  }
  bool all_zero = !init_failed;
  for (const ContainerRun& c : containers_) {
    if (!c.init && (!c.exit_code || *c.exit_code != 0)) all_zero = false;
  }
  UnprepareClaims();
  WriteStatus(all_zero ? "Succeeded" : "Failed");
  // The containers have ended: the kubelet removes the sandbox after reporting the phase (a
  // busy runtime takes a while); the logs stay in dir_. One left behind is removed by the
  // runner's sweep (RemoveOrphanSandboxes).
  if (runner_->cri()) RemoveSandbox();
  DropFinalizer();
}

// ---- PodRunner -------------------------------------------------------------------------------

Status PodRunner::Start() {
  std::error_code ec;
  fs::create_directories(ctx_.state_dir + "/pods", ec);
  if (ec) return MakeError("creating " + ctx_.state_dir + "/pods: " + ec.message());
  runtime_ = ProcessRuntime::Create(ctx_.state_dir);
  streaming_ = std::make_unique<HostProcessStreaming>(ctx_.state_dir);
  std::fprintf(stderr, "migdra serve: runner: confining pods with %s\n",
               runtime_->description().c_str());
  auto client = kube::Client::Create(ctx_.api);
  if (!client.ok()) return MakeError("API client: " + client.error().message);
  client_ = std::move(*client);
  channel_ = grpc::CreateChannel("unix://" + ctx_.dra_socket, grpc::InsecureChannelCredentials());
  dra_ = k8s::io::kubelet::pkg::apis::dra::v1::DRAPlugin::NewStub(channel_);
  loop_ = std::thread([this] { Loop(); });
  return OkStatus();
}

// Sandboxes (with their containers) that no pod's worker will remove: those of pods that no
// longer exist (a finalizer removed by hand while serve was down) or that finished while their
// removal failed (a runtime too busy to answer in time).
void PodRunner::RemoveOrphanSandboxes() {
  auto sandboxes = cri()->ListPodSandboxes();
  if (!sandboxes.ok() || sandboxes->empty()) return;
  std::set<std::string> kept;  // pods still running, or with a worker that will remove its own
  {
    std::lock_guard lock(pods_mu_);
    for (const auto& [key, pod] : pods_) {
      if (!Terminal(pod)) kept.insert(Str(pod["metadata"], "uid"));
    }
  }
  {
    std::lock_guard lock(workers_mu_);
    for (const auto& [uid, worker] : workers_) {
      if (!worker->finished()) kept.insert(uid);
    }
  }
  for (const PodSandbox& sandbox : *sandboxes) {
    if (kept.count(sandbox.uid)) continue;
    Status removed = StopAndRemoveSandbox(*cri(), sandbox.id);
    std::fprintf(stderr,
                 "migdra serve: runner: removing the sandbox of finished or gone pod %s: %s\n",
                 sandbox.uid.c_str(), removed.ok() ? "done" : removed.error().message.c_str());
  }
}

void PodRunner::Stop() {
  if (stop_.exchange(true)) return;
  if (loop_.joinable()) loop_.join();
  // Shutdown leaves the pods' processes running, their devices prepared and their status; the
  // next start adopts them (see runner_process.h).
  std::lock_guard lock(workers_mu_);
  for (auto& [uid, worker] : workers_) worker->RequestShutdown();
  workers_.clear();
}

// Reconciles, then watches the pods of this node from the list's version until the first
// change, for at most a second (so that Stop is prompt and a missed event costs a second).
void PodRunner::Loop() {
  const std::string node = kube::QueryEscape("spec.nodeName=" + ctx_.node_name);
  // After the first pass that read the pods: before it, every sandbox would look orphaned.
  auto next_sweep = Clock::now();
  while (!stop_.load()) {
    std::string version;
    RunGuarded([&] { version = Reconcile(); },
               [](const std::string& what) {
                 std::fprintf(stderr, "migdra serve: runner: pass failed: %s\n", what.c_str());
               });
    if (stop_.load()) break;
    if (version.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    if (cri() && Clock::now() >= next_sweep) {
      RunGuarded([this] { RemoveOrphanSandboxes(); },
                 [](const std::string& what) {
                   std::fprintf(stderr, "migdra serve: runner: sandbox sweep failed: %s\n",
                                what.c_str());
                 });
      next_sweep = Clock::now() + kSandboxSweepInterval;
    }
    Status watched = client().Watch("/api/v1/pods?watch=1&timeoutSeconds=1&fieldSelector=" + node +
                                        "&resourceVersion=" + kube::QueryEscape(version),
                                    [](const std::string&) { return false; });
    if (!watched.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

std::string PodRunner::Reconcile() {
  auto listed = client().Get("/api/v1/pods?fieldSelector=" +
                             kube::QueryEscape("spec.nodeName=" + ctx_.node_name));
  if (!listed.ok() || !listed->ok()) {
    std::fprintf(stderr, "migdra serve: runner: listing the pods of %s: %s\n",
                 ctx_.node_name.c_str(),
                 listed.ok() ? listed->body.c_str() : listed.error().message.c_str());
    return "";
  }
  json list = json::parse(listed->body, nullptr, false);
  if (!list.is_object() || !list["items"].is_array()) return "";
  std::map<std::string, json> by_name;
  for (json& pod : list["items"]) {
    // List items carry no kind: Events about them name it.
    pod["kind"] = "Pod";
    pod["apiVersion"] = "v1";
    by_name[PodKey(pod)] = pod;
  }
  {
    std::lock_guard lock(pods_mu_);
    pods_ = by_name;
  }
  std::set<std::string> seen;
  std::lock_guard lock(workers_mu_);
  for (auto& [key, pod] : by_name) {
    std::string uid = Str(pod["metadata"], "uid");
    seen.insert(uid);
    auto it = workers_.find(uid);
    if (it != workers_.end()) {
      if (Deleting(pod)) it->second->RequestStop();
      continue;
    }
    const std::string ns = Str(pod["metadata"], "namespace");
    const std::string name = Str(pod["metadata"], "name");
    if (Terminal(pod)) {
      // Finished earlier (or by a runner that crashed before releasing it).
      if (Taken(pod)) UpdatePod(ns, name, uid, false, DropRunnerFinalizer);
      continue;
    }
    if (Deleting(pod) && !Taken(pod)) continue;
    if (!Taken(pod)) {
      bool taken = UpdatePod(ns, name, uid, false, [](json& p) {
        AddFinalizer(p, kPodRunnerFinalizer);
        return true;
      });
      if (!taken) continue;
      std::optional<json> fresh = GetObject(client(), PodPath(ns, name));
      if (!fresh) continue;
      pod = *fresh;
    }
    auto worker = std::make_unique<PodWorker>(this, pod);
    if (Deleting(pod)) worker->RequestStop();
    workers_.emplace(uid, std::move(worker));
  }
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (!seen.count(it->first)) it->second->RequestStop();
    if (it->second->finished()) {
      it = workers_.erase(it);
      continue;
    }
    ++it;
  }
  return Str(list["metadata"], "resourceVersion");
}

std::optional<std::string> PodRunner::PodLog(const std::string& ns, const std::string& pod,
                                             const std::string& container, int attempt,
                                             size_t offset) {
  json object;
  {
    std::lock_guard lock(pods_mu_);
    auto it = pods_.find(ns + "/" + pod);
    if (it == pods_.end()) return std::nullopt;
    object = it->second;
  }
  std::string uid = Str(object["metadata"], "uid");
  if (!SafeUid(uid) || !SafePathPart(container)) return std::nullopt;
  bool in_pod = false;
  for (const char* list : {"initContainers", "containers"}) {
    const json& spec = object["spec"];
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (const json& c : spec[list]) in_pod = in_pod || Str(c, "name") == container;
  }
  if (!in_pod || attempt < 0) return std::nullopt;
  const std::string path =
      runner_dir() + "/pods/" + uid + "/" + container + "/" + std::to_string(attempt) + "/log";
  // Both runtimes write the CRI log format there; containerd creates the file with the first
  // output, the host runtime before the container starts.
  std::ifstream in(path, std::ios::binary);
  if (!in) return cri() ? std::optional<std::string>("") : std::nullopt;
  in.seekg(static_cast<std::streamoff>(offset));
  if (!in) return std::string();
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::unique_ptr<NodeAgent> MakePodRunner(const NodeAgentContext& context) {
  return std::make_unique<PodRunner>(context);
}

}  // namespace migdra::node
