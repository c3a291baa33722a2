#include "control/config_kinds.h"

#include <set>

#include "api/config_data.h"
#include "control/go_json.h"
#include "control/json_access.h"

namespace migdra::control {
namespace {

using api::Base64Decode;
using api::Base64Encode;
using api::ConfigKeyErrors;
using nlohmann::json;

constexpr size_t kMaxConfigBytes = 1024 * 1024;  // upstream's MaxSecretSize, also ConfigMaps'

ErrorCause Cause(const std::string& reason, const std::string& field, const std::string& message) {
  return ErrorCause{reason, field, message};
}

std::string Quoted(const std::string& s) { return json(s).dump(); }

void CheckKeys(const json& map, const std::string& path, std::vector<ErrorCause>& causes) {
  if (!map.is_object()) return;
  for (const auto& [key, value] : map.items()) {
    for (const std::string& message : ConfigKeyErrors(key)) {
      causes.push_back(Cause("FieldValueInvalid", path + "[" + key + "]",
                             "Invalid value: " + Quoted(key) + ": " + message));
    }
  }
}

void CheckImmutable(const json& object, const json& old, std::initializer_list<const char*> maps,
                    std::vector<ErrorCause>& causes) {
  if (old.is_null() || Field(old, {"immutable"}) != true) return;
  if (Field(object, {"immutable"}) != true) {
    causes.push_back(Cause("FieldValueForbidden", "immutable",
                           "Forbidden: field is immutable when `immutable` is set"));
  }
  for (const char* map : maps) {
    const json& now = Field(object, {map});
    const json& before = Field(old, {map});
    const bool empty_now = now.is_null() || (now.is_object() && now.empty());
    const bool empty_before = before.is_null() || (before.is_object() && before.empty());
    if (now != before && !(empty_now && empty_before)) {
      causes.push_back(Cause("FieldValueForbidden", map,
                             "Forbidden: field is immutable when `immutable` is set"));
    }
  }
}

// `field` as upstream names it: "data" for a Secret, "[]" (field.NewPath("")) for a ConfigMap.
void CheckSize(size_t total, const std::string& field, std::vector<ErrorCause>& causes) {
  if (total > kMaxConfigBytes) {
    causes.push_back(
        Cause("FieldValueTooLong", field,
              "Too long: may not be more than " + std::to_string(kMaxConfigBytes) + " bytes"));
  }
}

// The decoded length of a base64 value (0 when absent). Values that are not base64 text never
// get here: the decoder refused them as BadRequest (wire_types.h).
size_t DecodedLength(const json& value) {
  if (!value.is_string()) return 0;
  Result<std::string> bytes = Base64Decode(value.get_ref<const std::string&>());
  return bytes ? bytes->size() : 0;
}

size_t DecodedSize(const json& map) {
  size_t total = 0;
  if (!map.is_object()) return total;
  for (const auto& [key, value] : map.items()) total += DecodedLength(value);
  return total;
}

std::vector<ErrorCause> ValidateConfigMap(const json& object, const json& old) {
  std::vector<ErrorCause> causes;
  const json& data = Field(object, {"data"});
  const json& binary = Field(object, {"binaryData"});
  CheckKeys(data, "data", causes);
  CheckKeys(binary, "binaryData", causes);
  size_t total = 0;
  if (data.is_object()) {
    for (const auto& [key, value] : data.items()) {
      if (value.is_string()) total += value.get_ref<const std::string&>().size();
      if (binary.is_object() && binary.contains(key)) {
        causes.push_back(
            Cause("FieldValueInvalid", "data[" + key + "]",
                  "Invalid value: " + Quoted(key) + ": duplicate of key present in binaryData"));
      }
    }
  }
  total += DecodedSize(binary);
  CheckSize(total, "[]", causes);
  CheckImmutable(object, old, {"data", "binaryData"}, causes);
  return causes;
}

bool HasKey(const json& data, const char* key) { return data.is_object() && data.contains(key); }

std::vector<ErrorCause> ValidateSecret(const json& object, const json& old) {
  std::vector<ErrorCause> causes;
  const json& data = Field(object, {"data"});
  CheckKeys(data, "data", causes);
  CheckSize(DecodedSize(data), "data", causes);
  const std::string type = Str(object, "type");
  const auto require = [&](const char* key) {
    if (!HasKey(data, key)) {
      causes.push_back(
          Cause("FieldValueRequired", std::string("data[") + key + "]", "Required value"));
    }
  };
  if (type == "kubernetes.io/tls") {
    require("tls.crt");
    require("tls.key");
  } else if (type == "kubernetes.io/basic-auth") {
    if (!HasKey(data, "username") && !HasKey(data, "password")) {
      causes.push_back(Cause("FieldValueRequired", "data[username]", "Required value"));
      causes.push_back(Cause("FieldValueRequired", "data[password]", "Required value"));
    }
  } else if (type == "kubernetes.io/ssh-auth") {
    // Upstream checks the length of the value: an empty key is missing too.
    if (DecodedLength(Field(data, {"ssh-privatekey"})) == 0) {
      causes.push_back(Cause("FieldValueRequired", "data[ssh-privatekey]", "Required value"));
    }
  } else if (type == "kubernetes.io/dockercfg" || type == "kubernetes.io/dockerconfigjson") {
    const char* key = type == "kubernetes.io/dockercfg" ? ".dockercfg" : ".dockerconfigjson";
    require(key);
    if (HasKey(data, key) && data[key].is_string()) {
      Result<std::string> text = Base64Decode(data[key].get<std::string>());
      // Text that is not base64 never gets here: the decoder refuses it first.
      std::optional<std::string> error;
      if (text) error = GoJsonUnmarshalIntoMapError(*text);
      if (error) {
        causes.push_back(Cause("FieldValueInvalid", std::string("data[") + key + "]",
                               "Invalid value: \"<secret contents redacted>\": " + *error));
      }
    }
  } else if (type == "kubernetes.io/service-account-token") {
    if (Str(Field(object, {"metadata", "annotations"}), "kubernetes.io/service-account.name")
            .empty()) {
      causes.push_back(Cause("FieldValueRequired",
                             "metadata.annotations[kubernetes.io/service-account.name]",
                             "Required value"));
    }
  }
  if (!old.is_null() && Str(old, "type") != type) {
    causes.push_back(Cause("FieldValueInvalid", "type",
                           "Invalid value: " + Quoted(type) + ": field is immutable"));
  }
  CheckImmutable(object, old, {"data"}, causes);
  return causes;
}

}  // namespace

bool IsConfigKind(const ResourceInfo& info) {
  return info.group.empty() && (info.plural == "configmaps" || info.plural == "secrets");
}

void DefaultConfigKind(const ResourceInfo& info, json& object) {
  if (info.plural != "secrets") return;
  if (Str(object, "type").empty()) object["type"] = "Opaque";
  const json& string_data = Field(object, {"stringData"});
  if (string_data.is_object()) {
    for (const auto& [key, value] : string_data.items()) {
      if (value.is_string()) object["data"][key] = Base64Encode(value.get<std::string>());
    }
  }
  object.erase("stringData");
}

std::vector<ErrorCause> ValidateConfigKind(const ResourceInfo& info, const json& object,
                                           const json& old) {
  if (!IsConfigKind(info)) return {};
  return info.plural == "configmaps" ? ValidateConfigMap(object, old) : ValidateSecret(object, old);
}

json ConfigKindColumns(const ResourceInfo& info) {
  const auto column = [](const std::string& name, const std::string& description,
                         const std::string& format = "") {
    return json{{"name", name},
                {"type", "string"},
                {"format", format},
                {"description", description},
                {"priority", 0}};
  };
  json columns = {column("Name",
                         "Name must be unique within a namespace. More info: "
                         "https://kubernetes.io/docs/concepts/overview/working-with-objects/"
                         "names#names",
                         "name")};
  if (info.plural == "secrets")
    columns.push_back(column("Type", "Used to facilitate programmatic handling of secret data."));
  columns.push_back(column("Data", "The number of entries."));
  columns.push_back(column("Age",
                           "CreationTimestamp is a timestamp representing the server time when "
                           "this object was created."));
  return columns;
}

json ConfigKindRow(const ResourceInfo& info, const json& object) {
  size_t entries = 0;
  for (const char* map : {"data", "binaryData"}) {
    const json& m = Field(object, {map});
    if (m.is_object()) entries += m.size();
  }
  const long long age = SecondsSince(Str(Field(object, {"metadata"}), "creationTimestamp"));
  json row = {Str(Field(object, {"metadata"}), "name")};
  if (info.plural == "secrets") row.push_back(Str(object, "type"));
  row.push_back(entries);
  row.push_back(age < 0 ? "<unknown>" : HumanDuration(age));
  return row;
}

}  // namespace migdra::control
