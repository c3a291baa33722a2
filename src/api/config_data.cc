#include "api/config_data.h"

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

Result<std::string> Base64Decode(std::string_view text) {
  std::string out;
  uint32_t group = 0;
  int in_group = 0;
  int padding = 0;
  size_t position = 0;  // in the input without line breaks, as Go counts
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r' || c == '\n') continue;
    const size_t at = position++;
    const auto illegal = [&] {
      return MakeError("illegal base64 data at input byte " + std::to_string(at));
    };
    if (c == '=') {
      if (in_group < 2) return illegal();
      ++padding;
      group <<= 6;
      if (++in_group == 4) {
        out.push_back(static_cast<char>((group >> 16) & 0xFF));
        if (padding == 1) out.push_back(static_cast<char>((group >> 8) & 0xFF));
        in_group = 0;
      }
      continue;
    }
    if (padding > 0) return illegal();
    const size_t value = kBase64Alphabet.find(c);
    if (value == std::string_view::npos) return illegal();
    group = (group << 6) | static_cast<uint32_t>(value);
    if (++in_group == 4) {
      out.push_back(static_cast<char>((group >> 16) & 0xFF));
      out.push_back(static_cast<char>((group >> 8) & 0xFF));
      out.push_back(static_cast<char>(group & 0xFF));
      in_group = 0;
      group = 0;
    }
  }
  if (in_group != 0) {
    return MakeError("illegal base64 data at input byte " + std::to_string(position));
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
