// The kinds the control plane serves and their per-kind behaviour: discovery data, defaulting,
// and the server-side table columns `kubectl get` prints (validation: admission.h).
//
// Everything here is a pure function of its JSON input (plus the clock for ages); no state.
#pragma once

#include <string>
#include <vector>

#include "control/store.h"

namespace migdra::control {

struct ResourceInfo {
  std::string group;    // "" for the core group
  std::string version;  // "v1"
  std::string plural;   // "resourceclaims"
  std::string singular;
  std::string kind;
  bool namespaced = true;
  std::vector<std::string> short_names;
  std::vector<std::string> subresources;  // "status", "log"
  std::vector<std::string> categories;

  // "resourceclaims.resource.k8s.io", or "pods" for the core group: the store key.
  std::string StoreKey() const { return group.empty() ? plural : plural + "." + group; }
  std::string GroupVersion() const { return group.empty() ? version : group + "/" + version; }
  bool HasSubresource(const std::string& name) const;
};

const std::vector<ResourceInfo>& AllResources();
const ResourceInfo* FindResource(const std::string& group, const std::string& version,
                                 const std::string& plural);

// Fills in the defaults the API server applies on create (and on update for fields that must
// not be empty), e.g. Job selectors and pod-template labels, claim request counts.
void ApplyDefaults(const ResourceInfo& info, json& object);

// A meta.k8s.io/v1 Table of `objects` with the columns real clusters print for the kind.
// `include_object` is "None", "Metadata" (default) or "Object".
json BuildTable(const ResourceInfo& info, const std::vector<json>& objects,
                const std::string& include_object, const std::string& resource_version);

// Kubernetes' HumanDuration ("5s", "3m20s", "4h", "2d3h") of seconds elapsed.
std::string HumanDuration(long long seconds);
// Seconds since an RFC 3339 timestamp; -1 when the timestamp is empty or malformed.
long long SecondsSince(const std::string& rfc3339);

}  // namespace migdra::control
