// Go's encoding/json verdict on a text, as the API server's validation quotes it. A Secret of type
// kubernetes.io/dockerconfigjson (or dockercfg) must hold JSON that Go can unmarshal into a
// map[string]interface{}; when it cannot, the Invalid cause carries Go's error text verbatim:
//
//   data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": invalid character 'x'
//   looking for beginning of value
//
// so these functions reproduce the messages of Go's scanner (encoding/json/scanner.go) and of its
// UnmarshalTypeError byte for byte: the same first offending byte, the same context phrase, the
// byte quoted as Go's quoteChar does it (a byte is read as the rune of that value, so 0xE9 prints
// as 'é' and 0x85 as '\u0085').
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace migdra::control {

// The error Go's json.Valid-style check (the scan json.Unmarshal runs before decoding) reports
// for `text`, or nullopt when `text` is one JSON value surrounded only by whitespace.
std::optional<std::string> GoJsonSyntaxError(std::string_view text);

// The error json.Unmarshal(text, &map[string]interface{}{}) returns, or nullopt when it succeeds
// (an object, or null, which leaves the map nil).
std::optional<std::string> GoJsonUnmarshalIntoMapError(std::string_view text);

// `text` (JSON) as Go's encoder writes a json.Marshaler's output (json.Compact with HTML
// escaping): whitespace outside strings removed, and <, >, &, U+2028 and U+2029 written as \u
// escapes; everything else, string escapes and number spellings included, kept byte for byte.
std::string GoCompactJson(std::string_view text);

// `value` as Go's json.Marshal writes it: compact, keys in the order of `value` (sorted), and
// escaped as GoCompactJson; bytes that are not UTF-8 become U+FFFD, as Go writes them.
std::string GoJsonText(const nlohmann::json& value);

}  // namespace migdra::control
