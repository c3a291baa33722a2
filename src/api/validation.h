// Validation of objects as the Kubernetes API server validates them on create.
//
// Validate(x) returns every problem found (empty = valid). Each Error has the field path in
// Kubernetes notation (`spec.devices.requests[0].exactly.count`; map keys as `attributes[type]`)
// and a message in the API server's own words, prefixed with the error type as `kubectl` prints
// it: "Required value", "Invalid value: \"x\": <why>", "Unsupported value: \"X\": supported values:
// \"All\", \"ExactCount\"", "Too many: 33: must have at most 32 items", "Too long: may not be more
// than 64 bytes", "Duplicate value: \"gpu\"", "Forbidden: <why>", "Not found: \"x\": <why>".
//
// Rules (upstream pkg/apis/resource/validation) for resource.k8s.io/v1:
// name formats (DNS label / subdomain, C identifiers, qualified and fully qualified names, label
// keys and values), every count limit, string and version lengths, semver 2.0.0, exactly-one-of
// unions, ExactCount vs All counts, requestPolicy, request references in constraints / config /
// results. The rules are those of Kubernetes 1.36: 64 devices per slice when any device has
// taints or consumesCounters; at most 8 counter sets of 32 counters; at most 2 consumesCounters
// entries per device; 16 taints with effect None allowed; and a slice holds `sharedCounters` or
// `devices`, not both (counter sets are pool-scoped, so whether a device's consumesCounters names
// an existing set and counter is the allocator's check, not the API server's). The API server
// tells an empty list from an absent one there; a decoded slice cannot, so `devices: []` beside
// counter sets is accepted. Defaulting is applied before the checks as the
// API server does (allocationMode "" = ExactCount, count absent = 1, toleration operator "" =
// Equal). A namespace is not required (kubectl fills it in), but is checked when present and
// forbidden on cluster-scoped kinds.
//
// For Pod and Job the basics migdra relies on: names, containers (required, DNS-label names,
// unique, image required), restart policy, and resource claims (exactly one source, every
// container claim names an entry of pod.spec.resourceClaims).
//
// CEL selectors are checked for length here; compiling them needs the cel module, which api may not
// use, so a caller that can compile passes ValidationOptions::check_cel.
//
// Thread safety: pure functions.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/batch.h"
#include "api/codec.h"
#include "api/core.h"
#include "api/resource.h"
#include "common/result.h"

namespace migdra::api {

struct ValidationOptions {
  // Compiles a CEL selector expression; returns the reason when it does not compile (reported as
  // `Invalid value: "<expr>": <reason>`), nullopt when it does. Unset: expressions are not
  // compiled.
  std::function<std::optional<std::string>(std::string_view expression)> check_cel;
};

std::vector<Error> Validate(const DeviceClass& object, const ValidationOptions& options = {});
std::vector<Error> Validate(const ResourceClaim& object, const ValidationOptions& options = {});
std::vector<Error> Validate(const ResourceClaimTemplate& object,
                            const ValidationOptions& options = {});
std::vector<Error> Validate(const ResourceSlice& object, const ValidationOptions& options = {});
std::vector<Error> Validate(const Node& object, const ValidationOptions& options = {});
std::vector<Error> Validate(const Namespace& object, const ValidationOptions& options = {});
std::vector<Error> Validate(const Pod& object, const ValidationOptions& options = {});
std::vector<Error> Validate(const Job& object, const ValidationOptions& options = {});
std::vector<Error> Validate(const AnyObject& object, const ValidationOptions& options = {});

// The size and format limits of metadata.labels, metadata.annotations and metadata.finalizers
// that every kind's Validate applies (label keys: qualified names, name part at most 63
// characters, DNS subdomain prefix at most 253; label values at most 63 in the label-value
// format; annotation keys qualified names, keys and values together at most 256 KiB; finalizers
// qualified names), with field paths under `path` ("metadata", "spec.template.metadata"). For
// callers that validate the rest of a kind themselves (serve's core and batch kinds).
std::vector<Error> ValidateMetadataMaps(const std::string& path, const ObjectMeta& meta);

// The ObjectMeta checks of a namespaced kind whose name is a DNS subdomain (name or generateName,
// namespace, labels, annotations, finalizers), at "metadata": for kinds without a model here
// whose contents the caller validates (serve's ConfigMaps and Secrets).
std::vector<Error> ValidateNamespacedObjectMeta(const ObjectMeta& meta);

// The checks Validate(Pod) applies to a pod, for a workload's pod template (spec.template of a
// DaemonSet, see install_kinds.h), with paths under `path`: the template metadata's labels and
// annotations, and the pod spec's rules with restartPolicy among Always, OnFailure and Never (the
// workload's own restriction is the caller's).
std::vector<Error> ValidatePodTemplate(const std::string& path, const PodTemplateSpec& pod);

// Name-format checks, returning the upstream messages (empty = valid); exposed for other modules
// that build names (device names, generated claim names, ...).
std::vector<std::string> IsDNS1123Label(std::string_view value);
std::vector<std::string> IsDNS1123Subdomain(std::string_view value);
std::vector<std::string> IsCIdentifier(std::string_view value);
std::vector<std::string> IsQualifiedName(std::string_view value);  // label keys
std::vector<std::string> IsValidLabelValue(std::string_view value);

}  // namespace migdra::api
