#include "control/config_kinds.h"

#include <set>

#include "control/json_access.h"

namespace migdra::control {
namespace {

using nlohmann::json;

constexpr size_t kMaxConfigBytes = 1024 * 1024;  // upstream's MaxSecretSize, also ConfigMaps'
constexpr size_t kMaxKeyLength = 253;
constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

json Cause(const std::string& reason, const std::string& field, const std::string& message) {
  return json{{"reason", reason}, {"field", field}, {"message", message}};
}

std::string Quoted(const std::string& s) { return json(s).dump(); }

void CheckKeys(const json& map, const std::string& path, json& causes) {
  if (!map.is_object()) return;
  for (const auto& [key, value] : map.items()) {
    for (const std::string& message : ConfigKeyErrors(key)) {
      causes.push_back(Cause("FieldValueInvalid", path + "[" + key + "]",
                             "Invalid value: " + Quoted(key) + ": " + message));
    }
  }
}

void CheckImmutable(const json& object, const json& old, std::initializer_list<const char*> maps,
                    json& causes) {
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

void CheckSize(size_t total, const std::string& field, json& causes) {
  if (total > kMaxConfigBytes) {
    causes.push_back(
        Cause("FieldValueTooLong", field,
              "Too long: must have at most " + std::to_string(kMaxConfigBytes) + " bytes"));
  }
}

// The decoded size of a map of base64 values; a value that does not decode is a cause.
size_t DecodedSize(const json& map, const std::string& path, json& causes) {
  size_t total = 0;
  if (!map.is_object()) return total;
  for (const auto& [key, value] : map.items()) {
    Result<std::string> bytes = value.is_string() ? Base64Decode(value.get<std::string>())
                                                  : Result<std::string>(MakeError("not a string"));
    if (!bytes) {
      causes.push_back(Cause("FieldValueInvalid", path + "[" + key + "]",
                             "Invalid value: " + bytes.error().message));
      continue;
    }
    total += bytes->size();
  }
  return total;
}

json ValidateConfigMap(const json& object, const json& old) {
  json causes = json::array();
  const json& data = Field(object, {"data"});
  const json& binary = Field(object, {"binaryData"});
  CheckKeys(data, "data", causes);
  CheckKeys(binary, "binaryData", causes);
  size_t total = 0;
  if (data.is_object()) {
    for (const auto& [key, value] : data.items()) {
      if (!value.is_string()) {
        causes.push_back(Cause("FieldValueTypeInvalid", "data[" + key + "]",
                               "Invalid value: the value must be a string"));
        continue;
      }
      total += value.get_ref<const std::string&>().size();
      if (binary.is_object() && binary.contains(key)) {
        causes.push_back(
            Cause("FieldValueInvalid", "data[" + key + "]",
                  "Invalid value: " + Quoted(key) + ": duplicate of key present in binaryData"));
      }
    }
  }
  total += DecodedSize(binary, "binaryData", causes);
  CheckSize(total, "", causes);
  CheckImmutable(object, old, {"data", "binaryData"}, causes);
  return causes;
}

bool HasKey(const json& data, const char* key) { return data.is_object() && data.contains(key); }

json ValidateSecret(const json& object, const json& old) {
  json causes = json::array();
  const json& data = Field(object, {"data"});
  CheckKeys(data, "data", causes);
  CheckKeys(Field(object, {"stringData"}), "stringData", causes);
  CheckSize(DecodedSize(data, "data", causes), "data", causes);
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
    require("ssh-privatekey");
  } else if (type == "kubernetes.io/dockercfg" || type == "kubernetes.io/dockerconfigjson") {
    const char* key = type == "kubernetes.io/dockercfg" ? ".dockercfg" : ".dockerconfigjson";
    require(key);
    if (HasKey(data, key) && data[key].is_string()) {
      Result<std::string> text = Base64Decode(data[key].get<std::string>());
      if (text && json::parse(*text, nullptr, false).is_discarded()) {
        causes.push_back(Cause("FieldValueInvalid", std::string("data[") + key + "]",
                               "Invalid value: \"<secret contents redacted>\": invalid JSON"));
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

json ValidateConfigKind(const ResourceInfo& info, const json& object, const json& old) {
  if (!IsConfigKind(info)) return json::array();
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

std::vector<std::string> ConfigKeyErrors(std::string_view key) {
  std::vector<std::string> errors;
  if (key.size() > kMaxKeyLength) {
    errors.push_back("must be no more than " + std::to_string(kMaxKeyLength) + " characters");
  }
  const bool chars_ok = !key.empty() && key.find_first_not_of(
                                            "-._abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"
                                            "YZ0123456789") == std::string_view::npos;
  if (!chars_ok) {
    errors.push_back(
        "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
        "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
        "'[-._a-zA-Z0-9]+')");
  }
  if (key == ".") {
    errors.push_back("must not be '.'");
  } else if (key == "..") {
    errors.push_back("must not be '..'");
  } else if (key.rfind("..", 0) == 0) {
    errors.push_back("must not start with '..'");
  }
  return errors;
}

Result<std::string> Base64Decode(std::string_view text) {
  std::string out;
  uint32_t group = 0;
  int in_group = 0;
  int padding = 0;
  size_t position = 0;  // in the input without line breaks, as Go counts
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r' || c == '\n') continue;
    const size_t at = position++;
    const auto illegal = [&] {
      return MakeError("illegal base64 data at input byte " + std::to_string(at));
    };
    if (c == '=') {
      if (in_group < 2) return illegal();
      ++padding;
      group <<= 6;
      if (++in_group == 4) {
        out.push_back(static_cast<char>((group >> 16) & 0xFF));
        if (padding == 1) out.push_back(static_cast<char>((group >> 8) & 0xFF));
        in_group = 0;
      }
      continue;
    }
    if (padding > 0) return illegal();
    const size_t value = kBase64Alphabet.find(c);
    if (value == std::string_view::npos) return illegal();
    group = (group << 6) | static_cast<uint32_t>(value);
    if (++in_group == 4) {
      out.push_back(static_cast<char>((group >> 16) & 0xFF));
      out.push_back(static_cast<char>((group >> 8) & 0xFF));
      out.push_back(static_cast<char>(group & 0xFF));
      in_group = 0;
      group = 0;
    }
  }
  if (in_group != 0) {
    return MakeError("illegal base64 data at input byte " + std::to_string(position));
  }
  return out;
}

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{static_cast<uint8_t>(bytes[i])} << 16) |
                       (uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out.push_back(kBase64Alphabet[(v >> shift) & 0x3F]);
  }
  if (i < bytes.size()) {
    uint32_t v = uint32_t{static_cast<uint8_t>(bytes[i])} << 16;
    if (i + 1 < bytes.size()) v |= uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8;
    out.push_back(kBase64Alphabet[(v >> 18) & 0x3F]);
    out.push_back(kBase64Alphabet[(v >> 12) & 0x3F]);
    out.push_back(i + 1 < bytes.size() ? kBase64Alphabet[(v >> 6) & 0x3F] : '=');
    out.push_back('=');
  }
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> ConfigEntries(const std::string& resource,
                                                                       const json& object) {
  std::vector<std::pair<std::string, std::string>> entries;
  const bool configmap = resource == "configmaps";
  for (const char* map : {"data", "binaryData"}) {
    const json& m = Field(object, {map});
    if (!m.is_object()) continue;
    const bool encoded = !configmap || std::string_view(map) == "binaryData";
    for (const auto& [key, value] : m.items()) {
      if (!value.is_string()) continue;
      if (!encoded) {
        entries.emplace_back(key, value.get<std::string>());
        continue;
      }
      Result<std::string> bytes = Base64Decode(value.get<std::string>());
      if (!bytes) return bytes.error();
      entries.emplace_back(key, std::move(*bytes));
    }
  }
  return entries;
}

}  // namespace migdra::control
