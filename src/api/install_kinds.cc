// Validation of the installation kinds; see install_kinds.h for the scope. Upstream sources:
// k8s.io/api core/v1, apps/v1 and rbac/v1 types.go (field names), pkg/apis/core/validation,
// pkg/apis/apps/validation and pkg/apis/rbac/validation (rules and messages).
#include "api/install_kinds.h"

#include <algorithm>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>

#include "api/codec.h"
#include "api/validation.h"

namespace migdra::api {
namespace {

using json = nlohmann::json;

// The fields of every object these kinds hold, as JSON: a field maps to a primitive type
// ("string", "boolean", "integer", "int-or-string", "map" of strings, "any": not checked), the
// name of another entry, an inline object of fields, or a one-element array for a list of it.
constexpr std::string_view kShapes = R"({
  "ServiceAccount": {"apiVersion": "string", "kind": "string", "metadata": "any",
    "secrets": ["ObjectReference"], "imagePullSecrets": ["LocalObjectReference"],
    "automountServiceAccountToken": "boolean"},
  "ClusterRole": {"apiVersion": "string", "kind": "string", "metadata": "any",
    "rules": ["PolicyRule"],
    "aggregationRule": {"clusterRoleSelectors": ["LabelSelector"]}},
  "Role": {"apiVersion": "string", "kind": "string", "metadata": "any", "rules": ["PolicyRule"]},
  "ClusterRoleBinding": {"apiVersion": "string", "kind": "string", "metadata": "any",
    "subjects": ["Subject"], "roleRef": "RoleRef"},
  "RoleBinding": {"apiVersion": "string", "kind": "string", "metadata": "any",
    "subjects": ["Subject"], "roleRef": "RoleRef"},
  "DaemonSet": {"apiVersion": "string", "kind": "string", "metadata": "any",
    "spec": {"selector": "LabelSelector", "template": {"metadata": "any", "spec": "PodSpec"},
      "updateStrategy": {"type": "string",
        "rollingUpdate": {"maxUnavailable": "int-or-string", "maxSurge": "int-or-string"}},
      "minReadySeconds": "integer", "revisionHistoryLimit": "integer"},
    "status": "any"},

  "PolicyRule": {"verbs": ["string"], "apiGroups": ["string"], "resources": ["string"],
    "resourceNames": ["string"], "nonResourceURLs": ["string"]},
  "Subject": {"kind": "string", "apiGroup": "string", "name": "string", "namespace": "string"},
  "RoleRef": {"apiGroup": "string", "kind": "string", "name": "string"},
  "ObjectReference": {"kind": "string", "namespace": "string", "name": "string", "uid": "string",
    "apiVersion": "string", "resourceVersion": "string", "fieldPath": "string"},
  "LocalObjectReference": {"name": "string"},
  "LabelSelector": {"matchLabels": "map",
    "matchExpressions": [{"key": "string", "operator": "string", "values": ["string"]}]},

  "PodSpec": {"volumes": ["Volume"], "initContainers": ["Container"], "containers": ["Container"],
    "ephemeralContainers": ["any"], "restartPolicy": "string",
    "terminationGracePeriodSeconds": "integer", "activeDeadlineSeconds": "integer",
    "dnsPolicy": "string", "nodeSelector": "map", "serviceAccountName": "string",
    "serviceAccount": "string", "automountServiceAccountToken": "boolean", "nodeName": "string",
    "hostNetwork": "boolean", "hostPID": "boolean", "hostIPC": "boolean",
    "shareProcessNamespace": "boolean", "securityContext": "any",
    "imagePullSecrets": ["LocalObjectReference"], "hostname": "string", "subdomain": "string",
    "affinity": "any", "schedulerName": "string",
    "tolerations": [{"key": "string", "operator": "string", "value": "string",
      "effect": "string", "tolerationSeconds": "integer"}],
    "hostAliases": ["any"], "priorityClassName": "string", "priority": "integer",
    "dnsConfig": "any", "readinessGates": ["any"], "runtimeClassName": "string",
    "enableServiceLinks": "boolean", "preemptionPolicy": "string", "overhead": "any",
    "topologySpreadConstraints": ["any"], "setHostnameAsFQDN": "boolean", "os": "any",
    "hostUsers": "boolean", "schedulingGates": ["any"], "resourceClaims": ["any"],
    "resources": "any"},
  "Container": {"name": "string", "image": "string", "command": ["string"], "args": ["string"],
    "workingDir": "string", "ports": ["ContainerPort"], "envFrom": ["any"], "env": ["EnvVar"],
    "resources": {"limits": "any", "requests": "any", "claims": ["any"]},
    "resizePolicy": ["any"], "restartPolicy": "string", "volumeMounts": ["VolumeMount"],
    "volumeDevices": ["any"], "livenessProbe": "Probe", "readinessProbe": "Probe",
    "startupProbe": "Probe", "lifecycle": "any", "terminationMessagePath": "string",
    "terminationMessagePolicy": "string", "imagePullPolicy": "string",
    "securityContext": "SecurityContext", "stdin": "boolean", "stdinOnce": "boolean",
    "tty": "boolean"},
  "ContainerPort": {"name": "string", "hostPort": "integer", "containerPort": "integer",
    "protocol": "string", "hostIP": "string"},
  "EnvVar": {"name": "string", "value": "string",
    "valueFrom": {"fieldRef": {"apiVersion": "string", "fieldPath": "string"},
      "resourceFieldRef": "any", "configMapKeyRef": "any", "secretKeyRef": "any",
      "fileKeyRef": "any"}},
  "VolumeMount": {"name": "string", "readOnly": "boolean", "recursiveReadOnly": "string",
    "mountPath": "string", "subPath": "string", "mountPropagation": "string",
    "subPathExpr": "string"},
  "Volume": {"name": "string", "hostPath": {"path": "string", "type": "string"},
    "emptyDir": "any", "secret": "any", "configMap": "any", "projected": "any",
    "downwardAPI": "any", "persistentVolumeClaim": "any", "csi": "any", "ephemeral": "any",
    "image": "any"},
  "Probe": {"exec": {"command": ["string"]},
    "httpGet": {"path": "string", "port": "int-or-string", "host": "string", "scheme": "string",
      "httpHeaders": [{"name": "string", "value": "string"}]},
    "tcpSocket": {"port": "int-or-string", "host": "string"},
    "grpc": {"port": "integer", "service": "string"},
    "initialDelaySeconds": "integer", "timeoutSeconds": "integer", "periodSeconds": "integer",
    "successThreshold": "integer", "failureThreshold": "integer",
    "terminationGracePeriodSeconds": "integer"},
  "SecurityContext": {"capabilities": {"add": ["string"], "drop": ["string"]},
    "privileged": "boolean", "seLinuxOptions": "any", "windowsOptions": "any",
    "runAsUser": "integer", "runAsGroup": "integer", "runAsNonRoot": "boolean",
    "readOnlyRootFilesystem": "boolean", "allowPrivilegeEscalation": "boolean",
    "procMount": "string", "seccompProfile": "any", "appArmorProfile": "any"}
})";

const json& Shapes() {
  static const json shapes = json::parse(kShapes);
  return shapes;
}

std::string Child(const std::string& path, const std::string& name) {
  return path.empty() ? name : path + "." + name;
}
std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}
std::string Quote(std::string_view s) { return json(std::string(s)).dump(); }

class Checker {
 public:
  explicit Checker(std::vector<Error>& out) : out_(out) {}

  void Add(const std::string& path, std::string message) {
    out_.push_back(Error{std::move(message), path});
  }
  void Required(const std::string& path, const std::string& detail = "") {
    Add(path, detail.empty() ? "Required value" : "Required value: " + detail);
  }
  void Invalid(const std::string& path, const std::string& rendered, const std::string& detail) {
    Add(path, "Invalid value: " + rendered + ": " + detail);
  }
  void InvalidEach(const std::string& path, std::string_view value,
                   const std::vector<std::string>& messages) {
    for (const std::string& m : messages) Invalid(path, Quote(value), m);
  }
  void NotSupported(const std::string& path, std::string_view value,
                    const std::vector<std::string>& supported) {
    std::string list;
    for (size_t i = 0; i < supported.size(); ++i) list += (i ? ", " : "") + Quote(supported[i]);
    Add(path, "Unsupported value: " + Quote(value) + ": supported values: " + list);
  }
  void Forbidden(const std::string& path, const std::string& detail) {
    Add(path, "Forbidden: " + detail);
  }
  void Duplicate(const std::string& path, std::string_view value) {
    Add(path, "Duplicate value: " + Quote(value));
  }
  void NotFound(const std::string& path, std::string_view value, const std::string& detail) {
    Add(path, "Not found: " + Quote(value) + ": " + detail);
  }

  // Strict decoding of `value` against `shape` (see kShapes).
  void Shape(const json& value, const json& shape, const std::string& path) {
    if (shape.is_array()) {
      if (!value.is_array()) return Expected(path, "array", value);
      for (size_t i = 0; i < value.size(); ++i) Shape(value[i], shape[0], Index(path, i));
      return;
    }
    if (shape.is_object()) {
      if (!value.is_object()) return Expected(path, "object", value);
      for (const auto& [key, field] : value.items()) {
        auto it = shape.find(key);
        if (it == shape.end()) {
          Add(Child(path, key), "unknown field");
        } else if (!field.is_null()) {  // null is "unset", as in Go's decoder
          Shape(field, *it, Child(path, key));
        }
      }
      return;
    }
    const std::string type = shape.get<std::string>();
    if (type == "any") return;
    if (type == "string") {
      if (!value.is_string()) Expected(path, "string", value);
    } else if (type == "boolean") {
      if (!value.is_boolean()) Expected(path, "boolean", value);
    } else if (type == "integer") {
      if (!value.is_number_integer()) Expected(path, "integer", value);
    } else if (type == "int-or-string") {
      if (!value.is_number_integer() && !value.is_string())
        Expected(path, "integer or string", value);
    } else if (type == "map") {
      if (!value.is_object()) return Expected(path, "object", value);
      for (const auto& [key, v] : value.items()) {
        if (!v.is_string()) Expected(Child(path, key), "string", v);
      }
    } else {
      Shape(value, Shapes().at(type), path);
    }
  }

 private:
  void Expected(const std::string& path, const char* expected, const json& got) {
    // nlohmann's type names are the decoder's (codec.cc): "number", "string", "object", ...
    Add(path, std::string("expected ") + expected + ", got " + got.type_name());
  }
  std::vector<Error>& out_;
};

const json& Field(const json& object, const char* key) {
  static const json null;
  if (!object.is_object()) return null;
  auto it = object.find(key);
  return it == object.end() ? null : *it;
}
std::string String(const json& object, const char* key) {
  const json& v = Field(object, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}
const json& List(const json& object, const char* key) {
  static const json empty = json::array();
  const json& v = Field(object, key);
  return v.is_array() ? v : empty;
}

// ValidatePathSegmentName: RBAC objects' names only have to be usable in a URL path.
std::vector<std::string> IsPathSegmentName(std::string_view name) {
  if (name == "." || name == "..") return {"may not be '" + std::string(name) + "'"};
  for (const char* bad : {"/", "%"}) {
    if (name.find(bad) != std::string_view::npos)
      return {"may not contain '" + std::string(bad) + "'"};
  }
  return {};
}

enum class Scope { kCluster, kNamespaced };

void CheckMetadata(Checker& c, const json& document, Scope scope,
                   std::vector<std::string> (*name_check)(std::string_view),
                   std::vector<Error>& out) {
  ObjectMeta meta;
  std::vector<Error> decode;
  DecodeAll(Field(document, "metadata").is_null() ? json::object() : document["metadata"], meta,
            decode);
  for (Error& e : decode) out.push_back(std::move(e.Under("metadata")));
  if (meta.name.empty()) {
    c.Required("metadata.name", "name or generateName is required");
  } else {
    c.InvalidEach("metadata.name", meta.name, name_check(meta.name));
  }
  if (scope == Scope::kCluster && !meta.namespace_.empty()) {
    c.Forbidden("metadata.namespace", "not allowed on this type");
  } else if (!meta.namespace_.empty()) {
    c.InvalidEach("metadata.namespace", meta.namespace_, IsDNS1123Label(meta.namespace_));
  }
  for (Error& e : ValidateMetadataMaps("metadata", meta)) out.push_back(std::move(e));
}

// ---- RBAC ----------------------------------------------------------------------------------

constexpr char kRbacGroup[] = "rbac.authorization.k8s.io";

void CheckRules(Checker& c, const json& document, bool cluster_role) {
  const json& rules = List(document, "rules");
  for (size_t i = 0; i < rules.size(); ++i) {
    const std::string p = Index("rules", i);
    const json& rule = rules[i];
    if (List(rule, "verbs").empty())
      c.Required(Child(p, "verbs"), "verbs must contain at least one value");
    const bool resources = !List(rule, "resources").empty();
    const bool urls = !List(rule, "nonResourceURLs").empty();
    if (urls) {
      if (!cluster_role) {
        c.Invalid(Child(p, "nonResourceURLs"), List(rule, "nonResourceURLs").dump(),
                  "namespaced rules cannot apply to non-resource URLs");
      } else if (resources || !List(rule, "apiGroups").empty()) {
        c.Invalid(Child(p, "nonResourceURLs"), List(rule, "nonResourceURLs").dump(),
                  "rules cannot apply to both regular resources and non-resource URLs");
      }
      continue;
    }
    if (List(rule, "apiGroups").empty())
      c.Required(Child(p, "apiGroups"), "resource rules must supply at least one api group");
    if (!resources)
      c.Required(Child(p, "resources"), "resource rules must supply at least one resource");
  }
}

void CheckBinding(Checker& c, const json& document, bool cluster_binding) {
  const json& ref = Field(document, "roleRef");
  const std::string group = String(ref, "apiGroup"), kind = String(ref, "kind");
  if (group != kRbacGroup) c.NotSupported("roleRef.apiGroup", group, {kRbacGroup});
  if (cluster_binding) {
    if (kind != "ClusterRole") c.NotSupported("roleRef.kind", kind, {"ClusterRole"});
  } else if (kind != "Role" && kind != "ClusterRole") {
    c.NotSupported("roleRef.kind", kind, {"Role", "ClusterRole"});
  }
  const std::string name = String(ref, "name");
  if (name.empty()) {
    c.Required("roleRef.name");
  } else {
    c.InvalidEach("roleRef.name", name, IsPathSegmentName(name));
  }
  const json& subjects = List(document, "subjects");
  for (size_t i = 0; i < subjects.size(); ++i) {
    const std::string p = Index("subjects", i);
    const json& s = subjects[i];
    const std::string subject_kind = String(s, "kind"), subject_name = String(s, "name");
    const std::string subject_group = String(s, "apiGroup");
    if (subject_name.empty()) c.Required(Child(p, "name"));
    if (subject_kind == "ServiceAccount") {
      if (!subject_name.empty())
        c.InvalidEach(Child(p, "name"), subject_name, IsDNS1123Subdomain(subject_name));
      if (!subject_group.empty()) c.NotSupported(Child(p, "apiGroup"), subject_group, {""});
      if (String(s, "namespace").empty()) c.Required(Child(p, "namespace"));
    } else if (subject_kind == "User" || subject_kind == "Group") {
      if (subject_group != kRbacGroup)
        c.NotSupported(Child(p, "apiGroup"), subject_group, {kRbacGroup});
    } else {
      c.NotSupported(Child(p, "kind"), subject_kind, {"ServiceAccount", "User", "Group"});
    }
  }
}

// ---- DaemonSet -----------------------------------------------------------------------------

// IsValidPortName: an IANA service name.
std::vector<std::string> IsValidPortName(std::string_view name) {
  std::vector<std::string> out;
  if (name.size() > 15) out.push_back("must be no more than 15 characters");
  static const std::regex format("[-a-z0-9]+");
  if (!std::regex_match(name.begin(), name.end(), format))
    out.push_back("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  if (name.find("--") != std::string_view::npos)
    out.push_back("must not contain consecutive hyphens");
  if (name.find_first_of("abcdefghijklmnopqrstuvwxyz") == std::string_view::npos)
    out.push_back("must contain at least one letter (a-z)");
  if (!name.empty() && (name.front() == '-' || name.back() == '-'))
    out.push_back("must not begin or end with a hyphen");
  return out;
}

void CheckPort(Checker& c, const std::string& path, int64_t port) {
  if (port < 1 || port > 65535)
    c.Invalid(path, std::to_string(port), "must be between 1 and 65535, inclusive");
}

// A percentage "N%" with N in 0..100, or an integer >= 0; returns the value, or -1 on error.
int64_t CheckIntOrPercent(Checker& c, const std::string& path, const json& value) {
  if (value.is_number_integer()) {
    if (value.get<int64_t>() < 0) {
      c.Invalid(path, value.dump(), "must be greater than or equal to 0");
      return -1;
    }
    return value.get<int64_t>();
  }
  if (!value.is_string()) return -1;
  static const std::regex percent("[0-9]+%");
  const std::string s = value.get<std::string>();
  if (!std::regex_match(s, percent)) {
    c.Invalid(path, Quote(s),
              "a valid percent string must be a numeric string followed by an "
              "ending '%' (e.g. '1%',  or '93%', regex used for validation is "
              "'[0-9]+%')");
    return -1;
  }
  const int64_t n = std::stoll(s.substr(0, s.size() - 1));
  if (n > 100) {
    c.Invalid(path, Quote(s), "must not be greater than 100%");
    return -1;
  }
  return n;
}

void CheckProbe(Checker& c, const std::string& path, const json& probe,
                const std::set<std::string>& port_names) {
  int handlers = 0;
  for (const char* handler : {"exec", "httpGet", "tcpSocket", "grpc"}) {
    if (Field(probe, handler).is_null()) continue;
    if (++handlers > 1) {
      c.Forbidden(Child(path, handler), "may not specify more than 1 handler type");
      continue;
    }
    const json& port = Field(Field(probe, handler), "port");
    const std::string pp = Child(Child(path, handler), "port");
    if (std::string_view(handler) == "exec") {
      if (List(probe["exec"], "command").empty())
        c.Required(Child(Child(path, handler), "command"));
    } else if (port.is_number_integer()) {
      CheckPort(c, pp, port.get<int64_t>());
    } else if (port.is_string()) {
      const std::string name = port.get<std::string>();
      c.InvalidEach(pp, name, IsValidPortName(name));
      if (IsValidPortName(name).empty() && port_names.count(name) == 0)
        c.Invalid(pp, Quote(name), "must contain the name of a port of the container");
    } else {
      c.Required(pp);
    }
  }
  if (handlers == 0) c.Required(path, "must specify a handler type");
  for (const char* field : {"initialDelaySeconds", "timeoutSeconds", "periodSeconds",
                            "successThreshold", "failureThreshold"}) {
    const json& v = Field(probe, field);
    if (v.is_number_integer() && v.get<int64_t>() < 0)
      c.Invalid(Child(path, field), v.dump(), "must be greater than or equal to 0");
  }
  const json& success = Field(probe, "successThreshold");
  if (std::string_view(path).find("liveness") != std::string_view::npos &&
      success.is_number_integer() && success.get<int64_t>() != 1) {
    c.Invalid(Child(path, "successThreshold"), success.dump(), "must be 1");
  }
}

// The downward API's fields for env (pkg/apis/core/validation
// validEnvDownwardAPIFieldPathExpressions).
bool IsEnvFieldPath(const std::string& path) {
  static const std::set<std::string> simple = {"metadata.name",
                                               "metadata.namespace",
                                               "metadata.uid",
                                               "spec.nodeName",
                                               "spec.serviceAccountName",
                                               "status.hostIP",
                                               "status.hostIPs",
                                               "status.podIP",
                                               "status.podIPs"};
  if (simple.count(path) != 0) return true;
  static const std::regex subscript(R"((metadata\.labels|metadata\.annotations)\['[^']+'\])");
  return std::regex_match(path, subscript);
}

void CheckContainer(Checker& c, const std::string& path, const json& container,
                    const std::set<std::string>& volumes) {
  std::set<std::string> port_names;
  const json& ports = List(container, "ports");
  for (size_t i = 0; i < ports.size(); ++i) {
    const std::string p = Index(Child(path, "ports"), i);
    const json& number = Field(ports[i], "containerPort");
    if (number.is_number_integer()) {
      CheckPort(c, Child(p, "containerPort"), number.get<int64_t>());
    } else {
      c.Required(Child(p, "containerPort"));
    }
    const std::string name = String(ports[i], "name");
    if (!name.empty()) {
      c.InvalidEach(Child(p, "name"), name, IsValidPortName(name));
      if (!port_names.insert(name).second) c.Duplicate(Child(p, "name"), name);
    }
  }
  const json& env = List(container, "env");
  for (size_t i = 0; i < env.size(); ++i) {
    const std::string p = Index(Child(path, "env"), i);
    const std::string name = String(env[i], "name");
    if (name.empty()) {
      c.Required(Child(p, "name"));
    } else if (name.find('=') != std::string::npos) {
      c.Invalid(Child(p, "name"), Quote(name),
                "a valid environment variable name must consist "
                "only of printable ASCII characters other than '='");
    }
    const json& from = Field(env[i], "valueFrom");
    if (from.is_null()) continue;
    if (!String(env[i], "value").empty())
      c.Invalid(Child(p, "valueFrom"), "\"\"", "may not be specified when `value` is not empty");
    int sources = 0;
    for (const auto& item : from.items()) sources += item.value().is_null() ? 0 : 1;
    if (sources != 1) {
      c.Invalid(Child(p, "valueFrom"), "\"\"",
                "must specify one of: `fieldRef`, "
                "`resourceFieldRef`, `configMapKeyRef`, `secretKeyRef` or `fileKeyRef`");
    }
    const json& field_ref = Field(from, "fieldRef");
    if (!field_ref.is_null()) {
      const std::string fp = String(field_ref, "fieldPath");
      const std::string fpp = Child(Child(Child(p, "valueFrom"), "fieldRef"), "fieldPath");
      if (fp.empty()) {
        c.Required(fpp);
      } else if (!IsEnvFieldPath(fp)) {
        c.NotSupported(
            fpp, fp,
            {"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
             "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP",
             "status.hostIPs", "status.podIP", "status.podIPs"});
      }
    }
  }
  const bool privileged = Field(Field(container, "securityContext"), "privileged") == json(true);
  std::set<std::string> mount_paths;
  const json& mounts = List(container, "volumeMounts");
  for (size_t i = 0; i < mounts.size(); ++i) {
    const std::string p = Index(Child(path, "volumeMounts"), i);
    const std::string name = String(mounts[i], "name"), at = String(mounts[i], "mountPath");
    if (name.empty()) {
      c.Required(Child(p, "name"));
    } else if (volumes.count(name) == 0) {
      c.NotFound(Child(p, "name"), name, "");
    }
    if (at.empty()) {
      c.Required(Child(p, "mountPath"));
    } else if (!mount_paths.insert(at).second) {
      c.Invalid(Child(p, "mountPath"), Quote(at), "must be unique");
    }
    const std::string propagation = String(mounts[i], "mountPropagation");
    if (!propagation.empty() && propagation != "None" && propagation != "HostToContainer" &&
        propagation != "Bidirectional") {
      c.NotSupported(Child(p, "mountPropagation"), propagation,
                     {"Bidirectional", "HostToContainer", "None"});
    } else if (propagation == "Bidirectional" && !privileged) {
      c.Forbidden(Child(p, "mountPropagation"),
                  "Bidirectional mount propagation is available only to privileged containers");
    }
  }
  for (const char* probe : {"livenessProbe", "readinessProbe", "startupProbe"}) {
    if (!Field(container, probe).is_null())
      CheckProbe(c, Child(path, probe), container[probe], port_names);
  }
}

void CheckPodSpec(Checker& c, const std::string& path, const json& spec) {
  std::set<std::string> volumes;
  const json& list = List(spec, "volumes");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string p = Index(Child(path, "volumes"), i);
    const std::string name = String(list[i], "name");
    if (name.empty()) {
      c.Required(Child(p, "name"));
    } else {
      c.InvalidEach(Child(p, "name"), name, IsDNS1123Label(name));
      if (!volumes.insert(name).second) c.Duplicate(Child(p, "name"), name);
    }
    int sources = 0;
    for (const auto& item : list[i].items()) {
      if (item.key() != "name" && !item.value().is_null()) ++sources;
    }
    if (sources == 0) c.Required(p, "must specify a volume type");
    if (sources > 1) c.Forbidden(p, "may not specify more than 1 volume type");
    const json& host = Field(list[i], "hostPath");
    if (host.is_null()) continue;
    const std::string hp = Child(p, "hostPath");
    const std::string host_path = String(host, "path"), type = String(host, "type");
    if (host_path.empty()) {
      c.Required(Child(hp, "path"));
    } else if (host_path.front() != '/') {
      c.Invalid(Child(hp, "path"), Quote(host_path), "must be an absolute path");
    }
    static const std::vector<std::string> types = {
        "",       "DirectoryOrCreate", "Directory",  "FileOrCreate", "File",
        "Socket", "CharDevice",        "BlockDevice"};
    if (std::find(types.begin(), types.end(), type) == types.end())
      c.NotSupported(Child(hp, "type"), type, types);
  }
  for (const char* kind : {"initContainers", "containers"}) {
    const json& containers = List(spec, kind);
    for (size_t i = 0; i < containers.size(); ++i)
      CheckContainer(c, Index(Child(path, kind), i), containers[i], volumes);
  }
  const std::string account = String(spec, "serviceAccountName");
  if (!account.empty())
    c.InvalidEach(Child(path, "serviceAccountName"), account, IsDNS1123Subdomain(account));
}

// Whether a LabelSelector's matchLabels and matchExpressions select `labels`.
bool Selects(const json& selector, const json& labels) {
  auto label = [&](const std::string& key) -> std::optional<std::string> {
    const json& v = Field(labels, key.c_str());
    if (!v.is_string()) return std::nullopt;
    return v.get<std::string>();
  };
  const json& match = Field(selector, "matchLabels");
  if (match.is_object()) {
    for (const auto& [key, value] : match.items()) {
      if (!value.is_string() || label(key) != value.get<std::string>()) return false;
    }
  }
  for (const json& e : List(selector, "matchExpressions")) {
    const std::string key = String(e, "key"), op = String(e, "operator");
    std::set<std::string> values;
    for (const json& v : List(e, "values")) {
      if (v.is_string()) values.insert(v.get<std::string>());
    }
    const auto have = label(key);
    if (op == "In" && (!have || values.count(*have) == 0)) return false;
    if (op == "NotIn" && have && values.count(*have) != 0) return false;
    if (op == "Exists" && !have) return false;
    if (op == "DoesNotExist" && have) return false;
  }
  return true;
}

void CheckDaemonSet(Checker& c, const json& document, std::vector<Error>& out) {
  const json& spec = Field(document, "spec");
  const json& selector = Field(spec, "selector");
  const json& template_ = Field(spec, "template");
  const json& labels = Field(Field(template_, "metadata"), "labels");
  if (selector.is_null()) {
    c.Required("spec.selector");
  } else if (Field(selector, "matchLabels").empty() && List(selector, "matchExpressions").empty()) {
    c.Invalid("spec.selector", selector.dump(), "empty selector is invalid for daemonset");
  } else if (!Selects(selector, labels)) {
    c.Invalid("spec.template.metadata.labels", labels.dump(),
              "`selector` does not match template `labels`");
  }
  for (const char* field : {"minReadySeconds", "revisionHistoryLimit"}) {
    const json& v = Field(spec, field);
    if (v.is_number_integer() && v.get<int64_t>() < 0)
      c.Invalid(Child("spec", field), v.dump(), "must be greater than or equal to 0");
  }
  const json& strategy = Field(spec, "updateStrategy");
  const std::string type = String(strategy, "type");
  const json& rolling = Field(strategy, "rollingUpdate");
  if (!strategy.is_null() && type != "RollingUpdate" && type != "OnDelete") {
    c.NotSupported("spec.updateStrategy.type", type, {"OnDelete", "RollingUpdate"});
  } else if (type == "OnDelete" && !rolling.is_null()) {
    c.Forbidden("spec.updateStrategy.rollingUpdate",
                "rollingUpdate may only be specified when type is RollingUpdate");
  } else if (type == "RollingUpdate" && !rolling.is_null()) {
    const json& unavailable = Field(rolling, "maxUnavailable");
    const json& surge = Field(rolling, "maxSurge");
    const int64_t u =
        unavailable.is_null()
            ? 1
            : CheckIntOrPercent(c, "spec.updateStrategy.rollingUpdate.maxUnavailable", unavailable);
    const int64_t s =
        surge.is_null() ? 0
                        : CheckIntOrPercent(c, "spec.updateStrategy.rollingUpdate.maxSurge", surge);
    if (u == 0 && s == 0) {
      c.Invalid("spec.updateStrategy.rollingUpdate.maxUnavailable", unavailable.dump(),
                "may not be 0 when `maxSurge` is 0");
    }
  }
  if (template_.is_null()) return c.Required("spec.template");
  const std::string restart = String(Field(template_, "spec"), "restartPolicy");
  if (!restart.empty() && restart != "Always")
    c.NotSupported("spec.template.spec.restartPolicy", restart, {"Always"});
  PodTemplateSpec typed;
  std::vector<Error> decode;
  DecodeAll(template_, typed, decode);
  for (Error& e : decode) out.push_back(std::move(e.Under("spec.template")));
  for (Error& e : ValidatePodTemplate("spec.template", typed)) out.push_back(std::move(e));
  CheckPodSpec(c, "spec.template.spec", Field(template_, "spec"));
}

// The kinds of this file: scope and name format (their shapes are kShapes' entries of that name).
struct Kind {
  const char* api_version;
  const char* kind;
  Scope scope;
  std::vector<std::string> (*name_check)(std::string_view);
};

constexpr char kRbacV1[] = "rbac.authorization.k8s.io/v1";
const Kind kKinds[] = {
    {"v1", "ServiceAccount", Scope::kNamespaced, IsDNS1123Subdomain},
    {kRbacV1, "ClusterRole", Scope::kCluster, IsPathSegmentName},
    {kRbacV1, "ClusterRoleBinding", Scope::kCluster, IsPathSegmentName},
    {kRbacV1, "Role", Scope::kNamespaced, IsPathSegmentName},
    {kRbacV1, "RoleBinding", Scope::kNamespaced, IsPathSegmentName},
    {"apps/v1", "DaemonSet", Scope::kNamespaced, IsDNS1123Subdomain},
};

}  // namespace

std::optional<std::vector<Error>> ValidateInstallObject(const json& document) {
  const std::string api_version = String(document, "apiVersion"), kind = String(document, "kind");
  const Kind* found = nullptr;
  for (const Kind& k : kKinds) {
    if (api_version == k.api_version && kind == k.kind) found = &k;
  }
  if (found == nullptr) return std::nullopt;
  std::vector<Error> out;
  Checker c(out);
  // As on the API server, an object that does not decode strictly is not validated further.
  c.Shape(document, Shapes().at(kind), "");
  if (!out.empty()) return out;
  CheckMetadata(c, document, found->scope, found->name_check, out);
  if (kind == "ClusterRole" || kind == "Role") CheckRules(c, document, kind == "ClusterRole");
  if (kind == "ClusterRoleBinding" || kind == "RoleBinding")
    CheckBinding(c, document, kind == "ClusterRoleBinding");
  if (kind == "DaemonSet") CheckDaemonSet(c, document, out);
  return out;
}

}  // namespace migdra::api
