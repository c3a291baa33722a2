// `migdra serve` assembled: the store in DATA_DIR/state.db, credentials and kubeconfig, the
// HTTPS API, the local node and its ResourceSlices, the controllers, and any NodeAgents (the
// pod runner).
//
// Thread safety: Start/Stop from one thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "alloc/allocator.h"
#include "control/api_handler.h"
#include "control/controllers.h"
#include "control/credentials.h"
#include "control/http_server.h"
#include "control/local_node.h"
#include "control/metrics.h"
#include "control/node_agent.h"
#include "control/store.h"

namespace migdra::control {

struct ControlPlaneOptions {
  std::string data_dir;
  std::string host = "127.0.0.1";
  int port = 6443;  // 0 = any free port
  std::string simulate;
  std::string node_name;
  alloc::Strategy strategy = alloc::Strategy::kPack;
};

class ControlPlane {
 public:
  // Locks the data directory (fails when another server holds it), opens the store, makes
  // credentials, registers the node and publishes its slices, then starts the controllers and
  // serves. On return the API answers.
  static ApiResult<std::unique_ptr<ControlPlane>> Start(const ControlPlaneOptions& options);
  ~ControlPlane();

  // Starts `agent` and routes pod logs to it; the plane owns it and stops it first at Stop().
  std::string AddNodeAgent(std::unique_ptr<NodeAgent> agent);
  void Stop();

  Store& store() { return *store_; }
  const Credentials& credentials() const { return credentials_; }
  int port() const { return port_; }
  const LocalNode& local_node() const { return local_node_; }
  NodeAgentContext AgentContext() const;

 private:
  ControlPlane() = default;

  ControlPlaneOptions options_;
  std::unique_ptr<Store> store_;
  Credentials credentials_;
  LocalNode local_node_;
  std::unique_ptr<ApiHandler> handler_;
  ServeMetrics metrics_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<Controllers> controllers_;
  std::vector<std::unique_ptr<NodeAgent>> agents_;
  int port_ = 0;
  int lock_fd_ = -1;  // flock on DATA_DIR/lock: one server per data directory
};

}  // namespace migdra::control
