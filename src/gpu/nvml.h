// The NVML loader: libnvidia-ml.so.1 opened with dlopen at run time, so migdra builds and runs on
// machines without CUDA or a GPU. Only the NVML functions listed in nvml.cc are used; their
// declarations (nvml_abi.h) are checked against the real nvml.h on a GPU machine
// (tests/gpu/check_nvml_abi.sh).
//
// GPUs are addressed by NVML index (0..DeviceCount()-1); IndexOfMinor / IndexOfUuid map the
// identities the driver records. Device, GPU-instance and compute-instance handles are cached
// inside the object and never handed out.
//
// Errors: every NVML failure is an Error whose message reads
//   "<nvmlFunction>(<arguments>): <nvmlErrorString(code)> (<NVML_ERROR_NAME>)"
// e.g. "nvmlDeviceCreateGpuInstanceWithPlacement(gpu 0, profile 19, start 3): Insufficient
// Resources (NVML_ERROR_INSUFFICIENT_RESOURCES)". NvmlCode(error) recovers the code, so callers
// can treat NOT_FOUND / IN_USE / INSUFFICIENT_RESOURCES specially.
//
// Thread safety: an Nvml object serialises its NVML calls with an internal mutex; share one per
// process. Nothing here changes a GPU except the four lifecycle calls and SetMigMode, which only
// the driver's prepare/unprepare path calls.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "gpu/geometry.h"

namespace migdra::gpu {

// nvmlReturn_t values.
enum class NvmlReturn : int {
  kSuccess = 0,
  kUninitialized = 1,
  kInvalidArgument = 2,
  kNotSupported = 3,
  kNoPermission = 4,
  kAlreadyInitialized = 5,
  kNotFound = 6,
  kInsufficientSize = 7,
  kInsufficientPower = 8,
  kDriverNotLoaded = 9,
  kTimeout = 10,
  kIrqIssue = 11,
  kLibraryNotFound = 12,
  kFunctionNotFound = 13,
  kCorruptedInforom = 14,
  kGpuIsLost = 15,
  kResetRequired = 16,
  kOperatingSystem = 17,
  kLibRmVersionMismatch = 18,
  kInUse = 19,
  kMemory = 20,
  kNoData = 21,
  kVgpuEccNotSupported = 22,
  kInsufficientResources = 23,
  kFreqNotSupported = 24,
  kArgumentVersionMismatch = 25,
  kDeprecated = 26,
  kNotReady = 27,
  kGpuNotFound = 28,
  kInvalidState = 29,
  kUnknown = 999,
};

// "NVML_ERROR_INSUFFICIENT_RESOURCES" for kInsufficientResources, "NVML_SUCCESS" for kSuccess.
const char* NvmlReturnName(NvmlReturn code);
// The NVML code an Error from this loader carries; kUnknown for any other error.
NvmlReturn NvmlCode(const Error& error);

struct NvmlOptions {
  // Explicit path of the library (a file). Empty: search.
  std::string library_path;
  // Root of the driver installation (e.g. "/run/nvidia/driver"); the library is looked for in
  // its usr/lib64, usr/lib/x86_64-linux-gnu, usr/lib/aarch64-linux-gnu, lib64 and lib folders.
  // Empty: the dynamic loader's default search for "libnvidia-ml.so.1".
  std::string driver_root;
};

struct DeviceIdentity {
  uint32_t index = 0;
  uint32_t minor = 0;
  std::string uuid;            // "GPU-…"
  std::string name;            // "NVIDIA H100 80GB HBM3"
  std::string pci_bus_id;      // go-nvlib form: lower case, 4-digit domain, "0000:3b:00.0"
  uint32_t pci_device_id = 0;  // e.g. 0x233010DE
  uint64_t memory_bytes = 0;
  uint32_t architecture = 0;      // nvmlDeviceArchitecture_t
  std::string architecture_name;  // go-nvlib: "Ampere", "Hopper", "Blackwell", ...
  uint32_t brand = 0;             // nvmlBrandType_t
  std::string brand_name;         // go-nvlib: "Nvidia", "Tesla", ...
  int cc_major = 0;
  int cc_minor = 0;
};

struct MigMode {
  bool capable = false;  // false when NVML says NOT_SUPPORTED
  bool current = false;
  bool pending = false;
};

struct GpuInstanceInfo {
  uint32_t id = 0;          // GI id, unique on its GPU while it lives
  uint32_t profile_id = 0;  // NVML GI profile id
  Placement placement;
};

struct ComputeInstanceInfo {
  uint32_t id = 0;  // CI id inside its GI
  uint32_t gi_id = 0;
  uint32_t profile_id = 0;  // NVML CI profile id
  std::string uuid;         // the MIG device's UUID ("MIG-…")
};

// Result of SetMigMode: NVML's activation status and the mode read back afterwards.
struct MigModeChange {
  NvmlReturn activation_status = NvmlReturn::kSuccess;
  MigMode mode;
};

class Nvml {
 public:
  // Opens the library (see NvmlOptions), resolves every function and calls
  // nvmlInitWithFlags(NVML_INIT_FLAG_NO_GPUS). Fails with a message naming the paths tried or
  // the missing symbol.
  static Result<std::unique_ptr<Nvml>> Open(const NvmlOptions& options = {});
  // Opens nvmlsim at `library_path` simulating `models` ("a100-80gb:8") with its MIG state in
  // `state_file` (either empty: the library's environment decides). Both are handed to the
  // library (migdraNvmlsimConfigure) before it initialises, so no caller has to change the
  // process environment while other threads may read it. A library without that hook is opened
  // as by Open.
  static Result<std::unique_ptr<Nvml>> OpenSimulated(const std::string& library_path,
                                                     const std::string& models,
                                                     const std::string& state_file);
  ~Nvml();  // nvmlShutdown, then dlclose
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;

  // The file that was loaded.
  const std::string& library_path() const;
  // True when the loaded library is migdra's nvmlsim (it exports migdraNvmlsimDescribe).
  bool simulated() const;
  // nvmlsim's one-line description of what it simulates ("8 x a100-80gb (state …)"); empty for
  // real NVML.
  std::string simulation_description() const;

  Result<std::string> DriverVersion();      // "580.159.04"
  Result<std::string> CudaDriverVersion();  // "13.0" (major.minor)
  Result<uint32_t> DeviceCount();
  Result<DeviceIdentity> Identity(uint32_t index);
  Result<uint32_t> IndexOfMinor(uint32_t minor);
  Result<uint32_t> IndexOfUuid(const std::string& uuid);
  Result<MigMode> GetMigMode(uint32_t index);

  // Every GI profile NVML reports for GPU `index` (profile indexes 0..kProfileIndexCount-1;
  // NOT_SUPPORTED and INVALID_ARGUMENT indexes are skipped), with its possible placements, in
  // index order. `name` is MigProfileName(...) of the profile; compute/memory slices are derived
  // from the index and the placement size. Works with MIG mode disabled, as NVML does.
  Result<std::vector<Profile>> GpuInstanceProfiles(uint32_t index);
  // Existing GIs (MIG mode must be on; with it off the list is empty), ordered by GI id.
  Result<std::vector<GpuInstanceInfo>> GpuInstances(uint32_t index);
  // Existing GIs of one GI profile, ordered by GI id: one NVML query instead of one per profile
  // plus the profiles' own (GpuInstanceProfiles).
  Result<std::vector<GpuInstanceInfo>> GpuInstancesOfProfile(uint32_t index, uint32_t profile_id);
  // Existing CIs of GI `gi_id`, ordered by CI id.
  Result<std::vector<ComputeInstanceInfo>> ComputeInstances(uint32_t index, uint32_t gi_id);

  // ---- lifecycle (the driver's prepare/unprepare path only) ----------------------------------
  Result<MigModeChange> SetMigMode(uint32_t index, bool enabled);
  // nvmlDeviceCreateGpuInstanceWithPlacement with the profile's placement starting at `start`.
  Result<GpuInstanceInfo> CreateGpuInstance(uint32_t index, uint32_t profile_id, uint32_t start);
  // Creates the CI that spans the whole GI (CI profile with the GI's compute slices).
  Result<ComputeInstanceInfo> CreateComputeInstance(uint32_t index, uint32_t gi_id);
  Status DestroyComputeInstance(uint32_t index, uint32_t gi_id, uint32_t ci_id);
  // Fails with NVML_ERROR_IN_USE while the GI still has compute instances.
  Status DestroyGpuInstance(uint32_t index, uint32_t gi_id);

  struct Impl;

 private:
  explicit Nvml(std::unique_ptr<Impl> impl);
  // Open, calling `before_init(handle)` between loading the library and initialising it.
  static Result<std::unique_ptr<Nvml>> OpenWith(const NvmlOptions& options,
                                                const std::function<void(void*)>& before_init);
  std::unique_ptr<Impl> impl_;
};

}  // namespace migdra::gpu
