// The kinds of a driver's installation manifests (deployments/kubernetes/), which migdra
// validates but neither serves nor acts on: v1 ServiceAccount, rbac.authorization.k8s.io/v1
// ClusterRole, ClusterRoleBinding, Role, RoleBinding, and apps/v1 DaemonSet.
//
// ValidateInstallObject checks one decoded document (ParseDocuments) as the API server would on
// create, with errors in validation.h's format and field paths:
// - strict decoding, like kubectl's default --validate=strict: an unknown field is an error
//   "unknown field" at its full path, a value of the wrong JSON type "expected string, got
//   number". Every field of these kinds and of the parts of a pod template that installations
//   use (containers, volumes, volume mounts, env, probes, ports, security context, resources,
//   tolerations) is known; the rest of a pod spec (affinity, dnsConfig, ...) is accepted as is.
//   As on the API server, an object that does not decode strictly is not validated further.
// - metadata: name format of the kind (RBAC names: path segments; others: DNS subdomains),
//   namespace forbidden on cluster-scoped kinds, labels and annotations.
// - RBAC (pkg/apis/rbac/validation): every rule has verbs; resource rules name API groups and
//   resources; a rule is not both resource and non-resource; Roles have no non-resource rules;
//   roleRef is rbac.authorization.k8s.io's ClusterRole (or Role, from a RoleBinding) with a
//   name; subjects are ServiceAccounts (core group, name, namespace), Users or Groups (rbac group).
// - DaemonSet (pkg/apis/apps/validation): a non-empty selector that selects the template's labels;
//   restartPolicy Always; updateStrategy RollingUpdate (maxUnavailable and maxSurge integers >= 0
//   or percentages up to 100%, not both zero) or OnDelete; the pod template as validation.h's Pod
//   rules, plus: volumes with unique DNS-label names and one source (hostPath: absolute path and
//   a known type), volume mounts naming a volume at unique absolute paths with a known
//   propagation (Bidirectional only in privileged containers), env names and valueFrom with one
//   source (fieldRef paths the downward API serves), ports 1..65535 with unique IANA names,
//   probes with exactly one handler whose port is a number or a named container port.
// Returns nullopt when the document is not one of these kinds (DecodeObject handles the others).
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace migdra::api {

std::optional<std::vector<Error>> ValidateInstallObject(const nlohmann::json& document);

}  // namespace migdra::api
