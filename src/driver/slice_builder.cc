#include "driver/slice_builder.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "api/quantity.h"

namespace migdra::driver {

namespace {

using api::Counter;
using api::CounterSet;
using api::Device;
using api::DeviceAttribute;
using api::DeviceCapacity;
using api::DeviceCounterConsumption;
using api::Quantity;

// A quantity as Go's resource.NewQuantity(n, BinarySI) prints it: the largest power of 1024
// that divides n exactly ("16384Mi" -> "16Gi"), plain digits otherwise.
Quantity BinaryQuantity(uint64_t n) {
  static const char* const kSuffixes[] = {"Ei", "Pi", "Ti", "Gi", "Mi", "Ki"};
  if (n > 0) {
    uint64_t base = 1ull << 60;
    for (const char* suffix : kSuffixes) {
      if (n % base == 0) {
        auto q = Quantity::Parse(std::to_string(n / base) + suffix);
        if (q.ok()) return *q;
        break;
      }
      base >>= 10;
    }
  }
  return Quantity::FromInt(static_cast<int64_t>(n));
}

DeviceAttribute StringAttr(const std::string& v) {
  DeviceAttribute a;
  a.string_value = v;
  return a;
}

DeviceAttribute VersionAttr(const std::string& v) {
  DeviceAttribute a;
  a.version_value = v;
  return a;
}

// "580.159.04" -> "580.159.4", "9.0" -> "9.0.0": semantic versions as Masterminds/semver prints
// what NVIDIA's driver parses (missing parts are zero, leading zeros dropped).
std::string SemVer(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= text.size() && parts.size() < 3) {
    size_t dot = text.find('.', start);
    std::string part =
        text.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    size_t nz = part.find_first_not_of('0');
    parts.push_back(nz == std::string::npos ? "0" : part.substr(nz));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  while (parts.size() < 3) parts.push_back("0");
  return parts[0] + "." + parts[1] + "." + parts[2];
}

// go's toRFC1123Compliant: lower case, anything outside [a-z0-9-.] becomes '-', '-' trimmed.
std::string Rfc1123(std::string name) {
  for (char& c : name) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) c = '-';
  }
  size_t first = name.find_first_not_of('-');
  if (first == std::string::npos) return "";
  size_t last = name.find_last_not_of('-');
  name = name.substr(first, last - first + 1);
  if (!name.empty() && name.back() == '.') name.pop_back();
  return name;
}

void AddIdentityAttributes(const gpu::NodeInventory& inv, const gpu::GpuInfo& g,
                           std::map<std::string, DeviceAttribute>& attrs) {
  attrs["productName"] = StringAttr(g.product_name);
  attrs["brand"] = StringAttr(g.brand);
  attrs["architecture"] = StringAttr(g.architecture);
  attrs["cudaComputeCapability"] =
      VersionAttr(SemVer(std::to_string(g.cc_major) + "." + std::to_string(g.cc_minor)));
  attrs["driverVersion"] = VersionAttr(SemVer(inv.driver_version));
  attrs["cudaDriverVersion"] = VersionAttr(SemVer(inv.cuda_driver_version));
  attrs["resource.kubernetes.io/pciBusID"] = StringAttr(g.pci_bus_id);
}

// The capacities of a MIG profile, as NVIDIA's CommonCapacitiesMig.
std::map<std::string, uint64_t> ProfileCapacities(const gpu::Profile& p) {
  return {{"multiprocessors", p.multiprocessors},
          {"copyEngines", p.copy_engines},
          {"decoders", p.decoders},
          {"encoders", p.encoders},
          {"jpegEngines", p.jpeg_engines},
          {"ofaEngines", p.ofa_engines},
          {"memory", p.memory_mib * 1024 * 1024}};
}

// camelCase capacity name -> DNS counter name ("copyEngines" -> "copy-engines").
std::string CounterName(const std::string& capacity) {
  std::string out;
  for (char c : capacity) {
    if (std::isupper(static_cast<unsigned char>(c))) {
      out += '-';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out;
}

std::string MemorySliceCounter(uint32_t i) { return "memory-slice-" + std::to_string(i); }

// What one GPU contributes: its counter set (if partitionable) and devices.
struct GpuPublication {
  std::optional<CounterSet> counters;
  std::vector<Device> devices;
};

std::map<std::string, DeviceCapacity> ToCapacity(const std::map<std::string, uint64_t>& values) {
  std::map<std::string, DeviceCapacity> out;
  for (const auto& [name, v] : values) out[name].value = BinaryQuantity(v);
  return out;
}

std::map<std::string, Counter> ToCounters(const std::map<std::string, uint64_t>& values,
                                          uint32_t slice_start, uint32_t slice_count) {
  std::map<std::string, Counter> out;
  for (const auto& [name, v] : values) out[CounterName(name)].value = BinaryQuantity(v);
  for (uint32_t i = slice_start; i < slice_start + slice_count; ++i) {
    out[MemorySliceCounter(i)].value = BinaryQuantity(1);
  }
  return out;
}

Device FullGpuDevice(const gpu::NodeInventory& inv, const gpu::GpuInfo& g) {
  Device d;
  d.name = GpuDeviceName(g.minor);
  d.attributes["type"] = StringAttr("gpu");
  d.attributes["uuid"] = StringAttr(g.uuid);
  AddIdentityAttributes(inv, g, d.attributes);
  d.capacity["memory"].value = BinaryQuantity(g.memory_bytes);
  return d;
}

Device MigDevice(const gpu::NodeInventory& inv, const gpu::GpuInfo& g, const gpu::Profile& p,
                 const gpu::Placement& placement) {
  Device d;
  d.name = MigDeviceName(g.minor, p.name, p.id, placement.start);
  d.attributes["type"] = StringAttr("mig");
  d.attributes["parentUUID"] = StringAttr(g.uuid);
  d.attributes["profile"] = StringAttr(p.name);
  AddIdentityAttributes(inv, g, d.attributes);
  d.capacity = ToCapacity(ProfileCapacities(p));
  return d;
}

Result<GpuPublication> PublishGpu(const gpu::NodeInventory& inv, const gpu::GpuInfo& g,
                                  const SliceOptions& options) {
  GpuPublication pub;
  const bool partitionable = g.mig.capable && !g.geometry.profiles.empty();
  if (options.mig == MigStrategy::kStatic || !partitionable) {
    if (!g.mig.current) {
      pub.devices.push_back(FullGpuDevice(inv, g));
      return pub;
    }
    // Static MIG: the existing MIG devices, each with its UUID and memory slices.
    for (const gpu::MigInstanceInfo& mi : g.instances) {
      if (mi.uuid.empty()) continue;
      const gpu::Profile* p = g.geometry.FindProfileById(mi.profile_id);
      if (p == nullptr) {
        return MakeError("GPU " + std::to_string(g.minor) + ": MIG device " + mi.uuid +
                         " has unknown GPU instance profile " + std::to_string(mi.profile_id));
      }
      Device d = MigDevice(inv, g, *p, mi.placement);
      d.attributes["uuid"] = StringAttr(mi.uuid);
      for (uint32_t i = mi.placement.start; i < mi.placement.end(); ++i) {
        d.capacity["memorySlice" + std::to_string(i)].value = BinaryQuantity(1);
      }
      pub.devices.push_back(std::move(d));
    }
    return pub;
  }
  // Dynamic MIG. Ampere cannot switch MIG mode without a reset: with MIG off it is a whole GPU,
  // with MIG on it offers partitions only.
  const bool offer_partitions = g.mig_mode_toggle_without_reset || g.mig.current;
  const bool offer_full = g.mig_mode_toggle_without_reset || !g.mig.current;
  if (!offer_partitions) {
    pub.devices.push_back(FullGpuDevice(inv, g));
    return pub;
  }
  std::map<std::string, uint64_t> max_capacity;
  uint32_t grid = 0;
  for (const gpu::Profile& p : g.geometry.profiles) {
    for (const auto& [name, v] : ProfileCapacities(p)) {
      max_capacity[name] = std::max(max_capacity[name], v);
    }
    for (const gpu::Placement& pl : p.placements) grid = std::max(grid, pl.size);
  }
  CounterSet set;
  set.name = CounterSetName(g.minor);
  set.counters = ToCounters(max_capacity, 0, grid);
  pub.counters = set;
  if (offer_full) {
    Device full = FullGpuDevice(inv, g);
    full.capacity = ToCapacity(max_capacity);
    full.consumes_counters.push_back({set.name, ToCounters(max_capacity, 0, grid)});
    pub.devices.push_back(std::move(full));
  }
  for (const gpu::Profile& p : g.geometry.profiles) {
    for (const gpu::Placement& pl : p.placements) {
      Device d = MigDevice(inv, g, p, pl);
      d.consumes_counters.push_back(
          {set.name, ToCounters(ProfileCapacities(p), pl.start, pl.size)});
      pub.devices.push_back(std::move(d));
    }
  }
  return pub;
}

api::ResourceSlice NewSlice(const gpu::NodeInventory& inv, const SliceOptions& options) {
  api::ResourceSlice s;
  s.spec.driver = options.driver;
  s.spec.pool.name = inv.node_name;
  s.spec.pool.generation = options.pool_generation;
  s.spec.node_name = inv.node_name;
  return s;
}

// The order first fit over it (kube-scheduler's allocator) places best in: smallest first
// (memory slices, then multiprocessors consumed), partitions before the whole GPU, fewer engines
// first (1g.10gb before 1g.10gb+me), and among the placements of one profile the least blocking
// first (the fewest memory slices of other
// placements on the same GPU that it overlaps), then name. Devices that consume no counters
// keep name order. docs/placement.md ("Publication order") has the measurement behind it.
void OrderForFirstFit(std::vector<Device>& devices) {
  struct Footprint {
    std::set<std::string> memory_slices;
    int64_t multiprocessors = 0;
    int64_t engines = 0;
    bool whole_gpu = false;
    int64_t blocked = 0;
  };
  std::map<std::string, Footprint> footprint;
  for (const Device& d : devices) {
    Footprint& f = footprint[d.name];
    for (const auto& consumption : d.consumes_counters) {
      for (const auto& [name, counter] : consumption.counters) {
        if (name.rfind("memory-slice-", 0) == 0) f.memory_slices.insert(name);
        if (name == "multiprocessors") f.multiprocessors = counter.value.Value();
        if (name.size() > 8 && name.compare(name.size() - 8, 8, "-engines") == 0) {
          f.engines += counter.value.Value();
        }
      }
    }
    f.whole_gpu = !ParseMigDeviceName(d.name).has_value();
  }
  for (auto& [name, f] : footprint) {
    for (const auto& [other, g] : footprint) {
      if (other == name) continue;
      if (std::any_of(g.memory_slices.begin(), g.memory_slices.end(),
                      [&](const std::string& m) { return f.memory_slices.count(m) > 0; })) {
        f.blocked += static_cast<int64_t>(g.memory_slices.size());
      }
    }
  }
  std::sort(devices.begin(), devices.end(), [&](const Device& a, const Device& b) {
    const Footprint& fa = footprint[a.name];
    const Footprint& fb = footprint[b.name];
    return std::tuple(fa.memory_slices.size(), fa.multiprocessors, fa.whole_gpu, fa.engines,
                      fa.blocked, a.name) < std::tuple(fb.memory_slices.size(), fb.multiprocessors,
                                                       fb.whole_gpu, fb.engines, fb.blocked,
                                                       b.name);
  });
}

}  // namespace

std::string GpuDeviceName(uint32_t minor) { return "gpu-" + std::to_string(minor); }

std::string CounterSetName(uint32_t minor) { return GpuDeviceName(minor) + "-counter-set"; }

std::string MigDeviceName(uint32_t minor, std::string_view profile_name, uint32_t profile_id,
                          uint32_t placement_start) {
  std::string profile(profile_name);
  profile.erase(std::remove(profile.begin(), profile.end(), '.'), profile.end());
  return GpuDeviceName(minor) + "-mig-" + Rfc1123(profile) + "-" + std::to_string(profile_id) +
         "-" + std::to_string(placement_start);
}

std::optional<MigDeviceRef> ParseMigDeviceName(std::string_view name) {
  // ^gpu-(\d+)-mig-(.+)-(\d+)-(\d+)$, as NVIDIA's NewMigSpecTupleFromCanonicalName.
  auto digits = [](std::string_view s) {
    return !s.empty() && s.size() <= 9 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (name.substr(0, 4) != "gpu-") return std::nullopt;
  size_t mig = name.find("-mig-", 4);
  if (mig == std::string_view::npos || !digits(name.substr(4, mig - 4))) return std::nullopt;
  std::string_view rest = name.substr(mig + 5);
  size_t last = rest.rfind('-');
  if (last == std::string_view::npos) return std::nullopt;
  size_t second = rest.rfind('-', last - 1);
  if (last == 0 || second == std::string_view::npos || second == 0) return std::nullopt;
  std::string_view start = rest.substr(last + 1);
  std::string_view id = rest.substr(second + 1, last - second - 1);
  if (!digits(start) || !digits(id)) return std::nullopt;
  MigDeviceRef ref;
  ref.minor = static_cast<uint32_t>(std::stoul(std::string(name.substr(4, mig - 4))));
  ref.profile = std::string(rest.substr(0, second));
  ref.profile_id = static_cast<uint32_t>(std::stoul(std::string(id)));
  ref.placement_start = static_cast<uint32_t>(std::stoul(std::string(start)));
  return ref;
}

Result<std::vector<api::ResourceSlice>> BuildSlices(const gpu::NodeInventory& inventory,
                                                    const SliceOptions& options) {
  if (inventory.node_name.empty()) return MakeError("inventory has no node name");
  if (options.max_devices_per_slice == 0 || options.max_counter_sets_per_slice == 0) {
    return MakeError("slice limits must be positive");
  }
  std::vector<GpuPublication> pubs;
  for (const gpu::GpuInfo& g : inventory.gpus) {
    MIGDRA_ASSIGN_OR_RETURN(GpuPublication pub, PublishGpu(inventory, g, options));
    OrderForFirstFit(pub.devices);
    pubs.push_back(std::move(pub));
  }
  std::vector<api::ResourceSlice> slices;
  if (options.layout == SliceLayout::kCombined) {
    for (size_t i = 0; i < pubs.size(); ++i) {
      GpuPublication& pub = pubs[i];
      if (pub.counters && pub.devices.size() > options.max_devices_per_slice) {
        return MakeError("GPU " + std::to_string(inventory.gpus[i].minor) + " has " +
                         std::to_string(pub.devices.size()) +
                         " devices consuming counters; the combined (1.34) layout allows " +
                         std::to_string(options.max_devices_per_slice) + " in its one slice");
      }
      for (size_t first = 0; first < pub.devices.size() || first == 0;
           first += options.max_devices_per_slice) {
        api::ResourceSlice s = NewSlice(inventory, options);
        if (first == 0 && pub.counters) s.spec.shared_counters.push_back(*pub.counters);
        size_t last = std::min(pub.devices.size(), first + options.max_devices_per_slice);
        s.spec.devices.assign(pub.devices.begin() + static_cast<long>(first),
                              pub.devices.begin() + static_cast<long>(last));
        slices.push_back(std::move(s));
        if (last >= pub.devices.size()) break;
      }
    }
  } else {
    std::vector<CounterSet> sets;
    for (GpuPublication& pub : pubs) {
      if (pub.counters) sets.push_back(*pub.counters);
    }
    for (size_t first = 0; first < sets.size(); first += options.max_counter_sets_per_slice) {
      api::ResourceSlice s = NewSlice(inventory, options);
      size_t last = std::min(sets.size(), first + options.max_counter_sets_per_slice);
      s.spec.shared_counters.assign(sets.begin() + static_cast<long>(first),
                                    sets.begin() + static_cast<long>(last));
      slices.push_back(std::move(s));
    }
    for (GpuPublication& pub : pubs) {
      for (size_t first = 0; first < pub.devices.size(); first += options.max_devices_per_slice) {
        api::ResourceSlice s = NewSlice(inventory, options);
        size_t last = std::min(pub.devices.size(), first + options.max_devices_per_slice);
        s.spec.devices.assign(pub.devices.begin() + static_cast<long>(first),
                              pub.devices.begin() + static_cast<long>(last));
        slices.push_back(std::move(s));
      }
    }
  }
  const int width = slices.size() > 999 ? 4 : 3;
  for (size_t i = 0; i < slices.size(); ++i) {
    char suffix[32];
    std::snprintf(suffix, sizeof(suffix), "%0*zu", width, i);
    slices[i].metadata.name = inventory.node_name + "-" + options.driver + "-" + suffix;
    slices[i].spec.pool.resource_slice_count = static_cast<int64_t>(slices.size());
  }
  return slices;
}

}  // namespace migdra::driver
