// CEL types as the type checker sees them (cel-go's checker model): primitives, list and map
// with parameters, type(T), dyn, the error type, opaque types such as optional_type(T), object
// types (kubernetes.Quantity, net.IP, ...) and type parameters.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace migdra::cel {

struct Type {
  enum class Kind : uint8_t {
    kDyn,
    kAny,  // google.protobuf.Any: assignable like dyn, but a distinct result type
    kError,
    kNull,
    kBool,
    kInt,
    kUint,
    kDouble,
    kString,
    kBytes,
    kDuration,
    kTimestamp,
    kList,
    kMap,
    kType,
    kOpaque,
    kObject,
    kTypeParam,
  };

  Kind kind = Kind::kDyn;
  std::string name;          // kOpaque, kObject, kTypeParam
  std::vector<Type> params;  // kList: element; kMap: key, value; kType: 0 or 1; kOpaque: any

  static Type Simple(Kind kind) { return Type{kind, {}, {}}; }
  static Type Dyn() { return Simple(Kind::kDyn); }
  static Type Error() { return Simple(Kind::kError); }
  static Type Bool() { return Simple(Kind::kBool); }
  static Type Int() { return Simple(Kind::kInt); }
  static Type List(Type element) { return Type{Kind::kList, {}, {std::move(element)}}; }
  static Type Map(Type key, Type value) {
    return Type{Kind::kMap, {}, {std::move(key), std::move(value)}};
  }
  static Type TypeOf(Type t) { return Type{Kind::kType, {}, {std::move(t)}}; }
  static Type Opaque(std::string name, std::vector<Type> params = {}) {
    return Type{Kind::kOpaque, std::move(name), std::move(params)};
  }
  static Type Optional(Type t) { return Opaque("optional_type", {std::move(t)}); }
  static Type Object(std::string name) { return Type{Kind::kObject, std::move(name), {}}; }
  static Type Param(std::string name) { return Type{Kind::kTypeParam, std::move(name), {}}; }

  bool is_optional() const { return kind == Kind::kOpaque && name == "optional_type"; }

  // Exact equality (cel-go's IsExactType).
  bool operator==(const Type& other) const = default;

  // cel-go's spelling: "int", "list(string)", "map(string, int)", "optional_type(int)",
  // "type(int)", "google.protobuf.Duration", "kubernetes.Quantity", "*error*".
  std::string ToString() const;

  // Parses the spelling above; "duration" and "timestamp" are accepted as short names, and a
  // single upper-case letter is a type parameter.
  static Result<Type> Parse(std::string_view text);
};

}  // namespace migdra::cel
