// The bridge between the control plane's JSON objects and the api module's typed objects:
// strict decoding (unknown fields, wrong types with their field paths) for validation, and
// conversions for the scheduler, which hands typed objects to the allocator.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/codec.h"
#include "control/resources.h"

namespace migdra::control {

// Causes ([{reason, message, field}]) for fields of the wrong type or shape, as the typed
// decoder of the api module finds them. Unknown fields are not reported here.
json TypedValidate(const ResourceInfo& info, const json& object);

// Causes for metadata.labels / annotations / finalizers (and a Job's pod-template metadata) by the
// api module's limits (api::ValidateMetadataMaps), for the kinds TypedValidate does not cover;
// empty for those it does, which get the same checks there.
json MetadataCauses(const ResourceInfo& info, const json& object);

// Paths of fields the kind's typed schema does not know (resource.k8s.io kinds only; the core
// and batch kinds keep unmodelled fields verbatim, so nothing is unknown there).
std::vector<std::string> TypedUnknownFields(const ResourceInfo& info, const json& object);

// Lenient typed views of stored objects; nullopt when the object does not decode.
template <class T>
std::optional<T> Decode(const json& object) {
  Result<T> decoded = api::FromJson<T>(object, api::DecodeOptions{.strict = false});
  if (!decoded.ok()) return std::nullopt;
  return std::move(decoded).value();
}

}  // namespace migdra::control
