// MigBackend over the GPU module's NVML loader (real libnvidia-ml.so.1 or nvmlsim).
//
// Thread safety: gpu::Nvml serialises its own calls, so this may be used from several threads.
#pragma once

#include "driver/mig_backend.h"
#include "gpu/nvml.h"

namespace migdra::driver {

class NvmlMigBackend : public MigBackend {
 public:
  // `nvml` must outlive the backend.
  explicit NvmlMigBackend(gpu::Nvml* nvml) : nvml_(nvml) {}

  Result<std::vector<GpuInfo>> ListGpus() override;
  Result<std::vector<MigInstance>> ListMigInstances(int gpu_minor) override;
  Result<std::vector<MigInstance>> ListMigInstancesOfProfile(int gpu_minor,
                                                             int gi_profile_id) override;
  MigStatus SetMigMode(int gpu_minor, bool enabled) override;
  MigStatus CreateGpuInstance(int gpu_minor, int gi_profile_id, int placement_start,
                              int* gi_id) override;
  MigStatus CreateComputeInstance(int gpu_minor, int gi_id, int* ci_id, std::string* uuid) override;
  MigStatus DestroyComputeInstance(int gpu_minor, int gi_id, int ci_id) override;
  MigStatus DestroyGpuInstance(int gpu_minor, int gi_id) override;

 private:
  // The GIs `gis` of GPU `index` with their CIs.
  Result<std::vector<MigInstance>> WithComputeInstances(
      int gpu_minor, uint32_t index, const std::vector<gpu::GpuInstanceInfo>& gis);

  gpu::Nvml* nvml_;
};

}  // namespace migdra::driver
