// Device names the driver publishes and the scheduler hands back in allocation results:
//   gpu-<minor>                                             a whole GPU
//   gpu-<minor>-mig-<profile>-<GI profile id>-<placement start>  a MIG partition
// (reference/nvidia-dra-driver.md §1.4). The name alone identifies what to create, so a prepare
// can be rolled back from the name after a crash.
#pragma once

#include <string>

#include "common/result.h"

namespace migdra::driver {

struct DeviceName {
  bool is_mig = false;
  int gpu_minor = 0;
  std::string profile;  // "1g10gb" (dots dropped); empty for a whole GPU
  int gi_profile_id = -1;
  int placement_start = -1;
};

Result<DeviceName> ParseDeviceName(const std::string& name);

}  // namespace migdra::driver
