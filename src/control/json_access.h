// Lenient reads of API objects held as JSON: a missing key or a value of another type reads as
// empty, which is what the controllers, the runner and the printers want of objects the store
// accepted (their own validation happens at write time).
//
// Thread safety: pure functions.
#pragma once

#include <initializer_list>
#include <string>

#include <nlohmann/json.hpp>

namespace migdra::control {

// j[key] when it is a string, else "".
inline std::string Str(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

// The value at `path` (object keys), or null when any step is missing.
inline const nlohmann::json& Field(const nlohmann::json& j,
                                   std::initializer_list<const char*> path) {
  static const nlohmann::json null_value;
  const nlohmann::json* cur = &j;
  for (const char* p : path) {
    if (!cur->is_object() || !cur->contains(p)) return null_value;
    cur = &(*cur)[p];
  }
  return *cur;
}

// The array at `path`, or an empty one when any step is missing or the value is not an array.
inline const nlohmann::json& ArrayAt(const nlohmann::json& j,
                                     std::initializer_list<const char*> path) {
  static const nlohmann::json empty = nlohmann::json::array();
  const nlohmann::json& v = Field(j, path);
  return v.is_array() ? v : empty;
}

}  // namespace migdra::control
