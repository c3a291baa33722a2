#include "cri/containerd_runtime.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cri/cri_log.h"
#include "node/cdi_edits.h"

namespace migdra::cri {
namespace {

namespace fs = std::filesystem;
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

// Host network; each container its own PID namespace; the pod's IPC.
v1::NamespaceOption HostNetwork() {
  v1::NamespaceOption ns;
  ns.set_network(v1::NODE);
  ns.set_pid(v1::CONTAINER);
  ns.set_ipc(v1::POD);
  return ns;
}

v1::PodSandboxConfig ToCri(const node::PodSandboxConfig& pod) {
  v1::PodSandboxConfig config;
  config.mutable_metadata()->set_name(pod.name);
  config.mutable_metadata()->set_namespace_(pod.namespace_);
  config.mutable_metadata()->set_uid(pod.uid);
  // With the host's network the pod has the host's UTS namespace: no hostname of its own (runc
  // refuses to set one).
  config.set_log_directory(pod.log_directory);
  auto& labels = *config.mutable_labels();
  labels.insert(pod.labels.begin(), pod.labels.end());
  labels[kPodUidLabel] = pod.uid;
  labels[kPodNameLabel] = pod.name;
  labels[kPodNamespaceLabel] = pod.namespace_;
  labels[kRunnerLabel] = "true";
  config.mutable_annotations()->insert(pod.annotations.begin(), pod.annotations.end());
  *config.mutable_linux()->mutable_security_context()->mutable_namespace_options() = HostNetwork();
  return config;
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

Result<std::unique_ptr<ContainerdRuntime>> ContainerdRuntime::Connect(ContainerdOptions options) {
  auto client = CriClient::Connect(options.socket, options.connect_timeout);
  if (!client.ok()) return std::move(client).error();
  return std::unique_ptr<ContainerdRuntime>(
      new ContainerdRuntime(std::move(options), std::move(*client)));
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
         ") at " + options_.socket;
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
  std::error_code ec;
  fs::create_directories(pod.log_directory, ec);
  return client_->RunPodSandbox(ToCri(pod));
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
    out.push_back({p.id(), p.metadata().uid(), p.state() == v1::SANDBOX_READY});
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
  std::vector<std::string> env = c.env;
  std::vector<node::CdiMount> mounts;
  if (!c.cdi_devices.empty()) {
    auto edits = node::ResolveCdiEdits(options_.cdi_root, c.cdi_devices);
    if (!edits.ok()) return std::move(edits).error();
    env.insert(env.end(), edits->env.begin(), edits->env.end());
    for (const node::CdiDeviceNode& device : edits->device_nodes) {
      auto host = HostDevice(device.path, device.host_path);
      if (!host.ok()) return std::move(host).error();
      v1::Device* d = config.add_devices();
      d->set_container_path(device.path);
      d->set_host_path(*host);
      d->set_permissions(device.permissions);
    }
    mounts = edits->mounts;
    for (const std::string& hook : edits->hooks) {
      std::fprintf(stderr,
                   "migdra serve: containerd: pod %s/%s container %s: CDI hook not run (a CRI "
                   "config has no hooks): %s\n",
                   sandbox.namespace_.c_str(), sandbox.name.c_str(), c.name.c_str(), hook.c_str());
    }
  }
  for (const node::Mount& m : c.mounts)
    mounts.push_back({m.host_path, m.container_path, m.read_only});
  for (const node::CdiMount& m : mounts) {
    v1::Mount* mount = config.add_mounts();
    mount->set_host_path(m.host_path);
    mount->set_container_path(m.container_path);
    mount->set_readonly(m.read_only);
  }
  for (const std::string& e : env) {
    size_t eq = e.find('=');
    v1::KeyValue* kv = config.add_envs();
    kv->set_key(e.substr(0, eq));
    kv->set_value(eq == std::string::npos ? "" : e.substr(eq + 1));
  }
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
  *config.mutable_linux()->mutable_security_context()->mutable_namespace_options() = HostNetwork();
  return client_->CreateContainer(sandbox_id, config, ToCri(sandbox));
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

Result<std::string> ContainerdRuntime::ReadLog(const std::string& log_path) {
  std::ifstream in(log_path, std::ios::binary);
  if (!in) return std::string();
  std::stringstream text;
  text << in.rdbuf();
  return DecodeCriLog(text.str());
}

}  // namespace migdra::cri
