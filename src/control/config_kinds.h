// ConfigMaps and Secrets (core/v1) as the API server has them: defaulting, validation and the
// columns `kubectl get` prints, called from resources.cc's per-kind hooks and admission.cc. The
// key and base64 rules, shared with the pod runner, are api/config_data.h.
//
// Contract (upstream's ValidateConfigMap / ValidateSecret and the Secret conversion):
//  - Keys of data and binaryData: at most 253 characters of [-._a-zA-Z0-9], not "." or "..",
//    not starting with "..". A ConfigMap key may not be in both data and binaryData.
//  - Size: the values of a ConfigMap (data and binaryData decoded; field "[]") and the decoded
//    values of a Secret (field "data") at most 1 MiB together.
//  - Secret: stringData is merged into data (base64-encoded, its values win) and dropped, as
//    the API server does on every write, before validation (so its keys are checked as data's);
//    type defaults to Opaque and cannot change; the built-in types need their keys
//    (kubernetes.io/tls: tls.crt and tls.key; basic-auth: username or password; ssh-auth: a
//    non-empty ssh-privatekey; dockercfg / dockerconfigjson: the JSON document;
//    service-account-token: the kubernetes.io/service-account.name annotation).
//  - The types of the values (data strings; binaryData and Secret data base64 text) are the
//    decoder's, checked before any of this: wire_types.h.
//  - immutable: once true, data and binaryData (Secret: data) cannot change and immutable cannot
//    be unset.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/config_data.h"
#include "common/result.h"
#include "control/resources.h"

namespace migdra::control {

bool IsConfigKind(const ResourceInfo& info);  // configmaps, secrets
void DefaultConfigKind(const ResourceInfo& info, nlohmann::json& object);
// The causes of an Invalid error, as AdmissionCauses returns them; `old` is null on create.
std::vector<ErrorCause> ValidateConfigKind(const ResourceInfo& info, const nlohmann::json& object,
                                           const nlohmann::json& old);
nlohmann::json ConfigKindColumns(const ResourceInfo& info);
nlohmann::json ConfigKindRow(const ResourceInfo& info, const nlohmann::json& object);

}  // namespace migdra::control
