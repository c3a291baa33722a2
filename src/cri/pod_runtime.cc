#include "cri/pod_runtime.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cri/cdi_edits.h"
#include "cri/cri_log.h"

namespace migdra::cri {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The kubelet's label names, so that crictl and other tools show migdra's pods as a kubelet's.
constexpr const char* kPodUidLabel = "io.kubernetes.pod.uid";
constexpr const char* kPodNameLabel = "io.kubernetes.pod.name";
constexpr const char* kPodNamespaceLabel = "io.kubernetes.pod.namespace";
constexpr const char* kContainerNameLabel = "io.kubernetes.container.name";

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
  std::string last = image.substr(image.rfind('/') == std::string::npos ? 0 : image.rfind('/') + 1);
  size_t colon = last.find(':');
  if (colon == std::string::npos || last.substr(colon + 1) == "latest") return "Always";
  return "IfNotPresent";
}

ContainerInfo ToInfo(const v1::ContainerStatus& s) {
  ContainerInfo info;
  info.id = s.id();
  info.name = s.metadata().name();
  info.attempt = static_cast<int>(s.metadata().attempt());
  switch (s.state()) {
    case v1::CONTAINER_CREATED:
      info.state = ContainerInfo::kCreated;
      break;
    case v1::CONTAINER_RUNNING:
      info.state = ContainerInfo::kRunning;
      break;
    case v1::CONTAINER_EXITED:
      info.state = ContainerInfo::kExited;
      break;
    default:
      info.state = ContainerInfo::kUnknown;
      break;
  }
  info.exit_code = s.exit_code();
  info.started_at = Rfc3339(s.started_at());
  info.finished_at = Rfc3339(s.finished_at());
  info.reason = s.reason();
  info.message = s.message();
  return info;
}

v1::NamespaceOption HostNetwork() {
  v1::NamespaceOption ns;
  ns.set_network(v1::NODE);
  ns.set_pid(v1::CONTAINER);
  ns.set_ipc(v1::POD);
  return ns;
}

}  // namespace

PodRuntime::PodRuntime(PodRuntimeOptions options, std::unique_ptr<CriClient> client)
    : options_(std::move(options)), client_(std::move(client)) {}

Result<std::unique_ptr<PodRuntime>> PodRuntime::Connect(PodRuntimeOptions options) {
  auto client = CriClient::Connect(options.socket, options.connect_timeout);
  if (!client.ok()) return std::move(client).error();
  return std::unique_ptr<PodRuntime>(new PodRuntime(std::move(options), std::move(*client)));
}

std::string PodRuntime::Description() const {
  const v1::VersionResponse& v = client_->version();
  return v.runtime_name() + " " + v.runtime_version() + " (CRI " + v.runtime_api_version() +
         ") at " + options_.socket;
}

std::string PodRuntime::RuntimeVersion() const {
  const v1::VersionResponse& v = client_->version();
  return v.runtime_name() + "://" + v.runtime_version();
}

std::optional<ContainerError> PodRuntime::EnsureImage(const std::string& image,
                                                      const std::string& policy_or_default) {
  std::string policy = policy_or_default.empty() ? DefaultPullPolicy(image) : policy_or_default;
  if (policy != "Always") {
    auto present = client_->ImageStatus(image);
    if (!present.ok()) return ContainerError{"ErrImagePull", present.error().message};
    if (*present) return std::nullopt;
    if (policy == "Never") {
      return ContainerError{"ErrImageNeverPull", "Container image \"" + image +
                                                     "\" is not present with pull policy of Never"};
    }
  }
  auto pulled = client_->PullImage(image, kPullTimeout);
  if (!pulled.ok()) {
    return ContainerError{"ErrImagePull",
                          "failed to pull image \"" + image + "\": " + pulled.error().message};
  }
  return std::nullopt;
}

v1::PodSandboxConfig PodRuntime::SandboxConfig(const PodIdentity& pod) const {
  v1::PodSandboxConfig config;
  config.mutable_metadata()->set_name(pod.name);
  config.mutable_metadata()->set_namespace_(pod.ns);
  config.mutable_metadata()->set_uid(pod.uid);
  config.set_log_directory(options_.log_root + "/" + pod.uid);
  auto& labels = *config.mutable_labels();
  labels[kPodUidLabel] = pod.uid;
  labels[kPodNameLabel] = pod.name;
  labels[kPodNamespaceLabel] = pod.ns;
  *config.mutable_linux()->mutable_security_context()->mutable_namespace_options() = HostNetwork();
  return config;
}

Result<std::string> PodRuntime::ReadySandbox(const PodIdentity& pod,
                                             const v1::PodSandboxConfig& config) {
  v1::PodSandboxFilter filter;
  (*filter.mutable_label_selector())[kPodUidLabel] = pod.uid;
  filter.mutable_state()->set_state(v1::SANDBOX_READY);
  auto list = client_->ListPodSandbox(filter);
  if (!list.ok()) return std::move(list).error();
  if (!list->items().empty()) return list->items(0).id();
  std::error_code ec;
  fs::create_directories(config.log_directory(), ec);
  return client_->RunPodSandbox(config);
}

PodRuntime::Started PodRuntime::StartContainer(const PodIdentity& pod,
                                               const ContainerRequest& request) {
  Started started;
  v1::PodSandboxConfig sandbox_config = SandboxConfig(pod);
  auto sandbox = ReadySandbox(pod, sandbox_config);
  if (!sandbox.ok()) {
    started.error = ContainerError{"CreateContainerError",
                                   "creating the pod sandbox: " + sandbox.error().message};
    return started;
  }

  v1::ContainerConfig config;
  config.mutable_metadata()->set_name(request.name);
  config.mutable_metadata()->set_attempt(static_cast<uint32_t>(request.attempt));
  config.mutable_image()->set_image(request.image);
  for (const std::string& c : request.command) config.add_command(c);
  for (const std::string& a : request.args) config.add_args(a);
  config.set_working_dir(request.working_dir);
  std::vector<std::string> env = request.env;
  if (!request.cdi_devices.empty()) {
    auto edits = ResolveCdiEdits(options_.cdi_root, request.cdi_devices);
    if (!edits.ok()) {
      started.error = ContainerError{"CreateContainerError", edits.error().message};
      return started;
    }
    for (const std::string& e : edits->env) env.push_back(e);
    for (const CdiDeviceNode& node : edits->device_nodes) {
      v1::Device* d = config.add_devices();
      d->set_container_path(node.path);
      d->set_host_path(node.host_path);
      d->set_permissions(node.permissions);
    }
    for (const CdiMount& m : edits->mounts) {
      v1::Mount* mount = config.add_mounts();
      mount->set_host_path(m.host_path);
      mount->set_container_path(m.container_path);
      mount->set_readonly(m.read_only);
    }
    for (const std::string& hook : edits->hooks) {
      std::fprintf(stderr,
                   "migdra serve: containerd: pod %s/%s container %s: CDI hook not applied "
                   "(the CRI config has no hooks): %s\n",
                   pod.ns.c_str(), pod.name.c_str(), request.name.c_str(), hook.c_str());
    }
  }
  for (const std::string& e : env) {
    size_t eq = e.find('=');
    v1::KeyValue* kv = config.add_envs();
    kv->set_key(e.substr(0, eq));
    kv->set_value(eq == std::string::npos ? "" : e.substr(eq + 1));
  }
  auto& labels = *config.mutable_labels();
  labels[kPodUidLabel] = pod.uid;
  labels[kPodNameLabel] = pod.name;
  labels[kPodNamespaceLabel] = pod.ns;
  labels[kContainerNameLabel] = request.name;
  config.set_log_path(request.name + "/" + std::to_string(request.attempt) + ".log");
  *config.mutable_linux()->mutable_security_context()->mutable_namespace_options() = HostNetwork();
  std::error_code ec;
  fs::create_directories(options_.log_root + "/" + pod.uid + "/" + request.name, ec);

  auto id = client_->CreateContainer(*sandbox, config, sandbox_config);
  if (!id.ok()) {
    started.error = ContainerError{"CreateContainerError", id.error().message};
    return started;
  }
  started.container_id = *id;
  if (Status s = client_->StartContainer(*id); !s.ok()) {
    started.error = ContainerError{"RunContainerError", s.error().message};
  }
  return started;
}

Result<ContainerInfo> PodRuntime::Inspect(const std::string& container_id) {
  auto status = client_->ContainerStatus(container_id);
  if (!status.ok()) return std::move(status).error();
  return ToInfo(*status);
}

Result<std::vector<ContainerInfo>> PodRuntime::PodContainers(const std::string& pod_uid) {
  v1::ContainerFilter filter;
  (*filter.mutable_label_selector())[kPodUidLabel] = pod_uid;
  auto list = client_->ListContainers(filter);
  if (!list.ok()) return std::move(list).error();
  std::vector<ContainerInfo> out;
  for (const v1::Container& c : list->containers()) {
    auto info = Inspect(c.id());
    if (!info.ok()) {
      if (IsNotFound(info.error())) continue;  // removed meanwhile
      return std::move(info).error();
    }
    out.push_back(std::move(*info));
  }
  std::sort(out.begin(), out.end(),
            [](const ContainerInfo& a, const ContainerInfo& b) { return a.attempt < b.attempt; });
  return out;
}

Status PodRuntime::StopContainer(const std::string& container_id, int64_t grace_seconds) {
  Status s = client_->StopContainer(container_id, grace_seconds);
  if (!s.ok() && IsNotFound(s.error())) return OkStatus();
  return s;
}

Status PodRuntime::RemovePod(const std::string& pod_uid) {
  v1::ContainerFilter containers;
  (*containers.mutable_label_selector())[kPodUidLabel] = pod_uid;
  auto list = client_->ListContainers(containers);
  if (!list.ok()) return std::move(list).error();
  for (const v1::Container& c : list->containers()) {
    if (Status s = client_->RemoveContainer(c.id()); !s.ok() && !IsNotFound(s.error())) return s;
  }
  v1::PodSandboxFilter sandboxes;
  (*sandboxes.mutable_label_selector())[kPodUidLabel] = pod_uid;
  auto pods = client_->ListPodSandbox(sandboxes);
  if (!pods.ok()) return std::move(pods).error();
  for (const v1::PodSandbox& p : pods->items()) {
    if (Status s = client_->StopPodSandbox(p.id()); !s.ok() && !IsNotFound(s.error())) return s;
    if (Status s = client_->RemovePodSandbox(p.id()); !s.ok() && !IsNotFound(s.error())) return s;
  }
  return OkStatus();
}

Result<std::vector<std::string>> PodRuntime::PodUids() {
  auto pods = client_->ListPodSandbox(v1::PodSandboxFilter());
  if (!pods.ok()) return std::move(pods).error();
  std::vector<std::string> uids;
  for (const v1::PodSandbox& p : pods->items()) {
    auto it = p.labels().find(kPodUidLabel);
    if (it != p.labels().end() && std::find(uids.begin(), uids.end(), it->second) == uids.end()) {
      uids.push_back(it->second);
    }
  }
  return uids;
}

std::string PodRuntime::LogPath(const std::string& pod_uid, const std::string& name,
                                int attempt) const {
  return options_.log_root + "/" + pod_uid + "/" + name + "/" + std::to_string(attempt) + ".log";
}

std::string PodRuntime::ReadLog(const std::string& pod_uid, const std::string& name,
                                int attempt) const {
  std::ifstream in(LogPath(pod_uid, name, attempt), std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return DecodeCriLog(text.str());
}

}  // namespace migdra::cri
