// Finding and opening nvmlsim, migdra's stand-in for libnvidia-ml.so.1 on machines without a
// GPU (see src/nvmlsim/).
//
// The library is looked for at $MIGDRA_NVMLSIM_LIBRARY, beside the running executable, in the
// build tree (src/nvmlsim/ next to src/cli/) and in an install tree (lib/migdra/).
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "gpu/nvml.h"

namespace migdra::gpu {

// Opens nvmlsim simulating `models` ("a100-80gb:8,h100-80gb"), keeping its MIG state in
// `state_file` (empty: nvmlsim's default or $MIGDRA_NVMLSIM_STATE). Both are handed to the
// library before it initialises (Nvml::OpenSimulated), never through the environment, so
// this is safe while other threads run; as the library is loaded once per process, the first
// initialisation's choice holds until the last Nvml closes. The error names every path tried.
Result<std::unique_ptr<Nvml>> OpenSimulator(const std::string& models,
                                            const std::string& state_file = "");

}  // namespace migdra::gpu
