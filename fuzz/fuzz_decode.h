// Shared body of the decoder fuzzers: whatever the input, parsing and decoding must not crash,
// and everything that parses must survive the codecs' round trips:
//   text -> JSON value -> YAML text -> JSON value            (ParseDocuments / ToYaml)
//   JSON value -> typed object -> JSON -> typed object -> JSON (FromJson / ToJson, for valid kinds)
// A violated invariant aborts, which libFuzzer reports as a crash.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "api/codec.h"
#include "api/validation.h"

namespace migdra::fuzz {

// The part of `text` up to the first `separator`; `text` keeps what follows it ("" when the
// separator is missing). Splits a fuzzer's input into its fields.
inline std::string_view TakeUntil(std::string_view& text, std::string_view separator) {
  const size_t at = text.find(separator);
  std::string_view taken = text.substr(0, at);
  text = at == std::string_view::npos ? std::string_view() : text.substr(at + separator.size());
  return taken;
}

inline void Require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

// JSON text cannot hold invalid UTF-8; both sides are normalised the way the encoder writes them.
inline nlohmann::json Normalised(const nlohmann::json& value) {
  return nlohmann::json::parse(api::ToJsonText(value));
}

inline void FuzzDocuments(std::string_view text) {
  Result<std::vector<nlohmann::json>> documents = api::ParseDocuments(text);
  if (!documents.ok()) return;
  for (const nlohmann::json& raw : *documents) {
    const nlohmann::json document = Normalised(raw);
    Result<std::vector<nlohmann::json>> again = api::ParseDocuments(api::ToYaml(document));
    Require(again.ok(), "ToYaml output parses");
    // The promise holds for objects; a top-level array reads back as its elements.
    if (document.is_object()) {
      Require(again->size() == 1, "one document back");
      Require(again->front() == document, "YAML round trip keeps the value");
    }

    std::vector<Error> errors;
    Result<api::AnyObject> object = api::DecodeObjectAll(document, errors);
    if (!object.ok()) continue;
    (void)api::Validate(*object);
    const nlohmann::json encoded = api::ToJson(*object);
    Result<api::AnyObject> decoded = api::DecodeObject(encoded);
    Require(decoded.ok(), "encoded object decodes");
    Require(api::ToJson(*decoded) == encoded, "typed round trip keeps the object");
  }
}

}  // namespace migdra::fuzz
