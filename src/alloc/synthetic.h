// Synthetic ResourceSlices for the allocator's tests and benchmarks: nodes of H100-80GB-like GPUs
// published the way NVIDIA's driver publishes dynamic MIG (reference/nvidia-dra-driver.md §1.3-1.6,
// split layout): one counter slice per node holding `gpu-<i>-counter-set` (memory-slice-0..7 and
// multiprocessors), then one device slice per GPU with the full GPU `gpu-<i>` (consuming the whole
// set) and every (profile, placement) of 1g.10gb, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb.
//
// It exists so the allocator can be tested without the GPU catalog (the allocator never touches
// `gpu`); the production slices come from driver/slice_builder.h.
#pragma once

#include <string>
#include <vector>

#include "api/resource.h"

namespace migdra::alloc::synthetic {

inline constexpr const char* kDriver = "gpu.nvidia.com";

struct Profile {
  const char* name;  // "1g.10gb"
  int profile_id;
  int size;  // memory slices
  int multiprocessors;
  int memory_gib;
  std::vector<int> starts;
};

// The H100-80GB profiles used here (without the +me variants).
const std::vector<Profile>& H100Profiles();

// Device name as NVIDIA's driver writes it: gpu-<minor>-mig-<profile without dots>-<id>-<start>.
std::string MigName(int minor, const Profile& profile, int start);

// The slices of `node` with `gpus` GPUs (pool = node name, generation 1).
std::vector<api::ResourceSlice> H100Node(const std::string& node, int gpus);

}  // namespace migdra::alloc::synthetic
