// The schema of every kind migdra reads or serves, field by field: the one description from which
// unknown-field detection (strict decoding, serve's fieldValidation) and the OpenAPI documents
// (/openapi/v2, /openapi/v3, `kubectl explain`) are made.
//
// Where it comes from: the fields the typed codec models (codec.cc's Fields() lists, walked by a
// schema visitor, so a modelled field is in the schema by construction) plus, for the core/v1 and
// batch/v1 structs that keep the fields migdra does not act on verbatim (`extra`), and for kinds
// with no typed model (Event, ConfigMap, Secret), a table of the remaining Kubernetes fields
// (schema.cc). Definition names are the OpenAPI ones (`io.k8s.api.core.v1.PodSpec`).
//
// Unknown fields are reported as Error{field = full path, message = "unknown field"}; paths as
// Kubernetes writes them (`spec.template.spec.containers[0].imagePullPolice`, map keys never
// checked). Free-form fields (opaque parameters, RawExtension data, legacy volume sources kept as
// objects) accept any content.
//
// Thread safety: the tables are built once on first use (thread-safe static) and read-only after.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace migdra::api {

struct SchemaType {
  enum class Kind {
    kString,
    kInteger,
    kNumber,
    kBoolean,
    kObject,  // `definition`
    kArray,   // of `element`
    kMap,     // string keys, values of `element`
    kQuantity,
    kIntOrString,
    kFreeForm,  // any JSON object
  };
  Kind kind = Kind::kString;
  std::string definition;  // kObject: full definition name
  std::string format;      // "int32", "int64", "date-time", "byte", ...
  std::shared_ptr<const SchemaType> element;
};

struct SchemaProperty {
  std::string name;
  SchemaType type;
  std::string description;
  std::string merge_key;  // x-kubernetes-patch-merge-key of a list (patchStrategy merge)
};

struct SchemaDefinition {
  std::string name;  // io.k8s.api.core.v1.PodSpec
  std::string description;
  std::vector<SchemaProperty> properties;
  const SchemaProperty* Find(std::string_view property) const;
};

// A top-level kind: its group, version, kind and definition.
struct SchemaKind {
  std::string group;  // "" for core
  std::string version;
  std::string kind;
  std::string definition;
  std::string ApiVersion() const { return group.empty() ? version : group + "/" + version; }
};

// "core.PodSpec" -> "io.k8s.api.core.v1.PodSpec" (prefixes meta., core., batch., resource.);
// other names unchanged.
std::string SchemaFullName(std::string_view short_name);

// Every definition by full name.
const std::map<std::string, SchemaDefinition>& SchemaDefinitions();
const SchemaDefinition* FindSchemaDefinition(std::string_view name);
// The kinds with a schema (resource.k8s.io/v1, core/v1, batch/v1 and what others register).
const std::vector<SchemaKind>& SchemaKinds();
// The top-level definition of a kind; nullptr when migdra has no schema for it.
const SchemaDefinition* KindDefinition(std::string_view api_version, std::string_view kind);

// Appends an "unknown field" Error for every field of `value` (an instance of `definition`) that
// the schema does not know, keys in sorted order per object, depth first. Values of the wrong
// JSON type are skipped (the typed decoder reports them).
void FindUnknownFields(const nlohmann::json& value, const SchemaDefinition& definition,
                       std::vector<Error>& out);
// The same, and removes those fields from `value` (the API server drops them under
// fieldValidation Warn and Ignore).
void PruneUnknownFields(nlohmann::json& value, const SchemaDefinition& definition,
                        std::vector<Error>& out);

// Paths of keys that occur more than once in one object of the JSON text, in document order
// (`metadata.name`, `spec.template.spec.containers[0].imagePullPolicy`), as the API server's
// strict decoder reports them. Text that is not JSON gives no paths (the parser reports it).
std::vector<std::string> DuplicateFields(std::string_view json_text);

// The definitions of the typed model, one per struct of codec.cc's Fields(), without the fields a
// struct keeps in `extra` (schema.cc adds those). Defined in codec.cc.
std::vector<SchemaDefinition> ModelledSchemaDefinitions();

}  // namespace migdra::api
