#include "control/control_plane.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/observability.h"
#include "control/pod_streams.h"

namespace migdra::control {
namespace {

// A port that was free a moment ago on `host` (for --listen HOST:0).
int FreePort(const std::string& host) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1)
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int port = -1;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

void EnsureNamespace(Store& store, const std::string& name) {
  if (store.Get("namespaces", "", name)) return;
  json ns = {{"apiVersion", "v1"},
             {"kind", "Namespace"},
             {"metadata",
              {{"name", name},
               {"uid", NewUid()},
               {"creationTimestamp", NowRfc3339()},
               {"labels", {{"kubernetes.io/metadata.name", name}}}}},
             {"spec", {{"finalizers", {"kubernetes"}}}},
             {"status", {{"phase", "Active"}}}};
  (void)store.Create("namespaces", ns);
}

}  // namespace

Result<std::unique_ptr<ControlPlane>> ControlPlane::Start(const ControlPlaneOptions& options) {
  std::unique_ptr<ControlPlane> plane(new ControlPlane());
  plane->options_ = options;
  const std::string lock_path = options.data_dir + "/lock";
  plane->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (plane->lock_fd_ < 0 || ::flock(plane->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return MakeError(ErrorReason::kConflict, "another migdra serve is using " + options.data_dir +
                                                 " (cannot lock " + lock_path + ")");
  }
  int port = options.port;
  if (port == 0) port = FreePort(options.host);
  if (port <= 0) return MakeError(ErrorReason::kInternal, "no free port on " + options.host);

  MIGDRA_ASSIGN_OR_RETURN(plane->credentials_,
                          EnsureCredentials(options.data_dir, options.host, port));

  MIGDRA_ASSIGN_OR_RETURN(plane->store_, Store::Open(options.data_dir + "/state.db"));
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    EnsureNamespace(*plane->store_, ns);
  }

  ControllerOptions controller_options;
  controller_options.strategy = options.strategy;
  plane->controllers_ = std::make_unique<Controllers>(*plane->store_, controller_options);
  plane->controllers_->Start();

  std::string client_host = options.host == "0.0.0.0" ? "127.0.0.1" : options.host;
  plane->handler_ =
      std::make_unique<ApiHandler>(*plane->store_, client_host + ":" + std::to_string(port));
  ControlPlane* raw = plane.get();
  plane->handler_->SetPodLogProvider([raw](const std::string& ns, const std::string& pod,
                                           const std::string& container, int attempt,
                                           size_t offset) -> std::optional<std::string> {
    PodLogProvider provider;
    {
      std::lock_guard lock(raw->pod_logs_mu_);
      provider = raw->pod_logs_;
    }
    if (!provider) return std::nullopt;
    return provider(ns, pod, container, attempt, offset);
  });
  if (options.wait_for_node) plane->handler_->SetReadyCheck([raw] { return raw->ready_.load(); });
  if (options.extra_metrics) plane->metrics_.AddSource(options.extra_metrics);
  AddObservabilityRoutes(*plane->handler_, *plane->store_, plane->metrics_);
  HttpOptions http_options;
  http_options.host = options.host;
  http_options.port = port;
  plane->http_ = std::make_unique<HttpServer>(*plane->handler_, plane->credentials_, http_options);
  plane->http_->SetUpgradeRoute(
      MakePodStreamRoute(*plane->store_, [raw] { return raw->streaming_.load(); }));
  Result<int> bound = plane->http_->Start();
  if (!bound.ok()) {
    plane->controllers_->Stop();
    return bound.error();
  }
  plane->port_ = *bound;
  return plane;
}

ControlPlane::~ControlPlane() { Stop(); }

void ControlPlane::SetPodLogProvider(PodLogProvider provider) {
  std::lock_guard lock(pod_logs_mu_);
  pod_logs_ = std::move(provider);
}

void ControlPlane::Stop() {
  if (http_) http_->Stop();
  if (controllers_) controllers_->Stop();
  if (store_) store_->WakeAll();
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
  }
}

}  // namespace migdra::control
