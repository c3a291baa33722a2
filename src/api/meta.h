// Object metadata shared by every Kubernetes kind (k8s.io/apimachinery meta/v1).
//
// Field names follow the Go types in snake_case; the JSON/YAML codecs (codec.h) map them to the
// wire's camelCase names. Values only; no shared state.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace migdra::api {

struct TypeMeta {
  std::string api_version;  // "resource.k8s.io/v1"
  std::string kind;         // "ResourceClaim"
};

struct OwnerReference {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string uid;
  std::optional<bool> controller;
  std::optional<bool> block_owner_deletion;
};

struct ObjectMeta {
  std::string name;
  std::string generate_name;
  std::string namespace_;  // "namespace" on the wire
  std::string uid;
  std::string resource_version;
  int64_t generation = 0;
  std::string creation_timestamp;  // RFC 3339, empty when unset
  std::string deletion_timestamp;  // RFC 3339, empty when unset
  std::optional<int64_t> deletion_grace_period_seconds;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<OwnerReference> owner_references;
  std::vector<std::string> finalizers;
  // Valid metadata fields migdra does not model (managedFields, selfLink, ...), kept verbatim so
  // that an object written back is unchanged. A JSON object, or null when there are none.
  nlohmann::json extra;
};

// A condition as in metav1.Condition (used by Pods, Jobs and device status).
struct Condition {
  std::string type;
  std::string status;  // "True" | "False" | "Unknown"
  int64_t observed_generation = 0;
  std::string last_transition_time;
  std::string last_probe_time;  // Pod/Job conditions only
  std::string reason;
  std::string message;
  // Fields of other condition flavours (a Node's lastHeartbeatTime, ...), kept verbatim.
  nlohmann::json extra;
};

}  // namespace migdra::api
