// The OpenAPI documents of the served kinds, made from the schema the decoder and field
// validation use (api/schema.h), so `kubectl explain deviceclass.spec.selectors` describes exactly
// what serve accepts:
//
//   /openapi/v2                      Swagger 2.0: every definition and the served paths (JSON
//                                    only; a client that accepts only the protobuf encoding gets
//                                    404, as from a server without it, and falls back)
//   /openapi/v3                      the index: {"paths": {"apis/resource.k8s.io/v1":
//                                    {"serverRelativeURL": ".../apis/resource.k8s.io/v1?hash=H"}}}
//   /openapi/v3/api/v1, /openapi/v3/apis/GROUP/v1
//                                    OpenAPI 3.0 per group version: its paths (with the
//                                    fieldValidation, dryRun, fieldManager parameters kubectl
//                                    looks for before it relies on server-side validation) and
//                                    components.schemas; kinds carry
//                                    x-kubernetes-group-version-kind, lists their patch merge keys.
//
// Thread safety: documents are built once (thread-safe statics) and then only read.
#pragma once

#include <optional>
#include <string>

#include "control/store.h"

namespace migdra::control {

// The answer for `path` (starting with /openapi/); nullopt when there is no such document.
// `accept` is the request's Accept header.
std::optional<json> OpenApiDocument(const std::string& path, const std::string& accept);

}  // namespace migdra::control
