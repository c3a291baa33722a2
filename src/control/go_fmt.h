// Go's fmt and strconv renderings of decoded JSON, as the API server quotes a refused patch.
//
// When a strategic merge patch yields an object the API server cannot convert to its Go type,
// the 422 it answers quotes the patch as fmt.Sprintf("%+v", patchMap): the map that Go's
// unstructured JSON decoder (sigs.k8s.io/json, integers preserved) built from the body. The
// field error then quotes that text (and, for JSON and merge patches, the patched JSON text)
// with %q, i.e. strconv.Quote (GoQuote, common/go_strconv.h).
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/go_strconv.h"
#include "control/store.h"

namespace migdra::control {

// fmt's %+v of `value` as the unstructured decoder holds it: an object is a map[string]
// interface{} printed `map[k1:v1 k2:v2]` with keys sorted bytewise; an array is `[a b]`; a
// string is its raw text; null is `<nil>`; true/false; a number written as an integer that fits
// int64 is an int64 printed in decimal, any other number a float64 printed as %v does it
// (strconv 'g' with the shortest digits: 1.5, 1e+21, 1e-07, 1.8446744073709552e+19).
std::string GoFormatValue(const json& value);

}  // namespace migdra::control
