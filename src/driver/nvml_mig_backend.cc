#include "driver/nvml_mig_backend.h"

namespace migdra::driver {
namespace {

// nvmlDeviceArchitecture_t: NVML_DEVICE_ARCH_HOPPER.
constexpr uint32_t kArchHopper = 9;

MigStatus FromError(const Error& e) {
  switch (gpu::NvmlCode(e)) {
    case gpu::NvmlReturn::kNotFound:
      return {MigCode::kNotFound, e.message};
    case gpu::NvmlReturn::kInUse:
      return {MigCode::kInUse, e.message};
    case gpu::NvmlReturn::kInsufficientResources:
      return {MigCode::kInsufficientResources, e.message};
    default:
      return {MigCode::kFailed, e.message};
  }
}

}  // namespace

Result<std::vector<GpuInfo>> NvmlMigBackend::ListGpus() {
  MIGDRA_ASSIGN_OR_RETURN(uint32_t count, nvml_->DeviceCount());
  std::vector<GpuInfo> gpus;
  for (uint32_t i = 0; i < count; ++i) {
    MIGDRA_ASSIGN_OR_RETURN(gpu::DeviceIdentity id, nvml_->Identity(i));
    MIGDRA_ASSIGN_OR_RETURN(gpu::MigMode mode, nvml_->GetMigMode(i));
    GpuInfo g;
    g.minor = static_cast<int>(id.minor);
    g.uuid = id.uuid;
    g.pci_bus_id = id.pci_bus_id;
    g.mig_capable = mode.capable;
    g.mig_enabled = mode.current;
    g.mig_mode_toggle_supported = id.architecture >= kArchHopper;
    gpus.push_back(std::move(g));
  }
  return gpus;
}

Result<std::vector<MigInstance>> NvmlMigBackend::ListMigInstances(int gpu_minor) {
  MIGDRA_ASSIGN_OR_RETURN(uint32_t index, nvml_->IndexOfMinor(static_cast<uint32_t>(gpu_minor)));
  MIGDRA_ASSIGN_OR_RETURN(auto gis, nvml_->GpuInstances(index));
  return WithComputeInstances(gpu_minor, index, gis);
}

Result<std::vector<MigInstance>> NvmlMigBackend::ListMigInstancesOfProfile(int gpu_minor,
                                                                           int gi_profile_id) {
  MIGDRA_ASSIGN_OR_RETURN(uint32_t index, nvml_->IndexOfMinor(static_cast<uint32_t>(gpu_minor)));
  MIGDRA_ASSIGN_OR_RETURN(
      auto gis, nvml_->GpuInstancesOfProfile(index, static_cast<uint32_t>(gi_profile_id)));
  return WithComputeInstances(gpu_minor, index, gis);
}

Result<std::vector<MigInstance>> NvmlMigBackend::WithComputeInstances(
    int gpu_minor, uint32_t index, const std::vector<gpu::GpuInstanceInfo>& gis) {
  std::vector<MigInstance> out;
  for (const auto& gi : gis) {
    MIGDRA_ASSIGN_OR_RETURN(auto cis, nvml_->ComputeInstances(index, gi.id));
    MigInstance base;
    base.gpu_minor = gpu_minor;
    base.gi_id = static_cast<int>(gi.id);
    base.gi_profile_id = static_cast<int>(gi.profile_id);
    base.placement_start = static_cast<int>(gi.placement.start);
    if (cis.empty()) out.push_back(base);
    for (const auto& ci : cis) {
      MigInstance m = base;
      m.ci_id = static_cast<int>(ci.id);
      m.uuid = ci.uuid;
      out.push_back(std::move(m));
    }
  }
  return out;
}

MigStatus NvmlMigBackend::SetMigMode(int gpu_minor, bool enabled) {
  auto index = nvml_->IndexOfMinor(static_cast<uint32_t>(gpu_minor));
  if (!index.ok()) return FromError(index.error());
  auto change = nvml_->SetMigMode(*index, enabled);
  if (!change.ok()) return FromError(change.error());
  if (change->mode.current != enabled) {
    return {MigCode::kFailed, "MIG mode change is pending (the GPU needs a reset)"};
  }
  return {};
}

MigStatus NvmlMigBackend::CreateGpuInstance(int gpu_minor, int gi_profile_id, int placement_start,
                                            int* gi_id) {
  auto index = nvml_->IndexOfMinor(static_cast<uint32_t>(gpu_minor));
  if (!index.ok()) return FromError(index.error());
  auto gi = nvml_->CreateGpuInstance(*index, static_cast<uint32_t>(gi_profile_id),
                                     static_cast<uint32_t>(placement_start));
  if (!gi.ok()) return FromError(gi.error());
  *gi_id = static_cast<int>(gi->id);
  return {};
}

MigStatus NvmlMigBackend::CreateComputeInstance(int gpu_minor, int gi_id, int* ci_id,
                                                std::string* uuid) {
  auto index = nvml_->IndexOfMinor(static_cast<uint32_t>(gpu_minor));
  if (!index.ok()) return FromError(index.error());
  auto ci = nvml_->CreateComputeInstance(*index, static_cast<uint32_t>(gi_id));
  if (!ci.ok()) return FromError(ci.error());
  *ci_id = static_cast<int>(ci->id);
  *uuid = ci->uuid;
  return {};
}

MigStatus NvmlMigBackend::DestroyComputeInstance(int gpu_minor, int gi_id, int ci_id) {
  auto index = nvml_->IndexOfMinor(static_cast<uint32_t>(gpu_minor));
  if (!index.ok()) return FromError(index.error());
  Status s = nvml_->DestroyComputeInstance(*index, static_cast<uint32_t>(gi_id),
                                           static_cast<uint32_t>(ci_id));
  return s.ok() ? MigStatus{} : FromError(s.error());
}

MigStatus NvmlMigBackend::DestroyGpuInstance(int gpu_minor, int gi_id) {
  auto index = nvml_->IndexOfMinor(static_cast<uint32_t>(gpu_minor));
  if (!index.ok()) return FromError(index.error());
  Status s = nvml_->DestroyGpuInstance(*index, static_cast<uint32_t>(gi_id));
  return s.ok() ? MigStatus{} : FromError(s.error());
}

}  // namespace migdra::driver
