#include "gpu/inventory.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include <unistd.h>

namespace migdra::gpu {

namespace {

// The geometry NVML describes: grid = furthest placement end, compute slices = largest profile.
Geometry GeometryOf(std::vector<Profile> profiles) {
  Geometry g;
  for (const Profile& p : profiles) {
    for (const Placement& pl : p.placements) g.grid_units = std::max(g.grid_units, pl.end());
    g.compute_slices = std::max(g.compute_slices, p.compute_slices);
    g.memory_slices = std::max(g.memory_slices, p.memory_slices);
  }
  g.profiles = std::move(profiles);
  return g;
}

}  // namespace

Result<NodeInventory> ReadInventory(Nvml& nvml, const std::string& node_name) {
  NodeInventory inventory;
  inventory.node_name = node_name;
  inventory.simulated = nvml.simulated();
  MIGDRA_ASSIGN_OR_RETURN(inventory.driver_version, nvml.DriverVersion());
  MIGDRA_ASSIGN_OR_RETURN(inventory.cuda_driver_version, nvml.CudaDriverVersion());
  MIGDRA_ASSIGN_OR_RETURN(uint32_t count, nvml.DeviceCount());
  for (uint32_t i = 0; i < count; ++i) {
    MIGDRA_ASSIGN_OR_RETURN(DeviceIdentity id, nvml.Identity(i));
    GpuInfo gpu;
    gpu.index = i;
    gpu.minor = id.minor;
    gpu.uuid = id.uuid;
    gpu.product_name = id.name;
    gpu.brand = id.brand_name;
    gpu.architecture = id.architecture_name;
    gpu.pci_bus_id = id.pci_bus_id;
    gpu.pci_device_id = id.pci_device_id;
    gpu.cc_major = id.cc_major;
    gpu.cc_minor = id.cc_minor;
    gpu.memory_bytes = id.memory_bytes;
    // Hopper is NVML architecture 9; later ones are larger.
    gpu.mig_mode_toggle_without_reset = id.architecture >= 9 && id.architecture != 0xffffffffu;
    MIGDRA_ASSIGN_OR_RETURN(gpu.mig, nvml.GetMigMode(i));
    if (gpu.mig.capable) {
      MIGDRA_ASSIGN_OR_RETURN(std::vector<Profile> profiles, nvml.GpuInstanceProfiles(i));
      gpu.geometry = GeometryOf(std::move(profiles));
      if (gpu.mig.current) {
        MIGDRA_ASSIGN_OR_RETURN(std::vector<GpuInstanceInfo> gis, nvml.GpuInstances(i));
        for (const GpuInstanceInfo& gi : gis) {
          MIGDRA_ASSIGN_OR_RETURN(std::vector<ComputeInstanceInfo> cis,
                                  nvml.ComputeInstances(i, gi.id));
          if (cis.empty()) {
            gpu.instances.push_back({gi.id, -1, gi.profile_id, gi.placement, ""});
          }
          for (const ComputeInstanceInfo& ci : cis) {
            gpu.instances.push_back(
                {gi.id, static_cast<int>(ci.id), gi.profile_id, gi.placement, ci.uuid});
          }
        }
      }
    }
    inventory.gpus.push_back(std::move(gpu));
  }
  return inventory;
}

Result<NodeInventory> SimulatedInventory(std::string_view model_name, int count,
                                         const std::string& node_name) {
  MIGDRA_ASSIGN_OR_RETURN(const GpuModel* model, FindModel(model_name));
  if (count < 1) return MakeError("GPU count must be at least 1");
  NodeInventory inventory;
  inventory.node_name = node_name;
  inventory.simulated = true;
  inventory.driver_version = kSimulatedDriverVersion;
  inventory.cuda_driver_version = std::to_string(kSimulatedCudaDriverVersion / 1000) + "." +
                                  std::to_string((kSimulatedCudaDriverVersion % 1000) / 10);
  for (int i = 0; i < count; ++i) {
    const uint32_t index = static_cast<uint32_t>(i);
    GpuInfo gpu;
    gpu.index = index;
    gpu.minor = index;
    gpu.uuid = SimulatedGpuUuid(model->key, index);
    gpu.product_name = model->product_name;
    gpu.brand = model->brand == 13 ? "NvidiaRTX" : "Nvidia";
    gpu.architecture = ArchitectureName(model->architecture);
    std::string bus = SimulatedPciBusId(index);
    std::transform(bus.begin(), bus.end(), bus.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    gpu.pci_bus_id = bus.substr(4);
    gpu.pci_device_id = model->pci_device_id;
    gpu.cc_major = model->cc_major;
    gpu.cc_minor = model->cc_minor;
    gpu.memory_bytes = model->memory_bytes;
    gpu.mig_mode_toggle_without_reset = model->mig_mode_toggle_without_reset();
    gpu.mig.capable = true;
    gpu.mig.current = !gpu.mig_mode_toggle_without_reset;
    gpu.mig.pending = gpu.mig.current;
    gpu.geometry = model->geometry;
    inventory.gpus.push_back(std::move(gpu));
  }
  return inventory;
}

std::string LocalNodeName() {
  if (const char* node = std::getenv("NODE_NAME"); node != nullptr && *node != '\0') return node;
  char host[256] = {};
  std::string name;
  if (gethostname(host, sizeof(host) - 1) == 0) {
    for (const char* c = host; *c != '\0'; ++c) {
      unsigned char u = static_cast<unsigned char>(*c);
      if (std::isalnum(u) || *c == '-' || *c == '.') name += static_cast<char>(std::tolower(u));
    }
  }
  while (!name.empty() && !std::isalnum(static_cast<unsigned char>(name.front()))) name.erase(0, 1);
  while (!name.empty() && !std::isalnum(static_cast<unsigned char>(name.back()))) name.pop_back();
  return name.empty() ? "localhost" : name;
}

}  // namespace migdra::gpu
