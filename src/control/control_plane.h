// The control plane of `migdra serve`: the store in DATA_DIR/state.db, credentials and
// kubeconfig, the HTTPS API and the controllers (scheduler included). The local node (src/node)
// and its driver are not part of it: serve starts them beside it unless --no-node.
//
// Thread safety: Start/Stop from one thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "alloc/allocator.h"
#include "control/api_handler.h"
#include "control/controllers.h"
#include "control/credentials.h"
#include "control/http_server.h"
#include "control/metrics.h"
#include "control/store.h"
#include "stream/container_streams.h"

namespace migdra::control {

struct ControlPlaneOptions {
  std::string data_dir;
  std::string host = "127.0.0.1";
  int port = 6443;  // 0 = any free port
  alloc::Strategy strategy = alloc::Strategy::kPack;
  bool wait_for_node = false;  // /readyz stays 503 until SetReady()
  // Appended to GET /metrics (serve: its driver's metrics).
  std::function<std::string()> extra_metrics;
};

class ControlPlane {
 public:
  // Locks the data directory (fails when another server holds it), opens the store, makes
  // credentials, then starts the controllers and serves. On return the API answers.
  static Result<std::unique_ptr<ControlPlane>> Start(const ControlPlaneOptions& options);
  ~ControlPlane();

  // Where `kubectl logs` reads a container's log (the local node's runner); unset, there is none.
  void SetPodLogProvider(PodLogProvider provider);
  // The runtime behind kubectl exec, attach and port-forward (the local node's runner); null,
  // there is none. It must outlive Stop().
  void SetStreaming(stream::ContainerStreaming* streaming) { streaming_ = streaming; }
  // /readyz answers 503 until this is called (with `wait_for_node`) — serve calls it once its
  // local node has registered and published its slices.
  void SetReady() { ready_ = true; }
  void Stop();

  Store& store() { return *store_; }
  const Credentials& credentials() const { return credentials_; }
  int port() const { return port_; }

 private:
  ControlPlane() = default;

  ControlPlaneOptions options_;
  std::unique_ptr<Store> store_;
  Credentials credentials_;
  std::unique_ptr<ApiHandler> handler_;
  ServeMetrics metrics_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<Controllers> controllers_;
  std::mutex pod_logs_mu_;
  PodLogProvider pod_logs_;  // guarded by pod_logs_mu_
  std::atomic<bool> ready_{false};
  std::atomic<stream::ContainerStreaming*> streaming_{nullptr};
  int port_ = 0;
  int lock_fd_ = -1;  // flock on DATA_DIR/lock: one server per data directory
};

}  // namespace migdra::control
