// Typed decoding and encoding: one Fields() function per struct lists its wire names once, and
// is walked both by ObjectDecoder (JSON -> struct, strict) and ObjectEncoder (struct -> JSON).
#include "api/codec.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace migdra::api {
namespace {

using json = nlohmann::json;

// Every struct of the object model, for forward declarations and explicit instantiations.
#define MIGDRA_API_STRUCTS(X)                                                                    \
  X(TypeMeta)                                                                                    \
  X(OwnerReference)                                                                              \
  X(ObjectMeta) X(Condition) X(NodeSelectorRequirement) X(NodeSelectorTerm) X(NodeSelector) X(   \
      CELDeviceSelector) X(DeviceSelector) X(OpaqueDeviceConfiguration) X(DeviceConfiguration)   \
      X(DeviceClassConfiguration) X(DeviceClassSpec) X(DeviceClass) X(DeviceAttribute)           \
          X(CapacityRequestPolicyRange) X(CapacityRequestPolicy) X(DeviceCapacity) X(Counter) X( \
              CounterSet) X(DeviceCounterConsumption) X(DeviceTaint) X(Device) X(ResourcePool)   \
              X(ResourceSliceSpec) X(ResourceSlice) X(DeviceToleration) X(CapacityRequirements)  \
                  X(ExactDeviceRequest) X(DeviceSubRequest) X(DeviceRequest) X(DeviceConstraint) \
                      X(DeviceClaimConfiguration) X(DeviceClaim) X(ResourceClaimSpec)            \
                          X(DeviceAllocationConfiguration) X(DeviceRequestAllocationResult) X(   \
                              DeviceAllocationResult) X(AllocationResult)                        \
                              X(ResourceClaimConsumerReference) X(NetworkDeviceData) X(          \
                                  AllocatedDeviceStatus) X(ResourceClaimStatus) X(ResourceClaim) \
                                  X(ResourceClaimTemplateSpec) X(ResourceClaimTemplate) X(Taint) \
                                      X(NodeSpec) X(NodeStatus) X(Node) X(Namespace) X(EnvVar)   \
                                          X(ContainerResourceClaim) X(ResourceRequirements)      \
                                              X(Container) X(Toleration) X(PodResourceClaim)     \
                                                  X(PodSpec) X(ContainerStatus)                  \
                                                      X(PodResourceClaimStatus) X(PodStatus)     \
                                                          X(Pod) X(PodTemplateSpec) X(JobSpec)   \
                                                              X(JobStatus) X(Job)

#define MIGDRA_DECLARE_FIELDS(T) \
  template <class V>             \
  void Fields(V& v, T& o);
MIGDRA_API_STRUCTS(MIGDRA_DECLARE_FIELDS)
#undef MIGDRA_DECLARE_FIELDS

// Field flags.
constexpr unsigned kAlways = 1;  // encode even when empty (Go field without omitempty)

struct Ctx {
  bool strict;
  std::vector<Error>* errors;
};

std::string Child(const std::string& path, const char* key) {
  return path.empty() ? std::string(key) : path + "." + key;
}

const char* TypeName(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "number";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    default:
      return "unknown";
  }
}

void TypeError(Ctx& c, const std::string& path, const char* expected, const json& got) {
  c.errors->push_back(
      MakeError(std::string("expected ") + expected + ", got " + TypeName(got), path));
}

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

// ---- decoding --------------------------------------------------------------------------------

void Decode(const json& j, std::string& out, const std::string& path, Ctx& c);
void Decode(const json& j, int64_t& out, const std::string& path, Ctx& c);
void Decode(const json& j, int32_t& out, const std::string& path, Ctx& c);
void Decode(const json& j, bool& out, const std::string& path, Ctx& c);
void Decode(const json& j, Quantity& out, const std::string& path, Ctx& c);
void Decode(const json& j, std::vector<bool>& out, const std::string& path, Ctx& c);
template <class T>
void Decode(const json& j, std::optional<T>& out, const std::string& path, Ctx& c);
template <class T>
void Decode(const json& j, std::vector<T>& out, const std::string& path, Ctx& c);
template <class T>
void Decode(const json& j, std::map<std::string, T>& out, const std::string& path, Ctx& c);
template <class T>
requires std::is_class_v<T>
void Decode(const json& j, T& out, const std::string& path, Ctx& c);

class ObjectDecoder {
 public:
  ObjectDecoder(const json& object, const std::string& path, Ctx& ctx)
      : object_(object), path_(path), ctx_(ctx) {}

  template <class T>
  void operator()(const char* key, T& field, unsigned /*flags*/ = 0) {
    seen_.push_back(key);
    auto it = object_.find(key);
    if (it != object_.end()) Decode(*it, field, Child(path_, key), ctx_);
  }

  // A field holding arbitrary JSON (runtime.RawExtension), kept as compact JSON text.
  void Raw(const char* key, std::string& field, unsigned /*flags*/ = 0) {
    seen_.push_back(key);
    auto it = object_.find(key);
    if (it != object_.end() && !it->is_null())
      field = it->dump(-1, ' ', false, json::error_handler_t::replace);
  }

  // Every unlisted field is valid and kept in `extra` (core/v1, batch/v1 structs).
  void KeepUnknown(json& extra) {
    extra_ = &extra;
    keep_all_ = true;
  }
  // Only `names` are valid unlisted fields in strict mode; they are kept in `extra`.
  void KeepKnown(json& extra, std::initializer_list<const char*> names) {
    extra_ = &extra;
    known_ = names;
  }

  void Finish() {
    for (auto it = object_.begin(); it != object_.end(); ++it) {
      const std::string& key = it.key();
      if (std::any_of(seen_.begin(), seen_.end(), [&](const char* s) { return key == s; }))
        continue;
      bool known =
          std::any_of(known_.begin(), known_.end(), [&](const char* s) { return key == s; });
      if (extra_ != nullptr && (keep_all_ || known || !ctx_.strict)) {
        if (!extra_->is_object()) *extra_ = json::object();
        (*extra_)[key] = it.value();
      } else if (ctx_.strict) {
        ctx_.errors->push_back(MakeError("unknown field", Child(path_, key.c_str())));
      }
    }
  }

 private:
  const json& object_;
  const std::string& path_;
  Ctx& ctx_;
  std::vector<const char*> seen_;
  json* extra_ = nullptr;
  bool keep_all_ = false;
  std::vector<const char*> known_;
};

void Decode(const json& j, std::string& out, const std::string& path, Ctx& c) {
  if (j.is_null()) return;
  if (!j.is_string()) return TypeError(c, path, "string", j);
  out = j.get_ref<const std::string&>();
}

template <class Int>
void DecodeInteger(const json& j, Int& out, const std::string& path, Ctx& c) {
  if (j.is_null()) return;
  if (j.is_number_integer() && !j.is_number_unsigned()) {
    int64_t v = j.get<int64_t>();
    if (v >= std::numeric_limits<Int>::min() && v <= std::numeric_limits<Int>::max()) {
      out = static_cast<Int>(v);
      return;
    }
  } else if (j.is_number_unsigned()) {
    uint64_t v = j.get<uint64_t>();
    if (v <= static_cast<uint64_t>(std::numeric_limits<Int>::max())) {
      out = static_cast<Int>(v);
      return;
    }
  } else if (!j.is_number()) {
    return TypeError(c, path, "integer", j);
  }
  c.errors->push_back(MakeError(
      "expected " + std::to_string(sizeof(Int) * 8) + "-bit integer, got " + j.dump(), path));
}

void Decode(const json& j, int64_t& out, const std::string& path, Ctx& c) {
  DecodeInteger(j, out, path, c);
}
void Decode(const json& j, int32_t& out, const std::string& path, Ctx& c) {
  DecodeInteger(j, out, path, c);
}

void Decode(const json& j, bool& out, const std::string& path, Ctx& c) {
  if (j.is_null()) return;
  if (!j.is_boolean()) return TypeError(c, path, "boolean", j);
  out = j.get<bool>();
}

void Decode(const json& j, Quantity& out, const std::string& path, Ctx& c) {
  if (j.is_null()) return;
  std::string text;
  if (j.is_string()) {
    text = j.get_ref<const std::string&>();
  } else if (j.is_number()) {
    text = j.dump();
  } else {
    return TypeError(c, path, "quantity (string or number)", j);
  }
  Result<Quantity> q = Quantity::Parse(text);
  if (!q.ok()) {
    c.errors->push_back(MakeError(q.error().message, path));
    return;
  }
  out = *q;
}

// std::vector<bool> hands out proxies, not bool&: decoded item by item.
void Decode(const json& j, std::vector<bool>& out, const std::string& path, Ctx& c) {
  if (j.is_null()) return;
  if (!j.is_array()) return TypeError(c, path, "array", j);
  out.assign(j.size(), false);
  for (size_t i = 0; i < j.size(); ++i) {
    bool item = false;
    Decode(j[i], item, path + "[" + std::to_string(i) + "]", c);
    out[i] = item;
  }
}

template <class T>
void Decode(const json& j, std::optional<T>& out, const std::string& path, Ctx& c) {
  if (j.is_null()) return;
  Decode(j, out.emplace(), path, c);
}

template <class T>
void Decode(const json& j, std::vector<T>& out, const std::string& path, Ctx& c) {
  if (j.is_null()) return;
  if (!j.is_array()) return TypeError(c, path, "array", j);
  out.resize(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    Decode(j[i], out[i], path + "[" + std::to_string(i) + "]", c);
  }
}

template <class T>
void Decode(const json& j, std::map<std::string, T>& out, const std::string& path, Ctx& c) {
  if (j.is_null()) return;
  if (!j.is_object()) return TypeError(c, path, "object", j);
  for (auto it = j.begin(); it != j.end(); ++it) {
    Decode(it.value(), out[it.key()], path + "[" + it.key() + "]", c);
  }
}

template <class T>
requires std::is_class_v<T>
void Decode(const json& j, T& out, const std::string& path, Ctx& c) {
  if (j.is_null()) return;
  if (!j.is_object()) return TypeError(c, path, "object", j);
  ObjectDecoder decoder(j, path, c);
  Fields(decoder, out);
  decoder.Finish();
}

// ---- encoding --------------------------------------------------------------------------------

json Encode(const std::string& v) { return v; }
json Encode(int64_t v) { return v; }
json Encode(int32_t v) { return v; }
json Encode(bool v) { return v; }
json Encode(const Quantity& v) { return v.ToString(); }
template <class T>
json Encode(const std::optional<T>& v);
template <class T>
json Encode(const std::vector<T>& v);
template <class T>
json Encode(const std::map<std::string, T>& v);
template <class T>
requires std::is_class_v<T> json Encode(const T& v);

bool IsEmptyJson(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return true;
    case json::value_t::string:
      return j.get_ref<const std::string&>().empty();
    case json::value_t::boolean:
      return !j.get<bool>();
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return j.get<int64_t>() == 0;
    case json::value_t::array:
    case json::value_t::object:
      return j.empty();
    default:
      return false;
  }
}

class ObjectEncoder {
 public:
  explicit ObjectEncoder(json& out) : out_(out) {}

  template <class T>
  void operator()(const char* key, const T& field, unsigned flags = 0) {
    if constexpr (IsOptional<T>::value) {
      if (!field.has_value()) return;
      out_[key] = Encode(*field);
    } else {
      json value = Encode(field);
      if ((flags & kAlways) == 0 && IsEmptyJson(value)) return;
      out_[key] = std::move(value);
    }
  }

  void Raw(const char* key, const std::string& field, unsigned /*flags*/ = 0) {
    if (field.empty()) return;
    out_[key] = json::parse(field, nullptr, /*allow_exceptions=*/false);
    if (out_[key].is_discarded()) out_[key] = field;
  }

  void KeepUnknown(const json& extra) { Merge(extra); }
  void KeepKnown(const json& extra, std::initializer_list<const char*>) { Merge(extra); }

 private:
  void Merge(const json& extra) {
    if (!extra.is_object()) return;
    for (auto it = extra.begin(); it != extra.end(); ++it) {
      if (!out_.contains(it.key())) out_[it.key()] = it.value();
    }
  }
  json& out_;
};

template <class T>
json Encode(const std::optional<T>& v) {
  return v.has_value() ? Encode(*v) : json(nullptr);
}

template <class T>
json Encode(const std::vector<T>& v) {
  json out = json::array();
  for (const T& item : v) out.push_back(Encode(item));
  return out;
}

template <class T>
json Encode(const std::map<std::string, T>& v) {
  json out = json::object();
  for (const auto& [key, value] : v) out[key] = Encode(value);
  return out;
}

template <class T>
requires std::is_class_v<T> json Encode(const T& v) {
  json out = json::object();
  ObjectEncoder encoder(out);
  // Fields() is shared with the decoder and so takes a mutable reference; the encoder only reads.
  Fields(encoder, const_cast<T&>(v));
  return out;
}

// ---- the wire names --------------------------------------------------------------------------

template <class V>
void Fields(V& v, TypeMeta& o) {
  v("apiVersion", o.api_version);
  v("kind", o.kind);
}

template <class V>
void Fields(V& v, OwnerReference& o) {
  v("apiVersion", o.api_version);
  v("kind", o.kind);
  v("name", o.name);
  v("uid", o.uid);
  v("controller", o.controller);
  v("blockOwnerDeletion", o.block_owner_deletion);
}

template <class V>
void Fields(V& v, ObjectMeta& o) {
  v("name", o.name);
  v("generateName", o.generate_name);
  v("namespace", o.namespace_);
  v("uid", o.uid);
  v("resourceVersion", o.resource_version);
  v("generation", o.generation);
  v("creationTimestamp", o.creation_timestamp);
  v("deletionTimestamp", o.deletion_timestamp);
  v("deletionGracePeriodSeconds", o.deletion_grace_period_seconds);
  v("labels", o.labels);
  v("annotations", o.annotations);
  v("ownerReferences", o.owner_references);
  v("finalizers", o.finalizers);
  v.KeepKnown(o.extra, {"managedFields", "selfLink"});
}

template <class V>
void Fields(V& v, Condition& o) {
  v("type", o.type);
  v("status", o.status);
  v("observedGeneration", o.observed_generation);
  v("lastTransitionTime", o.last_transition_time);
  v("lastProbeTime", o.last_probe_time);
  v("reason", o.reason);
  v("message", o.message);
  v.KeepKnown(o.extra, {"lastHeartbeatTime", "lastUpdateTime"});
}

template <class V>
void Fields(V& v, NodeSelectorRequirement& o) {
  v("key", o.key);
  v("operator", o.op);
  v("values", o.values);
}

template <class V>
void Fields(V& v, NodeSelectorTerm& o) {
  v("matchExpressions", o.match_expressions);
  v("matchFields", o.match_fields);
}

template <class V>
void Fields(V& v, NodeSelector& o) {
  v("nodeSelectorTerms", o.node_selector_terms);
}

template <class V>
void Fields(V& v, CELDeviceSelector& o) {
  v("expression", o.expression);
}

template <class V>
void Fields(V& v, DeviceSelector& o) {
  v("cel", o.cel);
}

template <class V>
void Fields(V& v, OpaqueDeviceConfiguration& o) {
  v("driver", o.driver);
  v.Raw("parameters", o.parameters_json);
}

template <class V>
void Fields(V& v, DeviceConfiguration& o) {
  v("opaque", o.opaque);
}

template <class V>
void Fields(V& v, DeviceClassConfiguration& o) {
  v("opaque", o.opaque);
}

template <class V>
void Fields(V& v, DeviceClassSpec& o) {
  v("selectors", o.selectors);
  v("config", o.config);
  v("extendedResourceName", o.extended_resource_name);
}

template <class V>
void Fields(V& v, DeviceClass& o) {
  Fields(v, o.type_meta);
  v("metadata", o.metadata, kAlways);
  v("spec", o.spec, kAlways);
}

template <class V>
void Fields(V& v, DeviceAttribute& o) {
  v("int", o.int_value);
  v("bool", o.bool_value);
  v("string", o.string_value);
  v("version", o.version_value);
  v("bools", o.bool_values);
  v("ints", o.int_values);
  v("strings", o.string_values);
  v("versions", o.version_values);
}

template <class V>
void Fields(V& v, CapacityRequestPolicyRange& o) {
  v("min", o.min, kAlways);
  v("max", o.max);
  v("step", o.step);
}

template <class V>
void Fields(V& v, CapacityRequestPolicy& o) {
  v("default", o.default_value);
  v("validValues", o.valid_values);
  v("validRange", o.valid_range);
}

template <class V>
void Fields(V& v, DeviceCapacity& o) {
  v("value", o.value, kAlways);
  v("requestPolicy", o.request_policy);
}

template <class V>
void Fields(V& v, Counter& o) {
  v("value", o.value, kAlways);
}

template <class V>
void Fields(V& v, CounterSet& o) {
  v("name", o.name);
  v("counters", o.counters);
}

template <class V>
void Fields(V& v, DeviceCounterConsumption& o) {
  v("counterSet", o.counter_set);
  v("counters", o.counters);
}

template <class V>
void Fields(V& v, DeviceTaint& o) {
  v("key", o.key);
  v("value", o.value);
  v("effect", o.effect);
  v("timeAdded", o.time_added);
}

template <class V>
void Fields(V& v, Device& o) {
  v("name", o.name);
  v("attributes", o.attributes);
  v("capacity", o.capacity);
  v("consumesCounters", o.consumes_counters);
  v("nodeName", o.node_name);
  v("nodeSelector", o.node_selector);
  v("allNodes", o.all_nodes);
  v("taints", o.taints);
  v("bindsToNode", o.binds_to_node);
  v("bindingConditions", o.binding_conditions);
  v("bindingFailureConditions", o.binding_failure_conditions);
  v("allowMultipleAllocations", o.allow_multiple_allocations);
}

template <class V>
void Fields(V& v, ResourcePool& o) {
  v("name", o.name);
  v("generation", o.generation, kAlways);
  v("resourceSliceCount", o.resource_slice_count, kAlways);
}

template <class V>
void Fields(V& v, ResourceSliceSpec& o) {
  v("driver", o.driver);
  v("pool", o.pool, kAlways);
  v("nodeName", o.node_name);
  v("nodeSelector", o.node_selector);
  v("allNodes", o.all_nodes);
  v("perDeviceNodeSelection", o.per_device_node_selection);
  v("devices", o.devices);
  v("sharedCounters", o.shared_counters);
}

template <class V>
void Fields(V& v, ResourceSlice& o) {
  Fields(v, o.type_meta);
  v("metadata", o.metadata, kAlways);
  v("spec", o.spec, kAlways);
}

template <class V>
void Fields(V& v, DeviceToleration& o) {
  v("key", o.key);
  v("operator", o.op);
  v("value", o.value);
  v("effect", o.effect);
  v("tolerationSeconds", o.toleration_seconds);
}

template <class V>
void Fields(V& v, CapacityRequirements& o) {
  v("requests", o.requests);
}

template <class V>
void Fields(V& v, ExactDeviceRequest& o) {
  v("deviceClassName", o.device_class_name);
  v("selectors", o.selectors);
  v("allocationMode", o.allocation_mode);
  v("count", o.count);
  v("adminAccess", o.admin_access);
  v("tolerations", o.tolerations);
  v("capacity", o.capacity);
}

template <class V>
void Fields(V& v, DeviceSubRequest& o) {
  v("name", o.name);
  v("deviceClassName", o.device_class_name);
  v("selectors", o.selectors);
  v("allocationMode", o.allocation_mode);
  v("count", o.count);
  v("tolerations", o.tolerations);
  v("capacity", o.capacity);
}

template <class V>
void Fields(V& v, DeviceRequest& o) {
  v("name", o.name);
  v("exactly", o.exactly);
  v("firstAvailable", o.first_available);
}

template <class V>
void Fields(V& v, DeviceConstraint& o) {
  v("requests", o.requests);
  v("matchAttribute", o.match_attribute);
  v("distinctAttribute", o.distinct_attribute);
}

template <class V>
void Fields(V& v, DeviceClaimConfiguration& o) {
  v("requests", o.requests);
  v("opaque", o.opaque);
}

template <class V>
void Fields(V& v, DeviceClaim& o) {
  v("requests", o.requests);
  v("constraints", o.constraints);
  v("config", o.config);
}

template <class V>
void Fields(V& v, ResourceClaimSpec& o) {
  v("devices", o.devices);
}

template <class V>
void Fields(V& v, DeviceAllocationConfiguration& o) {
  v("source", o.source);
  v("requests", o.requests);
  v("opaque", o.opaque);
}

template <class V>
void Fields(V& v, DeviceRequestAllocationResult& o) {
  v("request", o.request);
  v("driver", o.driver);
  v("pool", o.pool);
  v("device", o.device);
  v("adminAccess", o.admin_access);
  v("tolerations", o.tolerations);
  v("bindingConditions", o.binding_conditions);
  v("bindingFailureConditions", o.binding_failure_conditions);
  v("shareID", o.share_id);
  v("consumedCapacity", o.consumed_capacity);
}

template <class V>
void Fields(V& v, DeviceAllocationResult& o) {
  v("results", o.results);
  v("config", o.config);
}

template <class V>
void Fields(V& v, AllocationResult& o) {
  v("devices", o.devices);
  v("nodeSelector", o.node_selector);
  v("allocationTimestamp", o.allocation_timestamp);
}

template <class V>
void Fields(V& v, ResourceClaimConsumerReference& o) {
  v("apiGroup", o.api_group);
  v("resource", o.resource);
  v("name", o.name);
  v("uid", o.uid);
}

template <class V>
void Fields(V& v, NetworkDeviceData& o) {
  v("interfaceName", o.interface_name);
  v("ips", o.ips);
  v("hardwareAddress", o.hardware_address);
}

template <class V>
void Fields(V& v, AllocatedDeviceStatus& o) {
  v("driver", o.driver);
  v("pool", o.pool);
  v("device", o.device);
  v("shareID", o.share_id);
  v("conditions", o.conditions);
  v.Raw("data", o.data_json);
  v("networkData", o.network_data);
}

template <class V>
void Fields(V& v, ResourceClaimStatus& o) {
  v("allocation", o.allocation);
  v("reservedFor", o.reserved_for);
  v("devices", o.devices);
}

template <class V>
void Fields(V& v, ResourceClaim& o) {
  Fields(v, o.type_meta);
  v("metadata", o.metadata, kAlways);
  v("spec", o.spec, kAlways);
  v("status", o.status);
}

template <class V>
void Fields(V& v, ResourceClaimTemplateSpec& o) {
  v("metadata", o.metadata);
  v("spec", o.spec, kAlways);
}

template <class V>
void Fields(V& v, ResourceClaimTemplate& o) {
  Fields(v, o.type_meta);
  v("metadata", o.metadata, kAlways);
  v("spec", o.spec, kAlways);
}

template <class V>
void Fields(V& v, Taint& o) {
  v("key", o.key);
  v("value", o.value);
  v("effect", o.effect);
  v("timeAdded", o.time_added);
}

template <class V>
void Fields(V& v, NodeSpec& o) {
  v("taints", o.taints);
  v("unschedulable", o.unschedulable);
  v.KeepUnknown(o.extra);
}

template <class V>
void Fields(V& v, NodeStatus& o) {
  v("capacity", o.capacity);
  v("allocatable", o.allocatable);
  v("conditions", o.conditions);
  v.KeepUnknown(o.extra);
}

template <class V>
void Fields(V& v, Node& o) {
  Fields(v, o.type_meta);
  v("metadata", o.metadata, kAlways);
  v("spec", o.spec, kAlways);
  v("status", o.status);
  v.KeepUnknown(o.extra);
}

template <class V>
void Fields(V& v, Namespace& o) {
  Fields(v, o.type_meta);
  v("metadata", o.metadata, kAlways);
  v.KeepUnknown(o.extra);
}

template <class V>
void Fields(V& v, EnvVar& o) {
  v("name", o.name);
  v("value", o.value);
  v.KeepUnknown(o.extra);
}

template <class V>
void Fields(V& v, ContainerResourceClaim& o) {
  v("name", o.name);
  v("request", o.request);
}

template <class V>
void Fields(V& v, ResourceRequirements& o) {
  v("claims", o.claims);
  v.KeepUnknown(o.extra);
}

template <class V>
void Fields(V& v, Container& o) {
  v("name", o.name);
  v("image", o.image);
  v("command", o.command);
  v("args", o.args);
  v("env", o.env);
  v("workingDir", o.working_dir);
  v("resources", o.resources);
  v.KeepUnknown(o.extra);
}

template <class V>
void Fields(V& v, Toleration& o) {
  v("key", o.key);
  v("operator", o.op);
  v("value", o.value);
  v("effect", o.effect);
  v("tolerationSeconds", o.toleration_seconds);
}

template <class V>
void Fields(V& v, PodResourceClaim& o) {
  v("name", o.name);
  v("resourceClaimName", o.resource_claim_name);
  v("resourceClaimTemplateName", o.resource_claim_template_name);
}

template <class V>
void Fields(V& v, PodSpec& o) {
  v("initContainers", o.init_containers);
  v("containers", o.containers);
  v("restartPolicy", o.restart_policy);
  v("nodeName", o.node_name);
  v("nodeSelector", o.node_selector);
  v("tolerations", o.tolerations);
  v("resourceClaims", o.resource_claims);
  v.KeepUnknown(o.extra);
}

template <class V>
void Fields(V& v, ContainerStatus& o) {
  v("name", o.name);
  v("ready", o.ready, kAlways);
  v("restartCount", o.restart_count, kAlways);
  v("image", o.image);
  v("containerID", o.container_id);
  v("started", o.started);
  v.KeepUnknown(o.extra);
}

template <class V>
void Fields(V& v, PodResourceClaimStatus& o) {
  v("name", o.name);
  v("resourceClaimName", o.resource_claim_name);
}

template <class V>
void Fields(V& v, PodStatus& o) {
  v("phase", o.phase);
  v("conditions", o.conditions);
  v("initContainerStatuses", o.init_container_statuses);
  v("containerStatuses", o.container_statuses);
  v("resourceClaimStatuses", o.resource_claim_statuses);
  v.KeepUnknown(o.extra);
}

template <class V>
void Fields(V& v, Pod& o) {
  Fields(v, o.type_meta);
  v("metadata", o.metadata, kAlways);
  v("spec", o.spec, kAlways);
  v("status", o.status);
  v.KeepUnknown(o.extra);
}

template <class V>
void Fields(V& v, PodTemplateSpec& o) {
  v("metadata", o.metadata);
  v("spec", o.spec);
}

template <class V>
void Fields(V& v, JobSpec& o) {
  v("template", o.template_, kAlways);
  v("completions", o.completions);
  v("parallelism", o.parallelism);
  v("backoffLimit", o.backoff_limit);
  v("activeDeadlineSeconds", o.active_deadline_seconds);
  v("ttlSecondsAfterFinished", o.ttl_seconds_after_finished);
  v.KeepUnknown(o.extra);
}

template <class V>
void Fields(V& v, JobStatus& o) {
  v("active", o.active);
  v("succeeded", o.succeeded);
  v("failed", o.failed);
  v("ready", o.ready);
  v("conditions", o.conditions);
  v("startTime", o.start_time);
  v("completionTime", o.completion_time);
  v.KeepUnknown(o.extra);
}

template <class V>
void Fields(V& v, Job& o) {
  Fields(v, o.type_meta);
  v("metadata", o.metadata, kAlways);
  v("spec", o.spec, kAlways);
  v("status", o.status);
  v.KeepUnknown(o.extra);
}

template <class T>
bool DecodeInto(const json& value, T& out, std::vector<Error>& errors, DecodeOptions options) {
  size_t before = errors.size();
  Ctx ctx{options.strict, &errors};
  try {
    Decode(value, out, std::string(), ctx);
  } catch (const std::exception& e) {
    errors.push_back(MakeError(std::string("decoding failed: ") + e.what()));
  }
  return errors.size() == before;
}

template <class T>
Result<AnyObject> DecodeAs(const json& document, std::vector<Error>& errors,
                           DecodeOptions options) {
  Result<AnyObject> result(AnyObject(std::in_place_type<T>));
  if (!DecodeInto(document, std::get<T>(*result), errors, options)) return errors.front();
  return result;
}

}  // namespace

template <class T>
Result<T> FromJson(const json& value, DecodeOptions options) {
  std::vector<Error> errors;
  T out;
  if (!DecodeInto(value, out, errors, options)) return errors.front();
  return out;
}

template <class T>
bool DecodeAll(const json& value, T& out, std::vector<Error>& errors, DecodeOptions options) {
  return DecodeInto(value, out, errors, options);
}

template <class T>
json ToJson(const T& object) {
  return Encode(object);
}

#define MIGDRA_INSTANTIATE(T)                                                      \
  template Result<T> FromJson<T>(const json&, DecodeOptions);                      \
  template bool DecodeAll<T>(const json&, T&, std::vector<Error>&, DecodeOptions); \
  template json ToJson<T>(const T&);
MIGDRA_API_STRUCTS(MIGDRA_INSTANTIATE)
#undef MIGDRA_INSTANTIATE

Result<AnyObject> DecodeObjectAll(const json& document, std::vector<Error>& errors,
                                  DecodeOptions options) {
  if (!document.is_object()) {
    errors.push_back(MakeError(std::string("expected object, got ") + TypeName(document)));
    return errors.back();
  }
  auto field = [&](const char* key) -> std::string {
    auto it = document.find(key);
    return it != document.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string api_version = field("apiVersion");
  std::string kind = field("kind");
  if (api_version.empty()) {
    errors.push_back(MakeError("Required value", "apiVersion"));
    return errors.back();
  }
  if (kind.empty()) {
    errors.push_back(MakeError("Required value", "kind"));
    return errors.back();
  }
  if (api_version == kResourceGroupVersion) {
    if (kind == "DeviceClass") return DecodeAs<DeviceClass>(document, errors, options);
    if (kind == "ResourceClaim") return DecodeAs<ResourceClaim>(document, errors, options);
    if (kind == "ResourceClaimTemplate")
      return DecodeAs<ResourceClaimTemplate>(document, errors, options);
    if (kind == "ResourceSlice") return DecodeAs<ResourceSlice>(document, errors, options);
  } else if (api_version == "v1") {
    if (kind == "Node") return DecodeAs<Node>(document, errors, options);
    if (kind == "Namespace") return DecodeAs<Namespace>(document, errors, options);
    if (kind == "Pod") return DecodeAs<Pod>(document, errors, options);
  } else if (api_version == "batch/v1") {
    if (kind == "Job") return DecodeAs<Job>(document, errors, options);
  }
  errors.push_back(
      MakeError("no kind \"" + kind + "\" is registered for version \"" + api_version + "\""));
  return errors.back();
}

Result<AnyObject> DecodeObject(const json& document, DecodeOptions options) {
  std::vector<Error> errors;
  return DecodeObjectAll(document, errors, options);
}

Result<std::vector<AnyObject>> DecodeObjects(std::string_view text, DecodeOptions options) {
  MIGDRA_ASSIGN_OR_RETURN(std::vector<json> documents, ParseDocuments(text));
  std::vector<AnyObject> objects;
  objects.reserve(documents.size());
  for (const json& document : documents) {
    MIGDRA_ASSIGN_OR_RETURN(AnyObject object, DecodeObject(document, options));
    objects.push_back(std::move(object));
  }
  return objects;
}

json ToJson(const AnyObject& object) {
  return std::visit([](const auto& o) { return Encode(o); }, object);
}

const TypeMeta& TypeMetaOf(const AnyObject& object) {
  return std::visit([](const auto& o) -> const TypeMeta& { return o.type_meta; }, object);
}

}  // namespace migdra::api
