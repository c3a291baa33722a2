// core/v1 and batch/v1 subsets migdra acts on. Owned by the api module; see codec.h for how
// fields migdra does not model are preserved.
#pragma once

#include <map>
#include <string>
#include <vector>

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
};

struct NodeStatus {
  std::map<std::string, Quantity> capacity;
  std::map<std::string, Quantity> allocatable;
  std::vector<Condition> conditions;
};

struct Node {
  TypeMeta type_meta{"v1", "Node"};
  ObjectMeta metadata;
  NodeSpec spec;
  NodeStatus status;
};

struct Namespace {
  TypeMeta type_meta{"v1", "Namespace"};
  ObjectMeta metadata;
};

}  // namespace migdra::api
