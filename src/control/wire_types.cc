#include "control/wire_types.h"

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/config_data.h"
#include "api/quantity.h"
#include "api/schema.h"
#include "control/go_json.h"

namespace migdra::control {
namespace {

// A struct field: its JSON name and its Go type. A type is "[]T", "map[string]T", a struct of
// the table below, an opaque object (OpaqueObjects), "resource.Quantity", "v1.ResourceList" (a
// map[string]resource.Quantity), "int32", "int64", "bool", or else a string type ("string",
// "v1.RestartPolicy", "types.UID", "v1.Time", ...). A leading '*' (Go pointer) changes nothing
// but is dropped from messages, as Go's decoder reports the pointee. Keys may carry a "group/"
// prefix to tell apart Go types printed alike (core v1.ResourceClaim and resource.k8s.io
// v1.ResourceClaim); the prefix is not printed.
struct FieldType {
  const char* json;
  const char* go;
};

using StructTable = std::map<std::string_view, std::vector<FieldType>>;

const StructTable& Structs() {
  static const StructTable table = {
      // meta/v1
      {"v1.ObjectMeta",
       {{"name", "string"},
        {"generateName", "string"},
        {"namespace", "string"},
        {"selfLink", "string"},
        {"uid", "types.UID"},
        {"resourceVersion", "string"},
        {"generation", "int64"},
        {"creationTimestamp", "v1.Time"},
        {"deletionTimestamp", "*v1.Time"},
        {"deletionGracePeriodSeconds", "*int64"},
        {"labels", "map[string]string"},
        {"annotations", "map[string]string"},
        {"ownerReferences", "[]v1.OwnerReference"},
        {"finalizers", "[]string"},
        {"managedFields", "[]v1.ManagedFieldsEntry"}}},
      {"v1.OwnerReference",
       {{"kind", "string"},
        {"apiVersion", "string"},
        {"name", "string"},
        {"uid", "types.UID"},
        {"controller", "*bool"},
        {"blockOwnerDeletion", "*bool"}}},
      {"v1.LabelSelector",
       {{"matchLabels", "map[string]string"},
        {"matchExpressions", "[]v1.LabelSelectorRequirement"}}},
      {"v1.LabelSelectorRequirement",
       {{"key", "string"}, {"operator", "v1.LabelSelectorOperator"}, {"values", "[]string"}}},
      // core/v1 Pod
      {"v1.Pod",
       {{"kind", "string"},
        {"apiVersion", "string"},
        {"metadata", "v1.ObjectMeta"},
        {"spec", "v1.PodSpec"},
        {"status", "v1.PodStatus"}}},
      {"v1.PodSpec",
       {{"volumes", "[]v1.Volume"},
        {"initContainers", "[]v1.Container"},
        {"containers", "[]v1.Container"},
        {"restartPolicy", "v1.RestartPolicy"},
        {"terminationGracePeriodSeconds", "*int64"},
        {"activeDeadlineSeconds", "*int64"},
        {"dnsPolicy", "v1.DNSPolicy"},
        {"nodeSelector", "map[string]string"},
        {"serviceAccountName", "string"},
        {"nodeName", "string"},
        {"hostNetwork", "bool"},
        {"hostname", "string"},
        {"securityContext", "*v1.PodSecurityContext"},
        {"affinity", "*v1.Affinity"},
        {"schedulerName", "string"},
        {"tolerations", "[]v1.Toleration"},
        {"priority", "*int32"},
        {"resourceClaims", "[]v1.PodResourceClaim"}}},
      {"v1.Container",
       {{"name", "string"},
        {"image", "string"},
        {"command", "[]string"},
        {"args", "[]string"},
        {"workingDir", "string"},
        {"env", "[]v1.EnvVar"},
        {"resources", "v1.ResourceRequirements"},
        {"terminationMessagePath", "string"},
        {"terminationMessagePolicy", "v1.TerminationMessagePolicy"},
        {"imagePullPolicy", "v1.PullPolicy"}}},
      {"v1.EnvVar", {{"name", "string"}, {"value", "string"}, {"valueFrom", "*v1.EnvVarSource"}}},
      {"v1.EnvVarSource",
       {{"fieldRef", "*v1.ObjectFieldSelector"},
        {"resourceFieldRef", "*v1.ResourceFieldSelector"},
        {"configMapKeyRef", "*v1.ConfigMapKeySelector"},
        {"secretKeyRef", "*v1.SecretKeySelector"}}},
      {"v1.ObjectFieldSelector", {{"apiVersion", "string"}, {"fieldPath", "string"}}},
      {"v1.ResourceFieldSelector",
       {{"containerName", "string"}, {"resource", "string"}, {"divisor", "resource.Quantity"}}},
      {"v1.ConfigMapKeySelector", {{"name", "string"}, {"key", "string"}, {"optional", "*bool"}}},
      {"v1.SecretKeySelector", {{"name", "string"}, {"key", "string"}, {"optional", "*bool"}}},
      {"v1.ResourceRequirements",
       {{"limits", "v1.ResourceList"},
        {"requests", "v1.ResourceList"},
        {"claims", "[]v1.ResourceClaim"}}},
      {"v1.ResourceClaim", {{"name", "string"}, {"request", "string"}}},
      {"v1.Toleration",
       {{"key", "string"},
        {"operator", "v1.TolerationOperator"},
        {"value", "string"},
        {"effect", "v1.TaintEffect"},
        {"tolerationSeconds", "*int64"}}},
      {"v1.PodResourceClaim",
       {{"name", "string"},
        {"resourceClaimName", "*string"},
        {"resourceClaimTemplateName", "*string"}}},
      {"v1.PodStatus",
       {{"phase", "v1.PodPhase"},
        {"conditions", "[]v1.PodCondition"},
        {"message", "string"},
        {"reason", "string"},
        {"nominatedNodeName", "string"},
        {"hostIP", "string"},
        {"podIP", "string"},
        {"podIPs", "[]v1.PodIP"},
        {"startTime", "*v1.Time"},
        {"initContainerStatuses", "[]v1.ContainerStatus"},
        {"containerStatuses", "[]v1.ContainerStatus"},
        {"qosClass", "v1.PodQOSClass"},
        {"resourceClaimStatuses", "[]v1.PodResourceClaimStatus"}}},
      {"v1.PodCondition",
       {{"type", "v1.PodConditionType"},
        {"observedGeneration", "int64"},
        {"status", "v1.ConditionStatus"},
        {"lastProbeTime", "v1.Time"},
        {"lastTransitionTime", "v1.Time"},
        {"reason", "string"},
        {"message", "string"}}},
      {"v1.PodIP", {{"ip", "string"}}},
      {"v1.ContainerStatus",
       {{"name", "string"},
        {"state", "v1.ContainerState"},
        {"lastState", "v1.ContainerState"},
        {"ready", "bool"},
        {"restartCount", "int32"},
        {"image", "string"},
        {"imageID", "string"},
        {"containerID", "string"},
        {"started", "*bool"}}},
      {"v1.ContainerState",
       {{"waiting", "*v1.ContainerStateWaiting"},
        {"running", "*v1.ContainerStateRunning"},
        {"terminated", "*v1.ContainerStateTerminated"}}},
      {"v1.ContainerStateWaiting", {{"reason", "string"}, {"message", "string"}}},
      {"v1.ContainerStateRunning", {{"startedAt", "v1.Time"}}},
      {"v1.ContainerStateTerminated",
       {{"exitCode", "int32"},
        {"signal", "int32"},
        {"reason", "string"},
        {"message", "string"},
        {"startedAt", "v1.Time"},
        {"finishedAt", "v1.Time"},
        {"containerID", "string"}}},
      {"v1.PodResourceClaimStatus", {{"name", "string"}, {"resourceClaimName", "*string"}}},
      // batch/v1 Job
      {"v1.Job",
       {{"kind", "string"},
        {"apiVersion", "string"},
        {"metadata", "v1.ObjectMeta"},
        {"spec", "v1.JobSpec"},
        {"status", "v1.JobStatus"}}},
      {"v1.JobSpec",
       {{"parallelism", "*int32"},
        {"completions", "*int32"},
        {"activeDeadlineSeconds", "*int64"},
        {"backoffLimit", "*int32"},
        {"selector", "*v1.LabelSelector"},
        {"manualSelector", "*bool"},
        {"template", "v1.PodTemplateSpec"},
        {"ttlSecondsAfterFinished", "*int32"},
        {"completionMode", "*v1.CompletionMode"},
        {"suspend", "*bool"},
        {"podReplacementPolicy", "*v1.PodReplacementPolicy"}}},
      {"v1.PodTemplateSpec", {{"metadata", "v1.ObjectMeta"}, {"spec", "v1.PodSpec"}}},
      {"v1.JobStatus",
       {{"conditions", "[]v1.JobCondition"},
        {"startTime", "*v1.Time"},
        {"completionTime", "*v1.Time"},
        {"active", "int32"},
        {"succeeded", "int32"},
        {"failed", "int32"},
        {"terminating", "*int32"},
        {"ready", "*int32"},
        {"uncountedTerminatedPods", "*v1.UncountedTerminatedPods"}}},
      {"v1.JobCondition",
       {{"type", "v1.JobConditionType"},
        {"status", "v1.ConditionStatus"},
        {"lastProbeTime", "v1.Time"},
        {"lastTransitionTime", "v1.Time"},
        {"reason", "string"},
        {"message", "string"}}},
      {"v1.UncountedTerminatedPods", {{"succeeded", "[]types.UID"}, {"failed", "[]types.UID"}}},
      // core/v1 Node
      {"v1.Node",
       {{"kind", "string"},
        {"apiVersion", "string"},
        {"metadata", "v1.ObjectMeta"},
        {"spec", "v1.NodeSpec"},
        {"status", "v1.NodeStatus"}}},
      {"v1.NodeSpec",
       {{"podCIDR", "string"},
        {"podCIDRs", "[]string"},
        {"providerID", "string"},
        {"unschedulable", "bool"},
        {"taints", "[]v1.Taint"}}},
      {"v1.Taint",
       {{"key", "string"},
        {"value", "string"},
        {"effect", "v1.TaintEffect"},
        {"timeAdded", "*v1.Time"}}},
      {"v1.NodeStatus",
       {{"capacity", "v1.ResourceList"},
        {"allocatable", "v1.ResourceList"},
        {"phase", "v1.NodePhase"},
        {"conditions", "[]v1.NodeCondition"},
        {"addresses", "[]v1.NodeAddress"},
        {"nodeInfo", "v1.NodeSystemInfo"}}},
      {"v1.NodeCondition",
       {{"type", "v1.NodeConditionType"},
        {"status", "v1.ConditionStatus"},
        {"lastHeartbeatTime", "v1.Time"},
        {"lastTransitionTime", "v1.Time"},
        {"reason", "string"},
        {"message", "string"}}},
      {"v1.NodeAddress", {{"type", "v1.NodeAddressType"}, {"address", "string"}}},
      {"v1.NodeSystemInfo",
       {{"machineID", "string"},
        {"systemUUID", "string"},
        {"bootID", "string"},
        {"kernelVersion", "string"},
        {"osImage", "string"},
        {"containerRuntimeVersion", "string"},
        {"kubeletVersion", "string"},
        {"kubeProxyVersion", "string"},
        {"operatingSystem", "string"},
        {"architecture", "string"}}},
      // core/v1 Namespace
      {"v1.Namespace",
       {{"kind", "string"},
        {"apiVersion", "string"},
        {"metadata", "v1.ObjectMeta"},
        {"spec", "v1.NamespaceSpec"},
        {"status", "v1.NamespaceStatus"}}},
      {"v1.NamespaceSpec", {{"finalizers", "[]v1.FinalizerName"}}},
      {"v1.NamespaceStatus",
       {{"phase", "v1.NamespacePhase"}, {"conditions", "[]v1.NamespaceCondition"}}},
      {"v1.NamespaceCondition",
       {{"type", "v1.NamespaceConditionType"},
        {"status", "v1.ConditionStatus"},
        {"lastTransitionTime", "v1.Time"},
        {"reason", "string"},
        {"message", "string"}}},
      // core/v1 Event
      {"v1.Event",
       {{"kind", "string"},
        {"apiVersion", "string"},
        {"metadata", "v1.ObjectMeta"},
        {"involvedObject", "v1.ObjectReference"},
        {"reason", "string"},
        {"message", "string"},
        {"source", "v1.EventSource"},
        {"firstTimestamp", "v1.Time"},
        {"lastTimestamp", "v1.Time"},
        {"count", "int32"},
        {"type", "string"},
        {"eventTime", "v1.MicroTime"},
        {"action", "string"},
        {"reportingComponent", "string"},
        {"reportingInstance", "string"}}},
      {"v1.ObjectReference",
       {{"kind", "string"},
        {"namespace", "string"},
        {"name", "string"},
        {"uid", "types.UID"},
        {"apiVersion", "string"},
        {"resourceVersion", "string"},
        {"fieldPath", "string"}}},
      {"v1.EventSource", {{"component", "string"}, {"host", "string"}}},
      // core/v1 ConfigMap and Secret
      {"v1.ConfigMap",
       {{"kind", "string"},
        {"apiVersion", "string"},
        {"metadata", "v1.ObjectMeta"},
        {"immutable", "*bool"},
        {"data", "map[string]string"},
        {"binaryData", "map[string][]uint8"}}},
      {"v1.Secret",
       {{"kind", "string"},
        {"apiVersion", "string"},
        {"metadata", "v1.ObjectMeta"},
        {"immutable", "*bool"},
        {"data", "map[string][]uint8"},
        {"stringData", "map[string]string"},
        {"type", "v1.SecretType"}}},
      // resource.k8s.io/v1: the shape the server itself touches before the api module's decoder
      // (defaulting walks spec / spec.spec); the rest is that decoder's.
      {"resource/v1.DeviceClass",
       {{"kind", "string"},
        {"apiVersion", "string"},
        {"metadata", "v1.ObjectMeta"},
        {"spec", "v1.DeviceClassSpec"}}},
      {"resource/v1.ResourceClaim",
       {{"kind", "string"},
        {"apiVersion", "string"},
        {"metadata", "v1.ObjectMeta"},
        {"spec", "v1.ResourceClaimSpec"},
        {"status", "v1.ResourceClaimStatus"}}},
      {"resource/v1.ResourceClaimTemplate",
       {{"kind", "string"},
        {"apiVersion", "string"},
        {"metadata", "v1.ObjectMeta"},
        {"spec", "v1.ResourceClaimTemplateSpec"}}},
      {"v1.ResourceClaimTemplateSpec",
       {{"metadata", "v1.ObjectMeta"}, {"spec", "v1.ResourceClaimSpec"}}},
      {"resource/v1.ResourceSlice",
       {{"kind", "string"},
        {"apiVersion", "string"},
        {"metadata", "v1.ObjectMeta"},
        {"spec", "v1.ResourceSliceSpec"}}},
  };
  return table;
}

// Objects whose insides are not typed here (unread, or typed by the api module).
const std::set<std::string_view>& OpaqueObjects() {
  static const std::set<std::string_view> types = {
      "v1.PodSecurityContext",  "v1.Affinity",         "v1.Volume",
      "v1.ManagedFieldsEntry",  "v1.DeviceClassSpec",  "v1.ResourceClaimSpec",
      "v1.ResourceClaimStatus", "v1.ResourceSliceSpec"};
  return types;
}

std::string_view Printed(std::string_view go) {
  size_t slash = go.find('/');
  return slash == std::string_view::npos ? go : go.substr(slash + 1);
}

// The Go struct name in messages: "v1.ObjectMeta" -> "ObjectMeta".
std::string StructName(std::string_view go) {
  go = Printed(go);
  size_t dot = go.rfind('.');
  return std::string(dot == std::string_view::npos ? go : go.substr(dot + 1));
}

// How Go's decoder names the JSON value it could not store.
std::string ValueKind(const json& v) {
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "bool";
  if (v.is_array()) return "array";
  if (v.is_object()) return "object";
  return "number";
}

bool IsByte(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= 255;
  return v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= 255;
}

bool FitsInteger(const json& v, int bits) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    return bits == 64 ? u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                      : u <= static_cast<uint64_t>(std::numeric_limits<int32_t>::max());
  }
  if (!v.is_number_integer()) return false;
  int64_t i = v.get<int64_t>();
  return bits == 64 ||
         (i >= std::numeric_limits<int32_t>::min() && i <= std::numeric_limits<int32_t>::max());
}

// The reflect kind Go's unstructured converter names for a decoded JSON value.
std::string ConverterKind(const json& v) {
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "bool";
  if (v.is_array()) return "slice";
  if (v.is_object()) return "map";
  if (v.is_number_integer() || (v.is_number_unsigned() && FitsInteger(v, 64))) return "int64";
  return "float64";
}

// ParseQuantity's ErrFormatWrong (k8s.io/apimachinery/pkg/api/resource).
constexpr const char* kQuantityFormatWrong =
    "quantities must match the regular expression "
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

// A quantity's text as Quantity.UnmarshalJSON parses it: trimmed of white space, then
// ParseQuantity, whose ErrFormatWrong an empty text is. Quantities beyond what api::Quantity
// holds (more than 37 significant digits, a value past its range) are refused in
// api::Quantity's words, where the API server's arbitrary-precision decimals might still take
// them.
Result<api::Quantity> ParseQuantityText(std::string_view text) {
  const auto space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  if (text.empty()) return MakeError(kQuantityFormatWrong);
  return api::Quantity::Parse(text);
}

// Why ParseQuantityText refuses a quantity string, in its words; nullopt when it parses.
std::optional<std::string> QuantityParseError(std::string_view text) {
  Result<api::Quantity> parsed = ParseQuantityText(text);
  if (parsed) return std::nullopt;
  return parsed.error().message;
}

struct Checker {
  WireDecoder decoder = WireDecoder::kJson;
  std::string error;     // the decoder's answer, in its words
  bool stopped = false;  // the decoder stopped at `error`: nothing after it is looked at

  // Records a mismatch. Go's JSON decoder keeps the first of its own type errors and decodes on;
  // an error of a type's own UnmarshalJSON (`unmarshaler`) ends decoding and is returned in place
  // of any kept one. The unstructured converter stops at its first error.
  void Fail(std::string message, bool unmarshaler = false) {
    if (decoder == WireDecoder::kJson && !unmarshaler) {
      if (error.empty()) error = std::move(message);
      return;
    }
    error = std::move(message);
    stopped = true;
  }

  // `v` does not fit Go type `go` (a pointer's pointee) of struct field `owner`.`path`.
  void Mismatch(const json& v, const std::string& owner, const std::string& path,
                std::string_view go) {
    if (decoder == WireDecoder::kJson) {
      return Fail("json: cannot unmarshal " + ValueKind(v) + " into Go struct field " + owner +
                  "." + path + " of type " + std::string(Printed(go)));
    }
    // runtime.DefaultUnstructuredConverter's words, which do not name the field.
    const std::string kind = ConverterKind(v);
    std::string words;
    const bool integer = go == "int32" || go == "int64" || go == "uint8";
    if (go.substr(0, 2) == "[]") {
      words = "cannot restore slice from " + kind;
    } else if (go.substr(0, 4) == "map[" || go == "v1.ResourceList") {
      words = "cannot restore map from " + kind;
    } else if (Structs().count(go) || OpaqueObjects().count(go)) {
      words = "cannot restore struct from: " + kind;
    } else if (go == "v1.Time" || go == "v1.MicroTime") {
      // Their UnmarshalJSON reads a string with encoding/json.
      words = "json: cannot unmarshal " + ValueKind(v) + " into Go value of type string";
    } else if (go == "resource.Quantity") {
      words = kQuantityFormatWrong;  // its UnmarshalJSON's, given the value's JSON text
    } else if (kind == "int64" && !integer && go != "bool") {
      words = "cannot convert int64 to " + std::string(Printed(go));  // Go converts int to string
    } else if (kind == "float64" && integer) {
      words = "cannot convert float64 to " + std::string(go);
    } else {
      words = "unrecognized type: " + std::string(integer || go == "bool" ? go : "string");
    }
    Fail(std::move(words));
  }

  // A number's mismatch: Go's decoder quotes the number when its kind is right but its value
  // does not fit; the converter takes any integral value and refuses a fraction.
  void NumberMismatch(const json& v, const std::string& owner, const std::string& path,
                      std::string_view go) {
    if (decoder == WireDecoder::kUnstructured && v.is_number_float()) {
      return Mismatch(v, owner, path, go);
    }
    Fail("json: cannot unmarshal number " + v.dump() + " into Go struct field " + owner + "." +
         path + " of type " + std::string(Printed(go)));
  }

  // Checks `v` against Go type `go`; `owner` and `path` name the struct field it belongs to.
  void Check(const json& v, std::string_view go, const std::string& owner,
             const std::string& path) {
    if (stopped || v.is_null()) return;
    if (!go.empty() && go.front() == '*') go.remove_prefix(1);
    if (go == "[]uint8") {
      // Go's []byte: base64 text, its decoding error as the decoder's message, or a JSON array
      // of byte values, which Go's decoder also takes (EncodeByteArrays stores it as text).
      if (v.is_array()) {
        for (const json& item : v) {
          if (item.is_null()) continue;
          if (!item.is_number()) return Mismatch(item, owner, path, "uint8");
          if (!IsByte(item)) return NumberMismatch(item, owner, path, "uint8");
        }
        return;
      }
      if (!v.is_string()) return Mismatch(v, owner, path, go);
      Result<std::string> bytes = api::Base64Decode(v.get_ref<const std::string&>());
      if (!bytes) {
        // The converter reads the text back through encoding/json into a []byte.
        Fail((decoder == WireDecoder::kJson ? "" : "error decoding from json: ") +
             bytes.error().message);
      }
      return;
    }
    if (go.substr(0, 2) == "[]") {
      if (!v.is_array()) return Mismatch(v, owner, path, go);
      for (const json& item : v) Check(item, go.substr(2), owner, path);
      return;
    }
    constexpr std::string_view kMap = "map[string]";
    if (go.substr(0, kMap.size()) == kMap) {
      if (!v.is_object()) return Mismatch(v, owner, path, go);
      for (const auto& item : v.items()) Check(item.value(), go.substr(kMap.size()), owner, path);
      return;
    }
    if (go == "v1.ResourceList") {
      // map[string]resource.Quantity, which the decoder's messages call by its own name.
      if (!v.is_object()) return Mismatch(v, owner, path, go);
      for (const auto& item : v.items()) Check(item.value(), "resource.Quantity", owner, path);
      return;
    }
    auto fields = Structs().find(go);
    if (fields != Structs().end()) {
      if (!v.is_object()) return Mismatch(v, owner, path, go);
      const std::string name = StructName(go);
      if (decoder == WireDecoder::kUnstructured) {
        // The converter walks the Go struct's fields in their declared order.
        for (const FieldType& f : fields->second) {
          auto it = v.find(f.json);
          if (it != v.end()) Check(*it, f.go, name, path.empty() ? f.json : path + "." + f.json);
        }
        return;
      }
      // The object's keys in order, as Go's decoder meets them (the first mismatch is its
      // error; kubectl sends keys sorted, as json stores them).
      for (auto it = v.begin(); it != v.end(); ++it) {
        for (const FieldType& f : fields->second) {
          if (it.key() == f.json)
            Check(*it, f.go, name, path.empty() ? f.json : path + "." + f.json);
        }
      }
      return;
    }
    if (OpaqueObjects().count(go)) {
      if (!v.is_object()) Mismatch(v, owner, path, go);
      return;
    }
    if (go == "resource.Quantity") {
      // Its UnmarshalJSON parses the value's JSON text (a string's without the quotes): a
      // number is a quantity, and a bool, an array or an object (text starting with no digit,
      // sign or dot) is ErrFormatWrong, which the JSON decoder returns as it is.
      if (v.is_number()) return;
      if (v.is_string()) {
        std::optional<std::string> refused = QuantityParseError(v.get_ref<const std::string&>());
        if (refused) Fail(std::move(*refused), /*unmarshaler=*/true);
        return;
      }
      if (decoder == WireDecoder::kJson) return Fail(kQuantityFormatWrong, /*unmarshaler=*/true);
      return Mismatch(v, owner, path, go);
    }
    if (go == "int32" || go == "int64") {
      if (!v.is_number()) return Mismatch(v, owner, path, go);
      if (!FitsInteger(v, go == "int32" ? 32 : 64)) NumberMismatch(v, owner, path, go);
      return;
    }
    if (go == "bool") {
      if (!v.is_boolean()) Mismatch(v, owner, path, go);
      return;
    }
    if (!v.is_string()) Mismatch(v, owner, path, go);
  }
};

// Go writes a non-pointer struct field whatever its omitempty tag.
bool IsStructValue(std::string_view go) {
  return Structs().count(go) || (OpaqueObjects().count(go) && go != "v1.ResourceList");
}

bool IsTime(std::string_view go) { return go == "v1.Time" || go == "v1.MicroTime"; }

// The typed model's definitions (resource.k8s.io structs, fields in Go order) by full name.
const std::map<std::string, api::SchemaDefinition, std::less<>>& ModelledDefinitions() {
  static const auto definitions = [] {
    std::map<std::string, api::SchemaDefinition, std::less<>> out;
    for (api::SchemaDefinition& d : api::ModelledSchemaDefinitions()) out[d.name] = std::move(d);
    return out;
  }();
  return definitions;
}

const api::SchemaDefinition* ModelledDefinition(std::string_view full_name) {
  auto it = ModelledDefinitions().find(full_name);
  return it == ModelledDefinitions().end() ? nullptr : &it->second;
}

// Writes JSON text as the API server's codec encodes the Go struct behind a stored object.
class GoEncoder {
 public:
  std::string text;

  // `v` as a value of Go type `go`.
  void Value(const json& v, std::string_view go) {
    if (!go.empty() && go.front() == '*') go.remove_prefix(1);
    constexpr std::string_view kMap = "map[string]";
    if (go.substr(0, 2) == "[]" && go != "[]uint8" && v.is_array()) {
      text += '[';
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) text += ',';
        Value(v[i], go.substr(2));
      }
      text += ']';
    } else if (go.substr(0, kMap.size()) == kMap && v.is_object()) {
      text += '{';
      bool first = true;
      for (const auto& [key, item] : v.items()) {
        Key(key, first);
        Value(item, go.substr(kMap.size()));
      }
      text += '}';
    } else if (auto fields = Structs().find(go); fields != Structs().end() && v.is_object()) {
      Struct(v, fields->second);
    } else if (const api::SchemaDefinition* modelled =
                   ModelledDefinition(api::SchemaFullName("resource." + StructName(go)));
               modelled && OpaqueObjects().count(go) && v.is_object()) {
      Modelled(v, *modelled);
    } else {
      text += GoJsonText(v);
    }
  }

 private:
  void Key(const std::string& key, bool& first) {
    if (!first) text += ',';
    first = false;
    text += GoJsonText(json(key)) + ":";
  }

  // Whether omitempty (or a nil pointer, slice or map) leaves out the field.
  static bool Omitted(const json& v, std::string_view go) {
    if (!go.empty() && go.front() == '*') return v.is_null();
    if (IsStructValue(go) || IsTime(go)) return false;
    return v.is_null() || (v.is_structured() && v.empty());
  }

  void Struct(const json& v, const std::vector<FieldType>& fields) {
    text += '{';
    bool first = true;
    std::set<std::string_view> known;
    for (const FieldType& f : fields) {
      known.insert(f.json);
      auto it = v.find(f.json);
      if (it != v.end() && Omitted(*it, f.go)) continue;
      if (it == v.end() && !IsStructValue(f.go) && !IsTime(f.go)) continue;
      Key(f.json, first);
      const bool empty_struct = IsStructValue(f.go) && (it == v.end() || it->is_null());
      if (empty_struct) {
        Value(json::object(), f.go);
      } else if (it == v.end()) {
        text += "null";  // a zero metav1.Time
      } else {
        Value(*it, f.go);
      }
    }
    for (const auto& [key, item] : v.items()) {
      if (known.count(key)) continue;
      Key(key, first);
      text += GoJsonText(item);
    }
    text += '}';
  }

  void Modelled(const json& v, const api::SchemaDefinition& definition) {
    text += '{';
    bool first = true;
    std::set<std::string_view> known;
    for (const api::SchemaProperty& p : definition.properties) {
      known.insert(p.name);
      auto it = v.find(p.name);
      if (it == v.end() || it->is_null() || (it->is_structured() && it->empty())) continue;
      Key(p.name, first);
      Typed(*it, p.type);
    }
    for (const auto& [key, item] : v.items()) {
      if (known.count(key)) continue;
      Key(key, first);
      text += GoJsonText(item);
    }
    text += '}';
  }

  void Typed(const json& v, const api::SchemaType& type) {
    using Kind = api::SchemaType::Kind;
    const api::SchemaDefinition* definition =
        type.kind == Kind::kObject ? ModelledDefinition(type.definition) : nullptr;
    if (definition && v.is_object()) {
      Modelled(v, *definition);
    } else if (type.kind == Kind::kArray && type.element && v.is_array()) {
      text += '[';
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) text += ',';
        Typed(v[i], *type.element);
      }
      text += ']';
    } else if (type.kind == Kind::kMap && type.element && v.is_object()) {
      text += '{';
      bool first = true;
      for (const auto& [key, item] : v.items()) {
        Key(key, first);
        Typed(item, *type.element);
      }
      text += '}';
    } else {
      text += GoJsonText(v);
    }
  }
};

// Rewrites every quantity in a value of a Go type as the API server stores it: decoded, then
// encoded in canonical form (Quantity.MarshalJSON), so `cpu: 0.5` is stored as "500m".
class QuantityCanonicalizer {
 public:
  void Value(json& v, std::string_view go) {
    if (!go.empty() && go.front() == '*') go.remove_prefix(1);
    constexpr std::string_view kMap = "map[string]";
    if (go == "resource.Quantity") {
      Canonical(v);
    } else if (go == "v1.ResourceList") {
      if (v.is_object())
        for (auto& item : v.items()) Canonical(item.value());
    } else if (go.substr(0, 2) == "[]" && go != "[]uint8") {
      if (v.is_array())
        for (json& item : v) Value(item, go.substr(2));
    } else if (go.substr(0, kMap.size()) == kMap) {
      if (v.is_object())
        for (auto& item : v.items()) Value(item.value(), go.substr(kMap.size()));
    } else if (auto fields = Structs().find(go); fields != Structs().end()) {
      if (!v.is_object()) return;
      for (const FieldType& f : fields->second) {
        auto it = v.find(f.json);
        if (it != v.end()) Value(*it, f.go);
      }
    } else if (const api::SchemaDefinition* modelled =
                   ModelledDefinition(api::SchemaFullName("resource." + StructName(go)));
               modelled && OpaqueObjects().count(go)) {
      Modelled(v, *modelled);
    }
  }

 private:
  void Modelled(json& v, const api::SchemaDefinition& definition) {
    if (!v.is_object()) return;
    for (const api::SchemaProperty& p : definition.properties) {
      auto it = v.find(p.name);
      if (it != v.end()) Typed(*it, p.type);
    }
  }

  void Typed(json& v, const api::SchemaType& type) {
    using Kind = api::SchemaType::Kind;
    if (type.kind == Kind::kQuantity) {
      Canonical(v);
    } else if (type.kind == Kind::kObject) {
      if (const api::SchemaDefinition* definition = ModelledDefinition(type.definition))
        Modelled(v, *definition);
    } else if (type.kind == Kind::kArray && type.element && v.is_array()) {
      for (json& item : v) Typed(item, *type.element);
    } else if (type.kind == Kind::kMap && type.element && v.is_object()) {
      for (auto& item : v.items()) Typed(item.value(), *type.element);
    }
  }

  // A quantity that parses becomes its canonical string; one that does not was refused on
  // decode (QuantityParseError) and is left as it is.
  static void Canonical(json& v) {
    if (!v.is_string() && !v.is_number()) return;
    const std::string text = v.is_string() ? v.get<std::string>() : v.dump();
    Result<api::Quantity> parsed = ParseQuantityText(text);
    if (parsed) v = parsed->ToString();
  }
};

std::string TopLevelType(const ResourceInfo& info) {
  return (info.group.empty() || info.group == "batch" ? "" : "resource/") + info.version + "." +
         info.kind;
}

}  // namespace

std::optional<std::string> WireDecodeError(const ResourceInfo& info, const json& object,
                                           WireDecoder decoder) {
  const std::string top = TopLevelType(info);
  if (!Structs().count(top) || !object.is_object()) return std::nullopt;
  Checker checker;
  checker.decoder = decoder;
  checker.Check(object, top, info.kind, "");
  if (checker.error.empty()) return std::nullopt;
  return checker.error;
}

std::optional<Error> WireTypeError(const ResourceInfo& info, const json& object) {
  std::optional<std::string> error = WireDecodeError(info, object, WireDecoder::kJson);
  if (!error) return std::nullopt;
  return MakeError(ErrorReason::kBadRequest, info.kind + " in version \"" + info.version +
                                                 "\" cannot be handled as a " + info.kind + ": " +
                                                 *error);
}

std::string GoEncodedJson(const ResourceInfo& info, const json& object) {
  GoEncoder encoder;
  encoder.Value(object, TopLevelType(info));
  return encoder.text;
}

void CanonicalizeQuantities(const ResourceInfo& info, json& object) {
  QuantityCanonicalizer().Value(object, TopLevelType(info));
}

void EncodeByteArrays(const ResourceInfo& info, json& object) {
  const char* field = info.group.empty() && info.plural == "secrets"      ? "data"
                      : info.group.empty() && info.plural == "configmaps" ? "binaryData"
                                                                          : nullptr;
  if (!field || !object.is_object() || !object.contains(field) || !object[field].is_object()) {
    return;
  }
  for (auto& [key, value] : object[field].items()) {
    if (!value.is_array()) continue;
    std::string bytes;
    for (const json& item : value) {
      bytes.push_back(static_cast<char>(item.is_number() ? item.get<int64_t>() : 0));
    }
    value = api::Base64Encode(bytes);
  }
}

}  // namespace migdra::control
