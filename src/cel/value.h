// CEL runtime values.
//
// A Value is a small tagged union. Scalars are stored inline; strings and bytes are a view that
// either points into memory the value owns (through `heap_`) or borrows memory that outlives the
// evaluation (device attribute strings), so reading a device attribute copies nothing. Lists,
// maps, errors and optionals are immutable and shared. Maps are an interface so that a map can be
// computed lazily (the DRA `device.attributes` map resolves keys against the api::Device).
//
// Thread safety: values are immutable; copies may be used from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/quantity.h"
#include "api/semver.h"

namespace migdra::cel {

// Durations span +-10000 years in nanoseconds, which needs more than 64 bits.
__extension__ typedef __int128 Int128;

enum class Kind : uint8_t {
  kNull,
  kBool,
  kInt,
  kUint,
  kDouble,
  kString,
  kBytes,
  kList,
  kMap,
  kType,
  kDuration,
  kTimestamp,
  kOptional,
  kQuantity,
  kSemver,
  kObject,  // a library object type (net.IP, net.CIDR, kubernetes.URL, ...): ObjectValue
  kError,
};

class Value;
class MapValue;

// The payload of a library object type. Immutable.
class ObjectValue {
 public:
  virtual ~ObjectValue() = default;
  // The CEL type name ("net.IP"); static storage.
  virtual std::string_view TypeName() const = 0;
  // Equality with an object of the same TypeName().
  virtual bool Equals(const ObjectValue& other) const = 0;
  // Human-readable rendering (string(), test diagnostics).
  virtual std::string ToString() const = 0;
};

struct ListData {
  std::vector<Value> elements;
};

struct ErrorData {
  std::string message;
  int32_t position = -1;  // offset in the expression, -1 when unknown
};

class Value {
 public:
  Value() = default;  // null

  static Value Null() { return Value(); }
  static Value Bool(bool b) {
    Value v(Kind::kBool);
    v.u_.b = b;
    return v;
  }
  static Value Int(int64_t i) {
    Value v(Kind::kInt);
    v.u_.i = i;
    return v;
  }
  static Value Uint(uint64_t u) {
    Value v(Kind::kUint);
    v.u_.u = u;
    return v;
  }
  static Value Double(double d) {
    Value v(Kind::kDouble);
    v.u_.d = d;
    return v;
  }
  static Value String(std::string s);
  // Borrows `s`: the memory must outlive every use of the value.
  static Value StringView(std::string_view s) {
    Value v(Kind::kString);
    v.u_.s = {s.data(), s.size()};
    return v;
  }
  static Value Bytes(std::string b);
  // A view of this value that does not own its string, quantity or semver payload: cheap to
  // copy (no reference counting), valid while this value lives. Other kinds are returned as is.
  Value Borrowed() const;
  // A value that owns all of its payload (copies borrowed strings).
  Value Owned() const;
  static Value List(std::vector<Value> elements);
  static Value List(std::shared_ptr<const ListData> list);
  static Value Map(std::shared_ptr<const MapValue> map);
  // A type value such as `int` or `google.protobuf.Duration`; `name` must be static.
  static Value Type(std::string_view static_name) {
    Value v(Kind::kType);
    v.u_.s = {static_name.data(), static_name.size()};
    return v;
  }
  // A duration of seconds + nanos (both with the same sign, |nanos| < 1e9).
  static Value Duration(Int128 total_nanos) {
    Value v(Kind::kDuration);
    v.u_.ts = {static_cast<int64_t>(total_nanos / 1000000000),
               static_cast<int32_t>(total_nanos % 1000000000)};
    return v;
  }
  static Value Timestamp(int64_t seconds, int32_t nanos) {
    Value v(Kind::kTimestamp);
    v.u_.ts = {seconds, nanos};
    return v;
  }
  static Value Optional(Value inner);
  static Value OptionalNone() { return Value(Kind::kOptional); }
  static Value Quantity(api::Quantity q);
  // Borrows `q`: it must outlive every use of the value.
  static Value QuantityRef(const api::Quantity* q) {
    Value v(Kind::kQuantity);
    v.u_.ptr = q;
    return v;
  }
  static Value Semver(api::Semver s);
  static Value Object(std::shared_ptr<const ObjectValue> object);
  static Value Error(std::string message, int32_t position = -1);

  Kind kind() const { return kind_; }
  bool is_error() const { return kind_ == Kind::kError; }
  bool is_null() const { return kind_ == Kind::kNull; }

  bool bool_value() const { return u_.b; }
  int64_t int_value() const { return u_.i; }
  uint64_t uint_value() const { return u_.u; }
  double double_value() const { return u_.d; }
  std::string_view str() const { return {u_.s.data, u_.s.size}; }  // string, bytes, type name
  const ListData& list() const { return *static_cast<const ListData*>(heap_.get()); }
  const std::shared_ptr<const void>& heap() const { return heap_; }
  const MapValue& map() const { return *static_cast<const MapValue*>(u_.ptr); }
  Int128 duration_nanos() const {
    return static_cast<Int128>(u_.ts.seconds) * 1000000000 + u_.ts.nanos;
  }
  int64_t seconds() const { return u_.ts.seconds; }
  int32_t nanos() const { return u_.ts.nanos; }
  bool has_value() const { return heap_ != nullptr; }  // optional
  const Value& optional_value() const { return *static_cast<const Value*>(heap_.get()); }
  const api::Quantity& quantity() const { return *static_cast<const api::Quantity*>(u_.ptr); }
  const api::Semver& semver() const { return *static_cast<const api::Semver*>(u_.ptr); }
  const ObjectValue& object() const { return *static_cast<const ObjectValue*>(heap_.get()); }
  const ErrorData& error() const { return *static_cast<const ErrorData*>(heap_.get()); }

  // The CEL type name of the value ("int", "list", "google.protobuf.Timestamp", ...).
  std::string_view TypeName() const;

 private:
  explicit Value(Kind kind) : kind_(kind) {}

  Kind kind_ = Kind::kNull;
  union Payload {
    bool b;
    int64_t i;
    uint64_t u;
    double d;
    struct {
      const char* data;
      size_t size;
    } s;
    struct {
      int64_t seconds;
      int32_t nanos;
    } ts;
    const void* ptr;
  } u_{};
  std::shared_ptr<const void> heap_;
};

// A CEL map. Keys are bool, int, uint or string; int, uint and double keys that are numerically
// equal find the same entry (CEL heterogeneous equality).
class MapValue {
 public:
  virtual ~MapValue() = default;
  virtual size_t Size() const = 0;
  // Finds the value for `key`; false when absent.
  virtual bool Find(const Value& key, Value* out) const = 0;
  // The keys in iteration order.
  virtual void Keys(std::vector<Value>* out) const = 0;
  // Whether `key` is one of Keys() (the `in` operator). A map may find values for keys it does
  // not contain (the DRA attribute map answers every domain with an empty map).
  virtual bool Contains(const Value& key) const {
    Value unused;
    return Find(key, &unused);
  }
};

// The map built by literals and conversions: insertion-ordered, hashed for lookup.
class StandardMap : public MapValue {
 public:
  // Adds an entry; false when an equal key is already present.
  bool Insert(Value key, Value value);
  size_t Size() const override { return entries_.size(); }
  bool Find(const Value& key, Value* out) const override;
  void Keys(std::vector<Value>* out) const override;
  const std::vector<std::pair<Value, Value>>& entries() const { return entries_; }

 private:
  int FindIndex(const Value& key) const;
  std::vector<std::pair<Value, Value>> entries_;
  std::vector<std::pair<uint64_t, int>> index_;  // (key hash, entry), used when large
};

// CEL equality (heterogeneous: numbers compare by value across int, uint and double; values of
// different types are unequal). Returns an error value only when an operand is an error.
Value Equal(const Value& a, const Value& b);
bool ValuesEqual(const Value& a, const Value& b);
// Ordering for <, <=, >, >=: -1, 0, 1; 2 when unordered (NaN); 3 when the types have no ordering.
int CompareValues(const Value& a, const Value& b);

// Human-readable rendering (used by string(), format() and test diagnostics).
std::string DebugString(const Value& v);

}  // namespace migdra::cel
