// Text forms of CEL values: string() conversions, the strings extension's format(), and
// diagnostics.
#pragma once

#include <cstdint>
#include <string>

#include "cel/value.h"

namespace migdra::cel {

// string(double): shortest round-trip digits, exponent form below 1e-6 and from 1e21 on.
std::string FormatDouble(double d);
// "1.5s", "-0.000000001s", "3600s" (as cel-go prints durations in string()).
std::string FormatDuration(Int128 nanos);
// RFC 3339 in UTC with as many fractional digits as needed (0, 3, 6 or 9).
std::string FormatTimestamp(int64_t seconds, int32_t nanos);

// The value as text. Strings are quoted when `quote_strings` (inside lists and maps).
std::string FormatValue(const Value& v, bool quote_strings);

// A CEL string literal for `s` (strings.quote()).
std::string QuoteString(std::string_view s);

}  // namespace migdra::cel
