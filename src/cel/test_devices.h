// Builders of device attributes for the DRA selector tests.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "api/resource.h"

namespace migdra::cel::testing {

inline api::DeviceAttribute Bool(bool v) {
  api::DeviceAttribute a;
  a.bool_value = v;
  return a;
}
inline api::DeviceAttribute Int(int64_t v) {
  api::DeviceAttribute a;
  a.int_value = v;
  return a;
}
inline api::DeviceAttribute Str(std::string v) {
  api::DeviceAttribute a;
  a.string_value = std::move(v);
  return a;
}
inline api::DeviceAttribute Version(std::string v) {
  api::DeviceAttribute a;
  a.version_value = std::move(v);
  return a;
}
inline api::DeviceAttribute Bools(std::vector<bool> v) {
  api::DeviceAttribute a;
  a.bool_values = std::move(v);
  return a;
}
inline api::DeviceAttribute Ints(std::vector<int64_t> v) {
  api::DeviceAttribute a;
  a.int_values = std::move(v);
  return a;
}
inline api::DeviceAttribute Strings(std::vector<std::string> v) {
  api::DeviceAttribute a;
  a.string_values = std::move(v);
  return a;
}
inline api::DeviceAttribute Versions(std::vector<std::string> v) {
  api::DeviceAttribute a;
  a.version_values = std::move(v);
  return a;
}

}  // namespace migdra::cel::testing
