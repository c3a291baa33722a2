// The local node as `migdra serve` registers it: the Node object (GPU labels in the style of
// NVIDIA's GPU feature discovery, capacity, Ready condition, node info) and the ResourceSlices
// of its GPUs (driver/slice_builder.h), built from the GPU inventory — real NVML, or the
// catalog's simulation for `--simulate MODEL[:COUNT][,...]` and on machines without a GPU.
//
// Thread safety: pure functions except RegisterLocalNode, which writes to the store.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "control/store.h"
#include "driver/device_state.h"
#include "gpu/inventory.h"

namespace migdra::node {

using control::ApiResult;
using control::json;
using control::Store;

// The dynamic-MIG policy of serve's driver (migdra plugin's default): the pod runner's DeviceState
// runs under it and BuildLocalNode publishes the slices of it, so serve offers exactly what its
// driver prepares.
inline constexpr driver::DynamicMigPolicy kServeDynamicMig = driver::DynamicMigPolicy::kEnabledGpus;

struct LocalNodeOptions {
  std::string node_name;  // "" = this host's name
  std::string simulate;   // "" = real NVML, falling back to a100-80gb:8 when there is none
  std::string driver = "gpu.nvidia.com";
  // status.nodeInfo.containerRuntimeVersion: the host-process runtime's, or containerd's.
  std::string container_runtime_version = "migdra://0.1.0";
};

struct LocalNode {
  gpu::NodeInventory inventory;
  json node;                 // the Node object
  std::vector<json> slices;  // the ResourceSlice objects
  std::string description;   // one line: "8 x NVIDIA A100-SXM4-80GB (simulated)"
};

// Parses "a100-80gb:8,h100-80gb" into (model, count) pairs; count defaults to 1.
ApiResult<std::vector<std::pair<std::string, int>>> ParseSimulateSpec(const std::string& spec);

// Builds the node's inventory, Node object and slices.
ApiResult<LocalNode> BuildLocalNode(const LocalNodeOptions& options);

// The node's labels for `inventory`: the GPU feature discovery labels of driver::NodeLabels, plus
// nvidia.com/gpu.deploy.dra-driver=true (serve runs the driver) and migdra.io/simulated=true on
// nvmlsim.
std::map<std::string, std::string> GpuNodeLabels(const gpu::NodeInventory& inventory);

// Creates or updates the Node (keeping labels others added) and makes the node's slices of
// `options.driver` exactly `local.slices` (creating, updating and deleting).
ApiResult<bool> RegisterLocalNode(Store& store, const LocalNode& local);

}  // namespace migdra::node
