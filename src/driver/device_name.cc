#include "driver/device_name.h"

#include <regex>

namespace migdra::driver {
namespace {

bool ToInt(const std::string& s, int* out) {
  if (s.empty() || s.size() > 6 || (s.size() > 1 && s[0] == '0')) return false;
  *out = std::stoi(s);
  return true;
}

}  // namespace

Result<DeviceName> ParseDeviceName(const std::string& name) {
  static const std::regex kGpu("^gpu-([0-9]+)$");
  static const std::regex kMig("^gpu-([0-9]+)-mig-([a-z0-9]+(?:-[a-z0-9]+)*)-([0-9]+)-([0-9]+)$");
  std::smatch m;
  DeviceName d;
  if (std::regex_match(name, m, kGpu)) {
    if (ToInt(m[1], &d.gpu_minor)) return d;
  } else if (std::regex_match(name, m, kMig)) {
    d.is_mig = true;
    d.profile = m[2];
    if (ToInt(m[1], &d.gpu_minor) && ToInt(m[3], &d.gi_profile_id) &&
        ToInt(m[4], &d.placement_start)) {
      return d;
    }
  }
  return MakeError("device name " + name +
                   " is neither gpu-<minor> nor gpu-<minor>-mig-<profile>-<GI profile>-<start>");
}

}  // namespace migdra::driver
