// Quantity: the Kubernetes resource quantity (k8s.io/apimachinery/pkg/api/resource), parsed,
// compared and canonicalised exactly as the API server does.
//
// Accepted forms: <signed number><suffix>, where the number is decimal (optionally with a
// fraction) and the suffix is binary-SI (Ki Mi Gi Ti Pi Ei), decimal-SI (n u m "" k M G T P E)
// or a decimal exponent (e3, E-6). Canonical output follows upstream: the value is rounded up to
// nano precision, the suffix family of the input is kept (binary stays binary when the value is
// an exact multiple, else falls back to decimal), and the largest suffix that keeps the mantissa
// an integer is chosen ("1536Mi" -> "1536Mi", "1.5Gi" -> "1536Mi", "0.5" -> "500m").
//
// Thread safety: an immutable value type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace migdra::api {

class Quantity {
 public:
  enum class Format { kDecimalSI, kBinarySI, kDecimalExponent };

  Quantity() = default;  // zero, DecimalSI

  // Parses `text`; the error names what is wrong ("quantities must match the regular
  // expression ..." as upstream says).
  static Result<Quantity> Parse(std::string_view text);
  // A whole number of base units (bytes, cores, ...), DecimalSI.
  static Quantity FromInt(int64_t value);

  // The canonical string, e.g. "80Gi", "500m", "1k".
  std::string ToString() const;

  // <0, 0, >0 as *this is less than, equal to or greater than `other` (numeric value only).
  int Compare(const Quantity& other) const;
  bool operator==(const Quantity& other) const { return Compare(other) == 0; }
  bool operator<(const Quantity& other) const { return Compare(other) < 0; }

  // -1, 0 or 1.
  int Sign() const;
  // True when the value has no fractional part.
  bool IsInteger() const;
  // The value rounded up to an integer (upstream Value()); saturates at int64 limits.
  int64_t Value() const;
  // The value in milli-units rounded up (upstream MilliValue()).
  int64_t MilliValue() const;
  // The value as an integer when it is one and fits in int64 (CEL asInteger()); else an error.
  Result<int64_t> AsInt64() const;
  double AsApproximateFloat() const;

  // Sum and difference; the result keeps this quantity's format. Overflow is an error.
  Result<Quantity> Add(const Quantity& other) const;
  Result<Quantity> Sub(const Quantity& other) const;

  Format format() const { return format_; }

 private:
  // 128-bit arithmetic keeps every quantity the API accepts exact (up to 37 significant digits).
  __extension__ typedef __int128 Int128;

  Quantity(Int128 unscaled, int32_t scale, Format format);
  // Strips trailing decimal zeros so that equal values have one representation.
  void Normalize();

  // Exact decimal value = unscaled_ * 10^scale_, normalized (unscaled_ has no trailing zero
  // digits; zero is stored with scale 0). Only the public contract above is stable.
  Int128 unscaled_ = 0;
  int32_t scale_ = 0;
  Format format_ = Format::kDecimalSI;
};

}  // namespace migdra::api
