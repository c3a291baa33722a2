#include "api/config_data.h"

#include <cstdint>

namespace migdra::api {
namespace {

using nlohmann::json;

constexpr size_t kMaxKeyLength = 253;
constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

std::vector<std::string> ConfigKeyErrors(std::string_view key) {
  std::vector<std::string> errors;
  if (key.size() > kMaxKeyLength) {
    errors.push_back("must be no more than " + std::to_string(kMaxKeyLength) + " characters");
  }
  const bool chars_ok = !key.empty() && key.find_first_not_of(
                                            "-._abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"
                                            "YZ0123456789") == std::string_view::npos;
  if (!chars_ok) {
    errors.push_back(
        "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
        "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
        "'[-._a-zA-Z0-9]+')");
  }
  if (key == ".") {
    errors.push_back("must not be '.'");
  } else if (key == "..") {
    errors.push_back("must not be '..'");
  } else if (key.rfind("..", 0) == 0) {
    errors.push_back("must not start with '..'");
  }
  return errors;
}

// Go's base64.StdEncoding.Decode (decodeQuantum), error positions included: they count bytes of
// the input, line breaks too; a final group of 1-3 characters without padding is reported at its
// first character; after the padding only line breaks may follow.
Result<std::string> Base64Decode(std::string_view src) {
  const auto corrupt = [](size_t at) {
    return MakeError("illegal base64 data at input byte " + std::to_string(at));
  };
  const auto is_newline = [](char c) { return c == '\r' || c == '\n'; };
  const auto skip_newlines = [&](size_t& si) {
    while (si < src.size() && is_newline(src[si])) ++si;
  };
  std::string out;
  size_t si = 0;
  while (si < src.size()) {
    uint32_t group = 0;
    int length = 4;  // characters of the group before the padding
    for (int j = 0; j < 4; ++j) {
      if (si == src.size()) {
        if (j == 0) return out;
        return corrupt(si - static_cast<size_t>(j));
      }
      const char in = src[si++];
      if (const size_t value = kBase64Alphabet.find(in); value != std::string_view::npos) {
        group |= static_cast<uint32_t>(value) << (18 - 6 * j);
        continue;
      }
      if (is_newline(in)) {
        --j;
        continue;
      }
      if (in != '=' || j < 2) return corrupt(si - 1);
      if (j == 2) {  // a second '=' must follow
        skip_newlines(si);
        if (si == src.size()) return corrupt(src.size());
        if (src[si] != '=') return corrupt(si - 1);
        ++si;
      }
      skip_newlines(si);
      if (si < src.size()) return corrupt(si);
      length = j;
      break;
    }
    out.push_back(static_cast<char>((group >> 16) & 0xFF));
    if (length > 2) out.push_back(static_cast<char>((group >> 8) & 0xFF));
    if (length > 3) out.push_back(static_cast<char>(group & 0xFF));
  }
  return out;
}

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{static_cast<uint8_t>(bytes[i])} << 16) |
                       (uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out.push_back(kBase64Alphabet[(v >> shift) & 0x3F]);
  }
  if (i < bytes.size()) {
    uint32_t v = uint32_t{static_cast<uint8_t>(bytes[i])} << 16;
    if (i + 1 < bytes.size()) v |= uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8;
    out.push_back(kBase64Alphabet[(v >> 18) & 0x3F]);
    out.push_back(kBase64Alphabet[(v >> 12) & 0x3F]);
    out.push_back(i + 1 < bytes.size() ? kBase64Alphabet[(v >> 6) & 0x3F] : '=');
    out.push_back('=');
  }
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> ConfigEntries(const std::string& resource,
                                                                       const json& object) {
  std::vector<std::pair<std::string, std::string>> entries;
  const bool configmap = resource == "configmaps";
  for (const char* map : {"data", "binaryData"}) {
    if (!object.is_object() || !object.contains(map) || !object[map].is_object()) continue;
    const json& m = object[map];
    const bool encoded = !configmap || std::string_view(map) == "binaryData";
    for (const auto& [key, value] : m.items()) {
      if (!value.is_string()) continue;
      if (!encoded) {
        entries.emplace_back(key, value.get<std::string>());
        continue;
      }
      Result<std::string> bytes = Base64Decode(value.get<std::string>());
      if (!bytes) return bytes.error();
      entries.emplace_back(key, std::move(*bytes));
    }
  }
  return entries;
}

}  // namespace migdra::api
