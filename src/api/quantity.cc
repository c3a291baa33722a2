#include "api/quantity.h"

#include <cmath>
#include <limits>
#include <string>

namespace migdra::api {
namespace {

__extension__ typedef __int128 Int128;
__extension__ typedef unsigned __int128 UInt128;

constexpr const char* kFormatError =
    "quantities must match the regular expression "
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
constexpr int kMaxDigits = 37;      // digits an Int128 holds with room for one more step
constexpr int32_t kNanoScale = -9;  // every quantity is rounded up to nano precision
constexpr int32_t kMaxExponent = 100000;
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();

Int128 Pow10(int n) {
  Int128 result = 1;
  for (int i = 0; i < n; ++i) result *= 10;
  return result;
}

int DigitCount(UInt128 v) {
  // Multiplying up is much cheaper than dividing a 128-bit value down.
  int n = 0;
  UInt128 power = 1;
  while (n < 39 && v >= power) {
    ++n;
    if (n == 39) break;
    power *= 10;
  }
  return n;
}

UInt128 Abs(Int128 v) { return v < 0 ? -static_cast<UInt128>(v) : static_cast<UInt128>(v); }

std::string ToDecimalString(Int128 v) {
  if (v == 0) return "0";
  UInt128 mag = Abs(v);
  std::string digits;
  while (mag != 0) {
    digits.push_back(static_cast<char>('0' + static_cast<int>(mag % 10)));
    mag /= 10;
  }
  if (v < 0) digits.push_back('-');
  return std::string(digits.rbegin(), digits.rend());
}

// Divides by 10^n rounding away from zero (upstream inf.RoundUp).
Int128 DivPow10RoundUp(Int128 v, int n) {
  if (n > kMaxDigits + 1) return v == 0 ? 0 : (v > 0 ? 1 : -1);
  Int128 divisor = Pow10(n);
  Int128 q = v / divisor;
  if (v % divisor != 0) q += v > 0 ? 1 : -1;
  return q;
}

// The pieces of `<sign><num>.<denom><suffix>` (upstream parseQuantityString).
struct QuantityParts {
  bool positive = true;
  std::string_view num;
  std::string_view denom;
  std::string_view suffix;
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

Result<QuantityParts> SplitQuantity(std::string_view s) {
  QuantityParts parts;
  size_t pos = 0;
  const size_t end = s.size();
  if (pos < end && (s[pos] == '-' || s[pos] == '+')) {
    parts.positive = s[pos] == '+';
    ++pos;
  }
  while (pos < end && s[pos] == '0') ++pos;
  size_t start = pos;
  while (pos < end && IsDigit(s[pos])) ++pos;
  parts.num = s.substr(start, pos - start);
  if (pos < end && s[pos] == '.') {
    ++pos;
    start = pos;
    while (pos < end && IsDigit(s[pos])) ++pos;
    parts.denom = s.substr(start, pos - start);
  }
  const size_t suffix_start = pos;
  while (pos < end && std::string_view("eEinumkKMGTP").find(s[pos]) != std::string_view::npos) {
    ++pos;
  }
  if (pos < end && (s[pos] == '-' || s[pos] == '+')) ++pos;
  while (pos < end && IsDigit(s[pos])) ++pos;
  if (pos != end) return MakeError(kFormatError);
  parts.suffix = s.substr(suffix_start);
  return parts;
}

struct Suffix {
  int base;  // 10 or 2
  int32_t exponent;
  Quantity::Format format;
};

Result<Suffix> InterpretSuffix(std::string_view suffix) {
  static constexpr std::pair<std::string_view, int> kDecimal[] = {
      {"n", -9}, {"u", -6}, {"m", -3}, {"", 0},   {"k", 3},
      {"M", 6},  {"G", 9},  {"T", 12}, {"P", 15}, {"E", 18}};
  static constexpr std::pair<std::string_view, int> kBinary[] = {
      {"Ki", 10}, {"Mi", 20}, {"Gi", 30}, {"Ti", 40}, {"Pi", 50}, {"Ei", 60}};
  for (const auto& [text, exp] : kDecimal) {
    if (suffix == text) return Suffix{10, exp, Quantity::Format::kDecimalSI};
  }
  for (const auto& [text, exp] : kBinary) {
    if (suffix == text) return Suffix{2, exp, Quantity::Format::kBinarySI};
  }
  if (suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    std::string_view digits = suffix.substr(1);
    bool negative = false;
    if (digits[0] == '-' || digits[0] == '+') {
      negative = digits[0] == '-';
      digits.remove_prefix(1);
    }
    if (!digits.empty() && digits.find_first_not_of("0123456789") == std::string_view::npos) {
      int64_t exp = 0;
      for (char c : digits) {
        exp = exp * 10 + (c - '0');
        if (exp > kMaxExponent) return MakeError("quantity exponent is out of range");
      }
      return Suffix{10, static_cast<int32_t>(negative ? -exp : exp),
                    Quantity::Format::kDecimalExponent};
    }
  }
  return MakeError("unable to parse quantity's suffix");
}

// Divides v by 10 while it is a multiple; returns how many times.
int RemoveFactors(Int128& v, int factor, int limit) {
  int times = 0;
  while (v != 0 && v % factor == 0 && times < limit) {
    v /= factor;
    ++times;
  }
  return times;
}

}  // namespace

Quantity::Quantity(Int128 unscaled, int32_t scale, Format format)
    : unscaled_(unscaled), scale_(scale), format_(format) {
  Normalize();
}

void Quantity::Normalize() {
  if (unscaled_ == 0) {
    scale_ = 0;
    return;
  }
  scale_ += RemoveFactors(unscaled_, 10, std::numeric_limits<int>::max());
}

Result<Quantity> Quantity::Parse(std::string_view text) {
  if (text.empty()) return MakeError("quantities must have a non-empty value");
  MIGDRA_ASSIGN_OR_RETURN(QuantityParts parts, SplitQuantity(text));
  // The regular expression needs at least one digit or dot before the suffix.
  const size_t sign_len = (text[0] == '-' || text[0] == '+') ? 1 : 0;
  if (text.size() - sign_len == parts.suffix.size()) return MakeError(kFormatError);
  MIGDRA_ASSIGN_OR_RETURN(Suffix suffix, InterpretSuffix(parts.suffix));

  // The exact value is digits * 10^scale (* 2^exponent for binary suffixes).
  std::string digits = std::string(parts.num) + std::string(parts.denom);
  int64_t scale = -static_cast<int64_t>(parts.denom.size());
  if (suffix.base == 10) scale += suffix.exponent;
  // Round away from zero to the finest scale that still matters: nano for decimal values,
  // and far below nano for binary ones (multiplying by 2^60 keeps that margin above nano).
  const int64_t finest = suffix.base == 10 ? kNanoScale : -30;
  bool round_up = false;
  if (scale < finest) {
    const int64_t drop = finest - scale;
    size_t keep = drop >= static_cast<int64_t>(digits.size()) ? 0 : digits.size() - drop;
    round_up = digits.find_first_not_of('0', keep) != std::string::npos;
    digits.resize(keep);
    scale = finest;
  }
  size_t first = digits.find_first_not_of('0');
  digits = first == std::string::npos ? std::string() : digits.substr(first);
  while (!digits.empty() && digits.back() == '0') {
    digits.pop_back();
    ++scale;
  }
  if (static_cast<int>(digits.size()) > kMaxDigits) {
    return MakeError("quantity has more significant digits than supported (37)");
  }
  Int128 unscaled = 0;
  for (char c : digits) unscaled = unscaled * 10 + (c - '0');
  if (round_up) unscaled += 1;
  if (suffix.base == 2) {
    if (__builtin_mul_overflow(unscaled, static_cast<Int128>(1) << suffix.exponent, &unscaled)) {
      return MakeError("quantity is too large");
    }
  }
  if (scale < kNanoScale) {
    unscaled = DivPow10RoundUp(unscaled, static_cast<int>(kNanoScale - scale));
    scale = kNanoScale;
  }
  if (scale > kMaxExponent) return MakeError("quantity exponent is out of range");
  Quantity q(unscaled, static_cast<int32_t>(scale), suffix.format);
  if (q.format_ == Format::kBinarySI) {
    // Upstream caps binary quantities at the largest int64 and shows fractions in decimal.
    if (q.Compare(FromInt(kInt64Max)) > 0) q = Quantity(kInt64Max, 0, Format::kBinarySI);
    if (q.unscaled_ != 0 && q.scale_ < 0 && DigitCount(Abs(q.unscaled_)) + q.scale_ <= 0) {
      q.format_ = Format::kDecimalSI;
    }
  }
  if (!parts.positive) q.unscaled_ = -q.unscaled_;
  return q;
}

Quantity Quantity::FromInt(int64_t value) { return Quantity(value, 0, Format::kDecimalSI); }

std::string Quantity::ToString() const {
  if (unscaled_ == 0) return "0";
  Format format = format_;
  if (format == Format::kBinarySI) {
    if (Compare(FromInt(-1024)) > 0 && Compare(FromInt(1024)) < 0) {
      format = Format::kDecimalSI;
    } else if (!IsInteger()) {
      format = Format::kDecimalSI;
    }
  }
  if (format == Format::kBinarySI) {
    // Integer by the check above: unscaled_ * 10^scale_ with scale_ >= 0.
    Int128 value = unscaled_;
    for (int32_t i = 0; i < scale_; ++i) value *= 10;
    static constexpr const char* kBinarySuffixes[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    int exp = RemoveFactors(value, 1024, 6);
    return ToDecimalString(value) + kBinarySuffixes[exp];
  }
  // Decimal: the exponent is lowered to a multiple of three (1.1e5 -> 110e3).
  Int128 mantissa = unscaled_;
  int64_t exponent = scale_;
  int64_t rem = ((exponent % 3) + 3) % 3;
  for (int64_t i = 0; i < rem; ++i) mantissa *= 10;
  exponent -= rem;
  std::string suffix;
  if (format == Format::kDecimalSI && exponent >= -9 && exponent <= 18) {
    static constexpr const char* kDecimalSuffixes[] = {"n", "u", "m", "",  "k",
                                                       "M", "G", "T", "P", "E"};
    suffix = kDecimalSuffixes[(exponent + 9) / 3];
  } else if (exponent != 0) {
    suffix = "e" + std::to_string(exponent);
  }
  return ToDecimalString(mantissa) + suffix;
}

int Quantity::Compare(const Quantity& other) const {
  const int a_sign = Sign(), b_sign = other.Sign();
  if (a_sign != b_sign) return a_sign < b_sign ? -1 : 1;
  if (a_sign == 0) return 0;
  UInt128 a = Abs(unscaled_), b = Abs(other.unscaled_);
  if (scale_ == other.scale_) {
    const int c = a == b ? 0 : (a < b ? -1 : 1);
    return a_sign > 0 ? c : -c;
  }
  const int64_t a_mag = DigitCount(a) + static_cast<int64_t>(scale_);
  const int64_t b_mag = DigitCount(b) + static_cast<int64_t>(other.scale_);
  int magnitude_cmp = 0;
  if (a_mag != b_mag) {
    magnitude_cmp = a_mag < b_mag ? -1 : 1;
  } else {
    // Same order of magnitude: align the scales (the shift is at most kMaxDigits).
    if (scale_ > other.scale_) {
      for (int32_t i = other.scale_; i < scale_; ++i) a *= 10;
    } else {
      for (int32_t i = scale_; i < other.scale_; ++i) b *= 10;
    }
    magnitude_cmp = a == b ? 0 : (a < b ? -1 : 1);
  }
  return a_sign > 0 ? magnitude_cmp : -magnitude_cmp;
}

int Quantity::Sign() const { return unscaled_ == 0 ? 0 : (unscaled_ < 0 ? -1 : 1); }

bool Quantity::IsInteger() const { return scale_ >= 0; }

int64_t Quantity::Value() const {
  if (unscaled_ == 0) return 0;
  if (scale_ < 0) {
    Int128 v = DivPow10RoundUp(unscaled_, -scale_);
    if (v > kInt64Max) return kInt64Max;
    if (v < kInt64Min) return kInt64Min;
    return static_cast<int64_t>(v);
  }
  Int128 v = unscaled_;
  for (int32_t i = 0; i < scale_; ++i) {
    v *= 10;
    if (v > kInt64Max) return kInt64Max;
    if (v < kInt64Min) return kInt64Min;
  }
  if (v > kInt64Max) return kInt64Max;
  if (v < kInt64Min) return kInt64Min;
  return static_cast<int64_t>(v);
}

int64_t Quantity::MilliValue() const {
  Quantity milli(unscaled_, scale_ + 3, format_);
  return milli.Value();
}

Result<int64_t> Quantity::AsInt64() const {
  if (!IsInteger()) return MakeError("cannot convert value to integer");
  if (scale_ > 19) return MakeError("cannot convert value to integer");
  Int128 v = unscaled_ * Pow10(scale_);
  if (v > kInt64Max || v < kInt64Min) return MakeError("cannot convert value to integer");
  return static_cast<int64_t>(v);
}

double Quantity::AsApproximateFloat() const {
  return static_cast<double>(unscaled_) * std::pow(10.0, static_cast<double>(scale_));
}

Result<Quantity> Quantity::Add(const Quantity& other) const {
  Format format = unscaled_ == 0 ? other.format_ : format_;
  if (other.unscaled_ == 0) return Quantity(unscaled_, scale_, format);
  if (unscaled_ == 0) return Quantity(other.unscaled_, other.scale_, format);
  const int32_t scale = std::min(scale_, other.scale_);
  Int128 a = unscaled_, b = other.unscaled_;
  for (int32_t i = scale; i < scale_; ++i) {
    if (__builtin_mul_overflow(a, static_cast<Int128>(10), &a)) {
      return MakeError("quantity overflow");
    }
  }
  for (int32_t i = scale; i < other.scale_; ++i) {
    if (__builtin_mul_overflow(b, static_cast<Int128>(10), &b)) {
      return MakeError("quantity overflow");
    }
  }
  Int128 sum = 0;
  if (__builtin_add_overflow(a, b, &sum) || DigitCount(Abs(sum)) > kMaxDigits + 1) {
    return MakeError("quantity overflow");
  }
  return Quantity(sum, scale, format);
}

Result<Quantity> Quantity::Sub(const Quantity& other) const {
  Quantity negated = other;
  negated.unscaled_ = -negated.unscaled_;
  return Add(negated);
}

}  // namespace migdra::api
