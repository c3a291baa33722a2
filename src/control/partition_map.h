// The partition map: which claim and pod hold which MIG partition on which GPU, and what is free,
// stranded or still placeable — computed from the API objects alone (ResourceSlices, allocated
// ResourceClaims, Pods), so it describes any node whose driver publishes partitionable devices
// the way NVIDIA's does (a counter set per GPU with memory-slice-<i> counters).
//
// Definitions (also in docs/observability.md):
//  - A GPU is a counter set of a ResourceSlice; its memory slices are the counters named
//    memory-slice-<i>; its compute slices are the largest "<N>g" among its partition profiles.
//  - A partition is an allocated device (a claim's status.allocation result) that consumes the
//    GPU's counters; it occupies the memory slices it consumes and <N> compute slices for profile
//    "<N>g.…" (a whole-GPU device occupies all of them).
//  - A device is placeable now when it is not allocated and every counter it consumes still has
//    room (the allocator's rule for partitionable devices).
//  - A free memory slice is one no partition consumes. It is stranded when no placeable device
//    consumes it: free memory that no profile can use until a partition goes away.
//  - fits[profile] is how many more devices of that profile could be allocated now on the node,
//    placing them one after another (each placement uses counters the next cannot).
//  - A pending claim is a ResourceClaim without an allocation; its reason is the PodScheduled
//    message of a pod that uses it, else "not yet scheduled".
//
// Thread safety: pure functions of the store's current contents.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "control/store.h"

namespace migdra::control {

// {"nodes": [{"name", "gpus": [{"name": "gpu-0", "index", "uuid", "product",
//   "memorySlices", "computeSlices", "computeSlicesAllocated",
//   "slices": ["allocated"|"free"|"stranded", ...],
//   "partitions": [{"device", "profile", "start", "size", "computeSlices", "claim",
//                   "namespace", "pod", "ageSeconds"}]}],
//   "fits": {"1g.10gb": 3, ...}}],
//  "pending": [{"namespace", "claim", "pod", "waitingSeconds", "reason"}]}
nlohmann::json BuildPartitionMap(const Store& store);

}  // namespace migdra::control
