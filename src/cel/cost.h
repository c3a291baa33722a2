// Worst-case cost estimate of a checked program, in cel-go's cost units (a port of the rules of
// cel-go's checker/cost.go and of Kubernetes' library.CostEstimator, not their code): one unit
// per identifier, selection and O(1) call, list/map creation 10/30, string traversals at 0.1
// per character, regexes at 0.25 per pattern character, comprehensions as range size times the
// cost of one iteration. The sizes of variables come from a SizeHints callback (Kubernetes'
// declared maxima for DRA selectors); what has no known size is assumed unbounded.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "cel/interpreter.h"

namespace migdra::cel {

struct SizeEstimate {
  uint64_t min = 0;
  uint64_t max = std::numeric_limits<uint64_t>::max();
};

// The size (characters of a string, entries of a list or map) of the value at `path`: the root
// variable, then field names and index keys, "@items" for the elements of a list, "@keys" and
// "@values" for the keys and values of a map. nullopt when unknown.
using SizeHints = std::function<std::optional<SizeEstimate>(const std::vector<std::string>& path)>;

struct CostEstimate {
  uint64_t min = 0;
  uint64_t max = 0;
};

// Estimates the cost of evaluating `program` (which must have been compiled with checking on).
CostEstimate EstimateCost(const Program& program, const SizeHints& hints);

}  // namespace migdra::cel
