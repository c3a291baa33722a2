// UTF-8 decoding as Go's utf8.DecodeRune and CEL's string checks read it: a rune is valid only in
// its shortest form, at most U+10FFFF, and not a surrogate (U+D800..U+DFFF); and encoding.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace migdra {

// Decodes the rune that starts at `text[i]` (i < text.size()) into `rune`; returns its length in
// bytes, or 0 when the bytes there are not valid UTF-8.
inline size_t DecodeUtf8Rune(std::string_view text, size_t i, char32_t& rune) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  size_t len = 0;
  char32_t min = 0;
  if (c < 0x80) {
    rune = c;
    return 1;
  } else if ((c & 0xE0) == 0xC0) {
    len = 2, rune = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, rune = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, rune = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    rune = (rune << 6) | (byte(i + k) & 0x3F);
  }
  if (rune < min || rune > 0x10FFFF || (rune >= 0xD800 && rune <= 0xDFFF)) return 0;
  return len;
}

// Appends `rune` (at most U+10FFFF) encoded as UTF-8.
inline void AppendUtf8(std::string& out, char32_t rune) {
  if (rune < 0x80) {
    out.push_back(static_cast<char>(rune));
  } else if (rune < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (rune >> 6)));
    out.push_back(static_cast<char>(0x80 | (rune & 0x3F)));
  } else if (rune < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (rune >> 12)));
    out.push_back(static_cast<char>(0x80 | ((rune >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (rune & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (rune >> 18)));
    out.push_back(static_cast<char>(0x80 | ((rune >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((rune >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (rune & 0x3F)));
  }
}

// Whether all of `text` is valid UTF-8.
inline bool IsValidUtf8(std::string_view text) {
  char32_t rune = 0;
  for (size_t i = 0; i < text.size();) {
    const size_t len = DecodeUtf8Rune(text, i, rune);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

// `text` as Go reads a string rune by rune ([]rune(s), utf8.DecodeRuneInString): each byte where
// no valid rune starts becomes U+FFFD, one replacement per byte.
inline std::string ReplaceInvalidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  char32_t rune = 0;
  for (size_t i = 0; i < text.size();) {
    const size_t len = DecodeUtf8Rune(text, i, rune);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
  }
  return out;
}

}  // namespace migdra
