// resource.k8s.io/v1: the Dynamic Resource Allocation kinds, in full (Kubernetes 1.34, plus the
// 1.35+ fields named in reference/k8s-dra-semantics.md §1).
//
// These are plain value types: decoding (codec.h) fills them strictly, validation (validation.h)
// checks the API server's rules, and the allocator reads them. Optional wire fields whose absence
// differs from their zero value are std::optional. Maps are std::map so iteration order (and
// therefore encoding) is deterministic.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "api/meta.h"
#include "api/quantity.h"

namespace migdra::api {

inline constexpr const char* kResourceGroupVersion = "resource.k8s.io/v1";

// ---- shared pieces ---------------------------------------------------------------------------

struct NodeSelectorRequirement {
  std::string key;
  std::string op;  // "operator" on the wire: In NotIn Exists DoesNotExist Gt Lt
  std::vector<std::string> values;
};

struct NodeSelectorTerm {
  std::vector<NodeSelectorRequirement> match_expressions;
  std::vector<NodeSelectorRequirement> match_fields;
};

struct NodeSelector {
  std::vector<NodeSelectorTerm> node_selector_terms;
};

struct CELDeviceSelector {
  std::string expression;
};

struct DeviceSelector {
  std::optional<CELDeviceSelector> cel;
};

// Opaque, driver-specific parameters: `parameters` holds the raw JSON text (a
// runtime.RawExtension), kept byte-for-byte canonical so round trips do not change it.
struct OpaqueDeviceConfiguration {
  std::string driver;
  std::string parameters_json;
};

struct DeviceConfiguration {
  std::optional<OpaqueDeviceConfiguration> opaque;
};

// ---- DeviceClass -----------------------------------------------------------------------------

struct DeviceClassConfiguration {
  std::optional<OpaqueDeviceConfiguration> opaque;
};

struct DeviceClassSpec {
  std::vector<DeviceSelector> selectors;
  std::vector<DeviceClassConfiguration> config;
  std::string extended_resource_name;
};

struct DeviceClass {
  TypeMeta type_meta{kResourceGroupVersion, "DeviceClass"};
  ObjectMeta metadata;
  DeviceClassSpec spec;
};

// ---- ResourceSlice ---------------------------------------------------------------------------

// Exactly one of the members is set in a valid attribute.
// Exactly one field is set. The list forms (Kubernetes 1.36 alpha, DRAListTypeAttributes) hold
// a non-empty set of values: matchAttribute needs the devices' sets to intersect,
// distinctAttribute needs them pairwise disjoint; a scalar counts as a set of one.
struct DeviceAttribute {
  std::optional<int64_t> int_value;                        // "int"
  std::optional<bool> bool_value;                          // "bool"
  std::optional<std::string> string_value;                 // "string"
  std::optional<std::string> version_value;                // "version" (semver 2.0.0)
  std::optional<std::vector<bool>> bool_values;            // "bools"
  std::optional<std::vector<int64_t>> int_values;          // "ints"
  std::optional<std::vector<std::string>> string_values;   // "strings"
  std::optional<std::vector<std::string>> version_values;  // "versions" (semver 2.0.0 each)
};

struct CapacityRequestPolicyRange {
  Quantity min;
  std::optional<Quantity> max;
  std::optional<Quantity> step;
};

struct CapacityRequestPolicy {
  std::optional<Quantity> default_value;  // "default"
  std::vector<Quantity> valid_values;
  std::optional<CapacityRequestPolicyRange> valid_range;
};

struct DeviceCapacity {
  Quantity value;
  std::optional<CapacityRequestPolicy> request_policy;
};

struct Counter {
  Quantity value;
};

struct CounterSet {
  std::string name;
  std::map<std::string, Counter> counters;
};

struct DeviceCounterConsumption {
  std::string counter_set;
  std::map<std::string, Counter> counters;
};

struct DeviceTaint {
  std::string key;
  std::string value;
  std::string effect;      // NoSchedule | NoExecute | None (1.35+)
  std::string time_added;  // RFC 3339
};

struct Device {
  std::string name;
  // Keys are QualifiedNames: "id" (implicitly in the driver's domain) or "domain/id".
  std::map<std::string, DeviceAttribute> attributes;
  std::map<std::string, DeviceCapacity> capacity;
  std::vector<DeviceCounterConsumption> consumes_counters;
  std::optional<std::string> node_name;
  std::optional<NodeSelector> node_selector;
  std::optional<bool> all_nodes;
  std::vector<DeviceTaint> taints;
  std::optional<bool> binds_to_node;
  std::vector<std::string> binding_conditions;
  std::vector<std::string> binding_failure_conditions;
  std::optional<bool> allow_multiple_allocations;
};

struct ResourcePool {
  std::string name;
  int64_t generation = 0;
  int64_t resource_slice_count = 0;
};

struct ResourceSliceSpec {
  std::string driver;
  ResourcePool pool;
  std::optional<std::string> node_name;
  std::optional<NodeSelector> node_selector;
  std::optional<bool> all_nodes;
  std::optional<bool> per_device_node_selection;
  std::vector<Device> devices;
  std::vector<CounterSet> shared_counters;
};

struct ResourceSlice {
  TypeMeta type_meta{kResourceGroupVersion, "ResourceSlice"};
  ObjectMeta metadata;
  ResourceSliceSpec spec;
};

// ---- ResourceClaim / ResourceClaimTemplate ---------------------------------------------------

struct DeviceToleration {
  std::string key;
  std::string op;  // "operator": Exists | Equal (default Equal)
  std::string value;
  std::string effect;
  std::optional<int64_t> toleration_seconds;
};

struct CapacityRequirements {
  std::map<std::string, Quantity> requests;
};

inline constexpr const char* kAllocationModeExactCount = "ExactCount";
inline constexpr const char* kAllocationModeAll = "All";

struct ExactDeviceRequest {
  std::string device_class_name;
  std::vector<DeviceSelector> selectors;
  std::string allocation_mode;   // empty means ExactCount
  std::optional<int64_t> count;  // absent means 1 for ExactCount
  std::optional<bool> admin_access;
  std::vector<DeviceToleration> tolerations;
  std::optional<CapacityRequirements> capacity;
};

struct DeviceSubRequest {
  std::string name;
  std::string device_class_name;
  std::vector<DeviceSelector> selectors;
  std::string allocation_mode;
  std::optional<int64_t> count;
  std::vector<DeviceToleration> tolerations;
  std::optional<CapacityRequirements> capacity;
};

struct DeviceRequest {
  std::string name;
  std::optional<ExactDeviceRequest> exactly;
  std::vector<DeviceSubRequest> first_available;
};

struct DeviceConstraint {
  std::vector<std::string> requests;
  std::optional<std::string> match_attribute;
  std::optional<std::string> distinct_attribute;
};

struct DeviceClaimConfiguration {
  std::vector<std::string> requests;
  std::optional<OpaqueDeviceConfiguration> opaque;
};

struct DeviceClaim {
  std::vector<DeviceRequest> requests;
  std::vector<DeviceConstraint> constraints;
  std::vector<DeviceClaimConfiguration> config;
};

struct ResourceClaimSpec {
  DeviceClaim devices;
};

inline constexpr const char* kConfigSourceFromClass = "FromClass";
inline constexpr const char* kConfigSourceFromClaim = "FromClaim";

struct DeviceAllocationConfiguration {
  std::string source;  // FromClass | FromClaim
  std::vector<std::string> requests;
  std::optional<OpaqueDeviceConfiguration> opaque;
};

struct DeviceRequestAllocationResult {
  std::string request;  // "req" or "req/sub"
  std::string driver;
  std::string pool;
  std::string device;
  std::optional<bool> admin_access;
  std::vector<DeviceToleration> tolerations;
  std::vector<std::string> binding_conditions;
  std::vector<std::string> binding_failure_conditions;
  std::optional<std::string> share_id;  // "shareID"
  std::map<std::string, Quantity> consumed_capacity;
};

struct DeviceAllocationResult {
  std::vector<DeviceRequestAllocationResult> results;
  std::vector<DeviceAllocationConfiguration> config;
};

struct AllocationResult {
  DeviceAllocationResult devices;
  std::optional<NodeSelector> node_selector;
  std::string allocation_timestamp;
};

struct ResourceClaimConsumerReference {
  std::string api_group;
  std::string resource;
  std::string name;
  std::string uid;
};

struct NetworkDeviceData {
  std::string interface_name;
  std::vector<std::string> ips;
  std::string hardware_address;
};

struct AllocatedDeviceStatus {
  std::string driver;
  std::string pool;
  std::string device;
  std::optional<std::string> share_id;
  std::vector<Condition> conditions;
  std::string data_json;  // raw JSON, empty when absent
  std::optional<NetworkDeviceData> network_data;
};

struct ResourceClaimStatus {
  std::optional<AllocationResult> allocation;
  std::vector<ResourceClaimConsumerReference> reserved_for;
  std::vector<AllocatedDeviceStatus> devices;
};

struct ResourceClaim {
  TypeMeta type_meta{kResourceGroupVersion, "ResourceClaim"};
  ObjectMeta metadata;
  ResourceClaimSpec spec;
  ResourceClaimStatus status;
};

struct ResourceClaimTemplateSpec {
  ObjectMeta metadata;
  ResourceClaimSpec spec;
};

struct ResourceClaimTemplate {
  TypeMeta type_meta{kResourceGroupVersion, "ResourceClaimTemplate"};
  ObjectMeta metadata;
  ResourceClaimTemplateSpec spec;
};

}  // namespace migdra::api
