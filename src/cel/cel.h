// CEL (Common Expression Language) for DRA device selectors.
//
// Contract: an expression is compiled (parsed and checked) once and then evaluated many times,
// from any number of threads at once (a CompiledExpression is immutable after Compile).
// Evaluation never throws; errors are values carrying the expression position.
//
// This header is the stable surface other modules (alloc, api validation) use. The full CEL
// machinery (values, activations, the standard and Kubernetes libraries) lives in the other
// headers of this folder.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "api/resource.h"
#include "common/result.h"

namespace migdra::cel {

// Kubernetes' per-evaluation cost limit for DRA selectors.
inline constexpr int64_t kSelectorCostLimit = 1'000'000;

class CompiledSelector {
 public:
  // Parses and type-checks `expression` in Kubernetes' DRA selector environment (variable
  // `device`, the standard library, and the Kubernetes libraries), and estimates its worst-case
  // cost as the API server does. Errors: "compilation failed: <line>:<column>: <cel-go's
  // message>", "must evaluate to bool or the unknown type, not <type>", and "too complex,
  // exceeds cost limit" when the estimate exceeds kSelectorCostLimit.
  static Result<CompiledSelector> Compile(std::string_view expression);

  // Evaluates the selector against `device`, published by `driver` (unqualified attribute and
  // capacity names belong to the driver's domain). Returns the boolean result; a non-bool
  // result, a missing attribute ("no such key: <id>") or exceeding the cost budget is an error.
  Result<bool> Matches(const api::Device& device, std::string_view driver) const;

  const std::string& expression() const;
  // The worst-case cost estimate, in CEL cost units.
  uint64_t max_cost() const;

  CompiledSelector(CompiledSelector&&) noexcept;
  CompiledSelector& operator=(CompiledSelector&&) noexcept;
  CompiledSelector(const CompiledSelector&);
  CompiledSelector& operator=(const CompiledSelector&);
  ~CompiledSelector();

 private:
  struct Impl;
  explicit CompiledSelector(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

}  // namespace migdra::cel
