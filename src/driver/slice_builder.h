// Inventory -> ResourceSlices: the devices, attributes, capacities and shared counters migdra
// publishes for a node, wire-compatible with NVIDIA's DRA driver (DESIGN.md "Compatibility
// contract"; reference/nvidia-dra-driver.md §1.3-1.6).
//
// Devices:
// - full GPU `gpu-<minor>`: attributes type=gpu, uuid, productName, brand, architecture,
//   cudaComputeCapability, driverVersion, cudaDriverVersion, resource.kubernetes.io/pciBusID;
//   capacity `memory` (total bytes) — or, when it is published beside partitions, the largest
//   value of every MIG capacity over all profiles, and it then consumes the whole counter set.
// - dynamic MIG `gpu-<minor>-mig-<profile without dots, RFC 1123>-<GI profile id>-<start>` for
//   every (profile, placement) NVML offers: type=mig, parentUUID, profile, the parent's
//   identity attributes; capacities multiprocessors, copyEngines, decoders, encoders,
//   jpegEngines, ofaEngines, memory; consumes those plus memory-slice-<i> for its placement.
// - static MIG (MigMode::kStatic, MIG enabled): one device per existing CI, named the same way,
//   with uuid and memorySlice<i> capacities; no counters.
// Which appear (as NVIDIA's driver does): MIG-capable Hopper+ GPUs get the full GPU and all
// partitions; Ampere gets partitions only when MIG mode is already on (it cannot switch without
// a reset), else the full GPU only; non-MIG GPUs get the full GPU only.
//
// Counter set per MIG-capable GPU: `gpu-<minor>-counter-set` with multiprocessors,
// copy-engines, decoders, encoders, jpeg-engines, ofa-engines, memory (the largest profile's
// values) and memory-slice-0..grid-1 (1 each).
//
// Slices (driver and pool = node name from the inventory):
// - SliceLayout::kCombined (Kubernetes 1.34): one slice per GPU holding its counter set and its
//   devices (split further if it exceeds the device limit; extra slices then repeat no counters
//   and are only needed for GPUs with > max_devices_per_slice devices — none in the catalog).
// - SliceLayout::kSplit (1.35+): counter-set slices of at most 8 sets each, then device slices
//   of at most max_devices_per_slice devices (64 with counters), one or more per GPU. Nodes with
//   more than 8 MIG-capable GPUs therefore get several counter slices.
// Slice names are "<node>-<driver>-<NNN>" in publication order (NNN zero-padded), so sorting by
// name keeps that order; every slice carries the pool's resourceSliceCount.
// Devices within a GPU's slices are in the order first fit places best in (kube-scheduler picks the
// first device that fits, in slice order): smallest first, partitions before the whole GPU, and
// each profile's least-blocking placements first (docs/placement.md, "Publication order"). NVIDIA's
// driver sorts by name instead; names are unchanged.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/resource.h"
#include "common/result.h"
#include "gpu/inventory.h"

namespace migdra::driver {

enum class MigStrategy { kDynamic, kStatic };
enum class SliceLayout { kCombined /* k8s 1.34 */, kSplit /* k8s 1.35+ */ };

struct SliceOptions {
  std::string driver = "gpu.nvidia.com";
  MigStrategy mig = MigStrategy::kDynamic;
  SliceLayout layout = SliceLayout::kSplit;
  int64_t pool_generation = 1;
  size_t max_devices_per_slice = 64;      // API limit with counters: 64
  size_t max_counter_sets_per_slice = 8;  // API limit (1.35+)
};

Result<std::vector<api::ResourceSlice>> BuildSlices(const gpu::NodeInventory& inventory,
                                                    const SliceOptions& options = {});

// Names shared with the prepare path (which parses what the allocator chose).
std::string GpuDeviceName(uint32_t minor);
std::string CounterSetName(uint32_t minor);
std::string MigDeviceName(uint32_t minor, std::string_view profile_name, uint32_t profile_id,
                          uint32_t placement_start);

struct MigDeviceRef {
  uint32_t minor = 0;
  std::string profile;  // as in the name (dots removed)
  uint32_t profile_id = 0;
  uint32_t placement_start = 0;
};
// Parses `gpu-<minor>-mig-<profile>-<profile id>-<start>`; nullopt for any other name.
std::optional<MigDeviceRef> ParseMigDeviceName(std::string_view name);

}  // namespace migdra::driver
