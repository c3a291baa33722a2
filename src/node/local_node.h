// The Node object serve's node registers for itself, as a kubelet does: capacity and
// allocatable (CPUs, memory, pods), the Ready condition, addresses and node info, and the labels
// it is given (kubernetes.io/hostname, os, arch, plus the caller's — serve passes the GPU feature
// discovery labels of its driver, as a kubelet is given --node-labels). It reaches the API
// server only through kube::Client.
//
// Thread safety: pure functions except RegisterNode, which writes through the client.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "kube/client.h"

namespace migdra::node {

// The Node object for `node_name` with `labels` added to the standard ones;
// `container_runtime_version` is status.nodeInfo.containerRuntimeVersion ("migdra://0.1.0" for
// host processes, "containerd://1.6.20").
nlohmann::json BuildNodeObject(const std::string& node_name,
                               const std::map<std::string, std::string>& labels,
                               const std::string& container_runtime_version);

// Creates the Node, or updates an existing one: its status, and the labels of `node` (keeping
// labels others added, dropping migdra.io/simulated when `node` lacks it).
Status RegisterNode(kube::Client& client, const nlohmann::json& node);

}  // namespace migdra::node
