// core/v1 subsets migdra acts on: Namespace, Node and Pod. Owned by the api module.
//
// Unlike the resource.k8s.io/v1 kinds (decoded strictly), these kinds have many valid fields
// migdra does not act on (volumes, securityContext, node addresses, ...). The codecs (codec.h)
// keep such fields verbatim in the `extra` member of the struct they belong to and write them back
// unchanged, so a Pod read and written by migdra loses nothing. `extra` is a JSON object, or null
// when there is nothing to keep.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/meta.h"
#include "api/quantity.h"

namespace migdra::api {

struct Taint {
  std::string key;
  std::string value;
  std::string effect;  // NoSchedule | PreferNoSchedule | NoExecute
  std::string time_added;
};

struct NodeSpec {
  std::vector<Taint> taints;
  bool unschedulable = false;
  nlohmann::json extra;  // podCIDR, providerID, ...
};

struct NodeStatus {
  std::map<std::string, Quantity> capacity;
  std::map<std::string, Quantity> allocatable;
  std::vector<Condition> conditions;
  nlohmann::json extra;  // addresses, nodeInfo, images, ...
};

struct Node {
  TypeMeta type_meta{"v1", "Node"};
  ObjectMeta metadata;
  NodeSpec spec;
  NodeStatus status;
  nlohmann::json extra;
};

struct Namespace {
  TypeMeta type_meta{"v1", "Namespace"};
  ObjectMeta metadata;
  nlohmann::json extra;  // spec (finalizers), status (phase)
};

// ---- Pod -------------------------------------------------------------------------------------

struct EnvVar {
  std::string name;
  std::string value;
  nlohmann::json extra;  // valueFrom
};

// An entry of container.resources.claims (core/v1 ResourceClaim; renamed to avoid a clash with
// resource.k8s.io's ResourceClaim).
struct ContainerResourceClaim {
  std::string name;     // a pod.spec.resourceClaims[].name
  std::string request;  // optional: one request of that claim; empty = all
};

struct ResourceRequirements {
  std::vector<ContainerResourceClaim> claims;
  nlohmann::json extra;  // limits, requests (kept verbatim, not canonicalised)
};

struct Container {
  std::string name;
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::vector<EnvVar> env;
  std::string working_dir;
  ResourceRequirements resources;
  nlohmann::json extra;  // ports, volumeMounts, securityContext, imagePullPolicy, ...
};

struct Toleration {
  std::string key;
  std::string op;  // "operator": Exists | Equal
  std::string value;
  std::string effect;
  std::optional<int64_t> toleration_seconds;
};

// pod.spec.resourceClaims[]: exactly one of the two sources is set in a valid pod.
struct PodResourceClaim {
  std::string name;
  std::optional<std::string> resource_claim_name;
  std::optional<std::string> resource_claim_template_name;
};

struct PodSpec {
  std::vector<Container> init_containers;
  std::vector<Container> containers;
  std::string restart_policy;  // Always | OnFailure | Never
  std::string node_name;
  std::map<std::string, std::string> node_selector;
  std::vector<Toleration> tolerations;
  std::vector<PodResourceClaim> resource_claims;
  nlohmann::json extra;  // volumes, securityContext, affinity, ...
};

struct ContainerStatus {
  std::string name;
  bool ready = false;
  int32_t restart_count = 0;
  std::string image;
  std::string container_id;  // "containerID"
  std::optional<bool> started;
  nlohmann::json extra;  // state, lastState, imageID, ...
};

struct PodResourceClaimStatus {
  std::string name;
  std::optional<std::string> resource_claim_name;  // absent: no claim was needed
};

struct PodStatus {
  std::string phase;  // Pending | Running | Succeeded | Failed | Unknown
  std::vector<Condition> conditions;
  std::vector<ContainerStatus> init_container_statuses;
  std::vector<ContainerStatus> container_statuses;
  std::vector<PodResourceClaimStatus> resource_claim_statuses;
  nlohmann::json extra;  // hostIP, podIP, startTime, qosClass, ...
};

struct Pod {
  TypeMeta type_meta{"v1", "Pod"};
  ObjectMeta metadata;
  PodSpec spec;
  PodStatus status;
  nlohmann::json extra;
};

struct PodTemplateSpec {
  ObjectMeta metadata;
  PodSpec spec;
};

}  // namespace migdra::api
