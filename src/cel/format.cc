#include "cel/format.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "cel/time_util.h"

namespace migdra::cel {

std::string FormatDouble(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  if (d == 0) return std::signbit(d) ? "-0" : "0";
  // Shortest round-trip digits in scientific form: "d.ddde[+-]xx".
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  size_t e = sci.find('e');
  std::string digits;
  for (size_t i = 0; i < e; ++i) {
    if (sci[i] != '.') digits.push_back(sci[i]);
  }
  int exp = std::stoi(sci.substr(e + 1));
  std::string out;
  // Shortest digits; exponent form when exp < -6 || exp >= 21, as the reference evaluator
  // (@bufbuild/cel, JavaScript number formatting) prints doubles.
  if (exp < -6 || exp >= 21) {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += (exp < 0 ? "e-" : "e+") + std::to_string(std::abs(exp));
  } else if (exp < 0) {
    out = "0." + std::string(-exp - 1, '0') + digits;
  } else if (static_cast<int>(digits.size()) <= exp + 1) {
    out = digits + std::string(exp + 1 - digits.size(), '0');
  } else {
    out = digits.substr(0, exp + 1) + "." + digits.substr(exp + 1);
  }
  return negative ? "-" + out : out;
}

std::string FormatDuration(Int128 nanos) {
  bool negative = nanos < 0;
  __extension__ typedef unsigned __int128 UInt128;
  UInt128 mag = negative ? -static_cast<UInt128>(nanos) : static_cast<UInt128>(nanos);
  std::string out =
      (negative ? "-" : "") + std::to_string(static_cast<uint64_t>(mag / 1'000'000'000));
  uint64_t frac = static_cast<uint64_t>(mag % 1'000'000'000);
  if (frac != 0) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "%09llu", static_cast<unsigned long long>(frac));
    std::string f(buf);
    while (f.back() == '0') f.pop_back();
    out += "." + f;
  }
  return out + "s";
}

std::string FormatTimestamp(int64_t seconds, int32_t nanos) {
  auto civil = ToCivil(seconds, "UTC");
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04lld-%02d-%02dT%02d:%02d:%02d",
                static_cast<long long>(civil->year), civil->month, civil->day, civil->hour,
                civil->minute, civil->second);
  std::string out(buf);
  if (nanos != 0) {
    int width = nanos % 1000000 == 0 ? 3 : (nanos % 1000 == 0 ? 6 : 9);
    int value = width == 3 ? nanos / 1000000 : (width == 6 ? nanos / 1000 : nanos);
    std::snprintf(buf, sizeof(buf), ".%0*d", width, value);
    out += buf;
  }
  return out + "Z";
}

std::string QuoteString(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
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
        out.push_back(static_cast<char>(c));
    }
  }
  return out + "\"";
}

std::string FormatValue(const Value& v, bool quote_strings) {
  switch (v.kind()) {
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return v.bool_value() ? "true" : "false";
    case Kind::kInt:
      return std::to_string(v.int_value());
    case Kind::kUint:
      return std::to_string(v.uint_value()) + (quote_strings ? "u" : "");
    case Kind::kDouble:
      return FormatDouble(v.double_value());
    case Kind::kString:
      return quote_strings ? QuoteString(v.str()) : std::string(v.str());
    case Kind::kBytes:
      return quote_strings ? "b" + QuoteString(v.str()) : std::string(v.str());
    case Kind::kType:
      return std::string(v.str());
    case Kind::kDuration:
      return FormatDuration(v.duration_nanos());
    case Kind::kTimestamp:
      return FormatTimestamp(v.seconds(), v.nanos());
    case Kind::kList: {
      std::string out = "[";
      bool first = true;
      for (const Value& e : v.list().elements) {
        if (!first) out += ", ";
        first = false;
        out += FormatValue(e, quote_strings);
      }
      return out + "]";
    }
    case Kind::kMap: {
      std::vector<Value> keys;
      v.map().Keys(&keys);
      std::string out = "{";
      bool first = true;
      for (const Value& k : keys) {
        Value val;
        v.map().Find(k, &val);
        if (!first) out += ", ";
        first = false;
        out += FormatValue(k, quote_strings) + ": " + FormatValue(val, quote_strings);
      }
      return out + "}";
    }
    case Kind::kOptional:
      return v.has_value() ? "optional.of(" + FormatValue(v.optional_value(), quote_strings) + ")"
                           : "optional.none()";
    case Kind::kQuantity:
      return v.quantity().ToString();
    case Kind::kSemver:
      return v.semver().ToString();
    case Kind::kObject:
      return v.object().ToString();
    case Kind::kError:
      return "error: " + v.error().message;
  }
  return "?";
}

}  // namespace migdra::cel
