// The patched object's JSON text as the API server has it after a JSON patch or a JSON merge
// patch: the value it quotes when that object does not decode (422 Invalid on field "patch",
// `string(patchedObjJS)`, apiserver's jsonPatcher).
//
// The API server applies these patches with gopkg.in/evanphx/json-patch.v4 (v4.13.0 in
// Kubernetes 1.36) to the codec's encoding of the current object (GoEncodedJson). That library
// holds a document as lazy nodes: a value keeps the bytes it was read from until an operation
// needs its members, and only then is it decoded, one level, into a Go map (object) or slice
// (array) of further lazy nodes. Re-encoding writes a decoded object's keys sorted (Go's map
// order) and an undecoded value's bytes as they came (json.Compact with HTML escaping: spacing,
// key order, string escapes and number spellings kept). So the text has the top-level keys
// sorted, the objects an operation went through sorted, and everything else as it was.
// What is decoded:
// - JSON patch (Patch.Apply): the objects and arrays along each operation's paths (findObject:
//   "path", and "from" of move and copy); a whole-document `replace`'s value, one level; every
//   object and array of the document's value that a passing `test` compared. An operation's value
//   stays as written, and a `copy` places a new node of its source's text.
// - Merge patch (MergePatch): each object of the current document that the patch merges an object
//   into, and every patch value placed where the document had none or no object (null members of
//   its objects pruned, which decodes all of its objects and arrays); a patch value that is not
//   an object replacing an object stays as written.
//
// Both take the current object's text and the patch's text (the request body) as they are, each
// valid JSON; the patch must be an array (JSON patch) or an object (merge patch). An Error says
// that the library would not have applied the patch.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace migdra::control {

Result<std::string> JsonPatchedText(std::string_view current, std::string_view patch);
Result<std::string> MergePatchedText(std::string_view current, std::string_view patch);

}  // namespace migdra::control
