#include "control/openapi.h"

#include <functional>
#include <map>
#include <set>
#include <vector>

#include "api/kubernetes_version.h"
#include "api/schema.h"
#include "common/hex.h"
#include "control/resources.h"

namespace migdra::control {
namespace {

constexpr const char* kQuantity = "io.k8s.apimachinery.pkg.api.resource.Quantity";
constexpr const char* kIntOrString = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";

enum class Version { kV2, kV3 };

std::string Ref(Version v, const std::string& definition) {
  return (v == Version::kV2 ? "#/definitions/" : "#/components/schemas/") + definition;
}

json RefSchema(Version v, const std::string& definition) {
  // OpenAPI 3.0 ignores siblings of $ref, so the API server wraps references in allOf.
  if (v == Version::kV3) return json{{"allOf", json::array({{{"$ref", Ref(v, definition)}}})}};
  return json{{"$ref", Ref(v, definition)}};
}

json TypeSchema(Version v, const api::SchemaType& t) {
  using K = api::SchemaType::Kind;
  json out;
  switch (t.kind) {
    case K::kString:
      out = {{"type", "string"}};
      break;
    case K::kInteger:
      out = {{"type", "integer"}};
      break;
    case K::kNumber:
      out = {{"type", "number"}};
      break;
    case K::kBoolean:
      out = {{"type", "boolean"}};
      break;
    case K::kObject:
      return RefSchema(v, t.definition);
    case K::kQuantity:
      return RefSchema(v, kQuantity);
    case K::kIntOrString:
      return RefSchema(v, kIntOrString);
    case K::kArray:
      out = {{"type", "array"}, {"items", TypeSchema(v, *t.element)}};
      break;
    case K::kMap:
      out = {{"type", "object"}, {"additionalProperties", TypeSchema(v, *t.element)}};
      break;
    case K::kFreeForm:
      out = {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
      break;
  }
  if (!t.format.empty()) out["format"] = t.format;
  return out;
}

json DefinitionSchema(Version v, const api::SchemaDefinition& d) {
  json properties = json::object();
  for (const api::SchemaProperty& p : d.properties) {
    json schema = TypeSchema(v, p.type);
    if (!p.description.empty()) schema["description"] = p.description;
    if (!p.merge_key.empty()) {
      schema["x-kubernetes-patch-merge-key"] = p.merge_key;
      schema["x-kubernetes-patch-strategy"] = "merge";
      schema["x-kubernetes-list-type"] = "map";
      schema["x-kubernetes-list-map-keys"] = json::array({p.merge_key});
    }
    properties[p.name] = std::move(schema);
  }
  json out = {{"type", "object"}, {"properties", std::move(properties)}};
  if (!d.description.empty()) out["description"] = d.description;
  for (const api::SchemaKind& k : api::SchemaKinds()) {
    if (k.definition == d.name) {
      out["x-kubernetes-group-version-kind"] =
          json::array({{{"group", k.group}, {"kind", k.kind}, {"version", k.version}}});
    }
  }
  return out;
}

json AllDefinitions(Version v) {
  json out = json::object();
  for (const auto& [name, definition] : api::SchemaDefinitions())
    out[name] = DefinitionSchema(v, definition);
  out[kQuantity] = {{"type", "string"},
                    {"description",
                     "Quantity is a fixed-point representation of a number, written as a string "
                     "such as \"1\", \"80Gi\", \"500m\"."}};
  out[kIntOrString] = {
      {"type", "string"}, {"format", "int-or-string"}, {"description", "An integer or a string."}};
  return out;
}

// "api/v1" or "apis/resource.k8s.io/v1".
std::string PathPrefix(const ResourceInfo& r) {
  return r.group.empty() ? "api/v1" : "apis/" + r.GroupVersion();
}

std::string KindDefinitionName(const ResourceInfo& r) {
  for (const api::SchemaKind& k : api::SchemaKinds()) {
    if (k.group == r.group && k.version == r.version && k.kind == r.kind) return k.definition;
  }
  return "";
}

json Parameters(Version v, std::initializer_list<const char*> names) {
  json out = json::array();
  for (const char* name : names) {
    json p = {{"name", name}, {"in", "query"}, {"uniqueItems", true}};
    if (v == Version::kV2) {
      p["type"] = "string";
    } else {
      p["schema"] = {{"type", "string"}};
    }
    out.push_back(std::move(p));
  }
  return out;
}

// The operations on the served kinds of one group version (all of them when `prefix` is empty).
json Paths(Version v, const std::string& prefix) {
  json paths = json::object();
  for (const ResourceInfo& r : AllResources()) {
    if (!prefix.empty() && PathPrefix(r) != prefix) continue;
    const std::string definition = KindDefinitionName(r);
    json gvk = {{"group", r.group}, {"version", r.version}, {"kind", r.kind}};
    json body_schema = definition.empty() ? json{{"type", "object"}} : RefSchema(v, definition);
    auto operation = [&](const std::string& action, bool writes, bool patch) {
      json op = {{"x-kubernetes-group-version-kind", gvk},
                 {"x-kubernetes-action", action},
                 {"responses", {{"200", {{"description", "OK"}}}}}};
      op["parameters"] =
          writes ? Parameters(v, {"dryRun", "fieldManager", "fieldValidation", "force", "pretty"})
                 : Parameters(v, {"pretty"});
      if (writes) {
        json schema = patch ? json{{"type", "object"}} : body_schema;
        if (v == Version::kV2) {
          op["parameters"].push_back(
              {{"name", "body"}, {"in", "body"}, {"required", true}, {"schema", schema}});
        } else {
          json content = json::object();
          const std::vector<const char*> types =
              patch ? std::vector<const char*>{"application/json-patch+json",
                                               "application/merge-patch+json",
                                               "application/strategic-merge-patch+json"}
                    : std::vector<const char*>{"application/json"};
          for (const char* type : types) content[type] = {{"schema", schema}};
          op["requestBody"] = {{"content", content}, {"required", true}};
        }
      }
      return op;
    };
    const std::string base =
        "/" + PathPrefix(r) + "/" + (r.namespaced ? "namespaces/{namespace}/" : "") + r.plural;
    paths[base] = {{"get", operation("list", false, false)},
                   {"post", operation("post", true, false)},
                   {"delete", operation("deletecollection", false, false)}};
    paths[base + "/{name}"] = {{"get", operation("get", false, false)},
                               {"put", operation("put", true, false)},
                               {"patch", operation("patch", true, true)},
                               {"delete", operation("delete", false, false)}};
    if (r.HasSubresource("status")) {
      paths[base + "/{name}/status"] = {{"get", operation("get", false, false)},
                                        {"put", operation("put", true, false)},
                                        {"patch", operation("patch", true, true)}};
    }
  }
  return paths;
}

std::set<std::string> GroupVersionPrefixes() {
  std::set<std::string> out;
  for (const ResourceInfo& r : AllResources()) out.insert(PathPrefix(r));
  return out;
}

json V3Document(const std::string& prefix) {
  return json{{"openapi", "3.0.0"},
              {"info", {{"title", "Kubernetes"}, {"version", api::kKubernetesGitVersion}}},
              {"paths", Paths(Version::kV3, prefix)},
              {"components", {{"schemas", AllDefinitions(Version::kV3)}}}};
}

const std::map<std::string, json>& V3Documents() {
  static const std::map<std::string, json> documents = [] {
    std::map<std::string, json> out;
    for (const std::string& prefix : GroupVersionPrefixes()) out[prefix] = V3Document(prefix);
    return out;
  }();
  return documents;
}

bool AcceptsJson(const std::string& accept) {
  return accept.empty() || accept.find("application/json") != std::string::npos ||
         accept.find("*/*") != std::string::npos;
}

}  // namespace

std::optional<json> OpenApiDocument(const std::string& path, const std::string& accept) {
  if (path == "/openapi/v2" || path == "/openapi/v2/") {
    if (!AcceptsJson(accept)) return std::nullopt;
    static const json v2 = {
        {"swagger", "2.0"},
        {"info", {{"title", "Kubernetes"}, {"version", api::kKubernetesGitVersion}}},
        {"paths", Paths(Version::kV2, "")},
        {"definitions", AllDefinitions(Version::kV2)}};
    return v2;
  }
  const std::string v3 = "/openapi/v3";
  if (path == v3 || path == v3 + "/") {
    json paths = json::object();
    for (const auto& [prefix, document] : V3Documents()) {
      const std::string hash = HexEncode(std::to_string(std::hash<std::string>{}(document.dump())));
      paths[prefix] = {{"serverRelativeURL", v3 + "/" + prefix + "?hash=" + hash}};
    }
    return json{{"paths", paths}};
  }
  if (path.rfind(v3 + "/", 0) != 0) return std::nullopt;
  auto it = V3Documents().find(path.substr(v3.size() + 1));
  if (it == V3Documents().end()) return std::nullopt;
  return it->second;
}

}  // namespace migdra::control
