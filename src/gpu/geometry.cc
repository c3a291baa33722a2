#include "gpu/geometry.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>

namespace migdra::gpu {

const Profile* Geometry::FindProfileById(uint32_t id) const {
  for (const Profile& p : profiles) {
    if (p.id == id) return &p;
  }
  return nullptr;
}

Profile Geometry::EngineTotals() const {
  Profile totals;
  totals.name = "engine-totals";
  for (const Profile& p : profiles) {
    totals.copy_engines = std::max(totals.copy_engines, p.copy_engines);
    totals.decoders = std::max(totals.decoders, p.decoders);
    totals.encoders = std::max(totals.encoders, p.encoders);
    totals.jpeg_engines = std::max(totals.jpeg_engines, p.jpeg_engines);
    totals.ofa_engines = std::max(totals.ofa_engines, p.ofa_engines);
    totals.multiprocessors = std::max(totals.multiprocessors, p.multiprocessors);
    totals.memory_mib = std::max(totals.memory_mib, p.memory_mib);
    totals.compute_slices = std::max(totals.compute_slices, p.compute_slices);
  }
  return totals;
}

namespace {

std::string PlacementText(const Placement& p) {
  return "[" + std::to_string(p.start) + "," + std::to_string(p.end()) + ")";
}

const Placement* FindPlacement(const Profile& profile, uint32_t start) {
  for (const Placement& p : profile.placements) {
    if (p.start == start) return &p;
  }
  return nullptr;
}

}  // namespace

Status CheckAddInstance(const Geometry& geometry, const std::vector<Instance>& existing,
                        const Instance& candidate) {
  const Profile* profile = geometry.FindProfileById(candidate.profile_id);
  if (profile == nullptr) {
    return MakeError("unknown GPU instance profile id " + std::to_string(candidate.profile_id));
  }
  const Placement* placement = FindPlacement(*profile, candidate.start);
  if (placement == nullptr) {
    return MakeError(profile->name + ": no placement starts at " + std::to_string(candidate.start));
  }
  uint32_t same_profile = 0;
  uint32_t compute = profile->compute_slices;
  uint32_t decoders = profile->decoders, encoders = profile->encoders;
  uint32_t jpeg = profile->jpeg_engines, ofa = profile->ofa_engines;
  for (const Instance& other : existing) {
    const Profile* op = geometry.FindProfileById(other.profile_id);
    if (op == nullptr) continue;
    const Placement* opl = FindPlacement(*op, other.start);
    if (opl == nullptr) continue;
    if (placement->Overlaps(*opl)) {
      return MakeError("placement " + PlacementText(*placement) + " of " + profile->name +
                       " overlaps " + op->name + " at " + PlacementText(*opl));
    }
    if (op->id == profile->id) ++same_profile;
    compute += op->compute_slices;
    decoders += op->decoders;
    encoders += op->encoders;
    jpeg += op->jpeg_engines;
    ofa += op->ofa_engines;
  }
  if (same_profile >= profile->instance_cap) {
    return MakeError(profile->name + ": instance cap " + std::to_string(profile->instance_cap) +
                     " reached");
  }
  if (geometry.compute_slices > 0 && compute > geometry.compute_slices) {
    return MakeError("compute slices: " + std::to_string(compute) + " > " +
                     std::to_string(geometry.compute_slices));
  }
  const Profile totals = geometry.EngineTotals();
  auto check = [](const char* what, uint32_t used, uint32_t total) -> Status {
    if (used > total) {
      return MakeError(std::string("media engines: ") + what + " " + std::to_string(used) + " > " +
                       std::to_string(total));
    }
    return OkStatus();
  };
  MIGDRA_RETURN_IF_ERROR(check("decoders", decoders, totals.decoders));
  MIGDRA_RETURN_IF_ERROR(check("encoders", encoders, totals.encoders));
  MIGDRA_RETURN_IF_ERROR(check("jpeg", jpeg, totals.jpeg_engines));
  MIGDRA_RETURN_IF_ERROR(check("ofa", ofa, totals.ofa_engines));
  return OkStatus();
}

bool IsValidLayout(const Geometry& geometry, const std::vector<Instance>& layout) {
  std::vector<Instance> placed;
  for (const Instance& instance : layout) {
    if (!CheckAddInstance(geometry, placed, instance).ok()) return false;
    placed.push_back(instance);
  }
  return true;
}

namespace {

// Candidates in a fixed order: by start, then profile id.
std::vector<Instance> AllCandidates(const Geometry& geometry) {
  std::vector<Instance> all;
  for (const Profile& p : geometry.profiles) {
    for (const Placement& pl : p.placements) all.push_back({p.id, pl.start});
  }
  std::sort(all.begin(), all.end());
  return all;
}

// Enumerates every valid layout once (as an increasing subsequence of `candidates`), recording
// the maximal ones.
void Enumerate(const Geometry& geometry, const std::vector<Instance>& candidates, size_t next,
               std::vector<Instance>& current, std::vector<std::vector<Instance>>& maximal) {
  for (size_t i = next; i < candidates.size(); ++i) {
    if (!CheckAddInstance(geometry, current, candidates[i]).ok()) continue;
    current.push_back(candidates[i]);
    Enumerate(geometry, candidates, i + 1, current, maximal);
    current.pop_back();
  }
  for (const Instance& c : candidates) {
    if (std::find(current.begin(), current.end(), c) != current.end()) continue;
    if (CheckAddInstance(geometry, current, c).ok()) return;  // not maximal
  }
  maximal.push_back(current);
}

}  // namespace

std::vector<std::vector<Instance>> MaximalLayouts(const Geometry& geometry) {
  std::vector<Instance> candidates = AllCandidates(geometry);
  std::vector<std::vector<Instance>> maximal;
  std::vector<Instance> current;
  Enumerate(geometry, candidates, 0, current, maximal);
  for (auto& layout : maximal) std::sort(layout.begin(), layout.end());
  std::sort(maximal.begin(), maximal.end());
  return maximal;
}

namespace {

void EnumerateAll(const Geometry& geometry, const std::vector<Instance>& candidates, size_t next,
                  std::vector<Instance>& current, std::vector<std::vector<Instance>>& all) {
  all.push_back(current);
  for (size_t i = next; i < candidates.size(); ++i) {
    if (!CheckAddInstance(geometry, current, candidates[i]).ok()) continue;
    current.push_back(candidates[i]);
    EnumerateAll(geometry, candidates, i + 1, current, all);
    current.pop_back();
  }
}

// True when multiset `a` (sorted) is a proper sub-multiset of `b` (sorted).
bool ProperSubMultiset(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  return a.size() < b.size() && std::includes(b.begin(), b.end(), a.begin(), a.end());
}

}  // namespace

std::vector<std::vector<Instance>> ValidLayouts(const Geometry& geometry) {
  std::vector<Instance> candidates = AllCandidates(geometry);
  std::vector<std::vector<Instance>> all;
  std::vector<Instance> current;
  EnumerateAll(geometry, candidates, 0, current, all);
  return all;
}

size_t CountMaximalProfileMultisets(const Geometry& geometry) {
  std::set<std::vector<uint32_t>> multisets;
  for (const auto& layout : ValidLayouts(geometry)) {
    std::vector<uint32_t> ids;
    for (const Instance& i : layout) ids.push_back(i.profile_id);
    std::sort(ids.begin(), ids.end());
    multisets.insert(ids);
  }
  size_t maximal = 0;
  for (const auto& m : multisets) {
    bool contained = false;
    for (const auto& other : multisets) {
      if (ProperSubMultiset(m, other)) {
        contained = true;
        break;
      }
    }
    if (!contained) ++maximal;
  }
  return maximal;
}

std::string MigProfileName(uint32_t compute_slices, uint32_t nvml_index, uint64_t memory_mib,
                           uint64_t device_memory_bytes) {
  // go-nvlib getMigMemorySizeGB: the memory fraction rounded up to eighths, times the device
  // memory in whole GiB (rounded up), rounded half away from zero.
  constexpr double kOneMiB = 1024.0 * 1024.0;
  constexpr uint64_t kOneGiB = 1024ull * 1024 * 1024;
  uint64_t gb = 0;
  if (device_memory_bytes > 0) {
    double fraction =
        static_cast<double>(memory_mib) * kOneMiB / static_cast<double>(device_memory_bytes);
    fraction = std::ceil(fraction * 8) / 8;
    double total_gb = static_cast<double>((device_memory_bytes + kOneGiB - 1) / kOneGiB);
    gb = static_cast<uint64_t>(std::round(fraction * total_gb));
  }
  std::string suffix;
  switch (nvml_index) {
    case kProfile1SliceRev1:
    case kProfile2SliceRev1:
      suffix = "+me";
      break;
    case kProfile1SliceNoMe:
    case kProfile2SliceNoMe:
      suffix = "-me";
      break;
    case kProfile1SliceAllMe:
    case kProfile2SliceAllMe:
      suffix = "+me.all";
      break;
    case kProfile1SliceGfx:
    case kProfile2SliceGfx:
    case kProfile4SliceGfx:
    case kProfile3SliceGfx:
      suffix = "+gfx";
      break;
    default:
      break;
  }
  return std::to_string(compute_slices) + "g." + std::to_string(gb) + "gb" + suffix;
}

uint32_t NvmlArchitectureValue(Architecture arch) {
  switch (arch) {
    case Architecture::kAmpere:
      return 7;
    case Architecture::kHopper:
      return 9;
    case Architecture::kBlackwell:
      return 10;
    case Architecture::kUnknown:
      break;
  }
  return 0xffffffffu;
}

std::string ArchitectureName(Architecture arch) {
  switch (arch) {
    case Architecture::kAmpere:
      return "Ampere";
    case Architecture::kHopper:
      return "Hopper";
    case Architecture::kBlackwell:
      return "Blackwell";
    case Architecture::kUnknown:
      break;
  }
  return "Unknown";
}

}  // namespace migdra::gpu
