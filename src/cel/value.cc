#include "cel/value.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "cel/format.h"

namespace migdra::cel {

Value Value::String(std::string s) {
  auto owned = std::make_shared<const std::string>(std::move(s));
  Value v(Kind::kString);
  v.u_.s = {owned->data(), owned->size()};
  v.heap_ = std::move(owned);
  return v;
}

Value Value::Bytes(std::string b) {
  Value v = String(std::move(b));
  v.kind_ = Kind::kBytes;
  return v;
}

Value Value::List(std::vector<Value> elements) {
  return List(std::make_shared<const ListData>(ListData{std::move(elements)}));
}

Value Value::List(std::shared_ptr<const ListData> list) {
  Value v(Kind::kList);
  v.heap_ = std::move(list);
  return v;
}

Value Value::Map(std::shared_ptr<const MapValue> map) {
  Value v(Kind::kMap);
  v.u_.ptr = map.get();
  v.heap_ = std::move(map);
  return v;
}

Value Value::Optional(Value inner) {
  Value v(Kind::kOptional);
  v.heap_ = std::make_shared<const Value>(std::move(inner));
  return v;
}

Value Value::Quantity(api::Quantity q) {
  auto owned = std::make_shared<const api::Quantity>(std::move(q));
  Value v(Kind::kQuantity);
  v.u_.ptr = owned.get();
  v.heap_ = std::move(owned);
  return v;
}

Value Value::Semver(api::Semver s) {
  auto owned = std::make_shared<const api::Semver>(std::move(s));
  Value v(Kind::kSemver);
  v.u_.ptr = owned.get();
  v.heap_ = std::move(owned);
  return v;
}

Value Value::Object(std::shared_ptr<const ObjectValue> object) {
  Value v(Kind::kObject);
  v.heap_ = std::move(object);
  return v;
}

Value Value::Borrowed() const {
  switch (kind_) {
    case Kind::kString:
    case Kind::kBytes:
    case Kind::kQuantity:
    case Kind::kSemver: {
      Value v = *this;
      v.heap_.reset();
      return v;
    }
    default:
      return *this;
  }
}

Value Value::Owned() const {
  switch (kind_) {
    case Kind::kString:
      return heap_ ? *this : String(std::string(str()));
    case Kind::kBytes:
      return heap_ ? *this : Bytes(std::string(str()));
    case Kind::kQuantity:
      return heap_ ? *this : Quantity(quantity());
    case Kind::kSemver:
      return heap_ ? *this : Semver(semver());
    case Kind::kOptional:
      return has_value() ? Optional(optional_value().Owned()) : *this;
    case Kind::kList: {
      std::vector<Value> elems;
      for (const Value& e : list().elements) elems.push_back(e.Owned());
      return List(std::move(elems));
    }
    default:
      return *this;
  }
}

Value Value::Error(std::string message, int32_t position) {
  Value v(Kind::kError);
  v.heap_ = std::make_shared<const ErrorData>(ErrorData{std::move(message), position});
  return v;
}

std::string_view Value::TypeName() const {
  switch (kind_) {
    case Kind::kNull:
      return "null_type";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kUint:
      return "uint";
    case Kind::kDouble:
      return "double";
    case Kind::kString:
      return "string";
    case Kind::kBytes:
      return "bytes";
    case Kind::kList:
      return "list";
    case Kind::kMap:
      return "map";
    case Kind::kType:
      return "type";
    case Kind::kDuration:
      return "google.protobuf.Duration";
    case Kind::kTimestamp:
      return "google.protobuf.Timestamp";
    case Kind::kOptional:
      return "optional_type";
    case Kind::kQuantity:
      return "kubernetes.Quantity";
    case Kind::kSemver:
      return "kubernetes.Semver";
    case Kind::kObject:
      return object().TypeName();
    case Kind::kError:
      return "error";
  }
  return "unknown";
}

namespace {

bool IsNumber(Kind k) { return k == Kind::kInt || k == Kind::kUint || k == Kind::kDouble; }

// Compares numbers of any of the three numeric kinds exactly. 2 = unordered (NaN).
int CompareNumbers(const Value& a, const Value& b) {
  auto cmp = [](auto x, auto y) { return x < y ? -1 : (x > y ? 1 : 0); };
  const Kind ka = a.kind(), kb = b.kind();
  if (ka == kb) {
    if (ka == Kind::kInt) return cmp(a.int_value(), b.int_value());
    if (ka == Kind::kUint) return cmp(a.uint_value(), b.uint_value());
    double x = a.double_value(), y = b.double_value();
    if (std::isnan(x) || std::isnan(y)) return 2;
    return cmp(x, y);
  }
  if (ka == Kind::kInt && kb == Kind::kUint) {
    if (a.int_value() < 0) return -1;
    return cmp(static_cast<uint64_t>(a.int_value()), b.uint_value());
  }
  if (ka == Kind::kUint && kb == Kind::kInt) return -CompareNumbers(b, a);
  // One side is a double: like cel-go, the integer is converted to double (lossy above 2^53).
  const double x = ka == Kind::kDouble ? a.double_value()
                   : ka == Kind::kInt  ? static_cast<double>(a.int_value())
                                       : static_cast<double>(a.uint_value());
  const double y = kb == Kind::kDouble ? b.double_value()
                   : kb == Kind::kInt  ? static_cast<double>(b.int_value())
                                       : static_cast<double>(b.uint_value());
  if (std::isnan(x) || std::isnan(y)) return 2;
  return cmp(x, y);
}

uint64_t HashKey(const Value& key) {
  switch (key.kind()) {
    case Kind::kBool:
      return key.bool_value() ? 1 : 2;
    case Kind::kInt:
      return static_cast<uint64_t>(key.int_value()) * 0x9E3779B97F4A7C15ull;
    case Kind::kUint:
      return key.uint_value() * 0x9E3779B97F4A7C15ull;
    case Kind::kDouble: {
      double d = key.double_value();
      if (d == std::trunc(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
        return static_cast<uint64_t>(static_cast<int64_t>(d)) * 0x9E3779B97F4A7C15ull;
      }
      if (d >= 0 && d < 18446744073709551616.0 && d == std::trunc(d)) {
        return static_cast<uint64_t>(d) * 0x9E3779B97F4A7C15ull;
      }
      return 7;
    }
    case Kind::kString:
      return std::hash<std::string_view>()(key.str());
    default:
      return 3;
  }
}

}  // namespace

bool ValuesEqual(const Value& a, const Value& b) {
  const Kind ka = a.kind(), kb = b.kind();
  if (IsNumber(ka) && IsNumber(kb)) return CompareNumbers(a, b) == 0;
  if (ka != kb) return false;
  switch (ka) {
    case Kind::kNull:
      return true;
    case Kind::kBool:
      return a.bool_value() == b.bool_value();
    case Kind::kString:
    case Kind::kBytes:
    case Kind::kType:
      return a.str() == b.str();
    case Kind::kDuration:
      return a.duration_nanos() == b.duration_nanos();
    case Kind::kTimestamp:
      return a.seconds() == b.seconds() && a.nanos() == b.nanos();
    case Kind::kList: {
      const auto& x = a.list().elements;
      const auto& y = b.list().elements;
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!ValuesEqual(x[i], y[i])) return false;
      }
      return true;
    }
    case Kind::kMap: {
      const MapValue& x = a.map();
      const MapValue& y = b.map();
      if (x.Size() != y.Size()) return false;
      std::vector<Value> keys;
      x.Keys(&keys);
      for (const Value& k : keys) {
        Value xv, yv;
        if (!x.Find(k, &xv) || !y.Find(k, &yv) || !ValuesEqual(xv, yv)) return false;
      }
      return true;
    }
    case Kind::kOptional:
      if (a.has_value() != b.has_value()) return false;
      return !a.has_value() || ValuesEqual(a.optional_value(), b.optional_value());
    case Kind::kQuantity:
      return a.quantity().Compare(b.quantity()) == 0;
    case Kind::kSemver:
      return a.semver().Compare(b.semver()) == 0;
    case Kind::kObject:
      return a.object().TypeName() == b.object().TypeName() && a.object().Equals(b.object());
    default:
      return false;
  }
}

Value Equal(const Value& a, const Value& b) {
  if (a.is_error()) return a;
  if (b.is_error()) return b;
  return Value::Bool(ValuesEqual(a, b));
}

int CompareValues(const Value& a, const Value& b) {
  const Kind ka = a.kind(), kb = b.kind();
  if (IsNumber(ka) && IsNumber(kb)) return CompareNumbers(a, b);
  if (ka != kb) return 3;
  auto cmp = [](auto x, auto y) { return x < y ? -1 : (x > y ? 1 : 0); };
  switch (ka) {
    case Kind::kBool:
      return cmp(a.bool_value(), b.bool_value());
    case Kind::kString:
    case Kind::kBytes: {
      int c = a.str().compare(b.str());
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    case Kind::kDuration:
      return cmp(a.duration_nanos(), b.duration_nanos());
    case Kind::kTimestamp:
      if (a.seconds() != b.seconds()) return cmp(a.seconds(), b.seconds());
      return cmp(a.nanos(), b.nanos());
    default:
      return 3;
  }
}

int StandardMap::FindIndex(const Value& key) const {
  if (entries_.size() <= 8) {
    for (size_t i = 0; i < entries_.size(); ++i) {
      const Kind ka = entries_[i].first.kind(), kb = key.kind();
      if ((ka == kb || (IsNumber(ka) && IsNumber(kb))) && ValuesEqual(entries_[i].first, key)) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }
  const uint64_t h = HashKey(key);
  auto it = std::lower_bound(index_.begin(), index_.end(), std::make_pair(h, -1));
  for (; it != index_.end() && it->first == h; ++it) {
    const Value& k = entries_[it->second].first;
    if ((k.kind() == key.kind() || (IsNumber(k.kind()) && IsNumber(key.kind()))) &&
        ValuesEqual(k, key)) {
      return it->second;
    }
  }
  return -1;
}

bool StandardMap::Insert(Value key, Value value) {
  if (FindIndex(key) >= 0) return false;
  const uint64_t h = HashKey(key);
  entries_.emplace_back(std::move(key), std::move(value));
  auto entry = std::make_pair(h, static_cast<int>(entries_.size() - 1));
  index_.insert(std::upper_bound(index_.begin(), index_.end(), entry), entry);
  return true;
}

bool StandardMap::Find(const Value& key, Value* out) const {
  int i = FindIndex(key);
  if (i < 0) return false;
  *out = entries_[i].second;
  return true;
}

void StandardMap::Keys(std::vector<Value>* out) const {
  out->clear();
  out->reserve(entries_.size());
  for (const auto& e : entries_) out->push_back(e.first);
}

std::string DebugString(const Value& v) { return FormatValue(v, /*quote_strings=*/true); }

}  // namespace migdra::cel
