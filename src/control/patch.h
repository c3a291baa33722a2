// The three patch formats of the Kubernetes API, applied to JSON objects.
//
// - JSON merge patch (RFC 7386), Content-Type application/merge-patch+json.
// - JSON patch (RFC 6902), application/json-patch+json.
// - Strategic merge patch, application/strategic-merge-patch+json, as `kubectl apply` and
//   `kubectl edit` send it for built-in kinds: lists with a patch merge key (containers by name,
//   conditions by type, ...) are merged element by element, `finalizers` as a set, and the
//   directives `$patch` (replace/delete/merge), `$retainKeys`, `$deleteFromPrimitiveList/<key>`
//   and `$setElementOrder/<key>` are honoured. Other lists are replaced.
//
// Each returns the patched document or a BadRequest/Invalid Error; inputs are not modified.
#pragma once

#include "control/store.h"

namespace migdra::control {

Result<json> ApplyMergePatch(const json& target, const json& patch);
Result<json> ApplyJsonPatch(const json& target, const json& patch);
Result<json> ApplyStrategicMergePatch(const json& target, const json& patch);

}  // namespace migdra::control
