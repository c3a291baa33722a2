// A per-node agent of `migdra serve` — the pod runner (runner.h) — that serve starts beside its
// control plane unless --no-node.
//
// A NodeAgent watches for pods whose spec.nodeName is its node, prepares their claims' devices,
// runs them, and writes status.phase / containerStatuses back. Pods stay Pending on their node
// while no agent runs them. Serve calls Start() once, routes `kubectl logs` to PodLog, and calls
// Stop() at shutdown.
#pragma once

#include <optional>
#include <string>

#include "control/store.h"
#include "node/container_runtime.h"

namespace migdra::node {

using control::Store;

struct NodeAgentContext {
  Store* store = nullptr;  // outlives the agent
  std::string node_name;   // the local node's Node object name
  std::string data_dir;    // the serve data directory (agents keep their state below it)
  std::string simulate;    // the --simulate value ("" = real NVML)
  // Where containers run: a CRI runtime (containerd), or null for host processes.
  std::shared_ptr<ContainerRuntime> container_runtime;
};

class NodeAgent {
 public:
  virtual ~NodeAgent() = default;
  // Starts background work; returns an error message, or "" on success.
  virtual std::string Start() = 0;
  // Stops background work; must return promptly (within a few seconds).
  virtual void Stop() = 0;
  // The log of a container of a pod this agent runs, for `kubectl logs`; nullopt if unknown.
  virtual std::optional<std::string> PodLog(const std::string& ns, const std::string& pod,
                                            const std::string& container) {
    return std::nullopt;
  }
};

}  // namespace migdra::node
