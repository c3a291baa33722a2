// Go's strconv renderings that the API server's messages and cel-go's string formatting show:
// strconv.FormatFloat(f, 'g' or 'f', -1, 64) (what %v and %g print for a float64, and how cel-go
// prints a duration's seconds) and strconv.Quote (what %q prints for a string).
//
// Thread safety: pure functions.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

#include "common/utf8.h"

namespace migdra {

namespace go_strconv_internal {

// The shortest decimal digits that read back as |f| (finite, not zero), and the decimal exponent
// of the first: |f| ~ d.ddd x 10^exponent. C++'s shortest scientific form has the same digits as
// Go's shortest formatting.
inline void ShortestDigits(double f, std::string* digits, int* exponent) {
  char buf[64];
  auto [end, ec] =
      std::to_chars(buf, buf + sizeof(buf), std::fabs(f), std::chars_format::scientific);
  const std::string text(buf, ec == std::errc() ? end : buf);
  const size_t e = text.find('e');
  *digits = text.substr(0, e);
  if (digits->size() > 1) digits->erase(1, 1);  // "d.ddd" -> "dddd"
  *exponent = e == std::string::npos ? 0 : std::atoi(text.c_str() + e + 1);
}

// `digits` with the decimal point after `point` of them, padded with zeros as needed.
inline std::string PlaceDecimalPoint(const std::string& digits, int point) {
  const int nd = static_cast<int>(digits.size());
  if (point <= 0) return "0." + std::string(-point, '0') + digits;
  if (point >= nd) return digits + std::string(point - nd, '0');
  return digits.substr(0, point) + "." + digits.substr(point);
}

}  // namespace go_strconv_internal

// strconv.FormatFloat(f, 'g', -1, 64): the shortest digits that read back as `f`; %e form (at
// least two exponent digits) when the decimal exponent is below -4 or at least 6, else plain
// decimal: 1.5, 1e+21, 1e-07, -0, +Inf, NaN.
inline std::string GoFormatFloat(double f) {
  if (std::isnan(f)) return "NaN";
  if (std::isinf(f)) return f > 0 ? "+Inf" : "-Inf";
  std::string out = std::signbit(f) ? "-" : "";
  if (f == 0) return out + "0";
  std::string digits;
  int exp = 0;
  go_strconv_internal::ShortestDigits(f, &digits, &exp);
  if (exp < -4 || exp >= 6) {
    out += digits[0];
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += exp < 0 ? "e-" : "e+";
    if (std::abs(exp) < 10) out += "0";
    return out + std::to_string(std::abs(exp));
  }
  return out + go_strconv_internal::PlaceDecimalPoint(digits, exp + 1);
}

// strconv.FormatFloat(f, 'f', -1, 64): the shortest digits that read back as `f`, in plain
// decimal (1e21 is 1000000000000000000000, 1e-7 is 0.0000001); -0, +Inf, NaN.
inline std::string GoFormatFloatFixed(double f) {
  if (std::isnan(f)) return "NaN";
  if (std::isinf(f)) return f > 0 ? "+Inf" : "-Inf";
  std::string out = std::signbit(f) ? "-" : "";
  if (f == 0) return out + "0";
  std::string digits;
  int exp = 0;
  go_strconv_internal::ShortestDigits(f, &digits, &exp);
  return out + go_strconv_internal::PlaceDecimalPoint(digits, exp + 1);
}

// unicode.IsPrint for a non-ASCII rune, approximately: C1 controls, U+00A0, U+00AD,
// U+2028/U+2029, the other Unicode separators and format characters in the common planes,
// private use, tags and non-characters are not printable; every other valid rune is.
inline bool GoIsPrintNonAscii(char32_t r) {
  if (r <= 0xA0 || r == 0xAD) return false;  // C1 controls, no-break space, soft hyphen
  if ((r >= 0x600 && r <= 0x605) || r == 0x61C || r == 0x6DD || r == 0x70F || r == 0x180E ||
      r == 0x1680)
    return false;
  if ((r >= 0x2000 && r <= 0x200F) || (r >= 0x2028 && r <= 0x202F) ||
      (r >= 0x205F && r <= 0x206F) || r == 0x3000 || r == 0xFEFF || (r >= 0xFFF9 && r <= 0xFFFB) ||
      r == 0xFFFE || r == 0xFFFF)
    return false;
  if ((r >= 0xE000 && r <= 0xF8FF) || r >= 0xF0000) return false;  // private use
  if (r >= 0xE0000 && r <= 0xE0FFF) return false;                  // tags, selectors
  return (r & 0xFFFE) != 0xFFFE;                                   // non-characters
}

// strconv.Quote(text): double-quoted, with \a \b \f \n \r \t \v \\ \" escaped, other control
// and non-printable characters as \xNN (bytes below 0x80 and bytes that are not UTF-8),
// \uNNNN or \UNNNNNNNN. Printable runes (GoIsPrintNonAscii) stay as they are.
inline std::string GoQuote(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    char32_t rune = 0;
    const size_t len = DecodeUtf8Rune(text, i, rune);
    if (len == 0) {
      out += std::string("\\x") + kHex[c >> 4] + kHex[c & 0xF];
      ++i;
      continue;
    }
    if (len == 1) {
      switch (c) {
        case '\a':
          out += "\\a";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\v':
          out += "\\v";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '"':
          out += "\\\"";
          break;
        default:
          if (c < 0x20 || c == 0x7F) {
            out += std::string("\\x") + kHex[c >> 4] + kHex[c & 0xF];
          } else {
            out += static_cast<char>(c);
          }
      }
    } else if (GoIsPrintNonAscii(rune)) {
      out.append(text.substr(i, len));
    } else {
      const int width = rune < 0x10000 ? 4 : 8;
      out += rune < 0x10000 ? "\\u" : "\\U";
      for (int shift = (width - 1) * 4; shift >= 0; shift -= 4) out += kHex[(rune >> shift) & 0xF];
    }
    i += len;
  }
  return out + "\"";
}

}  // namespace migdra
