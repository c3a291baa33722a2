// Node labels describing a node's GPUs, with the names NVIDIA's GPU feature discovery (GFD) and
// MIG manager use, so that `kubectl describe node | grep nvidia.com` reads as in the
// walkthrough: nvidia.com/gpu.present, gpu.count, gpu.product, gpu.memory (MiB), gpu.family,
// gpu.compute.major/minor, cuda.driver.major/minor/rev, cuda.driver-version.*,
// cuda.runtime.major/minor, cuda.runtime-version.*, mig.capable, mig.strategy and, on MIG-capable
// nodes, mig.config.state=success (migdra configures MIG itself, on demand, so the node is always
// in its configured state). GFD describes the first GPU; so do these labels.
//
// Thread safety: pure function.
#pragma once

#include <map>
#include <string>

#include "gpu/inventory.h"

namespace migdra::driver {

struct LabelOptions {
  std::string mig_strategy = "single";  // GPU Operator's mig.strategy: none | single | mixed
};

std::map<std::string, std::string> NodeLabels(const gpu::NodeInventory& inventory,
                                              const LabelOptions& options = {});

}  // namespace migdra::driver
