#include "cri/containerd_runtime.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cri/cri_log.h"
#include "node/cdi_edits.h"

namespace migdra::cri {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

// The kubelet's label names, so that crictl shows migdra's pods as a kubelet's would.
constexpr const char* kPodUidLabel = "io.kubernetes.pod.uid";
constexpr const char* kPodNameLabel = "io.kubernetes.pod.name";
constexpr const char* kPodNamespaceLabel = "io.kubernetes.pod.namespace";
constexpr const char* kContainerNameLabel = "io.kubernetes.container.name";
// What marks migdra's own sandboxes in a containerd that others (a kubelet) may use too.
constexpr const char* kRunnerLabel = "migdra.io/pod-runner";

// A pull from a registry can take minutes; one that hangs must not hold the pod forever.
constexpr std::chrono::seconds kPullTimeout = 600s;

std::string Rfc3339(int64_t unix_nanos) {
  if (unix_nanos <= 0) return "";
  std::time_t seconds = static_cast<std::time_t>(unix_nanos / 1000000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The API's default imagePullPolicy: Always for `:latest` or no tag, IfNotPresent otherwise.
std::string DefaultPullPolicy(const std::string& image) {
  if (image.find('@') != std::string::npos) return "IfNotPresent";
  size_t slash = image.rfind('/');
  std::string last = image.substr(slash == std::string::npos ? 0 : slash + 1);
  size_t colon = last.find(':');
  if (colon == std::string::npos || last.substr(colon + 1) == "latest") return "Always";
  return "IfNotPresent";
}

// The node's network or the runtime's pod network; each container its own PID namespace; the
// pod's IPC.
v1::NamespaceOption Namespaces(bool pod_network) {
  v1::NamespaceOption ns;
  ns.set_network(pod_network ? v1::POD : v1::NODE);
  ns.set_pid(v1::CONTAINER);
  ns.set_ipc(v1::POD);
  return ns;
}

v1::PodSandboxConfig ToCri(const node::PodSandboxConfig& pod, bool pod_network) {
  v1::PodSandboxConfig config;
  config.mutable_metadata()->set_name(pod.name);
  config.mutable_metadata()->set_namespace_(pod.namespace_);
  config.mutable_metadata()->set_uid(pod.uid);
  // With the host's network the pod has the host's UTS namespace: no hostname of its own (runc
  // refuses to set one).
  if (pod_network) config.set_hostname(pod.hostname);
  config.set_log_directory(pod.log_directory);
  auto& labels = *config.mutable_labels();
  labels.insert(pod.labels.begin(), pod.labels.end());
  labels[kPodUidLabel] = pod.uid;
  labels[kPodNameLabel] = pod.name;
  labels[kPodNamespaceLabel] = pod.namespace_;
  labels[kRunnerLabel] = "true";
  config.mutable_annotations()->insert(pod.annotations.begin(), pod.annotations.end());
  *config.mutable_linux()->mutable_security_context()->mutable_namespace_options() =
      Namespaces(pod_network);
  return config;
}

// Connects to 127.0.0.1:`port` in the network namespace `netns` (a /proc/PID/ns/net); the
// calling thread stays in that namespace, so it must be a thread of its own.
Result<int> DialInNetworkNamespace(const std::string& netns, uint16_t port) {
  int ns = open(netns.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
    Error error =
        MakeError("entering the pod's network namespace " + netns + ": " + std::strerror(errno));
    if (ns >= 0) close(ns);
    return error;
  }
  close(ns);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    Error error = MakeError("connecting to port " + std::to_string(port) +
                            " in the pod: " + std::strerror(errno));
    if (fd >= 0) close(fd);
    return error;
  }
  return fd;
}

// NAME=VALUE as the CRI's key and value.
void AddEnv(v1::ContainerConfig& config, const std::string& entry) {
  size_t eq = entry.find('=');
  v1::KeyValue* kv = config.add_envs();
  kv->set_key(entry.substr(0, eq));
  kv->set_value(eq == std::string::npos ? "" : entry.substr(eq + 1));
}

node::ContainerStatus FromCri(const v1::ContainerStatus& s) {
  node::ContainerStatus out;
  out.id = s.id();
  out.name = s.metadata().name();
  out.attempt = static_cast<int>(s.metadata().attempt());
  out.started_at = Rfc3339(s.started_at());
  out.log_path = s.log_path();
  switch (s.state()) {
    case v1::CONTAINER_CREATED:
      out.state = node::ContainerState::kCreated;
      break;
    case v1::CONTAINER_RUNNING:
      out.state = node::ContainerState::kRunning;
      break;
    case v1::CONTAINER_EXITED:
      out.state = node::ContainerState::kExited;
      out.exit_code = s.exit_code();
      out.finished_at = Rfc3339(s.finished_at());
      // containerd says Completed / Error as the runner would; other reasons (OOMKilled) stay.
      if (s.reason() != "Completed" && s.reason() != "Error") out.reason = s.reason();
      out.message = s.message();
      break;
    default:
      out.state = node::ContainerState::kExited;
      out.exit_code = 137;
      out.finished_at = Rfc3339(s.finished_at());
      out.reason = "ContainerStatusUnknown";
      out.message = "containerd lost track of the container" +
                    (s.message().empty() ? std::string() : ": " + s.message());
      break;
  }
  return out;
}

Status Ok(Status s) {
  if (!s.ok() && IsNotFound(s.error())) return OkStatus();
  return s;
}

}  // namespace

ContainerdRuntime::ContainerdRuntime(ContainerdOptions options, std::unique_ptr<CriClient> client)
    : options_(std::move(options)), client_(std::move(client)) {}

bool RuntimeAppliesCdi(const std::string& config_json, const std::string& cdi_root) {
  json config = json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) return false;
  auto enabled = config.find("enableCDI");
  auto dirs = config.find("cdiSpecDirs");
  if (enabled == config.end() || *enabled != true || dirs == config.end() || !dirs->is_array()) {
    return false;
  }
  // One folder however spelled: symbolic links (/var/run), dot-dot, a trailing slash.
  auto folder = [](const std::string& path) {
    std::error_code ec;
    fs::path canonical = fs::weakly_canonical(path, ec);
    return canonical.has_filename() ? canonical : canonical.parent_path();
  };
  const fs::path root = folder(cdi_root);
  for (const json& dir : *dirs) {
    if (dir.is_string() && folder(dir.get<std::string>()) == root) return true;
  }
  return false;
}

Result<std::unique_ptr<ContainerdRuntime>> ContainerdRuntime::Connect(ContainerdOptions options) {
  auto client = CriClient::Connect(options.socket, options.connect_timeout);
  if (!client.ok()) return std::move(client).error();
  auto status = (*client)->RuntimeStatus(/*verbose=*/true);
  if (!status.ok()) return MakeError(options.socket + ": " + status.error().message);
  auto config = status->info().find("config");
  // Stand-ins exist only here: containerd's own CDI would refuse their missing host nodes.
  bool cdi_by_name = options.device_stand_ins.empty() && config != status->info().end() &&
                     RuntimeAppliesCdi(config->second, options.cdi_root);
  std::unique_ptr<ContainerdRuntime> runtime(
      new ContainerdRuntime(std::move(options), std::move(*client)));
  runtime->cdi_by_name_ = cdi_by_name;
  return runtime;
}

Result<RuntimeFlag> ParseRuntimeFlag(const std::string& value) {
  RuntimeFlag flag;
  if (value.empty()) return flag;
  if (value == "process") {
    flag.kind = RuntimeFlag::kProcess;
    return flag;
  }
  if (value == "containerd" || value.rfind("containerd:", 0) == 0) {
    flag.kind = RuntimeFlag::kContainerd;
    if (value.size() > std::strlen("containerd:")) flag.socket = value.substr(11);
    return flag;
  }
  return MakeError("--runtime " + value + ": expected containerd, containerd:SOCKET or process",
                   "--runtime");
}

Result<std::unique_ptr<ContainerdRuntime>> ContainerdRuntime::Choose(const RuntimeFlag& flag,
                                                                     ContainerdOptions options) {
  if (flag.kind == RuntimeFlag::kProcess) return std::unique_ptr<ContainerdRuntime>();
  options.socket = flag.socket;
  auto runtime = Connect(std::move(options));
  if (runtime.ok() || flag.kind == RuntimeFlag::kContainerd) return runtime;
  return std::unique_ptr<ContainerdRuntime>();
}

std::string ContainerdRuntime::Describe() const {
  const v1::VersionResponse& v = client_->version();
  return v.runtime_name() + " " + v.runtime_version() + " (CRI " + v.runtime_api_version() +
         ") at " + options_.socket +
         (cdi_by_name_ ? ", CDI devices by name" : ", CDI edits as explicit devices");
}

std::string ContainerdRuntime::RuntimeVersion() const {
  const v1::VersionResponse& v = client_->version();
  return v.runtime_name() + "://" + v.runtime_version();
}

Status ContainerdRuntime::PullImage(const std::string& image, const std::string& given_policy) {
  std::string policy = given_policy.empty() ? DefaultPullPolicy(image) : given_policy;
  if (policy != "Always") {
    auto present = client_->ImageStatus(image);
    if (!present.ok()) return MakeError(present.error().message, "ErrImagePull");
    if (*present) return OkStatus();
    if (policy == "Never") {
      return MakeError("Container image \"" + image + "\" is not present with pull policy of Never",
                       "ErrImageNeverPull");
    }
  }
  auto pulled = client_->PullImage(image, kPullTimeout);
  if (!pulled.ok()) {
    return MakeError("failed to pull image \"" + image + "\": " + pulled.error().message,
                     "ErrImagePull");
  }
  return OkStatus();
}

Result<std::string> ContainerdRuntime::RunPodSandbox(const node::PodSandboxConfig& pod) {
  v1::PodSandboxFilter filter;
  (*filter.mutable_label_selector())[kPodUidLabel] = pod.uid;
  (*filter.mutable_label_selector())[kRunnerLabel] = "true";
  filter.mutable_state()->set_state(v1::SANDBOX_READY);
  auto ready = client_->ListPodSandbox(filter);
  if (!ready.ok()) return std::move(ready).error();
  if (!ready->items().empty()) return ready->items(0).id();
  bool pod_network = false;
  if (!pod.host_network) {
    auto ready = NetworkReady();
    if (!ready.ok()) return std::move(ready).error();
    pod_network = *ready;
  }
  std::error_code ec;
  fs::create_directories(pod.log_directory, ec);
  return client_->RunPodSandbox(ToCri(pod, pod_network));
}

Result<bool> ContainerdRuntime::NetworkReady() {
  auto status = client_->RuntimeStatus();
  if (!status.ok()) return std::move(status).error();
  for (const v1::RuntimeCondition& condition : status->status().conditions()) {
    if (condition.type() == "NetworkReady") return condition.status();
  }
  return false;
}

Result<node::PodSandbox> ContainerdRuntime::PodSandboxStatus(const std::string& sandbox_id) {
  auto response = client_->PodSandboxStatus(sandbox_id);
  if (!response.ok()) return std::move(response).error();
  const v1::PodSandboxStatus& status = response->status();
  node::PodSandbox out{
      status.id(), status.metadata().uid(), status.state() == v1::SANDBOX_READY, {}};
  if (!status.network().ip().empty()) out.ips.push_back(status.network().ip());
  for (const v1::PodIP& ip : status.network().additional_ips()) out.ips.push_back(ip.ip());
  return out;
}

Status ContainerdRuntime::StopPodSandbox(const std::string& sandbox_id) {
  return Ok(client_->StopPodSandbox(sandbox_id));
}

Status ContainerdRuntime::RemovePodSandbox(const std::string& sandbox_id) {
  return Ok(client_->RemovePodSandbox(sandbox_id));
}

Result<std::vector<node::PodSandbox>> ContainerdRuntime::ListPodSandboxes() {
  v1::PodSandboxFilter filter;
  (*filter.mutable_label_selector())[kRunnerLabel] = "true";
  auto list = client_->ListPodSandbox(filter);
  if (!list.ok()) return std::move(list).error();
  std::vector<node::PodSandbox> out;
  for (const v1::PodSandbox& p : list->items()) {
    out.push_back({p.id(), p.metadata().uid(), p.state() == v1::SANDBOX_READY, {}});
  }
  return out;
}

Result<std::string> ContainerdRuntime::HostDevice(const std::string& container_path,
                                                  const std::string& host_path) {
  struct stat st {};
  if (stat(host_path.c_str(), &st) == 0 || options_.device_stand_ins.empty()) return host_path;
  std::string name = container_path;
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  std::string stand_in = options_.device_stand_ins + "/" + name;
  std::error_code ec;
  fs::create_directories(options_.device_stand_ins, ec);
  if (mknod(stand_in.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0 && errno != EEXIST) {
    return MakeError("making a stand-in for the simulated device " + container_path + " at " +
                     stand_in + ": " + std::strerror(errno));
  }
  return stand_in;
}

Result<std::string> ContainerdRuntime::CreateContainer(const std::string& sandbox_id,
                                                       const node::ContainerConfig& c,
                                                       const node::PodSandboxConfig& sandbox) {
  v1::ContainerConfig config;
  config.mutable_metadata()->set_name(c.name);
  config.mutable_metadata()->set_attempt(static_cast<uint32_t>(c.attempt));
  config.mutable_image()->set_image(c.image);
  for (const std::string& s : c.command) config.add_command(s);
  for (const std::string& s : c.args) config.add_args(s);
  config.set_working_dir(c.working_dir);
  config.set_stdin(c.stdin);
  config.set_stdin_once(c.stdin_once);
  config.set_tty(c.tty);
  for (const node::Mount& m : c.mounts) {
    v1::Mount* mount = config.add_mounts();
    mount->set_host_path(m.host_path);
    mount->set_container_path(m.container_path);
    mount->set_readonly(m.read_only);
  }
  for (const std::string& e : c.env) AddEnv(config, e);
  if (Status added = AddCdiEdits(c, sandbox, config); !added.ok()) return added.error();
  auto& labels = *config.mutable_labels();
  labels.insert(c.labels.begin(), c.labels.end());
  labels[kPodUidLabel] = sandbox.uid;
  labels[kPodNameLabel] = sandbox.name;
  labels[kPodNamespaceLabel] = sandbox.namespace_;
  labels[kContainerNameLabel] = c.name;
  // CRI's log_path is relative to the sandbox's log directory.
  std::string prefix = sandbox.log_directory + "/";
  if (c.log_path.compare(0, prefix.size(), prefix) != 0) {
    return MakeError("log path " + c.log_path + " is not under the pod's log directory " +
                     sandbox.log_directory);
  }
  config.set_log_path(c.log_path.substr(prefix.size()));
  std::error_code ec;
  fs::create_directories(fs::path(c.log_path).parent_path(), ec);
  // The container joins its sandbox's network, which was chosen when the sandbox was made.
  auto made = client_->PodSandboxStatus(sandbox_id);
  if (!made.ok()) return std::move(made).error();
  const bool pod_network = made->status().linux().namespaces().options().network() == v1::POD;
  *config.mutable_linux()->mutable_security_context()->mutable_namespace_options() =
      Namespaces(pod_network);
  return client_->CreateContainer(sandbox_id, config, ToCri(sandbox, pod_network));
}

// The container's CDI devices: by name for a runtime that applies CDI, else their edits as
// explicit devices, mounts and environment (after the pod's own: a CDI variable wins).
Status ContainerdRuntime::AddCdiEdits(const node::ContainerConfig& c,
                                      const node::PodSandboxConfig& sandbox,
                                      v1::ContainerConfig& config) {
  if (c.cdi_devices.empty()) return OkStatus();
  if (cdi_by_name_) {
    for (const std::string& name : c.cdi_devices) config.add_cdi_devices()->set_name(name);
    return OkStatus();
  }
  auto edits = node::ResolveCdiEdits(options_.cdi_root, c.cdi_devices);
  if (!edits.ok()) return std::move(edits).error();
  for (const node::CdiDeviceNode& device : edits->device_nodes) {
    auto host = HostDevice(device.path, device.host_path);
    if (!host.ok()) return std::move(host).error();
    v1::Device* d = config.add_devices();
    d->set_container_path(device.path);
    d->set_host_path(*host);
    d->set_permissions(device.permissions);
  }
  for (const node::CdiMount& m : edits->mounts) {
    v1::Mount* mount = config.add_mounts();
    mount->set_host_path(m.host_path);
    mount->set_container_path(m.container_path);
    mount->set_readonly(m.read_only);
  }
  for (const std::string& e : edits->env) AddEnv(config, e);
  for (const std::string& hook : edits->hooks) {
    std::fprintf(stderr,
                 "migdra serve: containerd: pod %s/%s container %s: CDI hook not run (a CRI "
                 "config has no hooks): %s\n",
                 sandbox.namespace_.c_str(), sandbox.name.c_str(), c.name.c_str(), hook.c_str());
  }
  return OkStatus();
}

Status ContainerdRuntime::StartContainer(const std::string& container_id) {
  return client_->StartContainer(container_id);
}

Status ContainerdRuntime::StopContainer(const std::string& container_id,
                                        std::chrono::seconds grace) {
  return Ok(client_->StopContainer(container_id, grace.count()));
}

Status ContainerdRuntime::RemoveContainer(const std::string& container_id) {
  return Ok(client_->RemoveContainer(container_id));
}

Result<node::ContainerStatus> ContainerdRuntime::GetContainerStatus(
    const std::string& container_id) {
  auto status = client_->ContainerStatus(container_id);
  if (!status.ok() && IsNotFound(status.error())) {
    // The contract's "lost track of it": reported exited, never run again silently.
    node::ContainerStatus lost;
    lost.id = container_id;
    lost.state = node::ContainerState::kExited;
    lost.exit_code = 137;
    lost.reason = "ContainerStatusUnknown";
    lost.message = "containerd no longer knows the container: " + status.error().message;
    return lost;
  }
  if (!status.ok()) return std::move(status).error();
  return FromCri(*status);
}

Result<std::vector<node::ContainerStatus>> ContainerdRuntime::ListContainers(
    const std::string& sandbox_id) {
  v1::ContainerFilter filter;
  filter.set_pod_sandbox_id(sandbox_id);
  auto list = client_->ListContainers(filter);
  if (!list.ok()) return std::move(list).error();
  std::vector<node::ContainerStatus> out;
  for (const v1::Container& c : list->containers()) {
    auto status = GetContainerStatus(c.id());
    if (!status.ok()) {
      if (IsNotFound(status.error())) continue;  // removed meanwhile
      return std::move(status).error();
    }
    out.push_back(std::move(*status));
  }
  return out;
}

Result<std::string> ContainerdRuntime::StreamUrl(const std::string& pod_uid,
                                                 const stream::StreamRequest& request, bool exec) {
  v1::ContainerFilter filter;
  (*filter.mutable_label_selector())[kPodUidLabel] = pod_uid;
  (*filter.mutable_label_selector())[kContainerNameLabel] = request.container;
  filter.mutable_state()->set_state(v1::CONTAINER_RUNNING);
  auto running = client_->ListContainers(filter);
  if (!running.ok()) return std::move(running).error();
  if (running->containers().empty()) {
    return MakeError("container " + request.container + " is not running");
  }
  const std::string& id = running->containers(0).id();
  if (exec) {
    v1::ExecRequest exec_request;
    exec_request.set_container_id(id);
    for (const std::string& arg : request.command) exec_request.add_cmd(arg);
    exec_request.set_tty(request.tty);
    exec_request.set_stdin(request.want_stdin);
    exec_request.set_stdout(request.want_stdout);
    exec_request.set_stderr(request.want_stderr);
    return client_->Exec(exec_request);
  }
  v1::AttachRequest attach;
  attach.set_container_id(id);
  attach.set_tty(request.tty);
  attach.set_stdin(request.want_stdin);
  attach.set_stdout(request.want_stdout);
  attach.set_stderr(request.want_stderr);
  return client_->Attach(attach);
}

Result<std::optional<int>> ContainerdRuntime::DialPodNetwork(const std::string& pod_uid,
                                                             uint16_t port) {
  v1::PodSandboxFilter filter;
  (*filter.mutable_label_selector())[kPodUidLabel] = pod_uid;
  (*filter.mutable_label_selector())[kRunnerLabel] = "true";
  filter.mutable_state()->set_state(v1::SANDBOX_READY);
  auto ready = client_->ListPodSandbox(filter);
  if (!ready.ok()) return std::move(ready).error();
  if (ready->items().empty()) return MakeError("the pod has no running sandbox");
  auto response = client_->PodSandboxStatus(ready->items(0).id(), /*verbose=*/true);
  if (!response.ok()) return std::move(response).error();
  if (response->status().linux().namespaces().options().network() != v1::POD) {
    return std::optional<int>();
  }
  // containerd's verbose info names the sandbox's (pause) process; its network namespace is the
  // pod's.
  auto info = response->info().find("info");
  json parsed = json::parse(info == response->info().end() ? std::string() : info->second, nullptr,
                            /*allow_exceptions=*/false);
  if (!parsed.is_object() || !parsed.contains("pid") || !parsed["pid"].is_number_unsigned() ||
      parsed["pid"] == 0) {
    return MakeError("containerd did not say which process holds the pod's network namespace");
  }
  const std::string netns = "/proc/" + std::to_string(parsed["pid"].get<uint64_t>()) + "/ns/net";
  // A socket belongs to the network namespace it was made in: made on a thread of its own that
  // entered the pod's namespace (and then ends), it reaches the pod's localhost.
  Result<int> dialed = MakeError("");
  std::thread dialer([&] {
    try {
      dialed = DialInNetworkNamespace(netns, port);
    } catch (const std::exception& e) {
      dialed = MakeError(std::string("dialling into the pod's network namespace: ") + e.what());
    }
  });
  dialer.join();
  if (!dialed.ok()) return std::move(dialed).error();
  return std::optional<int>(*dialed);
}

Result<std::string> ContainerdRuntime::ReadLog(const std::string& log_path) {
  std::ifstream in(log_path, std::ios::binary);
  if (!in) return std::string();
  std::stringstream text;
  text << in.rdbuf();
  return DecodeCriLog(text.str());
}

}  // namespace migdra::cri
