// The CEL standard library and extensions. Each entry is one function name (global or method);
// it checks the argument kinds itself and answers "no matching overload" for anything else.
#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <mutex>
#include <unordered_map>

#include "cel/format.h"
#include "cel/library.h"
#include "cel/time_util.h"
#include "common/utf8.h"

namespace migdra::cel {
namespace {

constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

Value Err(std::string message) { return Value::Error(std::move(message)); }

// ---- UTF-8 helpers ----------------------------------------------------------------------------

size_t Utf8Len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c >> 5) == 6) return 2;
  if ((c >> 4) == 14) return 3;
  if ((c >> 3) == 30) return 4;
  return 1;
}

std::vector<std::string_view> CodePoints(std::string_view s) {
  std::vector<std::string_view> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = std::min(Utf8Len(static_cast<unsigned char>(s[i])), s.size() - i);
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

int64_t CodePointCount(std::string_view s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// ---- regex cache --------------------------------------------------------------------------------

Result<std::shared_ptr<const RE2>> CompileRegex(std::string_view pattern) {
  static std::mutex mu;
  static std::unordered_map<std::string, std::shared_ptr<const RE2>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(std::string(pattern));
  if (it != cache.end()) return it->second;
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_shared<const RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
  if (!re->ok()) return MakeError("invalid regular expression: " + re->error());
  if (cache.size() > 256) cache.clear();
  cache.emplace(std::string(pattern), re);
  return std::shared_ptr<const RE2>(re);
}

// ---- argument helpers --------------------------------------------------------------------------

#define NO_OVERLOAD(name) return NoMatchingOverload(name, a, n)

bool Is(const Value* a, size_t n, std::initializer_list<Kind> kinds) {
  if (n != kinds.size()) return false;
  size_t i = 0;
  for (Kind k : kinds) {
    if (a[i++].kind() != k) return false;
  }
  return true;
}

// ext.Lists v3's runtime cost trackers (ext/lists.go), which take precedence over Kubernetes'
// library.CostEstimator: a call costs one unit for the dispatch and ten for the list it allocates
// (common.ListCreateBaseCost), plus `factor` per unit of `size`, truncated. The dispatch is the
// call node's unit (interpreter.cc), so this charges the rest.
void ChargeAllocatingListCall(CallContext& ctx, double factor, uint64_t size) {
  constexpr int64_t kListCreateBaseCost = 10;
  const double scaled = static_cast<double>(size) * factor;
  const int64_t room = std::numeric_limits<int64_t>::max() - ctx.cost;
  if (!(scaled < static_cast<double>(room - kListCreateBaseCost))) {
    ctx.cost = std::numeric_limits<int64_t>::max();
    return;
  }
  ctx.cost += static_cast<int64_t>(scaled) + kListCreateBaseCost;
}

// trackListSelfCompare: sort(), sortBy() and distinct() compare every element with every other,
// twice, plus a traversal (0.1 per unit) when the first element is a string or bytes.
void ChargeSelfCompare(CallContext& ctx, const std::vector<Value>& list) {
  double factor = 2.0;
  if (!list.empty() && (list[0].kind() == Kind::kString || list[0].kind() == Kind::kBytes)) {
    factor += 0.1;
  }
  const uint64_t n = list.size();
  ChargeAllocatingListCall(ctx, factor, n * n);
}

// trackListOutputSize: slice(), reverse() and lists.range() charge the size of their result (a
// failed call's error counts as one).
Value ChargeOutputSize(CallContext& ctx, Value result) {
  ChargeAllocatingListCall(ctx, 1,
                           result.kind() == Kind::kList ? result.list().elements.size() : 1);
  return result;
}

// ---- core functions -----------------------------------------------------------------------------

Value Size(const Value* a, size_t n, CallContext&) {
  if (n == 1) {
    switch (a[0].kind()) {
      case Kind::kString:
        return Value::Int(CodePointCount(a[0].str()));
      case Kind::kBytes:
        return Value::Int(static_cast<int64_t>(a[0].str().size()));
      case Kind::kList:
        return Value::Int(static_cast<int64_t>(a[0].list().elements.size()));
      case Kind::kMap:
        return Value::Int(static_cast<int64_t>(a[0].map().Size()));
      default:
        break;
    }
  }
  NO_OVERLOAD("size");
}

Value Contains(const Value* a, size_t n, CallContext& ctx) {
  if (!Is(a, n, {Kind::kString, Kind::kString})) NO_OVERLOAD("contains");
  ctx.cost += static_cast<int64_t>(a[0].str().size() / 10);
  return Value::Bool(a[0].str().find(a[1].str()) != std::string_view::npos);
}

Value StartsWith(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kString, Kind::kString})) NO_OVERLOAD("startsWith");
  return Value::Bool(a[0].str().substr(0, a[1].str().size()) == a[1].str());
}

Value EndsWith(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kString, Kind::kString})) NO_OVERLOAD("endsWith");
  std::string_view s = a[0].str(), suffix = a[1].str();
  return Value::Bool(s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix);
}

Value Matches(const Value* a, size_t n, CallContext& ctx) {
  if (!Is(a, n, {Kind::kString, Kind::kString})) NO_OVERLOAD("matches");
  auto re = CompileRegex(a[1].str());
  if (!re.ok()) return Err(re.error().message);
  ctx.cost += static_cast<int64_t>(a[0].str().size() / 10);
  return Value::Bool(
      RE2::PartialMatch(re2::StringPiece(a[0].str().data(), a[0].str().size()), **re));
}

bool ParseInt64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  std::string str(s);
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(str.c_str(), &end, 10);
  if (errno == ERANGE || end != str.c_str() + str.size() ||
      std::isspace(static_cast<unsigned char>(str[0])))
    return false;
  *out = v;
  return true;
}

bool ParseUint64(std::string_view s, uint64_t* out) {
  if (s.empty() || s[0] == '-' || s[0] == '+') return false;
  std::string str(s);
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(str.c_str(), &end, 10);
  if (errno == ERANGE || end != str.c_str() + str.size() ||
      std::isspace(static_cast<unsigned char>(str[0])))
    return false;
  *out = v;
  return true;
}

Value ToInt(const Value* a, size_t n, CallContext&) {
  if (n != 1) NO_OVERLOAD("int");
  switch (a[0].kind()) {
    case Kind::kInt:
      return a[0];
    case Kind::kUint:
      if (a[0].uint_value() > static_cast<uint64_t>(kInt64Max)) return Err("range error");
      return Value::Int(static_cast<int64_t>(a[0].uint_value()));
    case Kind::kDouble: {
      double d = a[0].double_value();
      if (std::isnan(d) || d <= -9223372036854775808.0 || d >= 9223372036854775807.0)
        return Err("range error");
      return Value::Int(static_cast<int64_t>(d));
    }
    case Kind::kString: {
      int64_t v;
      if (!ParseInt64(a[0].str(), &v))
        return Err("cannot convert '" + std::string(a[0].str()) + "' to int");
      return Value::Int(v);
    }
    case Kind::kTimestamp:
      return Value::Int(a[0].seconds());
    case Kind::kDuration:
      return Value::Int(static_cast<int64_t>(a[0].duration_nanos()));
    default:
      NO_OVERLOAD("int");
  }
}

Value ToUint(const Value* a, size_t n, CallContext&) {
  if (n != 1) NO_OVERLOAD("uint");
  switch (a[0].kind()) {
    case Kind::kUint:
      return a[0];
    case Kind::kInt:
      if (a[0].int_value() < 0) return Err("range error");
      return Value::Uint(static_cast<uint64_t>(a[0].int_value()));
    case Kind::kDouble: {
      double d = a[0].double_value();
      if (std::isnan(d) || d < 0 || d >= 18446744073709551615.0) return Err("range error");
      return Value::Uint(static_cast<uint64_t>(d));
    }
    case Kind::kString: {
      uint64_t v;
      if (!ParseUint64(a[0].str(), &v))
        return Err("cannot convert '" + std::string(a[0].str()) + "' to uint");
      return Value::Uint(v);
    }
    default:
      NO_OVERLOAD("uint");
  }
}

Value ToDouble(const Value* a, size_t n, CallContext&) {
  if (n != 1) NO_OVERLOAD("double");
  switch (a[0].kind()) {
    case Kind::kDouble:
      return a[0];
    case Kind::kInt:
      return Value::Double(static_cast<double>(a[0].int_value()));
    case Kind::kUint:
      return Value::Double(static_cast<double>(a[0].uint_value()));
    case Kind::kString: {
      std::string s(a[0].str());
      if (s == "NaN") return Value::Double(std::nan(""));
      if (s == "Infinity" || s == "+Infinity" || s == "Inf" || s == "+Inf" || s == "inf") {
        return Value::Double(std::numeric_limits<double>::infinity());
      }
      if (s == "-Infinity" || s == "-Inf" || s == "-inf")
        return Value::Double(-std::numeric_limits<double>::infinity());
      char* end = nullptr;
      double d = std::strtod(s.c_str(), &end);
      if (s.empty() || end != s.c_str() + s.size() ||
          std::isspace(static_cast<unsigned char>(s[0])) ||
          s.find_first_of("xXnN") != std::string::npos) {
        return Err("cannot convert '" + s + "' to double");
      }
      return Value::Double(d);
    }
    default:
      NO_OVERLOAD("double");
  }
}

Value ToString(const Value* a, size_t n, CallContext&) {
  if (n != 1) NO_OVERLOAD("string");
  switch (a[0].kind()) {
    case Kind::kString:
      return a[0];
    case Kind::kBytes:
      if (!IsValidUtf8(a[0].str())) return Err("invalid UTF-8 in bytes, cannot convert to string");
      return Value::String(std::string(a[0].str()));
    case Kind::kInt:
    case Kind::kUint:
    case Kind::kDouble:
    case Kind::kBool:
    case Kind::kTimestamp:
    case Kind::kDuration:
    case Kind::kType:
    case Kind::kQuantity:
    case Kind::kSemver:
    case Kind::kObject:
      return Value::String(FormatValue(a[0], false));
    default:
      NO_OVERLOAD("string");
  }
}

Value ToBytes(const Value* a, size_t n, CallContext&) {
  if (n != 1) NO_OVERLOAD("bytes");
  if (a[0].kind() == Kind::kBytes) return a[0];
  if (a[0].kind() == Kind::kString) return Value::Bytes(std::string(a[0].str()));
  NO_OVERLOAD("bytes");
}

Value ToBool(const Value* a, size_t n, CallContext&) {
  if (n != 1) NO_OVERLOAD("bool");
  if (a[0].kind() == Kind::kBool) return a[0];
  if (a[0].kind() == Kind::kString) {
    std::string_view s = a[0].str();
    if (s == "1" || s == "t" || s == "T" || s == "true" || s == "TRUE" || s == "True")
      return Value::Bool(true);
    if (s == "0" || s == "f" || s == "F" || s == "false" || s == "FALSE" || s == "False")
      return Value::Bool(false);
    return Err("cannot convert '" + std::string(s) + "' to bool");
  }
  NO_OVERLOAD("bool");
}

Value Dyn(const Value* a, size_t n, CallContext&) {
  if (n != 1) NO_OVERLOAD("dyn");
  return a[0];
}

Value TypeOf(const Value* a, size_t n, CallContext&) {
  if (n != 1) NO_OVERLOAD("type");
  return Value::Type(a[0].TypeName());
}

// ---- timestamps and durations -----------------------------------------------------------------

Value ToDuration(const Value* a, size_t n, CallContext&) {
  if (n != 1) NO_OVERLOAD("duration");
  if (a[0].kind() == Kind::kDuration) return a[0];
  if (a[0].kind() == Kind::kString) {
    auto d = ParseDuration(a[0].str());
    if (!d.ok()) return Err(d.error().message);
    return Value::Duration(*d);
  }
  if (a[0].kind() == Kind::kInt) {
    return Err("type conversion error from 'int' to 'google.protobuf.Duration'");
  }
  NO_OVERLOAD("duration");
}

Value ToTimestamp(const Value* a, size_t n, CallContext&) {
  if (n != 1) NO_OVERLOAD("timestamp");
  if (a[0].kind() == Kind::kTimestamp) return a[0];
  if (a[0].kind() == Kind::kString) {
    auto t = ParseTimestamp(a[0].str());
    if (!t.ok()) return Err(t.error().message);
    return Value::Timestamp(t->seconds, t->nanos);
  }
  if (a[0].kind() == Kind::kInt) {
    int64_t s = a[0].int_value();
    if (s < kMinTimestampSeconds || s > kMaxTimestampSeconds) return Err("timestamp out of range");
    return Value::Timestamp(s, 0);
  }
  NO_OVERLOAD("timestamp");
}

enum class TimeField {
  kFullYear,
  kMonth,
  kDayOfYear,
  kDayOfMonth,
  kDate,
  kDayOfWeek,
  kHours,
  kMinutes,
  kSeconds,
  kMillis
};

template <TimeField F>
Value TimeGetter(const Value* a, size_t n, CallContext&) {
  static constexpr const char* kNames[] = {
      "getFullYear",  "getMonth", "getDayOfYear", "getDayOfMonth", "getDate",
      "getDayOfWeek", "getHours", "getMinutes",   "getSeconds",    "getMilliseconds"};
  const char* name = kNames[static_cast<int>(F)];
  if (n >= 1 && a[0].kind() == Kind::kDuration && n == 1) {
    Int128 total = a[0].duration_nanos();
    switch (F) {
      case TimeField::kHours:
        return Value::Int(static_cast<int64_t>(total / (3600LL * 1000000000)));
      case TimeField::kMinutes:
        return Value::Int(static_cast<int64_t>(total / (60LL * 1000000000)));
      case TimeField::kSeconds:
        return Value::Int(static_cast<int64_t>(total / 1000000000));
      case TimeField::kMillis:
        return Value::Int(static_cast<int64_t>((total % 1000000000) / 1000000));
      default:
        NO_OVERLOAD(name);
    }
  }
  if (n < 1 || n > 2 || a[0].kind() != Kind::kTimestamp ||
      (n == 2 && a[1].kind() != Kind::kString)) {
    NO_OVERLOAD(name);
  }
  auto civil = ToCivil(a[0].seconds(), n == 2 ? a[1].str() : std::string_view());
  if (!civil.ok()) return Err(civil.error().message);
  switch (F) {
    case TimeField::kFullYear:
      return Value::Int(civil->year);
    case TimeField::kMonth:
      return Value::Int(civil->month - 1);
    case TimeField::kDayOfYear:
      return Value::Int(civil->day_of_year);
    case TimeField::kDayOfMonth:
      return Value::Int(civil->day - 1);
    case TimeField::kDate:
      return Value::Int(civil->day);
    case TimeField::kDayOfWeek:
      return Value::Int(civil->day_of_week);
    case TimeField::kHours:
      return Value::Int(civil->hour);
    case TimeField::kMinutes:
      return Value::Int(civil->minute);
    case TimeField::kSeconds:
      return Value::Int(civil->second);
    case TimeField::kMillis:
      return Value::Int(a[0].nanos() / 1000000);
  }
  NO_OVERLOAD(name);
}

// ---- optionals -----------------------------------------------------------------------------

bool IsZeroValue(const Value& v) {
  switch (v.kind()) {
    case Kind::kNull:
      return true;
    case Kind::kBool:
      return !v.bool_value();
    case Kind::kInt:
      return v.int_value() == 0;
    case Kind::kUint:
      return v.uint_value() == 0;
    case Kind::kDouble:
      return v.double_value() == 0;
    case Kind::kString:
    case Kind::kBytes:
      return v.str().empty();
    case Kind::kList:
      return v.list().elements.empty();
    case Kind::kMap:
      return v.map().Size() == 0;
    case Kind::kDuration:
      return v.duration_nanos() == 0;
    case Kind::kTimestamp:
      return v.seconds() == 0 && v.nanos() == 0;
    case Kind::kOptional:
      return !v.has_value();
    default:
      return false;
  }
}

Value OptionalOf(const Value* a, size_t n, CallContext&) {
  if (n != 1) NO_OVERLOAD("optional.of");
  return Value::Optional(a[0]);
}
Value OptionalOfNonZero(const Value* a, size_t n, CallContext&) {
  if (n != 1) NO_OVERLOAD("optional.ofNonZeroValue");
  return IsZeroValue(a[0]) ? Value::OptionalNone() : Value::Optional(a[0]);
}
Value OptionalNone(const Value* a, size_t n, CallContext&) {
  if (n != 0) NO_OVERLOAD("optional.none");
  return Value::OptionalNone();
}
Value HasValue(const Value* a, size_t n, CallContext&) {
  if (n != 1 || a[0].kind() != Kind::kOptional) NO_OVERLOAD("hasValue");
  return Value::Bool(a[0].has_value());
}
Value OptValue(const Value* a, size_t n, CallContext&) {
  if (n != 1 || a[0].kind() != Kind::kOptional) NO_OVERLOAD("value");
  if (!a[0].has_value()) return Err("optional.none() dereference");
  return a[0].optional_value();
}
Value OptOr(const Value* a, size_t n, CallContext&) {
  if (n != 2 || a[0].kind() != Kind::kOptional) {
    if (n >= 1 && a[0].is_error()) return a[0];
    NO_OVERLOAD("or");
  }
  if (a[0].has_value()) return a[0];
  if (a[1].is_error()) return a[1];
  if (a[1].kind() != Kind::kOptional) NO_OVERLOAD("or");
  return a[1];
}
Value OptOrValue(const Value* a, size_t n, CallContext&) {
  if (n != 2 || a[0].kind() != Kind::kOptional) {
    if (n >= 1 && a[0].is_error()) return a[0];
    NO_OVERLOAD("orValue");
  }
  if (a[0].has_value()) return a[0].optional_value();
  return a[1];
}
Value OptUnwrap(const Value* a, size_t n, CallContext&) {
  if (n != 1 || a[0].kind() != Kind::kList) NO_OVERLOAD("optional.unwrap");
  std::vector<Value> out;
  for (const Value& v : a[0].list().elements) {
    if (v.kind() != Kind::kOptional) NO_OVERLOAD("optional.unwrap");
    if (v.has_value()) out.push_back(v.optional_value());
  }
  return Value::List(std::move(out));
}

// ---- strings extension -----------------------------------------------------------------------

Value CharAt(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kString, Kind::kInt})) NO_OVERLOAD("charAt");
  auto cps = CodePoints(a[0].str());
  int64_t i = a[1].int_value();
  if (i < 0 || i > static_cast<int64_t>(cps.size()))
    return Err("index out of range: " + std::to_string(i));
  if (i == static_cast<int64_t>(cps.size())) return Value::String("");
  return Value::String(std::string(cps[i]));
}

Value IndexOfImpl(const Value* a, size_t n, bool last) {
  const char* name = last ? "lastIndexOf" : "indexOf";
  if (n >= 1 && a[0].kind() == Kind::kList) {
    if (n != 2) NO_OVERLOAD(name);
    const auto& elems = a[0].list().elements;
    if (last) {
      for (size_t i = elems.size(); i-- > 0;) {
        if (ValuesEqual(elems[i], a[1])) return Value::Int(static_cast<int64_t>(i));
      }
    } else {
      for (size_t i = 0; i < elems.size(); ++i) {
        if (ValuesEqual(elems[i], a[1])) return Value::Int(static_cast<int64_t>(i));
      }
    }
    return Value::Int(-1);
  }
  if (!(Is(a, n, {Kind::kString, Kind::kString}) ||
        Is(a, n, {Kind::kString, Kind::kString, Kind::kInt}))) {
    NO_OVERLOAD(name);
  }
  auto hay = CodePoints(a[0].str());
  auto needle = CodePoints(a[1].str());
  const int64_t size = static_cast<int64_t>(hay.size());
  const int64_t nsize = static_cast<int64_t>(needle.size());
  int64_t offset = n == 3 ? a[2].int_value() : (last ? size : 0);
  if (offset < 0 || offset > size) return Err("index out of range: " + std::to_string(offset));
  auto match_at = [&](int64_t i) {
    if (i + nsize > size) return false;
    for (int64_t k = 0; k < nsize; ++k) {
      if (hay[i + k] != needle[k]) return false;
    }
    return true;
  };
  if (last) {
    for (int64_t i = std::min(offset, size - nsize); i >= 0; --i) {
      if (match_at(i)) return Value::Int(i);
    }
  } else {
    for (int64_t i = offset; i + nsize <= size; ++i) {
      if (match_at(i)) return Value::Int(i);
    }
  }
  return Value::Int(-1);
}
Value IndexOf(const Value* a, size_t n, CallContext&) { return IndexOfImpl(a, n, false); }
Value LastIndexOf(const Value* a, size_t n, CallContext&) { return IndexOfImpl(a, n, true); }

Value LowerAscii(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kString})) NO_OVERLOAD("lowerAscii");
  std::string s(a[0].str());
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return Value::String(std::move(s));
}
Value UpperAscii(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kString})) NO_OVERLOAD("upperAscii");
  std::string s(a[0].str());
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return Value::String(std::move(s));
}

Value Replace(const Value* a, size_t n, CallContext&) {
  if (!(Is(a, n, {Kind::kString, Kind::kString, Kind::kString}) ||
        Is(a, n, {Kind::kString, Kind::kString, Kind::kString, Kind::kInt}))) {
    NO_OVERLOAD("replace");
  }
  std::string_view s = a[0].str(), from = a[1].str(), to = a[2].str();
  int64_t limit = n == 4 ? a[3].int_value() : -1;
  std::string out;
  if (from.empty()) {
    // Go's strings.Replace with an empty old string inserts `to` around every code point.
    auto cps = CodePoints(s);
    int64_t done = 0;
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (limit < 0 || done < limit) {
        out += to;
        ++done;
      }
      if (i < cps.size()) out += cps[i];
    }
    return Value::String(std::move(out));
  }
  size_t pos = 0;
  int64_t done = 0;
  while (limit < 0 || done < limit) {
    size_t found = s.find(from, pos);
    if (found == std::string_view::npos) break;
    out += s.substr(pos, found - pos);
    out += to;
    pos = found + from.size();
    ++done;
  }
  out += s.substr(pos);
  return Value::String(std::move(out));
}

Value Split(const Value* a, size_t n, CallContext&) {
  if (!(Is(a, n, {Kind::kString, Kind::kString}) ||
        Is(a, n, {Kind::kString, Kind::kString, Kind::kInt}))) {
    NO_OVERLOAD("split");
  }
  std::string_view s = a[0].str(), sep = a[1].str();
  int64_t limit = n == 3 ? a[2].int_value() : -1;
  std::vector<Value> out;
  if (limit == 0) return Value::List(std::move(out));
  if (sep.empty()) {
    auto cps = CodePoints(s);
    for (size_t i = 0; i < cps.size(); ++i) {
      if (limit > 0 && static_cast<int64_t>(out.size()) == limit - 1) {
        std::string rest;
        for (size_t k = i; k < cps.size(); ++k) rest += cps[k];
        out.push_back(Value::String(std::move(rest)));
        break;
      }
      out.push_back(Value::String(std::string(cps[i])));
    }
    return Value::List(std::move(out));
  }
  size_t pos = 0;
  while (true) {
    if (limit > 0 && static_cast<int64_t>(out.size()) == limit - 1) break;
    size_t found = s.find(sep, pos);
    if (found == std::string_view::npos) break;
    out.push_back(Value::String(std::string(s.substr(pos, found - pos))));
    pos = found + sep.size();
  }
  out.push_back(Value::String(std::string(s.substr(pos))));
  return Value::List(std::move(out));
}

Value Substring(const Value* a, size_t n, CallContext&) {
  if (!(Is(a, n, {Kind::kString, Kind::kInt}) ||
        Is(a, n, {Kind::kString, Kind::kInt, Kind::kInt}))) {
    NO_OVERLOAD("substring");
  }
  auto cps = CodePoints(a[0].str());
  const int64_t size = static_cast<int64_t>(cps.size());
  int64_t start = a[1].int_value();
  int64_t end = n == 3 ? a[2].int_value() : size;
  if (start < 0 || start > size) return Err("index out of range: " + std::to_string(start));
  if (end < 0 || end > size) return Err("index out of range: " + std::to_string(end));
  if (start > end) {
    return Err("invalid substring range. start: " + std::to_string(start) +
               ", end: " + std::to_string(end));
  }
  std::string out;
  for (int64_t i = start; i < end; ++i) out += cps[i];
  return Value::String(std::move(out));
}

bool IsUnicodeSpace(std::string_view cp) {
  static const char* kSpaces[] = {" ",
                                  "\t",
                                  "\n",
                                  "\v",
                                  "\f",
                                  "\r",
                                  "\xC2\x85",
                                  "\xC2\xA0",
                                  "\xE1\x9A\x80",
                                  "\xE2\x80\x80",
                                  "\xE2\x80\x81",
                                  "\xE2\x80\x82",
                                  "\xE2\x80\x83",
                                  "\xE2\x80\x84",
                                  "\xE2\x80\x85",
                                  "\xE2\x80\x86",
                                  "\xE2\x80\x87",
                                  "\xE2\x80\x88",
                                  "\xE2\x80\x89",
                                  "\xE2\x80\x8A",
                                  "\xE2\x80\xA8",
                                  "\xE2\x80\xA9",
                                  "\xE2\x80\xAF",
                                  "\xE2\x81\x9F",
                                  "\xE3\x80\x80"};
  for (const char* s : kSpaces) {
    if (cp == s) return true;
  }
  return false;
}

Value Trim(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kString})) NO_OVERLOAD("trim");
  auto cps = CodePoints(a[0].str());
  size_t b = 0, e = cps.size();
  while (b < e && IsUnicodeSpace(cps[b])) ++b;
  while (e > b && IsUnicodeSpace(cps[e - 1])) --e;
  std::string out;
  for (size_t i = b; i < e; ++i) out += cps[i];
  return Value::String(std::move(out));
}

Value Join(const Value* a, size_t n, CallContext&) {
  if (!(Is(a, n, {Kind::kList}) || Is(a, n, {Kind::kList, Kind::kString}))) NO_OVERLOAD("join");
  std::string out;
  bool first = true;
  for (const Value& v : a[0].list().elements) {
    if (v.kind() != Kind::kString) NO_OVERLOAD("join");
    if (!first && n == 2) out += a[1].str();
    first = false;
    out += v.str();
  }
  return Value::String(std::move(out));
}

Value Reverse(const Value* a, size_t n, CallContext& ctx) {
  if (n == 1 && a[0].kind() == Kind::kList) {
    std::vector<Value> out(a[0].list().elements.rbegin(), a[0].list().elements.rend());
    return ChargeOutputSize(ctx, Value::List(std::move(out)));
  }
  if (!Is(a, n, {Kind::kString})) NO_OVERLOAD("reverse");
  auto cps = CodePoints(a[0].str());
  std::string out;
  for (size_t i = cps.size(); i-- > 0;) out += cps[i];
  return Value::String(std::move(out));
}

Value Quote(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kString})) NO_OVERLOAD("strings.quote");
  return Value::String(QuoteString(a[0].str()));
}

// cel-go's runtime cost of a format() call (overload string_format, which has no tracker below
// strings version 5): ceil(0.1 per code point of the format string), in place of the call's unit
// (interpreter.cc charges that unit for every call).
void ChargeFormatTraversal(CallContext& ctx, std::string_view format) {
  ctx.cost +=
      static_cast<int64_t>(std::ceil(static_cast<double>(CodePointCount(format)) * 0.1)) - 1;
}

// format() as cel-go's ext.Strings formats from version 4 on (formatting_v2.go, the cel-spec's
// clauses); Kubernetes' environment formats with FormatLocalized (format.h) instead.
std::string FormatDoubleFixed(double d, int precision, char verb) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[512];
  std::snprintf(buf, sizeof(buf), verb == 'e' ? "%.*e" : "%.*f", precision, d);
  return buf;
}

Result<std::string> FormatForString(const Value& v) {
  switch (v.kind()) {
    case Kind::kDouble: {
      double d = v.double_value();
      if (std::isnan(d)) return std::string("NaN");
      if (std::isinf(d)) return std::string(d > 0 ? "Infinity" : "-Infinity");
      return FormatDouble(d);
    }
    case Kind::kList: {
      std::string out = "[";
      bool first = true;
      for (const Value& e : v.list().elements) {
        MIGDRA_ASSIGN_OR_RETURN(std::string s, FormatForString(e));
        out += (first ? "" : ", ") + s;
        first = false;
      }
      return out + "]";
    }
    case Kind::kMap: {
      std::vector<std::pair<std::string, std::string>> entries;
      std::vector<Value> keys;
      v.map().Keys(&keys);
      for (const Value& k : keys) {
        Value val;
        v.map().Find(k, &val);
        MIGDRA_ASSIGN_OR_RETURN(std::string ks, FormatForString(k));
        MIGDRA_ASSIGN_OR_RETURN(std::string vs, FormatForString(val));
        entries.emplace_back(ks, vs);
      }
      std::sort(entries.begin(), entries.end());
      std::string out = "{";
      bool first = true;
      for (const auto& [k, val] : entries) {
        out += (first ? "" : ", ") + k + ": " + val;
        first = false;
      }
      return out + "}";
    }
    case Kind::kOptional:
    case Kind::kError:
      return MakeError(
          "error during formatting: string clause can only be used on strings, bools, bytes, ints, "
          "doubles, maps, lists, types, durations, and timestamps, was given " +
          std::string(v.TypeName()));
    default:
      return FormatValue(v, false);
  }
}

std::string ToBase(uint64_t v, int base, bool upper) {
  if (v == 0) return "0";
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  while (v) {
    out.push_back(digits[v % base]);
    v /= base;
  }
  return std::string(out.rbegin(), out.rend());
}

Result<std::string> FormatClause(char verb, int precision, const Value& v) {
  const std::string type(v.TypeName());
  switch (verb) {
    case 's':
      return FormatForString(v);
    case 'd':
      if (v.kind() == Kind::kInt) return std::to_string(v.int_value());
      if (v.kind() == Kind::kUint) return std::to_string(v.uint_value());
      if (v.kind() == Kind::kDouble && !std::isfinite(v.double_value())) {
        return FormatDoubleFixed(v.double_value(), 0, 'f');
      }
      return MakeError(
          "error during formatting: decimal clause can only be used on integers, was given " +
          type);
    case 'f':
    case 'e':
      if (v.kind() == Kind::kDouble)
        return FormatDoubleFixed(v.double_value(), precision < 0 ? 6 : precision, verb);
      return MakeError(std::string("error during formatting: ") +
                       (verb == 'f' ? "fixed-point" : "scientific") +
                       " clause can only be used on doubles, was given " + type);
    case 'b':
      if (v.kind() == Kind::kInt) {
        int64_t i = v.int_value();
        return (i < 0 ? "-" : "") + ToBase(i < 0 ? -static_cast<uint64_t>(i) : i, 2, false);
      }
      if (v.kind() == Kind::kUint) return ToBase(v.uint_value(), 2, false);
      if (v.kind() == Kind::kBool) return std::string(v.bool_value() ? "1" : "0");
      return MakeError(
          "error during formatting: only integers and bools can be formatted as binary, was "
          "given " +
          type);
    case 'o':
      if (v.kind() == Kind::kInt) {
        int64_t i = v.int_value();
        return (i < 0 ? "-" : "") + ToBase(i < 0 ? -static_cast<uint64_t>(i) : i, 8, false);
      }
      if (v.kind() == Kind::kUint) return ToBase(v.uint_value(), 8, false);
      return MakeError(
          "error during formatting: octal clause can only be used on integers, was given " + type);
    case 'x':
    case 'X': {
      const bool upper = verb == 'X';
      if (v.kind() == Kind::kInt) {
        int64_t i = v.int_value();
        return (i < 0 ? "-" : "") + ToBase(i < 0 ? -static_cast<uint64_t>(i) : i, 16, upper);
      }
      if (v.kind() == Kind::kUint) return ToBase(v.uint_value(), 16, upper);
      if (v.kind() == Kind::kString || v.kind() == Kind::kBytes) {
        std::string out;
        for (unsigned char c : v.str()) {
          char buf[4];
          std::snprintf(buf, sizeof(buf), upper ? "%02X" : "%02x", c);
          out += buf;
        }
        return out;
      }
      return MakeError(
          "error during formatting: only integers, byte buffers, and strings can be formatted as "
          "hex, was given " +
          type);
    }
    default:
      return MakeError(
          std::string("could not parse formatting clause: unrecognized formatting clause \"") +
          verb + "\"");
  }
}

Value Format(const Value* a, size_t n, CallContext& ctx) {
  if (!Is(a, n, {Kind::kString, Kind::kList})) NO_OVERLOAD("format");
  ChargeFormatTraversal(ctx, a[0].str());
  std::string_view f = a[0].str();
  const auto& args = a[1].list().elements;
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') {
      out.push_back(f[i]);
      continue;
    }
    if (++i >= f.size()) return Err("could not parse formatting clause: unexpected end of string");
    if (f[i] == '%') {
      out.push_back('%');
      continue;
    }
    int precision = -1;
    if (f[i] == '.') {
      precision = 0;
      ++i;
      while (i < f.size() && f[i] >= '0' && f[i] <= '9')
        precision = precision * 10 + (f[i++] - '0');
      if (i >= f.size()) return Err("could not parse formatting clause: unexpected end of string");
    }
    const char verb = f[i];
    if (std::string_view("sdfebox X").find(verb) == std::string_view::npos || verb == ' ') {
      return Err(
          std::string("could not parse formatting clause: unrecognized formatting clause \"") +
          verb + "\"");
    }
    if (next >= args.size()) return Err("index " + std::to_string(next) + " out of range");
    auto s = FormatClause(verb, precision, args[next++]);
    if (!s.ok()) return Err(s.error().message);
    out += *s;
  }
  return Value::String(std::move(out));
}

Value FormatLocalizedFn(const Value* a, size_t n, CallContext& ctx) {
  if (!Is(a, n, {Kind::kString, Kind::kList})) NO_OVERLOAD("format");
  ChargeFormatTraversal(ctx, a[0].str());
  auto text = FormatLocalized(a[0].str(), a[1].list().elements);
  if (!text.ok()) return Err(text.error().message);
  return Value::String(std::move(*text));
}

// ---- math extension --------------------------------------------------------------------------

bool IsNumeric(const Value& v) {
  return v.kind() == Kind::kInt || v.kind() == Kind::kUint || v.kind() == Kind::kDouble;
}

Value Extreme(const Value* a, size_t n, bool greatest) {
  const char* name = greatest ? "math.greatest" : "math.least";
  const Value* items = a;
  size_t count = n;
  if (n == 1 && a[0].kind() == Kind::kList) {
    items = a[0].list().elements.data();
    count = a[0].list().elements.size();
    if (count == 0) return Err(std::string(name) + "(list) argument must not be empty");
  }
  if (count == 0) NO_OVERLOAD(name);
  Value best = items[0];
  if (!IsNumeric(best)) NO_OVERLOAD(name);
  for (size_t i = 1; i < count; ++i) {
    if (!IsNumeric(items[i])) NO_OVERLOAD(name);
    int c = CompareValues(items[i], best);
    if ((greatest && c == 1) || (!greatest && c == -1)) best = items[i];
  }
  return best;
}
Value Greatest(const Value* a, size_t n, CallContext&) { return Extreme(a, n, true); }
Value Least(const Value* a, size_t n, CallContext&) { return Extreme(a, n, false); }

template <double (*F)(double)>
Value DoubleFn(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kDouble})) NO_OVERLOAD("math function");
  return Value::Double(F(a[0].double_value()));
}
double RoundHalfAway(double d) { return std::round(d); }

Value MathAbs(const Value* a, size_t n, CallContext&) {
  if (n == 1 && a[0].kind() == Kind::kInt) {
    if (a[0].int_value() == kInt64Min) return Err("integer overflow");
    return Value::Int(std::abs(a[0].int_value()));
  }
  if (n == 1 && a[0].kind() == Kind::kUint) return a[0];
  if (n == 1 && a[0].kind() == Kind::kDouble) return Value::Double(std::fabs(a[0].double_value()));
  NO_OVERLOAD("math.abs");
}
Value MathSign(const Value* a, size_t n, CallContext&) {
  if (n == 1 && a[0].kind() == Kind::kInt)
    return Value::Int((a[0].int_value() > 0) - (a[0].int_value() < 0));
  if (n == 1 && a[0].kind() == Kind::kUint) return Value::Uint(a[0].uint_value() > 0 ? 1 : 0);
  if (n == 1 && a[0].kind() == Kind::kDouble) {
    double d = a[0].double_value();
    if (std::isnan(d)) return a[0];
    return Value::Double(d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0));
  }
  NO_OVERLOAD("math.sign");
}
Value MathIsNaN(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kDouble})) NO_OVERLOAD("math.isNaN");
  return Value::Bool(std::isnan(a[0].double_value()));
}
Value MathIsInf(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kDouble})) NO_OVERLOAD("math.isInf");
  return Value::Bool(std::isinf(a[0].double_value()));
}
Value MathIsFinite(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kDouble})) NO_OVERLOAD("math.isFinite");
  return Value::Bool(std::isfinite(a[0].double_value()));
}

enum class BitOp { kAnd, kOr, kXor };
template <BitOp Op>
Value Bitwise(const Value* a, size_t n, CallContext&) {
  auto apply = [](auto x, auto y) {
    return Op == BitOp::kAnd ? (x & y) : (Op == BitOp::kOr ? (x | y) : (x ^ y));
  };
  if (Is(a, n, {Kind::kInt, Kind::kInt}))
    return Value::Int(apply(a[0].int_value(), a[1].int_value()));
  if (Is(a, n, {Kind::kUint, Kind::kUint}))
    return Value::Uint(apply(a[0].uint_value(), a[1].uint_value()));
  NO_OVERLOAD("math.bit");
}
Value BitNot(const Value* a, size_t n, CallContext&) {
  if (Is(a, n, {Kind::kInt})) return Value::Int(~a[0].int_value());
  if (Is(a, n, {Kind::kUint})) return Value::Uint(~a[0].uint_value());
  NO_OVERLOAD("math.bitNot");
}
template <bool Left>
Value BitShift(const Value* a, size_t n, CallContext&) {
  if (n != 2 || a[1].kind() != Kind::kInt) NO_OVERLOAD("math.bitShift");
  int64_t s = a[1].int_value();
  if (s < 0) return Err("math.bitShift() negative offset: " + std::to_string(s));
  if (a[0].kind() == Kind::kInt) {
    if (s >= 64) return Value::Int(0);  // cel-go shifts the two's-complement bits
    uint64_t v = static_cast<uint64_t>(a[0].int_value());
    return Value::Int(Left ? static_cast<int64_t>(v << s) : static_cast<int64_t>(v >> s));
  }
  if (a[0].kind() == Kind::kUint) {
    if (s >= 64) return Value::Uint(0);
    return Value::Uint(Left ? a[0].uint_value() << s : a[0].uint_value() >> s);
  }
  NO_OVERLOAD("math.bitShift");
}

// ---- lists (Kubernetes and cel-go extensions) ------------------------------------------------

bool Comparable(const Value& v) {
  switch (v.kind()) {
    case Kind::kInt:
    case Kind::kUint:
    case Kind::kDouble:
    case Kind::kString:
    case Kind::kBytes:
    case Kind::kBool:
    case Kind::kDuration:
    case Kind::kTimestamp:
      return true;
    default:
      return false;
  }
}

Value IsSorted(const Value* a, size_t n, CallContext& ctx) {
  if (!Is(a, n, {Kind::kList})) NO_OVERLOAD("isSorted");
  const auto& e = a[0].list().elements;
  ctx.cost += static_cast<int64_t>(e.size());
  for (size_t i = 0; i < e.size(); ++i) {
    if (!Comparable(e[i])) NO_OVERLOAD("isSorted");
    if (i > 0) {
      int c = CompareValues(e[i - 1], e[i]);
      if (c == 3) NO_OVERLOAD("isSorted");
      if (c == 1) return Value::Bool(false);
    }
  }
  return Value::Bool(true);
}

Value Sum(const Value* a, size_t n, CallContext& ctx) {
  if (!Is(a, n, {Kind::kList})) NO_OVERLOAD("sum");
  const auto& e = a[0].list().elements;
  ctx.cost += static_cast<int64_t>(e.size());
  if (e.empty()) return Value::Int(0);
  Value acc = e[0];
  for (size_t i = 1; i < e.size(); ++i) {
    if (e[i].kind() != acc.kind()) NO_OVERLOAD("sum");
    switch (acc.kind()) {
      case Kind::kInt: {
        int64_t r;
        if (__builtin_add_overflow(acc.int_value(), e[i].int_value(), &r))
          return Err("integer overflow");
        acc = Value::Int(r);
        break;
      }
      case Kind::kUint: {
        uint64_t r;
        if (__builtin_add_overflow(acc.uint_value(), e[i].uint_value(), &r))
          return Err("unsigned integer overflow");
        acc = Value::Uint(r);
        break;
      }
      case Kind::kDouble:
        acc = Value::Double(acc.double_value() + e[i].double_value());
        break;
      case Kind::kDuration:
        acc = Value::Duration(acc.duration_nanos() + e[i].duration_nanos());
        break;
      default:
        NO_OVERLOAD("sum");
    }
  }
  if (!IsNumeric(acc) && acc.kind() != Kind::kDuration) NO_OVERLOAD("sum");
  return acc;
}

Value ListExtreme(const Value* a, size_t n, bool max, CallContext& ctx) {
  const char* name = max ? "max" : "min";
  if (!Is(a, n, {Kind::kList})) NO_OVERLOAD(name);
  const auto& e = a[0].list().elements;
  ctx.cost += static_cast<int64_t>(e.size());
  if (e.empty()) return Err(std::string(name) + " called on empty list");
  Value best = e[0];
  if (!Comparable(best)) NO_OVERLOAD(name);
  for (size_t i = 1; i < e.size(); ++i) {
    int c = CompareValues(e[i], best);
    if (c == 3) NO_OVERLOAD(name);
    if ((max && c == 1) || (!max && c == -1)) best = e[i];
  }
  return best;
}
Value ListMax(const Value* a, size_t n, CallContext& ctx) { return ListExtreme(a, n, true, ctx); }
Value ListMin(const Value* a, size_t n, CallContext& ctx) { return ListExtreme(a, n, false, ctx); }

Value SliceList(const Value* a, size_t n) {
  if (!Is(a, n, {Kind::kList, Kind::kInt, Kind::kInt})) NO_OVERLOAD("slice");
  const auto& e = a[0].list().elements;
  int64_t start = a[1].int_value(), end = a[2].int_value();
  if (start < 0 || end < 0)
    return Err("cannot slice(" + std::to_string(start) + ", " + std::to_string(end) +
               "), negative indexes not supported");
  if (start > end)
    return Err("cannot slice(" + std::to_string(start) + ", " + std::to_string(end) +
               "), start index must be less than or equal to end index");
  if (end > static_cast<int64_t>(e.size()))
    return Err("cannot slice(" + std::to_string(start) + ", " + std::to_string(end) +
               "), list is length " + std::to_string(e.size()));
  return Value::List(std::vector<Value>(e.begin() + start, e.begin() + end));
}
Value Slice(const Value* a, size_t n, CallContext& ctx) {
  return ChargeOutputSize(ctx, SliceList(a, n));
}

void FlattenInto(const Value& list, int64_t depth, std::vector<Value>* out) {
  for (const Value& v : list.list().elements) {
    if (v.kind() == Kind::kList && depth > 0) {
      FlattenInto(v, depth - 1, out);
    } else {
      out->push_back(v);
    }
  }
}
Value Flatten(const Value* a, size_t n, CallContext& ctx) {
  if (!(Is(a, n, {Kind::kList}) || Is(a, n, {Kind::kList, Kind::kInt}))) NO_OVERLOAD("flatten");
  int64_t depth = n == 2 ? a[1].int_value() : 1;
  if (depth < 0) return Err("level must be non-negative");
  // trackListFlatten: the depth per element of the (outer) list.
  ChargeAllocatingListCall(ctx, static_cast<double>(depth), a[0].list().elements.size());
  std::vector<Value> out;
  FlattenInto(a[0], depth, &out);
  return Value::List(std::move(out));
}

Value Distinct(const Value* a, size_t n, CallContext& ctx) {
  if (!Is(a, n, {Kind::kList})) NO_OVERLOAD("distinct");
  ChargeSelfCompare(ctx, a[0].list().elements);
  std::vector<Value> out;
  for (const Value& v : a[0].list().elements) {
    bool seen = false;
    for (const Value& o : out) {
      if (ValuesEqual(o, v)) {
        seen = true;
        break;
      }
    }
    if (!seen) out.push_back(v);
  }
  return Value::List(std::move(out));
}

// `list` ordered by the associated `keys` (cel-go's @sortByAssociatedKeys, behind sort() and the
// sortBy() macro): the keys must be comparable and of one type.
Value SortByKeys(const std::vector<Value>& list, const std::vector<Value>& keys) {
  if (list.size() != keys.size()) {
    return Err(
        "@sortByAssociatedKeys() expected a list of the same size as the associated keys list, "
        "but got " +
        std::to_string(list.size()) + " and " + std::to_string(keys.size()) +
        " elements respectively");
  }
  if (list.empty()) return Value::List(std::vector<Value>{});
  if (!Comparable(keys[0])) return Err("list elements must be comparable");
  for (const Value& k : keys) {
    if (k.kind() != keys[0].kind()) return Err("list elements must have the same type");
  }
  std::vector<size_t> order(list.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return CompareValues(keys[x], keys[y]) == -1; });
  std::vector<Value> out;
  out.reserve(list.size());
  for (size_t i : order) out.push_back(list[i]);
  return Value::List(std::move(out));
}
Value Sort(const Value* a, size_t n, CallContext& ctx) {
  if (!Is(a, n, {Kind::kList})) NO_OVERLOAD("sort");
  ChargeSelfCompare(ctx, a[0].list().elements);
  return SortByKeys(a[0].list().elements, a[0].list().elements);
}
Value SortByAssociatedKeys(const Value* a, size_t n, CallContext& ctx) {
  if (!Is(a, n, {Kind::kList, Kind::kList})) NO_OVERLOAD("@sortByAssociatedKeys");
  ChargeSelfCompare(ctx, a[1].list().elements);
  return SortByKeys(a[0].list().elements, a[1].list().elements);
}
Value ListFirst(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kList})) NO_OVERLOAD("first");
  const auto& e = a[0].list().elements;
  return e.empty() ? Value::OptionalNone() : Value::Optional(e.front());
}
Value ListLast(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kList})) NO_OVERLOAD("last");
  const auto& e = a[0].list().elements;
  return e.empty() ? Value::OptionalNone() : Value::Optional(e.back());
}

Value ListsRange(const Value* a, size_t n, CallContext& ctx) {
  if (!Is(a, n, {Kind::kInt})) NO_OVERLOAD("lists.range");
  const int64_t count = std::max<int64_t>(a[0].int_value(), 0);
  // Its result's size (trackListOutputSize), charged before the list is built, so that a range
  // beyond the budget is refused rather than allocated (and the evaluation stays over budget).
  ChargeAllocatingListCall(ctx, 1, static_cast<uint64_t>(count));
  if (ctx.cost > ctx.limit) {
    if (ctx.limit < std::numeric_limits<int64_t>::max()) ctx.cost = ctx.limit + 1;
    return Value::Error("operation cancelled: actual cost limit exceeded");
  }
  std::vector<Value> out;
  out.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) out.push_back(Value::Int(i));
  return Value::List(std::move(out));
}

// ---- sets -------------------------------------------------------------------------------------

bool ListContains(const Value& list, const Value& v) {
  for (const Value& e : list.list().elements) {
    if (ValuesEqual(e, v)) return true;
  }
  return false;
}
Value SetsContains(const Value* a, size_t n, CallContext& ctx) {
  if (!Is(a, n, {Kind::kList, Kind::kList})) NO_OVERLOAD("sets.contains");
  ctx.cost += static_cast<int64_t>(a[0].list().elements.size() * a[1].list().elements.size() / 10);
  for (const Value& v : a[1].list().elements) {
    if (!ListContains(a[0], v)) return Value::Bool(false);
  }
  return Value::Bool(true);
}
Value SetsEquivalent(const Value* a, size_t n, CallContext& ctx) {
  if (!Is(a, n, {Kind::kList, Kind::kList})) NO_OVERLOAD("sets.equivalent");
  Value r = SetsContains(a, n, ctx);
  if (!r.bool_value()) return r;
  Value swapped[2] = {a[1], a[0]};
  return SetsContains(swapped, 2, ctx);
}
Value SetsIntersects(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kList, Kind::kList})) NO_OVERLOAD("sets.intersects");
  for (const Value& v : a[1].list().elements) {
    if (ListContains(a[0], v)) return Value::Bool(true);
  }
  return Value::Bool(false);
}

// ---- regex (Kubernetes) ---------------------------------------------------------------------

Value Find(const Value* a, size_t n, CallContext& ctx) {
  if (!Is(a, n, {Kind::kString, Kind::kString})) NO_OVERLOAD("find");
  auto re = CompileRegex(a[1].str());
  if (!re.ok()) return Err(re.error().message);
  ctx.cost += static_cast<int64_t>(a[0].str().size() / 10);
  re2::StringPiece match;
  re2::StringPiece input(a[0].str().data(), a[0].str().size());
  if (!(*re)->Match(input, 0, input.size(), RE2::UNANCHORED, &match, 1)) return Value::String("");
  return Value::String(std::string(match.data(), match.size()));
}

Value FindAll(const Value* a, size_t n, CallContext& ctx) {
  if (!(Is(a, n, {Kind::kString, Kind::kString}) ||
        Is(a, n, {Kind::kString, Kind::kString, Kind::kInt}))) {
    NO_OVERLOAD("findAll");
  }
  auto re = CompileRegex(a[1].str());
  if (!re.ok()) return Err(re.error().message);
  int64_t limit = n == 3 ? a[2].int_value() : -1;
  ctx.cost += static_cast<int64_t>(a[0].str().size() / 10);
  std::vector<Value> out;
  re2::StringPiece input(a[0].str().data(), a[0].str().size());
  size_t pos = 0;
  while (pos <= input.size() && (limit < 0 || static_cast<int64_t>(out.size()) < limit)) {
    re2::StringPiece match;
    if (!(*re)->Match(input, pos, input.size(), RE2::UNANCHORED, &match, 1)) break;
    out.push_back(Value::String(std::string(match.data(), match.size())));
    size_t end = static_cast<size_t>(match.data() - input.data()) + match.size();
    pos = match.empty() ? end + 1 : end;
  }
  return Value::List(std::move(out));
}

// ---- DRA (list-type attributes) -------------------------------------------------------------

// `target.includes(x)`: whether the list attribute `target` holds x, or the scalar equals x.
Value Includes(const Value* a, size_t n, CallContext& ctx) {
  if (n != 2) NO_OVERLOAD("includes");
  constexpr size_t kMaxAttributeValuesPerDevice = 48;
  if (a[0].kind() != Kind::kList) return Value::Bool(ValuesEqual(a[0], a[1]));
  const auto& elements = a[0].list().elements;
  for (size_t i = 0; i < elements.size(); ++i) {
    if (i >= kMaxAttributeValuesPerDevice) {
      return Err("'includes' function cannot be applied to lists longer than " +
                 std::to_string(kMaxAttributeValuesPerDevice) + " values");
    }
    ctx.cost += 1;
    if (ValuesEqual(elements[i], a[1])) return Value::Bool(true);
  }
  return Value::Bool(false);
}

// ---- encoders ---------------------------------------------------------------------------------

Value Base64Encode(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kBytes})) NO_OVERLOAD("base64.encode");
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string_view in = a[0].str();
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t chunk = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) chunk |= static_cast<uint8_t>(in[i + 1]) << 8;
    if (i + 2 < in.size()) chunk |= static_cast<uint8_t>(in[i + 2]);
    out.push_back(kAlphabet[(chunk >> 18) & 63]);
    out.push_back(kAlphabet[(chunk >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kAlphabet[(chunk >> 6) & 63] : '=');
    out.push_back(i + 2 < in.size() ? kAlphabet[chunk & 63] : '=');
  }
  return Value::String(std::move(out));
}

Value Base64Decode(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kString})) NO_OVERLOAD("base64.decode");
  std::string_view in = a[0].str();
  auto decode = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  size_t i = 0;
  for (; i < in.size() && in[i] != '='; ++i) {
    int v = decode(in[i]);
    if (v < 0) return Err("illegal base64 data at input byte " + std::to_string(i));
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  size_t data_len = i;
  for (; i < in.size(); ++i) {
    if (in[i] != '=') return Err("illegal base64 data at input byte " + std::to_string(i));
  }
  if (data_len % 4 == 1)
    return Err("illegal base64 data at input byte " + std::to_string(data_len));
  if (in.size() != data_len && in.size() % 4 != 0)
    return Err("illegal base64 data at input byte " + std::to_string(in.size()));
  return Value::Bytes(std::move(out));
}

// ---- maps ---------------------------------------------------------------------------------------

Value MapInsert(const Value* a, size_t n, CallContext&) {
  if (n < 2 || a[0].kind() != Kind::kMap) NO_OVERLOAD("cel.@mapInsert");
  auto out = std::make_shared<StandardMap>();
  std::vector<Value> keys;
  a[0].map().Keys(&keys);
  for (const Value& k : keys) {
    Value v;
    a[0].map().Find(k, &v);
    out->Insert(k, v);
  }
  auto insert = [&](const Value& k, const Value& v) -> Value {
    if (!out->Insert(k, v))
      return Err("insert failed: key " + FormatValue(k, true) + " already exists");
    return Value();
  };
  if (n == 3) {
    Value r = insert(a[1], a[2]);
    if (r.is_error()) return r;
  } else if (n == 2 && a[1].kind() == Kind::kMap) {
    std::vector<Value> entry_keys;
    a[1].map().Keys(&entry_keys);
    for (const Value& k : entry_keys) {
      Value v;
      a[1].map().Find(k, &v);
      Value r = insert(k, v);
      if (r.is_error()) return r;
    }
  } else {
    NO_OVERLOAD("cel.@mapInsert");
  }
  return Value::Map(std::move(out));
}

// ---- Kubernetes quantity --------------------------------------------------------------------

Value QuantityFn(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kString})) NO_OVERLOAD("quantity");
  auto q = api::Quantity::Parse(a[0].str());
  if (!q.ok()) return Err(q.error().message);
  return Value::Quantity(*q);
}
Value IsQuantity(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kString})) NO_OVERLOAD("isQuantity");
  return Value::Bool(api::Quantity::Parse(a[0].str()).ok());
}

template <int Which>
Value QuantityCompare(const Value* a, size_t n, CallContext&) {
  static constexpr const char* kNames[] = {"compareTo", "isGreaterThan", "isLessThan"};
  if (Is(a, n, {Kind::kQuantity, Kind::kQuantity})) {
    int c = a[0].quantity().Compare(a[1].quantity());
    if (Which == 0) return Value::Int(c);
    return Value::Bool(Which == 1 ? c > 0 : c < 0);
  }
  if (Is(a, n, {Kind::kSemver, Kind::kSemver})) {
    int c = a[0].semver().Compare(a[1].semver());
    if (Which == 0) return Value::Int(c < 0 ? -1 : (c > 0 ? 1 : 0));
    return Value::Bool(Which == 1 ? c > 0 : c < 0);
  }
  NO_OVERLOAD(kNames[Which]);
}

template <bool IsAdd>
Value QuantityArith(const Value* a, size_t n, CallContext&) {
  const char* name = IsAdd ? "add" : "sub";
  if (n != 2 || a[0].kind() != Kind::kQuantity) NO_OVERLOAD(name);
  api::Quantity other;
  if (a[1].kind() == Kind::kQuantity) {
    other = a[1].quantity();
  } else if (a[1].kind() == Kind::kInt) {
    other = api::Quantity::FromInt(a[1].int_value());
  } else {
    NO_OVERLOAD(name);
  }
  auto r = IsAdd ? a[0].quantity().Add(other) : a[0].quantity().Sub(other);
  if (!r.ok()) return Err(r.error().message);
  return Value::Quantity(*r);
}

Value QuantitySign(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kQuantity})) NO_OVERLOAD("sign");
  return Value::Int(a[0].quantity().Sign());
}
Value QuantityIsInteger(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kQuantity})) NO_OVERLOAD("isInteger");
  return Value::Bool(a[0].quantity().AsInt64().ok());
}
Value QuantityAsInteger(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kQuantity})) NO_OVERLOAD("asInteger");
  auto v = a[0].quantity().AsInt64();
  if (!v.ok()) return Err("cannot convert value to integer");
  return Value::Int(*v);
}
Value QuantityAsFloat(const Value* a, size_t n, CallContext&) {
  if (!Is(a, n, {Kind::kQuantity})) NO_OVERLOAD("asApproximateFloat");
  return Value::Double(a[0].quantity().AsApproximateFloat());
}

// ---- Kubernetes semver -----------------------------------------------------------------------

Result<api::Semver> ParseSemverArgs(const Value* a, size_t n) {
  if (n == 2 && a[1].bool_value()) return api::Semver::ParseNormalized(a[0].str());
  return api::Semver::Parse(a[0].str());
}
Value SemverFn(const Value* a, size_t n, CallContext&) {
  if (!(Is(a, n, {Kind::kString}) || Is(a, n, {Kind::kString, Kind::kBool}))) NO_OVERLOAD("semver");
  auto v = ParseSemverArgs(a, n);
  if (!v.ok()) return Err("invalid semver: " + v.error().message);
  return Value::Semver(*v);
}
Value IsSemver(const Value* a, size_t n, CallContext&) {
  if (!(Is(a, n, {Kind::kString}) || Is(a, n, {Kind::kString, Kind::kBool})))
    NO_OVERLOAD("isSemver");
  return Value::Bool(ParseSemverArgs(a, n).ok());
}
template <int Part>
Value SemverPart(const Value* a, size_t n, CallContext&) {
  static constexpr const char* kNames[] = {"major", "minor", "patch"};
  if (!Is(a, n, {Kind::kSemver})) NO_OVERLOAD(kNames[Part]);
  const api::Semver& v = a[0].semver();
  uint64_t p = Part == 0 ? v.major() : (Part == 1 ? v.minor() : v.patch());
  return Value::Int(static_cast<int64_t>(p));
}

// ---- registry ---------------------------------------------------------------------------------

struct Registry {
  std::map<std::string, FunctionImpl, std::less<>> globals;
  std::map<std::string, FunctionImpl, std::less<>> methods;

  void Global(const std::string& name, NativeFunction fn, bool strict = true) {
    globals[name] = FunctionImpl{name, false, fn, strict};
  }
  void Method(const std::string& name, NativeFunction fn, bool strict = true) {
    methods[name] = FunctionImpl{name, true, fn, strict};
  }
  void Both(const std::string& name, NativeFunction fn) {
    Global(name, fn);
    Method(name, fn);
  }
};

const Registry& GetRegistry() {
  static const Registry* registry = [] {
    auto* r = new Registry();
    r->Both("size", Size);
    r->Method("contains", Contains);
    r->Method("startsWith", StartsWith);
    r->Method("endsWith", EndsWith);
    r->Both("matches", Matches);
    r->Global("int", ToInt);
    r->Global("uint", ToUint);
    r->Global("double", ToDouble);
    r->Global("string", ToString);
    r->Global("bytes", ToBytes);
    r->Global("bool", ToBool);
    r->Global("dyn", Dyn);
    r->Global("type", TypeOf);
    r->Global("duration", ToDuration);
    r->Global("google.protobuf.Duration", ToDuration);
    r->Global("timestamp", ToTimestamp);
    r->Global("google.protobuf.Timestamp", ToTimestamp);
    r->Method("getFullYear", TimeGetter<TimeField::kFullYear>);
    r->Method("getMonth", TimeGetter<TimeField::kMonth>);
    r->Method("getDayOfYear", TimeGetter<TimeField::kDayOfYear>);
    r->Method("getDayOfMonth", TimeGetter<TimeField::kDayOfMonth>);
    r->Method("getDate", TimeGetter<TimeField::kDate>);
    r->Method("getDayOfWeek", TimeGetter<TimeField::kDayOfWeek>);
    r->Method("getHours", TimeGetter<TimeField::kHours>);
    r->Method("getMinutes", TimeGetter<TimeField::kMinutes>);
    r->Method("getSeconds", TimeGetter<TimeField::kSeconds>);
    r->Method("getMilliseconds", TimeGetter<TimeField::kMillis>);
    // optional types
    r->Global("optional.of", OptionalOf);
    r->Global("optional.ofNonZeroValue", OptionalOfNonZero);
    r->Global("optional.none", OptionalNone);
    r->Global("optional.unwrap", OptUnwrap);
    r->Method("unwrapOpt", OptUnwrap);
    r->Method("first", ListFirst);
    r->Method("last", ListLast);
    r->Method("hasValue", HasValue);
    r->Method("value", OptValue);
    r->Method("or", OptOr, /*strict=*/false);
    r->Method("orValue", OptOrValue, /*strict=*/false);
    // strings
    r->Method("charAt", CharAt);
    r->Method("indexOf", IndexOf);
    r->Method("lastIndexOf", LastIndexOf);
    r->Method("lowerAscii", LowerAscii);
    r->Method("upperAscii", UpperAscii);
    r->Method("replace", Replace);
    r->Method("split", Split);
    r->Method("substring", Substring);
    r->Method("trim", Trim);
    r->Method("join", Join);
    r->Method("reverse", Reverse);
    r->Method("format", Format);
    r->Global("strings.quote", Quote);
    // math
    r->Global("math.greatest", Greatest);
    r->Global("math.least", Least);
    r->Global("math.ceil", DoubleFn<std::ceil>);
    r->Global("math.floor", DoubleFn<std::floor>);
    r->Global("math.round", DoubleFn<RoundHalfAway>);
    r->Global("math.trunc", DoubleFn<std::trunc>);
    r->Global("math.sqrt", DoubleFn<std::sqrt>);
    r->Global("math.abs", MathAbs);
    r->Global("math.sign", MathSign);
    r->Global("math.isNaN", MathIsNaN);
    r->Global("math.isInf", MathIsInf);
    r->Global("math.isFinite", MathIsFinite);
    r->Global("math.bitAnd", Bitwise<BitOp::kAnd>);
    r->Global("math.bitOr", Bitwise<BitOp::kOr>);
    r->Global("math.bitXor", Bitwise<BitOp::kXor>);
    r->Global("math.bitNot", BitNot);
    r->Global("math.bitShiftLeft", BitShift<true>);
    r->Global("math.bitShiftRight", BitShift<false>);
    // lists
    r->Method("isSorted", IsSorted);
    r->Method("sum", Sum);
    r->Method("min", ListMin);
    r->Method("max", ListMax);
    r->Method("slice", Slice);
    r->Method("flatten", Flatten);
    r->Method("distinct", Distinct);
    r->Method("sort", Sort);
    r->Method("@sortByAssociatedKeys", SortByAssociatedKeys);
    r->Global("lists.range", ListsRange);
    // sets
    r->Global("sets.contains", SetsContains);
    r->Global("sets.equivalent", SetsEquivalent);
    r->Global("sets.intersects", SetsIntersects);
    // regex
    r->Method("find", Find);
    r->Method("includes", Includes);
    r->Method("findAll", FindAll);
    // encoders
    r->Global("base64.encode", Base64Encode);
    r->Global("base64.decode", Base64Decode);
    r->Global("cel.@mapInsert", MapInsert);
    // Kubernetes quantity and semver
    r->Global("quantity", QuantityFn);
    r->Global("isQuantity", IsQuantity);
    r->Method("compareTo", QuantityCompare<0>);
    r->Method("isGreaterThan", QuantityCompare<1>);
    r->Method("isLessThan", QuantityCompare<2>);
    r->Method("add", QuantityArith<true>);
    r->Method("sub", QuantityArith<false>);
    r->Global("sign", QuantitySign);  // Kubernetes declares it global only
    r->Method("isInteger", QuantityIsInteger);
    r->Method("asInteger", QuantityAsInteger);
    r->Method("asApproximateFloat", QuantityAsFloat);
    r->Global("semver", SemverFn);
    r->Global("isSemver", IsSemver);
    r->Method("major", SemverPart<0>);
    r->Method("minor", SemverPart<1>);
    r->Method("patch", SemverPart<2>);
    for (FunctionImpl& f : KubernetesNetworkFunctions()) {
      (f.receiver ? r->methods : r->globals)[f.name] = f;
    }
    return r;
  }();
  return *registry;
}

}  // namespace

Value NoMatchingOverload(std::string_view function, const Value* args, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    if (args[i].is_error()) return args[i];
  }
  std::string types;
  for (size_t i = 0; i < count; ++i) {
    if (i) types += ", ";
    types += args[i].TypeName();
  }
  return Value::Error("found no matching overload for '" + std::string(function) +
                      "' applied to '(" + types + ")'");
}

const FunctionImpl* FindFunction(std::string_view name, bool receiver) {
  const Registry& r = GetRegistry();
  const auto& table = receiver ? r.methods : r.globals;
  auto it = table.find(name);
  return it == table.end() ? nullptr : &it->second;
}

const FunctionImpl* FindFunction(std::string_view name, bool receiver, Declarations set) {
  if (set == Declarations::kKubernetes && receiver && name == "format") {
    static const FunctionImpl localized{"format", true, FormatLocalizedFn};
    return &localized;
  }
  return FindFunction(name, receiver);
}

}  // namespace migdra::cel
