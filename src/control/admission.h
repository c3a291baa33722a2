// Admission: the one decoding and validation path of `migdra validate` and of every create,
// update and patch `migdra serve` accepts, and the API server's field validation.
//
// ValidateDocument decodes a document by its apiVersion and kind with the api module's typed
// codec and validates it with api::Validate, CEL selectors (DeviceClass, claims, templates)
// compiled by the cel module. Its errors carry Kubernetes field paths and the API server's
// wording; AdmissionCauses turns them into the causes of an Invalid error (reason
// FieldValueRequired, FieldValueInvalid, ... from the error type, FieldValueTypeMismatch for a
// value of the wrong type), adding what only the server checks (immutable fields on update, the
// names of kinds without a typed model, a Job's selector). ConfigMaps and Secrets, which have no
// typed model, get their metadata checked as every namespaced kind's and their data as
// config_kinds.h says, in both paths.
//
// Field validation (query parameter fieldValidation, as the API server does it):
//   Strict  unknown or duplicate fields fail the request: BadRequest, `<Kind> in version "v1"
//           cannot be handled as a <Kind>: strict decoding error: duplicate field "metadata.name",
//           unknown field "spec.paralelism"` (duplicates first, in body order; unknown fields in
//           the schema walk's order, see api/schema.h).
//   Warn    (the server's default when the parameter is absent) each finding becomes a warning,
//           `unknown field "spec.paralelism"` (sent as `Warning: 299 - "..."` headers), and the
//           unknown fields are dropped from the stored object.
//   Ignore  the unknown fields are dropped silently.
// Any other value: Invalid naming `fieldValidation` and the supported values. (A patch's strict
// findings are the patch handler's 422 instead, see api_handler.cc.)
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/validation.h"
#include "common/result.h"
#include "control/resources.h"
#include "control/store.h"

namespace migdra::control {

struct DocumentCheck {
  // Report fields the schema does not know as errors ("unknown field"); serve leaves them to
  // field validation instead.
  bool unknown_fields_are_errors = true;
  // CEL expressions already stored in the previous version of the object: not compiled again,
  // as the API server tolerates stored expressions that a newer version would reject.
  std::vector<std::string> stored_expressions;
};

// Decodes and validates one document as `migdra validate` reports it (empty = valid). A document
// of a kind migdra has no typed model for gives one error naming the kind.
std::vector<Error> ValidateDocument(const json& document, const DocumentCheck& check = {});

// The api::ValidationOptions with CEL selectors compiled (for callers that decode themselves).
api::ValidationOptions CompilingValidationOptions(std::vector<std::string> stored_expressions = {});

// The causes that make `object` of kind `info`, about to be stored (`old` is null on create),
// Invalid; empty means valid.
std::vector<ErrorCause> AdmissionCauses(const ResourceInfo& info, const json& object,
                                        const json& old);

enum class FieldValidation { kIgnore, kWarn, kStrict };

// The query parameter's value ("" = Warn); a value outside Strict, Warn, Ignore is Invalid.
Result<FieldValidation> ParseFieldValidation(const std::string& value);

// Applies field validation to a client's `object` of kind `info`: `duplicates` are the body's
// repeated keys (api::DuplicateFields). Strict: the BadRequest error when anything was found. Warn:
// appends the findings to `warnings`. Warn and Ignore remove the unknown fields from `object`.
std::optional<Error> ApplyFieldValidation(const ResourceInfo& info, json& object,
                                          const std::vector<std::string>& duplicates,
                                          FieldValidation mode, std::vector<std::string>& warnings);

// What strict field validation finds in `object`: `duplicate field "..."` for each of
// `duplicates`, then `unknown field "..."` for each field the schema does not know (in the schema
// walk's order). Empty when nothing is found or the kind has no schema.
std::vector<std::string> StrictFieldFindings(const ResourceInfo& info, const json& object,
                                             const std::vector<std::string>& duplicates);

}  // namespace migdra::control
