// Strict decoding of the NVIDIA driver's opaque device configuration (apiVersion
// `resource.nvidia.com/v1beta1`, kinds GpuConfig and MigDeviceConfig), so that claims written for
// NVIDIA's driver keep working -- and so that a setting migdra cannot honour is refused with a
// clear error instead of being silently ignored.
//
// What migdra applies: time-slicing at the default interval (what a GPU or MIG device does anyway
// when processes share it). What it refuses: MPS, and time-slice intervals other than Default
// (they need nvidia-smi compute-policy and an MPS control daemon, which migdra does not run).
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "driver/claim_source.h"

namespace migdra::driver {

inline constexpr const char* kOpaqueConfigApiVersion = "resource.nvidia.com/v1beta1";

struct OpaqueConfig {
  std::string kind;      // GpuConfig | MigDeviceConfig
  std::string strategy;  // "" (no sharing section) | TimeSlicing | MPS
  std::string interval;  // time-slicing interval, GpuConfig only
};

// Decodes one config; unknown fields, wrong types and unknown enum values are errors whose field
// path points into the parameters.
Result<OpaqueConfig> DecodeOpaqueConfig(const std::string& parameters_json);

// Checks that `config` can be applied to a device (`is_mig` tells its type).
Status CheckApplicable(const OpaqueConfig& config, bool is_mig, const std::string& device);

// The configs (in order: class configs, then claim configs; later ones win) of `driver` that apply
// to the allocation result for `request` ("req" or "req/sub"), decoded. Configs of other drivers
// are skipped.
Result<std::vector<OpaqueConfig>> ConfigsForRequest(const std::vector<AllocatedConfig>& configs,
                                                    const std::string& driver,
                                                    const std::string& request);

}  // namespace migdra::driver
