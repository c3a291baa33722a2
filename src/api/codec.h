// YAML and JSON codecs for the object model (meta.h, core.h, batch.h, resource.h).
//
// Reading is two steps: ParseDocuments turns text (YAML, multi-document, or JSON) into JSON values
// with Kubernetes' YAML rules; FromJson / DecodeObject turn one value into a typed object.
// Writing is ToJson (typed object -> JSON value) and ToYaml / ToJsonText (value -> text).
//
// Strictness (decided here, relied on by `migdra validate`):
// - resource.k8s.io/v1 kinds are decoded strictly, like kubectl's default --validate=strict: an
//   unknown field is an error whose Error::field is the full path
//   (`spec.devices.requests[0].exactly.cout`) and whose message is "unknown field"; a value of the
//   wrong JSON type is an error naming the path ("expected string, got number"). In metadata, the
//   valid but unmodelled fields `managedFields` and `selfLink` are accepted and kept.
// - core/v1 (Node, Namespace, Pod) and batch/v1 (Job) have many valid fields migdra does not act
//   on; they are kept verbatim in the `extra` member of their struct and written back unchanged.
//   Type errors in modelled fields are still errors.
// With DecodeOptions{.strict = false}, unknown fields of the resource kinds are dropped instead
// (for objects from a newer API server).
//
// Encoding omits empty values like Go's `omitempty` (empty strings, lists, maps, unset optionals,
// zero numbers and false booleans), except fields Kubernetes always writes (pool.generation,
// pool.resourceSliceCount, quantities, containerStatuses[].ready/restartCount, metadata, spec).
// Quantities are written in canonical form (Quantity::ToString), so
// FromJson(ToJson(x)) reproduces x and ToJson is a function of the value.
//
// Thread safety: every function is pure; call from any thread. No exceptions escape.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/batch.h"
#include "api/core.h"
#include "api/meta.h"
#include "api/resource.h"
#include "common/result.h"

namespace migdra::api {

struct DecodeOptions {
  bool strict = true;  // see the header comment
};

// Splits `text` into documents and converts each to JSON.
// - Text whose first non-blank character is '{' or '[' is JSON: one object, or an array whose
//   elements are the documents.
// - Anything else is YAML: documents separated by `---`; empty documents (only comments) are
//   skipped. Plain scalars resolve as in YAML 1.2's core schema (true/false, null/~, integers incl.
//   0x/0o, floats); quoted scalars are always strings. Duplicate mapping keys are an error.
// - A document of kind `List` (or `<Kind>List`) with `items` is replaced by its items.
// Errors name the position: "yaml: line 4, column 3: ..." / "json: line 1, column 9: ...".
Result<std::vector<nlohmann::json>> ParseDocuments(std::string_view text);

// Decodes one JSON value into T. The types supported are every struct of the object model
// (DeviceClass, ResourceClaim, ResourceClaimTemplate, ResourceSlice, Node, Namespace, Pod, Job,
// and their parts such as AllocationResult, ObjectMeta, Device, ...). Returns the first error; use
// DecodeAll for every one.
template <class T>
Result<T> FromJson(const nlohmann::json& value, DecodeOptions options = {});

// Like FromJson, but collects every decoding error (each with its field path) in `errors`.
// Returns true when there was none; `out` is filled as far as possible either way.
template <class T>
bool DecodeAll(const nlohmann::json& value, T& out, std::vector<Error>& errors,
               DecodeOptions options = {});

// The JSON form of `object`, as the API server would write it (see the header comment).
template <class T>
nlohmann::json ToJson(const T& object);

// The kinds migdra reads as whole objects.
using AnyObject = std::variant<DeviceClass, ResourceClaim, ResourceClaimTemplate, ResourceSlice,
                               Node, Namespace, Pod, Job>;

// Decodes a document by its apiVersion and kind. An unknown pair is an error:
// `no kind "X" is registered for version "Y"`; a missing one: `Object 'Kind' is missing` /
// `Object 'apiVersion' is missing`. DecodeObjectAll collects every decoding error.
Result<AnyObject> DecodeObject(const nlohmann::json& document, DecodeOptions options = {});
Result<AnyObject> DecodeObjectAll(const nlohmann::json& document, std::vector<Error>& errors,
                                  DecodeOptions options = {});
// ParseDocuments + DecodeObject for each document.
Result<std::vector<AnyObject>> DecodeObjects(std::string_view text, DecodeOptions options = {});

nlohmann::json ToJson(const AnyObject& object);
const TypeMeta& TypeMetaOf(const AnyObject& object);

// YAML text for a JSON value: block style, 2-space indentation, keys in the value's order (sorted
// for nlohmann::json), strings quoted whenever they would otherwise read back as another type.
// For an object v (any Kubernetes document), ParseDocuments(ToYaml(v)) yields v. No trailing `---`.
std::string ToYaml(const nlohmann::json& value);
// Several documents joined with "---\n".
std::string ToYaml(const std::vector<nlohmann::json>& documents);
// Compact JSON text (indent < 0) or pretty-printed with `indent` spaces.
std::string ToJsonText(const nlohmann::json& value, int indent = -1);

}  // namespace migdra::api
