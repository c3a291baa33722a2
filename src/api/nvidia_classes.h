// The DeviceClasses NVIDIA's DRA driver chart installs (deployments/helm/.../deviceclass-*.yaml
// upstream), as one table: `migdra serve` creates them when its node starts (absent ones only, so
// a user's edits stay), `migdra deviceclasses` prints them, and deployments/kubernetes checks its
// manifests against that output.
//
//   gpu.nvidia.com                               type == 'gpu', extendedResourceName nvidia.com/gpu
//   mig.nvidia.com                               type == 'mig'
//   vfio.gpu.nvidia.com                          type == 'vfio'
//   compute-domain-default-channel.nvidia.com    compute-domain.nvidia.com: type 'channel', id 0
//   compute-domain-daemon.nvidia.com             compute-domain.nvidia.com: type 'daemon'
//
// Thread safety: pure function.
#pragma once

#include <vector>

#include "api/resource.h"

namespace migdra::api {

// The classes in name order, each complete (apiVersion, kind, metadata.name, spec).
std::vector<DeviceClass> NvidiaDeviceClasses();

}  // namespace migdra::api
