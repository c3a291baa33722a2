// Text forms of CEL values: string() conversions, the strings extension's format(), and
// diagnostics.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cel/value.h"
#include "common/result.h"

namespace migdra::cel {

// string(double): shortest round-trip digits, exponent form below 1e-6 and from 1e21 on.
std::string FormatDouble(double d);
// "1.5s", "-0.000000001s", "3600s" (as cel-go prints durations in string()).
std::string FormatDuration(Int128 nanos);
// RFC 3339 in UTC with as many fractional digits as needed (0, 3, 6 or 9).
std::string FormatTimestamp(int64_t seconds, int32_t nanos);

// The value as text. Strings are quoted when `quote_strings` (inside lists and maps).
std::string FormatValue(const Value& v, bool quote_strings);

// `format`.format(args) as cel-go's ext.Strings evaluates it below version 4 (ext/formatting.go),
// the formatter of Kubernetes' strings version 2, in its default en_US locale: the result, or the
// message format() fails with. Unlike the specification's formatter (strings version 4 on):
//  - %s prints a double as Go's %g (1e-07, 1.23456789e+08, +Inf), a duration as its float64
//    seconds, a timestamp in RFC 3339 with the fraction's trailing zeros dropped, and writes the
//    elements of lists and maps as CEL literals: strings quoted as Go's %q, b"..." bytes,
//    doubles with six decimals ("NaN", "+Inf" quoted), timestamp("...") and duration("...");
//    map entries are "key:value", ordered by the key's text; bytes that are not UTF-8 fail;
//  - %f and %e take doubles and the strings "NaN", "Infinity" and "-Infinity" only, and print
//    through golang.org/x/text/message: %f groups the integer digits by three (1,234.500000),
//    writes infinity as ∞; %e writes 1.052033 × 10⁰³ with six decimals whatever the precision,
//    which instead pads the result on the left to that many characters;
//  - %d takes integers only; "%" at the end fails with "unexpected end of string", after the
//    check that an argument is left; a precision with no digits ("%.f") fails.
Result<std::string> FormatLocalized(std::string_view format, const std::vector<Value>& args);

// A CEL string literal for `s` (strings.quote()).
std::string QuoteString(std::string_view s);

}  // namespace migdra::cel
