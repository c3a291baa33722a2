#include "control/typed.h"

#include "api/validation.h"

namespace migdra::control {
namespace {

bool IsUnknownField(const Error& error) { return error.message == "unknown field"; }

// Whether the api module has a typed schema for the kind.
bool HasSchema(const ResourceInfo& info) { return info.group == "resource.k8s.io"; }

// Server-owned metadata the typed schema may not carry; never a client's mistake.
json WithoutServerFields(const json& object) {
  json copy = object;
  if (copy.contains("metadata") && copy["metadata"].is_object()) {
    copy["metadata"].erase("managedFields");
  }
  return copy;
}

}  // namespace

// The StatusCause reason for a message in the API server's words ("Required value", ...).
std::string CauseReason(const std::string& message) {
  static const std::pair<const char*, const char*> kinds[] = {
      {"Required value", "FieldValueRequired"},   {"Unsupported value", "FieldValueNotSupported"},
      {"Too many", "FieldValueTooMany"},          {"Too long", "FieldValueTooLong"},
      {"Duplicate value", "FieldValueDuplicate"}, {"Forbidden", "FieldValueForbidden"},
      {"Not found", "FieldValueNotFound"},
  };
  for (const auto& [prefix, reason] : kinds) {
    if (message.rfind(prefix, 0) == 0) return reason;
  }
  return "FieldValueInvalid";
}

json TypedValidate(const ResourceInfo& info, const json& object) {
  json causes = json::array();
  if (!HasSchema(info)) return causes;
  std::vector<Error> errors;
  Result<api::AnyObject> decoded =
      api::DecodeObjectAll(WithoutServerFields(object), errors, api::DecodeOptions{.strict = true});
  for (const Error& e : errors) {
    if (IsUnknownField(e)) continue;
    causes.push_back(json{{"reason", "FieldValueTypeMismatch"},
                          {"field", e.field},
                          {"message", "Invalid value: " + e.message}});
  }
  if (!causes.empty() || !decoded.ok()) return causes;
  for (const Error& e : api::Validate(*decoded)) {
    causes.push_back(
        json{{"reason", CauseReason(e.message)}, {"field", e.field}, {"message", e.message}});
  }
  return causes;
}

json MetadataCauses(const ResourceInfo& info, const json& object) {
  json causes = json::array();
  if (HasSchema(info)) return causes;
  auto add = [&](const std::string& path, const json& meta) {
    if (!meta.is_object()) return;
    std::optional<api::ObjectMeta> decoded = Decode<api::ObjectMeta>(meta);
    if (!decoded) return;  // wrong types are refused before validation (wire_types.h)
    for (const Error& e : api::ValidateMetadataMaps(path, *decoded)) {
      causes.push_back(
          json{{"reason", CauseReason(e.message)}, {"field", e.field}, {"message", e.message}});
    }
  };
  add("metadata", object.value("metadata", json()));
  if (info.plural == "jobs") {
    const json& spec = object.value("spec", json::object());
    if (spec.is_object() && spec.contains("template") && spec["template"].is_object()) {
      add("spec.template.metadata", spec["template"].value("metadata", json()));
    }
  }
  return causes;
}

std::vector<std::string> TypedUnknownFields(const ResourceInfo& info, const json& object) {
  std::vector<std::string> unknown;
  if (!HasSchema(info)) return unknown;
  std::vector<Error> errors;
  (void)api::DecodeObjectAll(WithoutServerFields(object), errors,
                             api::DecodeOptions{.strict = true});
  for (const Error& e : errors) {
    if (IsUnknownField(e)) unknown.push_back(e.field);
  }
  return unknown;
}

}  // namespace migdra::control
