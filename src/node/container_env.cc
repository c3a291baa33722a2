#include "node/container_env.h"

#include "control/json_access.h"

namespace migdra::node {

using control::Field;
using control::Str;
namespace {

using nlohmann::json;

// "status.podIPs" style lists of {"ip": ...}, joined by commas as the kubelet does.
std::string JoinIps(const json& list) {
  std::string out;
  if (!list.is_array()) return out;
  for (const json& entry : list) {
    std::string ip = Str(entry, "ip");
    if (ip.empty()) continue;
    if (!out.empty()) out += ",";
    out += ip;
  }
  return out;
}

// metadata.labels['KEY'] -> ("labels", "KEY"); false when `path` is not of that form.
bool MapKeyPath(const std::string& path, std::string* map, std::string* key) {
  for (const char* name : {"labels", "annotations"}) {
    std::string prefix = std::string("metadata.") + name + "['";
    if (path.size() > prefix.size() + 2 && path.compare(0, prefix.size(), prefix) == 0 &&
        path.compare(path.size() - 2, 2, "']") == 0) {
      *map = name;
      *key = path.substr(prefix.size(), path.size() - prefix.size() - 2);
      return true;
    }
  }
  return false;
}

Result<std::string> FieldValue(const json& pod, const std::string& path) {
  const json& metadata = Field(pod, {"metadata"});
  const json& spec = Field(pod, {"spec"});
  const json& status = Field(pod, {"status"});
  if (path == "metadata.name") return Str(metadata, "name");
  if (path == "metadata.namespace") return Str(metadata, "namespace");
  if (path == "metadata.uid") return Str(metadata, "uid");
  if (path == "spec.nodeName") return Str(spec, "nodeName");
  if (path == "spec.serviceAccountName") return Str(spec, "serviceAccountName");
  if (path == "status.hostIP") return Str(status, "hostIP");
  if (path == "status.hostIPs") return JoinIps(Field(status, {"hostIPs"}));
  if (path == "status.podIP") return Str(status, "podIP");
  if (path == "status.podIPs") return JoinIps(Field(status, {"podIPs"}));
  std::string map, key;
  if (MapKeyPath(path, &map, &key)) return Str(Field(metadata, {map.c_str()}), key.c_str());
  return MakeError("unsupported fieldPath \"" + path + "\"");
}

}  // namespace

std::string ExpandReferences(std::string_view text,
                             const std::map<std::string, std::string>& vars) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    if (text[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    size_t close = text[i + 1] == '(' ? text.find(')', i + 2) : std::string_view::npos;
    if (close == std::string_view::npos) {
      out += text[i];
      continue;
    }
    std::string name(text.substr(i + 2, close - i - 2));
    auto found = vars.find(name);
    out += found != vars.end() ? found->second : std::string(text.substr(i, close - i + 1));
    i = close;
  }
  return out;
}

Result<ContainerCommand> BuildContainerCommand(const json& pod, const json& container) {
  ContainerCommand out;
  std::map<std::string, std::string> defined;
  const std::string container_name = Str(container, "name");
  const json& env = Field(container, {"env"});
  if (env.is_array()) {
    for (size_t i = 0; i < env.size(); ++i) {
      const json& entry = env[i];
      const std::string name = Str(entry, "name");
      const std::string where =
          "container " + container_name + ": env[" + std::to_string(i) + "] (" + name + "): ";
      std::string value;
      const json& from = Field(entry, {"valueFrom"});
      if (from.is_object()) {
        if (from.contains("fieldRef")) {
          auto field = FieldValue(pod, Str(from["fieldRef"], "fieldPath"));
          if (!field.ok()) return MakeError(where + "valueFrom.fieldRef: " + field.error().message);
          value = *field;
        } else {
          std::string source = from.empty() ? "valueFrom" : "valueFrom." + from.begin().key();
          return MakeError(where + source +
                           " is not supported: migdra serve has no ConfigMaps or Secrets and "
                           "runs host processes without resource limits; use value or "
                           "valueFrom.fieldRef");
        }
      } else {
        value = ExpandReferences(Str(entry, "value"), defined);
      }
      defined[name] = value;
      bool replaced = false;
      for (auto& [existing, v] : out.env) {
        if (existing == name) {
          v = value;
          replaced = true;
        }
      }
      if (!replaced) out.env.emplace_back(name, value);
    }
  }
  for (const char* list : {"command", "args"}) {
    const json& items = Field(container, {list});
    if (!items.is_array()) continue;
    for (const json& item : items) {
      out.argv.push_back(
          ExpandReferences(item.is_string() ? item.get<std::string>() : "", defined));
    }
  }
  return out;
}

}  // namespace migdra::node
