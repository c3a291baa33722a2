#include "control/admission.h"

#include <algorithm>
#include <set>

#include "api/codec.h"
#include "api/schema.h"
#include "cel/cel.h"
#include "control/config_kinds.h"
#include "control/json_access.h"
#include "control/selectors.h"
#include "control/wire_types.h"

namespace migdra::control {
namespace {

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

ErrorCause Cause(const std::string& reason, const std::string& field, const std::string& message) {
  return ErrorCause{reason, field, message};
}

// Decoding errors (wrong types; unknown fields when asked) and, when the document decodes,
// validation errors.
void Check(const json& document, const DocumentCheck& check, std::vector<Error>& decoding,
           std::vector<Error>& validation) {
  Result<api::AnyObject> object = api::DecodeObjectAll(
      document, decoding, api::DecodeOptions{.strict = check.unknown_fields_are_errors});
  if (!object.ok()) return;
  validation = api::Validate(*object, CompilingValidationOptions(check.stored_expressions));
}

void CollectExpressions(const json& value, std::vector<std::string>& out) {
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (it.key() == "expression" && it.value().is_string()) {
        out.push_back(it.value().get<std::string>());
      } else {
        CollectExpressions(it.value(), out);
      }
    }
  } else if (value.is_array()) {
    for (const json& element : value) CollectExpressions(element, out);
  }
}

// Kinds without a typed model (Event): a name is required and may not contain '/', as the API
// server's path segment rules have it.
void ValidateUntypedName(const json& object, std::vector<ErrorCause>& causes) {
  std::string name = Str(Field(object, {"metadata"}), "name");
  if (name.empty()) {
    causes.push_back(Cause("FieldValueRequired", "metadata.name",
                           "Required value: name or generateName is required"));
  } else if (name.find('/') != std::string::npos) {
    causes.push_back(Cause("FieldValueInvalid", "metadata.name",
                           "Invalid value: \"" + name + "\": may not contain '/'"));
  }
}

// ConfigMaps and Secrets, which have no typed model: their metadata as every namespaced kind's,
// then their data (config_kinds.h).
void ValidateConfigKindObject(const ResourceInfo& info, const json& object, const json& old,
                              std::vector<ErrorCause>& causes) {
  json meta = Field(object, {"metadata"});
  meta.erase("managedFields");
  std::vector<Error> decoding;
  api::ObjectMeta decoded;
  api::DecodeAll(meta, decoded, decoding);
  for (const Error& e : decoding) {
    causes.push_back(Cause("FieldValueTypeMismatch",
                           e.field.empty() ? "metadata" : "metadata." + e.field, e.message));
  }
  if (decoding.empty()) {
    for (const Error& e : api::ValidateNamespacedObjectMeta(decoded))
      causes.push_back(Cause(CauseReason(e.message), e.field, e.message));
  }
  for (ErrorCause& cause : ValidateConfigKind(info, object, old))
    causes.push_back(std::move(cause));
}

// A Job's selector (defaulted from its uid unless manualSelector) must select its pods' labels,
// as upstream's ValidateJobSpec has it.
void ValidateJobSelector(const json& job, std::vector<ErrorCause>& causes) {
  const json& selector = Field(job, {"spec", "selector"});
  if (selector.is_null()) {
    causes.push_back(Cause("FieldValueRequired", "spec.selector", "Required value"));
    return;
  }
  if (!LabelSelector::FromObject(selector).Matches(
          Field(job, {"spec", "template", "metadata", "labels"}))) {
    causes.push_back(Cause("FieldValueInvalid", "spec.template.metadata.labels",
                           "Invalid value: `selector` does not match template `labels`"));
  }
}

// What only the server checks on update: fields that may not change.
void ValidateUpdate(const ResourceInfo& info, const json& object, const json& old,
                    std::vector<ErrorCause>& causes) {
  if (old.is_null()) return;
  if (info.plural == "resourceclaims" && Field(old, {"spec"}) != Field(object, {"spec"})) {
    causes.push_back(Cause("FieldValueInvalid", "spec", "Invalid value: field is immutable"));
  } else if (info.plural == "jobs" &&
             Field(old, {"spec", "template"}) != Field(object, {"spec", "template"})) {
    causes.push_back(
        Cause("FieldValueInvalid", "spec.template", "Invalid value: field is immutable"));
  }
}

}  // namespace

api::ValidationOptions CompilingValidationOptions(std::vector<std::string> stored_expressions) {
  api::ValidationOptions options;
  options.check_cel =
      [stored = std::set<std::string>(stored_expressions.begin(), stored_expressions.end())](
          std::string_view expression) -> std::optional<std::string> {
    if (stored.count(std::string(expression)) != 0) return std::nullopt;
    Result<cel::CompiledSelector> compiled = cel::CompiledSelector::Compile(expression);
    if (compiled.ok()) return std::nullopt;
    return compiled.error().ToString();
  };
  return options;
}

std::vector<Error> ValidateDocument(const json& document, const DocumentCheck& check) {
  const std::string kind = document.is_object() ? document.value("kind", "") : "";
  if (document.is_object() && document.value("apiVersion", "") == "v1" &&
      (kind == "ConfigMap" || kind == "Secret")) {
    // Kinds without a typed model: the server's own checks in its order. A value it cannot
    // decode (a wrong type, base64 that is not) is its one BadRequest message; unknown fields fail
    // strict decoding before validation; validation sees the object defaulted (a Secret's
    // stringData merged into data).
    const ResourceInfo& info = *FindResource("", "v1", kind == "Secret" ? "secrets" : "configmaps");
    if (std::optional<Error> error = WireTypeError(info, document))
      return {MakeError(error->message)};
    std::vector<Error> errors;
    if (check.unknown_fields_are_errors)
      api::FindUnknownFields(document, *api::KindDefinition("v1", kind), errors);
    if (!errors.empty()) return errors;
    json object = document;
    EncodeByteArrays(info, object);
    DefaultConfigKind(info, object);
    std::vector<ErrorCause> causes;
    ValidateConfigKindObject(info, object, json(), causes);
    for (const ErrorCause& cause : causes) {
      errors.push_back(MakeError(cause.message, cause.field));
    }
    return errors;
  }
  // What the API server's decoder refuses (a quantity that does not parse, a wrong type) is its
  // one BadRequest before any validation, whatever the kind.
  if (document.is_object()) {
    const std::string api_version = document.value("apiVersion", "");
    for (const ResourceInfo& info : AllResources()) {
      if (info.kind != kind || info.GroupVersion() != api_version) continue;
      if (std::optional<Error> error = WireTypeError(info, document))
        return {MakeError(error->message)};
    }
  }
  std::vector<Error> decoding, validation;
  Check(document, check, decoding, validation);
  decoding.insert(decoding.end(), validation.begin(), validation.end());
  return decoding;
}

std::vector<ErrorCause> AdmissionCauses(const ResourceInfo& info, const json& object,
                                        const json& old) {
  std::vector<ErrorCause> causes;
  if (!object.is_object() || !Field(object, {"metadata"}).is_object()) {
    causes.push_back(Cause("FieldValueRequired", "metadata", "Required value"));
    return causes;
  }
  if (info.plural == "events") {
    ValidateUntypedName(object, causes);
    return causes;
  }
  if (IsConfigKind(info)) {
    ValidateConfigKindObject(info, object, old, causes);
    return causes;
  }
  json document = object;
  document["metadata"].erase("managedFields");  // server-owned, never a client's mistake
  DocumentCheck check;
  check.unknown_fields_are_errors = false;
  CollectExpressions(old, check.stored_expressions);
  std::vector<Error> decoding, validation;
  Check(document, check, decoding, validation);
  for (const Error& e : decoding) {
    causes.push_back(Cause("FieldValueTypeMismatch", e.field, e.message));
  }
  for (const Error& e : validation)
    causes.push_back(Cause(CauseReason(e.message), e.field, e.message));
  if (info.plural == "jobs") ValidateJobSelector(object, causes);
  ValidateUpdate(info, object, old, causes);
  return causes;
}

Result<FieldValidation> ParseFieldValidation(const std::string& value) {
  if (value.empty() || value == "Warn") return FieldValidation::kWarn;
  if (value == "Strict") return FieldValidation::kStrict;
  if (value == "Ignore") return FieldValidation::kIgnore;
  const std::string message =
      "Unsupported value: \"" + value + "\": supported values: \"Ignore\", \"Strict\", \"Warn\"";
  return MakeError(ErrorReason::kInvalid, "fieldValidation: " + message,
                   {Cause("FieldValueNotSupported", "fieldValidation", message)});
}

std::vector<std::string> StrictFieldFindings(const ResourceInfo& info, const json& object,
                                             const std::vector<std::string>& duplicates) {
  std::vector<std::string> findings;
  for (const std::string& path : duplicates) findings.push_back("duplicate field \"" + path + "\"");
  if (const api::SchemaDefinition* definition =
          api::KindDefinition(info.GroupVersion(), info.kind)) {
    std::vector<Error> unknown;
    api::FindUnknownFields(object, *definition, unknown);
    for (const Error& e : unknown) findings.push_back("unknown field \"" + e.field + "\"");
  }
  return findings;
}

std::optional<Error> ApplyFieldValidation(const ResourceInfo& info, json& object,
                                          const std::vector<std::string>& duplicates,
                                          FieldValidation mode,
                                          std::vector<std::string>& warnings) {
  if (mode == FieldValidation::kStrict) {
    std::vector<std::string> findings = StrictFieldFindings(info, object, duplicates);
    if (findings.empty()) return std::nullopt;
    std::string message = info.kind + " in version \"" + info.version +
                          "\" cannot be handled as a " + info.kind + ": strict decoding error: ";
    for (size_t i = 0; i < findings.size(); ++i) message += (i ? ", " : "") + findings[i];
    return MakeError(ErrorReason::kBadRequest, message);
  }
  std::vector<std::string> findings;
  for (const std::string& path : duplicates) findings.push_back("duplicate field \"" + path + "\"");
  if (const api::SchemaDefinition* definition =
          api::KindDefinition(info.GroupVersion(), info.kind)) {
    std::vector<Error> unknown;
    api::PruneUnknownFields(object, *definition, unknown);
    for (const Error& e : unknown) findings.push_back("unknown field \"" + e.field + "\"");
  }
  if (mode == FieldValidation::kWarn)
    warnings.insert(warnings.end(), findings.begin(), findings.end());
  return std::nullopt;
}

}  // namespace migdra::control
