// A per-node agent of `migdra serve` — the pod runner (runner.h) — that serve starts beside its
// control plane unless --no-node.
//
// A NodeAgent watches for pods whose spec.nodeName is its node (through the API server's REST
// API, as a kubelet does), prepares their claims' devices through the driver's DRA gRPC socket,
// runs them, and writes status.phase / containerStatuses back. Pods stay Pending on their node
// while no agent runs them. Serve calls Start() once, routes `kubectl logs` to PodLog, and calls
// Stop() at shutdown.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "kube/client.h"
#include "node/container_runtime.h"
#include "stream/container_streams.h"

namespace migdra::node {

struct NodeAgentContext {
  kube::Config api;        // the API server (serve: its own HTTPS address and token)
  std::string node_name;   // the local node's Node object name
  std::string state_dir;   // the agent's state (serve: DATA_DIR/runner)
  std::string dra_socket;  // the driver's DRA gRPC socket
  std::string cdi_root;    // where the driver writes its CDI specs
  // Where containers run: a CRI runtime (containerd), or null for host processes.
  std::shared_ptr<ContainerRuntime> container_runtime;
};

class NodeAgent {
 public:
  virtual ~NodeAgent() = default;
  // Starts background work.
  virtual Status Start() = 0;
  // Stops background work; must return promptly (within a few seconds).
  virtual void Stop() = 0;
  // The log of one attempt of a container of a pod this agent runs, for `kubectl logs`, from
  // byte `offset` on, as its runtime wrote it (the CRI log format, control/pod_logs.h reads it);
  // nullopt if unknown. `attempt` is the restartCount that attempt has
  // (status.containerStatuses[]).
  virtual std::optional<std::string> PodLog(const std::string& ns, const std::string& pod,
                                            const std::string& container, int attempt,
                                            size_t offset) {
    return std::nullopt;
  }
  // The runtime behind kubectl exec, attach and port-forward for this agent's pods; null when
  // it has none.
  virtual stream::ContainerStreaming* Streaming() { return nullptr; }
};

}  // namespace migdra::node
