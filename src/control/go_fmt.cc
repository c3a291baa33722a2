#include "control/go_fmt.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <system_error>

#include "common/utf8.h"

namespace migdra::control {
namespace {

// strconv.FormatFloat(f, 'g', -1, 64), which %v uses for a float64: the shortest digits that
// read back as `f`; %e form (at least two exponent digits) when the decimal exponent is below -4
// or at least 6, else plain decimal.
std::string GoFloat(double f) {
  if (std::isnan(f)) return "NaN";
  if (std::isinf(f)) return f > 0 ? "+Inf" : "-Inf";
  std::string out = std::signbit(f) ? "-" : "";
  if (f == 0) return out + "0";
  // C++'s shortest scientific form has the same digits as Go's shortest formatting.
  char buf[64];
  auto [end, ec] =
      std::to_chars(buf, buf + sizeof(buf), std::fabs(f), std::chars_format::scientific);
  if (ec != std::errc()) return out + "0";
  const std::string text(buf, end);
  const size_t e = text.find('e');
  std::string digits = text.substr(0, e);
  if (digits.size() > 1) digits.erase(1, 1);  // "d.ddd" -> "dddd"
  const int exp = std::atoi(text.c_str() + e + 1);
  const int nd = static_cast<int>(digits.size());
  if (exp < -4 || exp >= 6) {
    out += digits[0];
    if (nd > 1) out += "." + digits.substr(1);
    out += exp < 0 ? "e-" : "e+";
    if (std::abs(exp) < 10) out += "0";
    return out + std::to_string(std::abs(exp));
  }
  const int point = exp + 1;  // digits before the decimal point
  if (point <= 0) return out + "0." + std::string(-point, '0') + digits;
  if (point >= nd) return out + digits + std::string(point - nd, '0');
  return out + digits.substr(0, point) + "." + digits.substr(point);
}

void Format(const json& v, std::string& out) {
  switch (v.type()) {
    case json::value_t::null:
      out += "<nil>";
      return;
    case json::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      return;
    case json::value_t::string:
      out += v.get_ref<const std::string&>();
      return;
    case json::value_t::number_integer:
      out += std::to_string(v.get<int64_t>());
      return;
    case json::value_t::number_unsigned: {
      // The decoder keeps an integer as int64 only when it fits; a larger one is a float64.
      const uint64_t u = v.get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        out += std::to_string(u);
      } else {
        out += GoFloat(static_cast<double>(u));
      }
      return;
    }
    case json::value_t::number_float:
      out += GoFloat(v.get<double>());
      return;
    case json::value_t::array: {
      out += '[';
      bool first = true;
      for (const json& item : v) {
        if (!first) out += ' ';
        first = false;
        Format(item, out);
      }
      out += ']';
      return;
    }
    case json::value_t::object: {
      // json keeps object keys sorted bytewise, as fmt sorts a map's string keys.
      out += "map[";
      bool first = true;
      for (const auto& item : v.items()) {
        if (!first) out += ' ';
        first = false;
        out += item.key();
        out += ':';
        Format(item.value(), out);
      }
      out += ']';
      return;
    }
    default:
      return;  // binary and discarded values do not come from JSON text
  }
}

// unicode.IsPrint for a non-ASCII rune, approximately (see the header).
bool IsPrintable(char32_t r) {
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

}  // namespace

std::string GoFormatValue(const json& value) {
  std::string out;
  Format(value, out);
  return out;
}

std::string GoQuote(std::string_view text) {
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
    } else if (IsPrintable(rune)) {
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

}  // namespace migdra::control
