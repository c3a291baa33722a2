// The bridge between the control plane's JSON objects and the api module's typed objects, for
// the scheduler, which hands typed objects to the allocator (validation: admission.h).
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/codec.h"
#include "control/resources.h"

namespace migdra::control {

// Lenient typed views of stored objects; nullopt when the object does not decode.
template <class T>
std::optional<T> Decode(const json& object) {
  Result<T> decoded = api::FromJson<T>(object, api::DecodeOptions{.strict = false});
  if (!decoded.ok()) return std::nullopt;
  return std::move(decoded).value();
}

}  // namespace migdra::control
