// MIG geometry: GPU-instance profiles, their placements on a GPU's placement grid, which sets of
// GPU instances may coexist, and the built-in catalog of MIG-capable GPU models.
//
// Vocabulary (NVIDIA MIG user guide; reference/mig-geometry-and-prior-art.md):
// - A GPU-instance (GI) *profile* has an NVML id (what `nvidia-smi mig -lgip` prints and what
//   nvmlDeviceCreateGpuInstanceWithPlacement takes; device specific), an NVML profile *index*
//   (the NVML_GPU_INSTANCE_PROFILE_* constant used to look it up), a name ("1g.10gb+me"),
//   compute and memory slices, SMs, memory, engines and an instance cap.
// - A *placement* is [start, start+size) on the GPU's placement grid (4 units on A30, 8 on
//   A100/Hopper/Blackwell data-center parts, 12 on RTX PRO 6000).
// - Hardware rule for coexistence (what NVML enforces, and what nvmlsim enforces): every
//   instance sits on one of its profile's possible placements; placements do not overlap; no
//   profile exceeds its instance cap; the sum of compute slices stays within the GPU's compute
//   slices (7 on 8-unit parts); and the media engines (decoders, encoders, JPEG, OFA) of all
//   instances fit in the GPU's — which is what makes the `+me` / `+me.all` variants exclusive.
//
// At run time the truth is what NVML reports (gpu/nvml.h); the catalog exists for simulation
// (nvmlsim, SimulatedInventory) and for checks.
//
// Thread safety: all types are values; the catalog is immutable after first use and may be read
// from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace migdra::gpu {

// NVML_GPU_INSTANCE_PROFILE_* indexes (nvml.h); the NVML id of a profile is a different number.
enum GpuInstanceProfileIndex : uint32_t {
  kProfile1Slice = 0,
  kProfile2Slice = 1,
  kProfile3Slice = 2,
  kProfile4Slice = 3,
  kProfile7Slice = 4,
  kProfile8Slice = 5,
  kProfile6Slice = 6,
  kProfile1SliceRev1 = 7,  // +me
  kProfile2SliceRev1 = 8,  // +me
  kProfile1SliceRev2 = 9,  // one compute slice with two memory slices
  kProfile1SliceGfx = 10,
  kProfile2SliceGfx = 11,
  kProfile4SliceGfx = 12,
  kProfile1SliceNoMe = 13,  // -me
  kProfile2SliceNoMe = 14,
  kProfile1SliceAllMe = 15,  // +me.all
  kProfile2SliceAllMe = 16,
  kProfile3SliceGfx = 17,
  kProfileIndexCount = 18,
};

struct Placement {
  uint32_t start = 0;
  uint32_t size = 0;
  uint32_t end() const { return start + size; }
  bool Overlaps(const Placement& other) const { return start < other.end() && other.start < end(); }
  bool operator==(const Placement&) const = default;
};

struct Profile {
  uint32_t id = 0;          // NVML GI profile id
  uint32_t nvml_index = 0;  // GpuInstanceProfileIndex
  std::string name;         // as NVML-based tools print it: "1g.10gb", "1g.10gb+me"
  uint32_t compute_slices = 0;
  uint32_t memory_slices = 0;  // in memory slices of the GPU (not grid units)
  uint32_t multiprocessors = 0;
  uint64_t memory_mib = 0;  // nvmlGpuInstanceProfileInfo_t.memorySizeMB (MiB)
  uint32_t copy_engines = 0;
  uint32_t decoders = 0;
  uint32_t encoders = 0;
  uint32_t jpeg_engines = 0;
  uint32_t ofa_engines = 0;
  uint32_t instance_cap = 0;  // nvmlGpuInstanceProfileInfo_t.instanceCount
  bool p2p = false;
  std::vector<Placement> placements;  // possible placements, ascending by start
};

// The MIG geometry of one GPU: its profiles and grid. Built from NVML (gpu/inventory.h) or from
// the catalog.
struct Geometry {
  uint32_t grid_units = 0;      // placement grid size (4, 8 or 12)
  uint32_t compute_slices = 0;  // compute slices of the whole GPU (4 or 7)
  uint32_t memory_slices = 0;   // memory slices of the whole GPU (4 or 8)
  std::vector<Profile> profiles;

  const Profile* FindProfileById(uint32_t id) const;
  // The GPU's engine budget: the largest value of each engine count over all profiles (the
  // full-size profile owns every engine).
  Profile EngineTotals() const;
};

// One GPU instance in a layout: profile id plus placement start.
struct Instance {
  uint32_t profile_id = 0;
  uint32_t start = 0;
  bool operator==(const Instance&) const = default;
  bool operator<(const Instance& o) const {
    return start != o.start ? start < o.start : profile_id < o.profile_id;
  }
};

// Why `candidate` cannot join `existing` under the hardware rule (header comment); OkStatus when it
// can. `existing` is assumed valid. Messages name the rule ("placement [2,4) overlaps 2g.20gb at
// [2,4)", "1g.10gb+me: instance cap 1 reached", "media engines: ofa 2 > 1", ...).
Status CheckAddInstance(const Geometry& geometry, const std::vector<Instance>& existing,
                        const Instance& candidate);
// True when the whole set satisfies the hardware rule.
bool IsValidLayout(const Geometry& geometry, const std::vector<Instance>& layout);

// Every valid layout to which no further instance can be added, each sorted by start, the list
// sorted lexicographically. Exhaustive (the largest catalog model has a few thousand layouts).
std::vector<std::vector<Instance>> MaximalLayouts(const Geometry& geometry);
// Every valid layout, the empty one included, each sorted by start.
std::vector<std::vector<Instance>> ValidLayouts(const Geometry& geometry);
// The number of profile multisets some valid layout realises that no other realisable multiset
// strictly contains (the "maximal geometries" of reference/mig-geometry-and-prior-art.md §A.4).
size_t CountMaximalProfileMultisets(const Geometry& geometry);

// The profile name go-nvlib (and hence NVIDIA's DRA driver) gives a GI profile with
// `compute_slices` slices, NVML index `nvml_index` and `memory_mib`, on a GPU with
// `device_memory_bytes` of memory: "<g>g.<GB>gb" plus "+me", "-me", "+me.all" or "+gfx".
std::string MigProfileName(uint32_t compute_slices, uint32_t nvml_index, uint64_t memory_mib,
                           uint64_t device_memory_bytes);

// ---- catalog ---------------------------------------------------------------------------------

enum class Architecture { kUnknown, kAmpere, kHopper, kBlackwell };

// NVML's nvmlDeviceArchitecture_t value and go-nvlib's name ("Ampere", "Hopper", "Blackwell").
uint32_t NvmlArchitectureValue(Architecture arch);
std::string ArchitectureName(Architecture arch);

struct GpuModel {
  std::string key;                   // "a100-80gb", "h100-80gb", "h200", ...
  std::vector<std::string> aliases;  // other accepted spellings ("h100-sxm", "h100")
  std::string product_name;          // nvmlDeviceGetName: "NVIDIA A100-SXM4-80GB"
  Architecture architecture = Architecture::kUnknown;
  uint32_t brand = 14;  // nvmlBrandType_t (NVML_BRAND_NVIDIA)
  int cc_major = 0;
  int cc_minor = 0;
  uint64_t memory_bytes = 0;   // nvmlDeviceGetMemoryInfo total
  uint32_t pci_device_id = 0;  // nvmlPciInfo_t.pciDeviceId, e.g. 0x20B210DE
  Geometry geometry;
  // Hopper and newer switch MIG mode without a GPU reset; Ampere keeps the change pending.
  bool mig_mode_toggle_without_reset() const { return architecture != Architecture::kAmpere; }
};

// Every catalog model, in catalog order.
const std::vector<GpuModel>& Catalog();
// Looks a model up by key or alias, case-insensitively ("A100-80GB", "h100-sxm", "h200").
// The error lists the known keys.
Result<const GpuModel*> FindModel(std::string_view name);

}  // namespace migdra::gpu
