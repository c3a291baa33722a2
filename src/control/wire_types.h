// The Go types of the served kinds' fields, as the API server's JSON decoder enforces them before
// anything else looks at an object: a value of the wrong JSON type (`metadata.finalizers: "x"`,
// `status.conditions: 5`) is refused as BadRequest with the decoder's message, e.g.
//
//   Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string into Go struct
//   field ObjectMeta.metadata.finalizers of type []string
//
// (apiserver's transformDecodeError around Go's json.UnmarshalTypeError: the innermost Go struct,
// the field path without indices or map keys, the Go type; "number 1.5" for a number that is not
// an integer of the field's size). null is accepted everywhere, as Go leaves the zero value. A
// []byte field (Secret data, ConfigMap binaryData) holds base64 text or, as Go's decoder also
// takes, a JSON array of byte values; text that does not decode is refused with Go's base64
// error, as the decoder returns it unwrapped:
//
//   Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3
//
// A resource.Quantity (a field of that type, or a value of a v1.ResourceList such as
// resources.limits or status.capacity) takes a string or a number (its UnmarshalJSON parses the
// JSON text); a bool, array or object is answered with ParseQuantity's error, as the decoder
// returns an UnmarshalJSON's error as it is:
//
//   Pod in version "v1" cannot be handled as a Pod: quantities must match the regular expression
//   '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'
//
// Of several mismatches the first in key order is reported (Go's decoder keeps its first error;
// kubectl sends keys sorted), unless a later one is such an UnmarshalJSON error: that ends the
// decoding and is returned instead.
//
// Coverage: every field the controllers, the runner, the printers and the selectors read, for
// every served kind — metadata (ObjectMeta) of all kinds; spec and status of Pod, Job, Node,
// Namespace; Event; ConfigMap and Secret entirely; and, for the resource.k8s.io kinds, that
// spec/status are objects (their contents are typed by the api module's strict decoder, see
// typed.h). Fields outside the table keep any value, as they are stored verbatim and never read.
//
// Thread safety: pure functions.
#pragma once

#include <optional>

#include "control/resources.h"
#include "control/store.h"

namespace migdra::control {

// The BadRequest error the API server answers for `object` of kind `info`, or nullopt when every
// typed field holds a value of its type.
std::optional<Error> WireTypeError(const ResourceInfo& info, const json& object);

// Rewrites every resource.Quantity of `object` (of `info`'s kind) that parses as its canonical
// string, as the API server stores what it decoded: `cpu: 0.5` becomes "500m", `1024Mi` "1Gi".
// A JSON number is parsed from its text as nlohmann writes it (an exponent such as 1e3 is then
// "1k" where Go, keeping the text, writes "1e3").
void CanonicalizeQuantities(const ResourceInfo& info, json& object);

// Stores the []byte fields given as JSON arrays of byte values (which WireTypeError accepted) as
// their base64 text, as the API server's decoder and encoder would: `data: {k: [104, 105]}`
// becomes `data: {k: aGk=}`.
void EncodeByteArrays(const ResourceInfo& info, json& object);

// Which of the API server's decoders meets the object. kJson is the JSON decoder of a create, an
// update and a JSON or merge patch (its text above, without the "... cannot be handled as ..."
// that only create and update add). kUnstructured is the converter a strategic merge patch's
// result goes through (runtime.DefaultUnstructuredConverter): it walks a struct's fields in Go
// declaration order and words a mismatch without the field, e.g. "cannot restore slice from
// string", "cannot convert int64 to string", "unrecognized type: int32", "error decoding from
// json: illegal base64 data at input byte 3". (It would take an integral float or an out-of-range
// integer for an integer field; serve refuses those with the JSON decoder's words.)
enum class WireDecoder { kJson, kUnstructured };

// The decoder's error text for `object`, or nullopt when every typed field holds a value of its
// type.
std::optional<std::string> WireDecodeError(const ResourceInfo& info, const json& object,
                                           WireDecoder decoder);

// `object` (as serve stores it) as the API server's codec encodes the same object: the JSON text a
// JSON or merge patch is applied to (apiserver's jsonPatcher). Compact, strings as Go's encoder
// writes them (<, >, &, U+2028 and U+2029 escaped), each struct's fields in Go declaration order
// (the table above; for the resource.k8s.io kinds the typed model's order, api::
// ModelledSchemaDefinitions), map keys sorted. As Go writes a struct whatever its omitempty tag,
// an absent struct field is written empty (`"status":{}`) and an absent metav1.Time as null;
// null, empty lists and empty maps are left out, as omitempty leaves out their Go zero values.
// Not modelled: the place of fields outside the table (written after the known ones, sorted),
// the order inside opaque core structs (sorted), and scalar zero values: a stored "", 0 or false
// is written as stored (Go leaves it out of an omitempty field), and an absent one is not written
// (Go writes it for a field without omitempty, e.g. NodeSystemInfo's).
std::string GoEncodedJson(const ResourceInfo& info, const json& object);

}  // namespace migdra::control
