// The GPU inventory of a node: what the driver knows about every GPU — identity, MIG mode, the
// MIG profiles and placements it offers, and the MIG instances that exist. Read from NVML
// (ReadInventory) or synthesised from the catalog without NVML (SimulatedInventory), e.g. for
// benchmarks of 500 nodes × 8 GPUs.
//
// Thread safety: values only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "gpu/geometry.h"
#include "gpu/nvml.h"

namespace migdra::gpu {

// An existing MIG device: a GI and (ci_id >= 0) its CI.
struct MigInstanceInfo {
  uint32_t gi_id = 0;
  int ci_id = -1;
  uint32_t profile_id = 0;
  Placement placement;
  std::string uuid;  // empty for a GI without a CI
};

struct GpuInfo {
  uint32_t index = 0;
  uint32_t minor = 0;
  std::string uuid;
  std::string product_name;
  std::string brand;         // go-nvlib name, "Nvidia"
  std::string architecture;  // go-nvlib name, "Hopper"
  std::string pci_bus_id;    // "0000:3b:00.0"
  uint32_t pci_device_id = 0;
  int cc_major = 0;
  int cc_minor = 0;
  uint64_t memory_bytes = 0;
  MigMode mig;
  // Hopper and newer can switch MIG mode without a reset.
  bool mig_mode_toggle_without_reset = false;
  // MIG geometry as NVML reports it (empty when not MIG capable).
  Geometry geometry;
  std::vector<MigInstanceInfo> instances;
};

struct NodeInventory {
  std::string node_name;
  std::string driver_version;       // "580.159.04"
  std::string cuda_driver_version;  // "13.0"
  bool simulated = false;
  std::vector<GpuInfo> gpus;  // ordered by NVML index
};

// This machine's node name: $NODE_NAME when set (a kubelet plugin's DaemonSet passes it), else
// the host name in lower case without the characters a node name cannot hold, else "localhost".
std::string LocalNodeName();

// Reads every GPU through `nvml`. Geometry comes from NVML; grid_units is the largest placement
// size, compute_slices the largest profile's compute slices.
Result<NodeInventory> ReadInventory(Nvml& nvml, const std::string& node_name);

// `count` GPUs of catalog model `model` (FindModel spelling), MIG mode as nvmlsim starts it
// (enabled on Ampere, disabled on Hopper and newer), no instances, deterministic UUIDs and PCI
// bus ids — the same identities nvmlsim reports for that configuration.
Result<NodeInventory> SimulatedInventory(std::string_view model, int count,
                                         const std::string& node_name);

// The deterministic identities shared by nvmlsim and SimulatedInventory.
std::string SimulatedGpuUuid(std::string_view model_key, uint32_t index);
std::string SimulatedPciBusId(uint32_t index);  // NVML form "00000000:XX:00.0"
inline constexpr const char* kSimulatedDriverVersion = "580.159.04";
inline constexpr int kSimulatedCudaDriverVersion = 13000;

}  // namespace migdra::gpu
