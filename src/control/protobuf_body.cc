#include "control/protobuf_body.h"

#include <cstdint>
#include <functional>
#include <map>

#include <nlohmann/json.hpp>

#include "control/config_kinds.h"

namespace migdra::control {
namespace {

using nlohmann::json;

// One field of a protobuf message: its number and, for length-delimited fields, the bytes; for
// varints the value.
struct ProtoField {
  uint32_t number = 0;
  uint32_t wire_type = 0;
  uint64_t varint = 0;
  std::string_view bytes;
};

Result<uint64_t> Varint(std::string_view& in) {
  uint64_t value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) return MakeError("truncated varint");
    const uint8_t byte = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    value |= uint64_t{byte & 0x7Fu} << shift;
    if ((byte & 0x80) == 0) return value;
  }
  return MakeError("varint too long");
}

// Calls `each` for every field of `message`; an error for malformed input or from `each`.
Status ForEachField(std::string_view message,
                    const std::function<Status(const ProtoField&)>& each) {
  while (!message.empty()) {
    Result<uint64_t> key = Varint(message);
    if (!key) return key.error();
    ProtoField field;
    field.number = static_cast<uint32_t>(*key >> 3);
    field.wire_type = static_cast<uint32_t>(*key & 7);
    if (field.wire_type == 0) {
      Result<uint64_t> value = Varint(message);
      if (!value) return value.error();
      field.varint = *value;
    } else if (field.wire_type == 2) {
      Result<uint64_t> length = Varint(message);
      if (!length) return length.error();
      if (*length > message.size()) return MakeError("truncated field");
      field.bytes = message.substr(0, *length);
      message.remove_prefix(*length);
    } else {
      return MakeError("unsupported wire type " + std::to_string(field.wire_type));
    }
    if (Status ok = each(field); !ok) return ok;
  }
  return OkStatus();
}

// Whether a field holds its zero value: generated Kubernetes marshallers write every
// non-pointer field, so empty strings (selfLink) and zero times (creationTimestamp: a message of
// zero varints) arrive on create.
bool IsZero(const ProtoField& field) {
  if (field.wire_type == 0) return field.varint == 0;
  if (field.bytes.empty()) return true;
  bool zero = true;
  Status parsed = ForEachField(field.bytes, [&](const ProtoField& inner) -> Status {
    zero = zero && IsZero(inner);
    return OkStatus();
  });
  return parsed.ok() && zero;
}

// A field this decoder does not map: skipped when it holds its zero value, an error otherwise.
Status Unsupported(const std::string& where, const ProtoField& field) {
  if (IsZero(field)) return OkStatus();
  return MakeError(where + " field " + std::to_string(field.number) + " is not decoded");
}

// A map entry (key = 1, value = 2) into `into[key]`; `encode` base64-encodes bytes values.
Status MapEntry(const ProtoField& field, json& into, bool encode, const std::string& where) {
  std::string key, value;
  Status ok = ForEachField(field.bytes, [&](const ProtoField& f) -> Status {
    if (f.number == 1 && f.wire_type == 2) {
      key = std::string(f.bytes);
    } else if (f.number == 2 && f.wire_type == 2) {
      value = std::string(f.bytes);
    } else {
      return Unsupported(where + " entry", f);
    }
    return OkStatus();
  });
  if (!ok) return ok;
  into[key] = encode ? api::Base64Encode(value) : value;
  return OkStatus();
}

Result<json> ObjectMeta(std::string_view bytes) {
  json meta = json::object();
  Status ok = ForEachField(bytes, [&](const ProtoField& f) -> Status {
    static const char* kStrings[] = {nullptr, "name", "generateName",   "namespace",
                                     nullptr, "uid",  "resourceVersion"};
    if (f.wire_type == 2 && f.number >= 1 && f.number <= 6 && kStrings[f.number] != nullptr) {
      // Zero values are Go's omitted fields: JSON would not carry them.
      if (!f.bytes.empty()) meta[kStrings[f.number]] = std::string(f.bytes);
    } else if (f.number == 7 && f.wire_type == 0) {
      if (f.varint != 0) meta["generation"] = static_cast<int64_t>(f.varint);
    } else if ((f.number == 11 || f.number == 12) && f.wire_type == 2) {
      json& map = meta[f.number == 11 ? "labels" : "annotations"];
      if (map.is_null()) map = json::object();
      return MapEntry(f, map, false, "ObjectMeta");
    } else if (f.number == 14 && f.wire_type == 2) {
      meta["finalizers"].push_back(std::string(f.bytes));
    } else {
      return Unsupported("ObjectMeta", f);
    }
    return OkStatus();
  });
  if (!ok) return ok.error();
  return meta;
}

// A repeated string field's item appended to `into`.
void AppendString(json& into, const ProtoField& field) {
  if (!into.is_array()) into = json::array();
  into.push_back(std::string(field.bytes));
}

// An int32 field: Go writes a negative value as its 64-bit two's complement.
int32_t Int32(const ProtoField& field) { return static_cast<int32_t>(field.varint); }

// Decodes `bytes` as a message whose fields `each` maps, as one JSON object.
Result<json> Message(std::string_view bytes,
                     const std::function<Status(const ProtoField&, json&)>& each) {
  json out = json::object();
  Status ok = ForEachField(bytes, [&](const ProtoField& f) { return each(f, out); });
  if (!ok) return ok.error();
  return out;
}

// Sets `out[name]` to the message `field` holds, decoded by `decode`.
Status SetMessage(json& out, const char* name, const ProtoField& field,
                  Result<json> (*decode)(std::string_view)) {
  Result<json> value = decode(field.bytes);
  if (!value) return value.error();
  out[name] = std::move(*value);
  return OkStatus();
}

// EnvVar: name 1, value 2 (valueFrom is not decoded).
Result<json> EnvVar(std::string_view bytes) {
  return Message(bytes, [](const ProtoField& f, json& out) -> Status {
    if (f.number == 1 && f.wire_type == 2) {
      out["name"] = std::string(f.bytes);
    } else if (f.number == 2 && f.wire_type == 2) {
      if (!f.bytes.empty()) out["value"] = std::string(f.bytes);
    } else {
      return Unsupported("EnvVar", f);
    }
    return OkStatus();
  });
}

// ContainerPort: name 1, hostPort 2, containerPort 3, protocol 4 (hostIP is not decoded).
Result<json> ContainerPort(std::string_view bytes) {
  return Message(bytes, [](const ProtoField& f, json& out) -> Status {
    if (f.number == 1 && f.wire_type == 2) {
      if (!f.bytes.empty()) out["name"] = std::string(f.bytes);
    } else if (f.number == 2 && f.wire_type == 0) {
      if (f.varint != 0) out["hostPort"] = Int32(f);
    } else if (f.number == 3 && f.wire_type == 0) {
      out["containerPort"] = Int32(f);
    } else if (f.number == 4 && f.wire_type == 2) {
      if (!f.bytes.empty()) out["protocol"] = std::string(f.bytes);
    } else {
      return Unsupported("ContainerPort", f);
    }
    return OkStatus();
  });
}

// Container: name 1, image 2, command 3, args 4, workingDir 5, ports 6, env 7,
// imagePullPolicy 14, stdin 16, stdinOnce 17, tty 18: what kubectl's generators set.
Result<json> Container(std::string_view bytes) {
  return Message(bytes, [](const ProtoField& f, json& out) -> Status {
    static const std::map<uint32_t, const char*> kStrings = {
        {1, "name"}, {2, "image"}, {5, "workingDir"}, {14, "imagePullPolicy"}};
    static const std::map<uint32_t, const char*> kBools = {
        {16, "stdin"}, {17, "stdinOnce"}, {18, "tty"}};
    if (auto s = kStrings.find(f.number); s != kStrings.end() && f.wire_type == 2) {
      if (!f.bytes.empty()) out[s->second] = std::string(f.bytes);
    } else if (auto b = kBools.find(f.number); b != kBools.end() && f.wire_type == 0) {
      if (f.varint != 0) out[b->second] = true;
    } else if ((f.number == 3 || f.number == 4) && f.wire_type == 2) {
      AppendString(out[f.number == 3 ? "command" : "args"], f);
    } else if (f.number == 6 && f.wire_type == 2) {
      Result<json> port = ContainerPort(f.bytes);
      if (!port) return port.error();
      out["ports"].push_back(std::move(*port));
    } else if (f.number == 7 && f.wire_type == 2) {
      Result<json> env = EnvVar(f.bytes);
      if (!env) return env.error();
      out["env"].push_back(std::move(*env));
    } else {
      return Unsupported("Container", f);
    }
    return OkStatus();
  });
}

// PodSpec: containers 2, restartPolicy 3, dnsPolicy 6, nodeSelector 7, serviceAccountName 8.
Result<json> PodSpec(std::string_view bytes) {
  return Message(bytes, [](const ProtoField& f, json& out) -> Status {
    static const std::map<uint32_t, const char*> kStrings = {
        {3, "restartPolicy"}, {6, "dnsPolicy"}, {8, "serviceAccountName"}};
    if (auto s = kStrings.find(f.number); s != kStrings.end() && f.wire_type == 2) {
      if (!f.bytes.empty()) out[s->second] = std::string(f.bytes);
    } else if (f.number == 2 && f.wire_type == 2) {
      Result<json> container = Container(f.bytes);
      if (!container) return container.error();
      out["containers"].push_back(std::move(*container));
    } else if (f.number == 7 && f.wire_type == 2) {
      return MapEntry(f, out["nodeSelector"], false, "PodSpec.nodeSelector");
    } else {
      return Unsupported("PodSpec", f);
    }
    return OkStatus();
  });
}

// PodTemplateSpec: metadata 1, spec 2.
Result<json> PodTemplateSpec(std::string_view bytes) {
  return Message(bytes, [](const ProtoField& f, json& out) -> Status {
    if (f.number == 1 && f.wire_type == 2) return SetMessage(out, "metadata", f, ObjectMeta);
    if (f.number == 2 && f.wire_type == 2) return SetMessage(out, "spec", f, PodSpec);
    return Unsupported("PodTemplateSpec", f);
  });
}

// JobSpec: parallelism 1, completions 2, template 6, backoffLimit 7 (pointers: present when
// set, so a zero is kept).
Result<json> JobSpec(std::string_view bytes) {
  return Message(bytes, [](const ProtoField& f, json& out) -> Status {
    static const std::map<uint32_t, const char*> kInts = {
        {1, "parallelism"}, {2, "completions"}, {7, "backoffLimit"}};
    if (auto i = kInts.find(f.number); i != kInts.end() && f.wire_type == 0) {
      out[i->second] = Int32(f);
    } else if (f.number == 6 && f.wire_type == 2) {
      return SetMessage(out, "template", f, PodTemplateSpec);
    } else {
      return Unsupported("JobSpec", f);
    }
    return OkStatus();
  });
}

// NamespaceSpec: finalizers 1.
Result<json> NamespaceSpec(std::string_view bytes) {
  return Message(bytes, [](const ProtoField& f, json& out) -> Status {
    if (f.number == 1 && f.wire_type == 2) {
      AppendString(out["finalizers"], f);
      return OkStatus();
    }
    return Unsupported("NamespaceSpec", f);
  });
}

// ConfigMap: metadata 1, data 2, binaryData 3, immutable 4. Secret: metadata 1, data 2 (bytes),
// type 3, stringData 4, immutable 5.
Status ConfigField(const std::string& kind, const ProtoField& f, json& object) {
  const bool secret = kind == "Secret";
  if (f.number == 2 && f.wire_type == 2) {
    return MapEntry(f, object["data"], secret, kind + ".data");
  } else if (!secret && f.number == 3 && f.wire_type == 2) {
    return MapEntry(f, object["binaryData"], true, kind + ".binaryData");
  } else if (secret && f.number == 3 && f.wire_type == 2) {
    object["type"] = std::string(f.bytes);
  } else if (secret && f.number == 4 && f.wire_type == 2) {
    return MapEntry(f, object["stringData"], false, kind + ".stringData");
  } else if (f.number == (secret ? 5u : 4u) && f.wire_type == 0) {
    object["immutable"] = f.varint != 0;
  } else {
    return Unsupported(kind, f);
  }
  return OkStatus();
}

// The kinds decoded: v1 ConfigMap and Secret (kubectl create configmap/secret), v1 Namespace
// (kubectl create namespace), batch/v1 Job (kubectl create job). Each has metadata 1; Namespace
// spec 2; Job spec 2; a status (3 for Namespace and Job) arrives empty on create.
bool Decoded(const std::string& api_version, const std::string& kind) {
  if (api_version == "v1") return kind == "ConfigMap" || kind == "Secret" || kind == "Namespace";
  return api_version == "batch/v1" && kind == "Job";
}

Result<json> DecodeKind(const std::string& api_version, const std::string& kind,
                        std::string_view raw) {
  json object = {{"apiVersion", api_version}, {"kind", kind}};
  Status ok = ForEachField(raw, [&](const ProtoField& f) -> Status {
    if (f.number == 1 && f.wire_type == 2) return SetMessage(object, "metadata", f, ObjectMeta);
    if (kind == "Namespace" && f.number == 2 && f.wire_type == 2)
      return SetMessage(object, "spec", f, NamespaceSpec);
    if (kind == "Job" && f.number == 2 && f.wire_type == 2)
      return SetMessage(object, "spec", f, JobSpec);
    if (kind == "ConfigMap" || kind == "Secret") return ConfigField(kind, f, object);
    return Unsupported(kind, f);
  });
  if (!ok) return ok.error();
  return object;
}

}  // namespace

Result<std::string> ProtobufBodyToJson(std::string_view body) {
  constexpr std::string_view kMagic("k8s\0", 4);
  if (body.substr(0, 4) != kMagic) return MakeError("the body lacks the protobuf envelope");
  std::string api_version, kind;
  std::string_view raw;
  Status ok = ForEachField(body.substr(4), [&](const ProtoField& f) -> Status {
    if (f.number == 1 && f.wire_type == 2) {
      return ForEachField(f.bytes, [&](const ProtoField& t) -> Status {
        if (t.wire_type == 2 && t.number == 1) api_version = std::string(t.bytes);
        if (t.wire_type == 2 && t.number == 2) kind = std::string(t.bytes);
        return OkStatus();
      });
    }
    if (f.number == 2 && f.wire_type == 2) raw = f.bytes;
    if (f.number == 3 && f.wire_type == 2 && !f.bytes.empty()) {
      return MakeError("content encoding " + std::string(f.bytes) + " is not served");
    }
    return OkStatus();
  });
  if (!ok) return ok.error();
  if (!Decoded(api_version, kind)) {
    return MakeError("the protobuf encoding of " + (api_version.empty() ? "" : api_version + " ") +
                     (kind.empty() ? "this object" : kind) +
                     " is not served; send application/json");
  }
  Result<json> object = DecodeKind(api_version, kind, raw);
  if (!object) return object.error();
  // Invalid UTF-8 in a string becomes U+FFFD, as the API server's JSON encoding writes it.
  return object->dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace migdra::control
