// The CEL type checker (a port of cel-go's checker algorithm, not its code): every call must
// match a declared overload (global or member, exactly as the library declares it), operands of
// operators must agree in type (`1 == 1.0` is an error, as in cel-go), selections must name a
// field of the operand's type, and the expression's type is deduced, type parameters included.
//
// Function declarations come in libraries; an Env names the set it compiles against (cel-go's
// standard environment with its extensions, or the Kubernetes base environment of DRA
// selectors), plus any functions the caller declares itself.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cel/ast.h"
#include "cel/types.h"
#include "common/result.h"

namespace migdra::cel {

struct OverloadDecl {
  bool member = false;       // receiver style: the receiver is params[0]
  std::vector<Type> params;  // may use type parameters (Type::Kind::kTypeParam)
  Type result;
};

struct FunctionDecl {
  std::string name;
  std::vector<OverloadDecl> overloads;
};

// Builds a declaration from signatures such as "(int, int) -> int" (global) or
// ".(string, string) -> bool" (member: the first parameter is the receiver).
Result<FunctionDecl> DeclareFunction(std::string name, const std::vector<std::string>& signatures);

// Which libraries an environment declares.
enum class Declarations : uint8_t {
  // cel-go's standard library with the extensions the conformance suite exercises: strings,
  // math, encoders, lists, sets, optional types, two-variable comprehensions, bindings.
  kCelGo,
  // Kubernetes' base CEL environment (1.36, strict cost) as DRA selectors see it: the standard
  // library, strings v2, sets, lists v3, optional types, two-variable comprehensions, bindings,
  // and the Kubernetes libraries (lists, regex, URLs, quantity, semver, IP, CIDR, format), plus
  // DRA's `includes`; with its AST validators, which reject a literal duration(), timestamp() or
  // matches() argument that fails, and a literal format string its list literal does not fit.
  kKubernetes,
};

// Whether `set` declares a function named `name` (global or member).
bool IsDeclared(std::string_view name, Declarations set);

struct CheckResult {
  Type type;                                    // the expression's type
  std::unordered_map<const Expr*, Type> types;  // every node's type, type parameters resolved
};

struct CheckInput {
  Declarations declarations = Declarations::kCelGo;
  const std::vector<FunctionDecl>* extra_functions = nullptr;
  // Declared variables' types, by the Expr::global index; missing entries are dyn.
  const std::vector<Type>* variable_types = nullptr;
  // Object types' fields: type name -> field name -> type.
  const std::unordered_map<std::string, std::unordered_map<std::string, Type>>* object_fields =
      nullptr;
  // Kubernetes' HomogeneousAggregateLiterals: list and map literal elements must share a type.
  bool homogeneous_aggregate_literals = false;
  std::string container;  // for error messages
};

// Checks a planned expression (see interpreter.h); errors read "line:column: message" with
// cel-go's wording.
Result<CheckResult> Check(const Expr& root, std::string_view source, const CheckInput& input);

}  // namespace migdra::cel
