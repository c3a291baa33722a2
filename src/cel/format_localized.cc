// string.format() as cel-go's ext.Strings formats below version 4 (ext/formatting.go), the
// formatter of Kubernetes' strings version 2. See FormatLocalized in format.h.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "cel/format.h"
#include "common/go_strconv.h"
#include "common/utf8.h"

namespace migdra::cel {
namespace {

// ---- golang.org/x/text/message's printer in en_US, which renders %f and %e ------------------

// What the printer prints for a clause whose width or precision it cannot read.
constexpr const char* kNoVerb = "%!(NOVERB)";

// Whether the printer's format parser reads `n` as a width or precision: it gives up once the
// number read so far exceeds 1e6 and another digit follows.
bool PrinterReadsNumber(int64_t n) {
  int64_t read = 0;
  for (char digit : std::to_string(n)) {
    if (read > 1'000'000) return false;
    read = read * 10 + (digit - '0');
  }
  return true;
}

// "%.<precision>f": the en_US decimal pattern (#,##0.###), whose formatter keeps the minimum
// number of fraction digits in 8 bits and the maximum in 16: below 256 that is `precision`
// digits as printf writes them; from 256 on the fraction is cut to its significant digits, padded
// with zeros to the low 8 bits of `precision`, and rounded to the low 16 bits read as signed
// (when that is negative, not rounded: the shortest digits that read back as `x`). The integer
// digits are grouped by three; infinity is ∞; the sign is shown for values below zero only.
std::string PrintFixed(double x, int64_t precision) {
  if (!PrinterReadsNumber(precision)) return kNoVerb;
  if (std::isnan(x)) return "NaN";
  std::string out = x < 0 ? "-" : "";
  if (std::isinf(x)) return out + "\u221e";
  const size_t min_fraction = static_cast<uint8_t>(precision);
  const int max_fraction = static_cast<int16_t>(static_cast<uint16_t>(precision));
  std::string text;  // |x| in fixed notation
  if (max_fraction >= 0) {
    text.resize(330 + static_cast<size_t>(max_fraction));
    const int len = std::snprintf(text.data(), text.size(), "%.*f", max_fraction, std::fabs(x));
    text.resize(static_cast<size_t>(len));
  } else {
    text = GoFormatFloatFixed(std::fabs(x));
  }
  const size_t point = text.find('.');
  std::string integer = text.substr(0, point);
  std::string fraction = point == std::string::npos ? "" : text.substr(point + 1);
  integer.erase(0, integer.find_first_not_of('0'));
  if (integer.empty()) integer = "0";
  fraction.erase(fraction.find_last_not_of('0') + 1);
  if (fraction.size() < min_fraction) fraction.append(min_fraction - fraction.size(), '0');
  for (size_t i = 0; i < integer.size(); ++i) {
    out += integer[i];
    const size_t remaining = integer.size() - i - 1;
    if (remaining > 0 && remaining % 3 == 0) out += ',';
  }
  if (!fraction.empty()) out += "." + fraction;
  return out;
}

// "%<precision>e" (cel-go writes the clause's precision where the width goes): the en_US
// scientific pattern, always six digits after the point, "\u202f×\u202f10" and the exponent in
// superscript digits (at least two); padded on the left with spaces to `precision` characters
// (the low 16 bits; none for 0, which the printer reads as a flag). Infinity is ∞; the sign is
// shown for values below zero only.
std::string PrintScientific(double x, int64_t precision) {
  if (!PrinterReadsNumber(precision)) return kNoVerb;
  std::string out;
  if (std::isnan(x)) {
    out = "NaN";
  } else {
    if (x < 0) out = "-";
    if (std::isinf(x)) {
      out += "\u221e";
    } else {
      static constexpr const char* kSuperscriptDigits[] = {"\u2070", "\u00b9", "\u00b2", "\u00b3",
                                                           "\u2074", "\u2075", "\u2076", "\u2077",
                                                           "\u2078", "\u2079"};
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.6e", std::fabs(x));  // d.dddddde[+-]xx
      const std::string_view text(buf);
      const size_t e = text.find('e');
      out.append(text.substr(0, e));
      out += "\u202f\u00d7\u202f10";
      const int exponent = std::atoi(buf + e + 1);
      if (exponent < 0) out += "\u207b";
      std::string digits = std::to_string(std::abs(exponent));
      if (digits.size() < 2) digits.insert(0, 2 - digits.size(), '0');
      for (char d : digits) out += kSuperscriptDigits[d - '0'];
    }
  }
  const size_t width = static_cast<uint16_t>(precision);
  const size_t runes = static_cast<size_t>(
      std::count_if(out.begin(), out.end(), [](char c) { return (c & 0xC0) != 0x80; }));
  if (precision != 0 && runes < width) out.insert(0, width - runes, ' ');
  return out;
}

// ---- Go's renderings of CEL values ------------------------------------------------------------

// time.RFC3339Nano in UTC: the fraction with its trailing zeros dropped.
std::string Rfc3339Nano(int64_t seconds, int32_t nanos) {
  std::string out = FormatTimestamp(seconds, nanos);  // a fraction of 3, 6 or 9 digits
  if (nanos == 0) return out;
  out.pop_back();  // the "Z"
  out.erase(out.find_last_not_of('0') + 1);
  return out + "Z";
}

// cel-go's string(duration): the seconds as a float64 (time.Duration.Seconds()) in the shortest
// plain decimal that reads back, then "s".
std::string DurationSeconds(Int128 nanos) {
  const double seconds = static_cast<double>(static_cast<int64_t>(nanos / 1'000'000'000)) +
                         static_cast<double>(static_cast<int64_t>(nanos % 1'000'000'000)) / 1e9;
  return GoFormatFloatFixed(seconds) + "s";
}

// Go's %b, %o, %x and %X of an integer: the sign, then the magnitude's digits.
std::string IntegerInBase(bool negative, uint64_t magnitude, int base, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  do {
    out.push_back(digits[magnitude % static_cast<uint64_t>(base)]);
    magnitude /= static_cast<uint64_t>(base);
  } while (magnitude != 0);
  if (negative) out.push_back('-');
  return std::string(out.rbegin(), out.rend());
}

Result<std::string> IntegerInBase(const Value& v, int base, bool upper) {
  if (v.kind() == Kind::kUint) return IntegerInBase(false, v.uint_value(), base, upper);
  const int64_t i = v.int_value();
  return IntegerInBase(i < 0, i < 0 ? -static_cast<uint64_t>(i) : static_cast<uint64_t>(i), base,
                       upper);
}

std::string TypeName(const Value& v) { return std::string(v.TypeName()); }

// cel-go's string(bytes), which fails on bytes that are not UTF-8.
Result<std::string> BytesAsString(std::string_view bytes) {
  if (!IsValidUtf8(bytes)) {
    return MakeError(
        "could not convert argument \"invalid UTF-8 in bytes, cannot convert to string\" to "
        "string");
  }
  return std::string(bytes);
}

Result<std::string> FormatString(const Value& v);

// A list's element or a map's value inside %s (clauseForType and quoteForCEL): written as a CEL
// literal where the plain text would be ambiguous.
Result<std::string> FormatElement(const Value& v) {
  switch (v.kind()) {
    case Kind::kString:
      return GoQuote(v.str());
    case Kind::kBytes: {
      MIGDRA_ASSIGN_OR_RETURN(std::string text, BytesAsString(v.str()));
      return "b" + GoQuote(text);
    }
    case Kind::kDouble: {
      const double d = v.double_value();
      if (std::isnan(d)) return std::string("\"NaN\"");
      if (std::isinf(d)) return std::string(d > 0 ? "\"+Inf\"" : "\"-Inf\"");
      char buf[400];
      std::snprintf(buf, sizeof(buf), "%.6f", d);
      return std::string(buf);
    }
    case Kind::kTimestamp:
      return "timestamp(" + GoQuote(Rfc3339Nano(v.seconds(), v.nanos())) + ")";
    case Kind::kDuration:
      return "duration(" + GoQuote(DurationSeconds(v.duration_nanos())) + ")";
    case Kind::kInt:
    case Kind::kUint:
    case Kind::kBool:
    case Kind::kNull:
    case Kind::kType:
    case Kind::kList:
    case Kind::kMap:
      return FormatString(v);
    default:
      return MakeError("no formatting function for " + TypeName(v));
  }
}

Result<std::string> FormatList(const Value& v) {
  std::string out = "[";
  bool first = true;
  for (const Value& element : v.list().elements) {
    MIGDRA_ASSIGN_OR_RETURN(std::string text, FormatElement(element));
    out += (first ? "" : ", ") + text;
    first = false;
  }
  return out + "]";
}

// Entries "key:value", ordered by the key's text.
Result<std::string> FormatMap(const Value& v) {
  std::vector<Value> keys;
  v.map().Keys(&keys);
  std::vector<std::pair<std::string, std::string>> entries;
  for (const Value& key : keys) {
    std::string key_text;
    switch (key.kind()) {
      case Kind::kString:
        key_text = GoQuote(key.str());
        break;
      case Kind::kBool:
      case Kind::kInt:
      case Kind::kUint: {
        MIGDRA_ASSIGN_OR_RETURN(key_text, FormatString(key));
        break;
      }
      default:
        return MakeError("no formatting function for map key of type " + TypeName(key));
    }
    Value value;
    v.map().Find(key, &value);
    MIGDRA_ASSIGN_OR_RETURN(std::string value_text, FormatElement(value));
    entries.emplace_back(std::move(key_text), std::move(value_text));
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out = "{";
  for (size_t i = 0; i < entries.size(); ++i) {
    out += (i ? ", " : "") + entries[i].first + ":" + entries[i].second;
  }
  return out + "}";
}

// %s (FormatString): a value as string() converts it (doubles as %g), lists and maps as above.
Result<std::string> FormatString(const Value& v) {
  switch (v.kind()) {
    case Kind::kList:
      return FormatList(v);
    case Kind::kMap:
      return FormatMap(v);
    case Kind::kInt:
      return std::to_string(v.int_value());
    case Kind::kUint:
      return std::to_string(v.uint_value());
    case Kind::kDouble:
      return GoFormatFloat(v.double_value());
    case Kind::kBool:
      return std::string(v.bool_value() ? "true" : "false");
    case Kind::kString:
    case Kind::kType:
      return std::string(v.str());
    case Kind::kBytes:
      return BytesAsString(v.str());
    case Kind::kTimestamp:
      return Rfc3339Nano(v.seconds(), v.nanos());
    case Kind::kDuration:
      return DurationSeconds(v.duration_nanos());
    case Kind::kNull:
      return std::string("null");
    default:
      return MakeError(
          "string clause can only be used on strings, bools, bytes, ints, doubles, maps, lists, "
          "types, durations, and timestamps, was given " +
          TypeName(v));
  }
}

// The operand of %f and %e: a double, or one of the strings that name NaN and the infinities.
std::optional<double> FloatOperand(const Value& v) {
  if (v.kind() == Kind::kDouble) return v.double_value();
  if (v.kind() == Kind::kString) {
    if (v.str() == "NaN") return std::nan("");
    if (v.str() == "Infinity") return HUGE_VAL;
    if (v.str() == "-Infinity") return -HUGE_VAL;
  }
  return std::nullopt;
}

bool IsInteger(const Value& v) { return v.kind() == Kind::kInt || v.kind() == Kind::kUint; }

Result<std::string> FormatClause(char verb, std::optional<int64_t> precision, const Value& v) {
  constexpr int64_t kDefaultPrecision = 6;
  switch (verb) {
    case 's':
      return FormatString(v);
    case 'd':
      if (!IsInteger(v)) {
        return MakeError("decimal clause can only be used on integers, was given " + TypeName(v));
      }
      return FormatString(v);
    case 'f': {
      const std::optional<double> d = FloatOperand(v);
      if (!d) {
        return MakeError("fixed-point clause can only be used on doubles, was given " +
                         TypeName(v));
      }
      return PrintFixed(*d, precision.value_or(kDefaultPrecision));
    }
    case 'e': {
      const std::optional<double> d = FloatOperand(v);
      if (!d) {
        return MakeError("scientific clause can only be used on doubles, was given " + TypeName(v));
      }
      return PrintScientific(*d, precision.value_or(kDefaultPrecision));
    }
    case 'b':
      if (v.kind() == Kind::kBool) return std::string(v.bool_value() ? "1" : "0");
      if (!IsInteger(v)) {
        return MakeError("only integers and bools can be formatted as binary, was given " +
                         TypeName(v));
      }
      return IntegerInBase(v, 2, false);
    case 'o':
      if (!IsInteger(v)) {
        return MakeError("octal clause can only be used on integers, was given " + TypeName(v));
      }
      return IntegerInBase(v, 8, false);
    default: {  // 'x' or 'X'
      const bool upper = verb == 'X';
      if (v.kind() == Kind::kString || v.kind() == Kind::kBytes) {
        static constexpr char kLower[] = "0123456789abcdef", kUpper[] = "0123456789ABCDEF";
        const char* digits = upper ? kUpper : kLower;
        std::string out;
        for (unsigned char c : v.str()) {
          out += digits[c >> 4];
          out += digits[c & 0xF];
        }
        return out;
      }
      if (!IsInteger(v)) {
        return MakeError(
            "only integers, byte buffers, and strings can be formatted as hex, was given " +
            TypeName(v));
      }
      return IntegerInBase(v, 16, upper);
    }
  }
}

Error ClauseParseError(std::string_view message) {
  return MakeError("could not parse formatting clause: " + std::string(message));
}

// strconv.Atoi of a run of ASCII digits.
Result<int64_t> Atoi(std::string_view digits) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
    return MakeError("strconv.Atoi: parsing \"" + std::string(digits) +
                     (digits.empty() ? "\": invalid syntax" : "\": value out of range"));
  }
  return value;
}

}  // namespace

Result<std::string> FormatLocalized(std::string_view format, const std::vector<Value>& args) {
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < format.size();) {
    if (format[i] != '%') {
      out += format[i++];
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '%') {
      out += '%';
      i += 2;
      continue;
    }
    // The argument is fetched before the clause is read.
    if (next >= args.size()) return MakeError("index " + std::to_string(next) + " out of range");
    if (i + 1 >= format.size()) return MakeError("unexpected end of string");
    size_t j = i + 1;
    std::optional<int64_t> precision;
    if (format[j] == '.') {
      const size_t digits = ++j;
      while (j < format.size() && format[j] >= '0' && format[j] <= '9') ++j;
      if (j >= format.size()) {
        return ClauseParseError(
            "error while parsing precision: could not find end of precision specifier");
      }
      auto parsed = Atoi(format.substr(digits, j - digits));
      if (!parsed.ok()) {
        return ClauseParseError(
            "error while parsing precision: error while converting precision to integer: " +
            parsed.error().message);
      }
      precision = *parsed;
    }
    const unsigned char verb = static_cast<unsigned char>(format[j]);
    if (std::string_view("sdfeboxX").find(static_cast<char>(verb)) == std::string_view::npos) {
      // Go prints the byte as the rune of that value.
      std::string shown;
      AppendUtf8(shown, verb);
      return ClauseParseError("unrecognized formatting clause \"" + shown + "\"");
    }
    auto text = FormatClause(static_cast<char>(verb), precision, args[next++]);
    if (!text.ok()) return MakeError("error during formatting: " + text.error().message);
    out += *text;
    i = j + 1;
  }
  return out;
}

}  // namespace migdra::cel
