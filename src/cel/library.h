// The function library: the CEL standard functions and the extensions DRA selectors may use
// (strings, math, lists, sets, regex, encoders, optional types, Kubernetes quantity and semver).
#pragma once

#include <limits>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cel/checker.h"
#include "cel/value.h"

namespace migdra::cel {

// Per-evaluation state a function may use (cost accounting).
struct CallContext {
  int64_t cost = 0;
  // The evaluation's cost limit. A function whose work grows with an argument's value rather
  // than with what it was given (lists.range(n)) charges that work first and returns the
  // cost-limit error instead of doing it once `cost` is over.
  int64_t limit = std::numeric_limits<int64_t>::max();
};

// `args` holds the receiver first for receiver-style calls. Arguments are never errors when
// the function is strict (the evaluator propagates errors before calling).
using NativeFunction = Value (*)(const Value* args, size_t count, CallContext& ctx);

struct FunctionImpl {
  std::string name;  // qualified global name ("optional.of") or receiver method name ("size")
  bool receiver = false;
  NativeFunction fn = nullptr;
  // Non-strict functions receive error arguments (only optional `or`/`orValue` and has-like
  // helpers need this).
  bool strict = true;
};

// The function named `name`, called as a method (`receiver`) or globally; nullptr if unknown.
const FunctionImpl* FindFunction(std::string_view name, bool receiver);

// The same, as the library versions that `set` declares implement it: Kubernetes' strings
// version 2 formats with cel-go's localized formatter (FormatLocalized in format.h).
const FunctionImpl* FindFunction(std::string_view name, bool receiver, Declarations set);

// Kubernetes' IP, CIDR, URL and format libraries (kubernetes_libraries.cc).
std::vector<FunctionImpl> KubernetesNetworkFunctions();

// "no matching overload for 'fn' applied to '(int, string)'".
Value NoMatchingOverload(std::string_view function, const Value* args, size_t count);

}  // namespace migdra::cel
