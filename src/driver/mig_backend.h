// The slice of NVML the prepare/unprepare state machine needs, as a small interface so that the
// state machine can be tested against an in-memory fake and run against the real NVML loader
// (nvml_mig_backend.h) in production.
//
// Identity: a GPU is named by its NVML minor number. A GPU instance (GI) is identified on its GPU
// by (GI profile id, placement start) -- a placement holds at most one GI -- and by its GI id,
// which NVML may reuse after destruction; a compute instance (CI) by its CI id inside its GI and
// by the MIG device UUID, which is never reused. Callers therefore compare UUIDs before
// destroying anything they recorded earlier.
//
// Thread safety: implementations must allow concurrent calls for different GPUs; callers
// serialise calls for one GPU.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace migdra::driver {

struct GpuInfo {
  int minor = 0;
  std::string uuid;
  std::string pci_bus_id;
  bool mig_capable = false;
  bool mig_enabled = false;
  // Hopper or newer: MIG mode can be switched without a GPU reset.
  bool mig_mode_toggle_supported = false;
};

// One live MIG instance: a GI and, when it has one, its CI (ci_id < 0 and uuid empty for a GI
// without a CI). A GI with several CIs is listed once per CI.
struct MigInstance {
  int gpu_minor = 0;
  int gi_id = -1;
  int ci_id = -1;
  int gi_profile_id = -1;
  int placement_start = -1;
  std::string uuid;
};

enum class MigCode {
  kOk,
  kNotFound,               // the instance is already gone
  kInUse,                  // a process still uses the instance; may succeed later
  kInsufficientResources,  // the placement is occupied or invalid
  kFailed,                 // anything else
};

struct MigStatus {
  MigCode code = MigCode::kOk;
  std::string message;
  bool ok() const { return code == MigCode::kOk; }
};

class MigBackend {
 public:
  virtual ~MigBackend() = default;

  virtual Result<std::vector<GpuInfo>> ListGpus() = 0;
  virtual Result<std::vector<MigInstance>> ListMigInstances(int gpu_minor) = 0;
  // The live instances whose GI has profile `gi_profile_id`: ListMigInstances narrowed to one
  // profile, for the prepare path (one NVML query instead of one per profile).
  virtual Result<std::vector<MigInstance>> ListMigInstancesOfProfile(int gpu_minor,
                                                                     int gi_profile_id) = 0;

  // Switches MIG mode; only called when the operator allowed it (--dynamic-mig=all).
  virtual MigStatus SetMigMode(int gpu_minor, bool enabled) = 0;

  // Creates a GI of `gi_profile_id` at the placement starting at `placement_start`.
  virtual MigStatus CreateGpuInstance(int gpu_minor, int gi_profile_id, int placement_start,
                                      int* gi_id) = 0;
  // Creates the full-size CI of GI `gi_id` and returns the new MIG device's UUID.
  virtual MigStatus CreateComputeInstance(int gpu_minor, int gi_id, int* ci_id,
                                          std::string* uuid) = 0;
  virtual MigStatus DestroyComputeInstance(int gpu_minor, int gi_id, int ci_id) = 0;
  virtual MigStatus DestroyGpuInstance(int gpu_minor, int gi_id) = 0;
};

}  // namespace migdra::driver
