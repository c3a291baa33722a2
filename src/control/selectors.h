// Kubernetes label and field selectors, evaluated on JSON objects.
//
// Label selectors follow k8s.io/apimachinery/pkg/labels: `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
// `a notin (x,y)`, `a`, `!a`, `a>1`, `a<1`, joined by commas (all must match). Field selectors
// support `path=value`, `path==value` and `path!=value` where path is a dotted JSON path
// (metadata.name, spec.nodeName, status.phase, involvedObject.uid, ...); a missing field
// compares as the empty string.
//
// Values only; thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "control/store.h"

namespace migdra::control {

class LabelSelector {
 public:
  struct Requirement {
    std::string key;
    std::string op;  // "=", "!=", "in", "notin", "exists", "!", ">", "<"
    std::vector<std::string> values;
  };

  // Parses the query-string form. An empty string selects everything.
  static Result<LabelSelector> Parse(const std::string& text);
  // Converts a metav1.LabelSelector object ({matchLabels, matchExpressions}); a null selector
  // matches nothing unless `null_matches_all`.
  static LabelSelector FromObject(const json& selector, bool null_matches_all = false);

  bool Matches(const json& labels) const;
  bool Empty() const { return requirements_.empty() && !match_nothing_; }

 private:
  std::vector<Requirement> requirements_;
  bool match_nothing_ = false;
};

class FieldSelector {
 public:
  static Result<FieldSelector> Parse(const std::string& text);
  bool Matches(const json& object) const;
  // The value required by an `=` term on `path`, if any (lets callers narrow a list).
  std::string RequiredValue(const std::string& path) const;
  bool Empty() const { return terms_.empty(); }

 private:
  struct Term {
    std::vector<std::string> path;
    std::string dotted;
    bool negate = false;
    std::string value;
  };
  std::vector<Term> terms_;
};

// The string form of the JSON value at a dotted path, "" when missing.
std::string FieldValue(const json& object, const std::vector<std::string>& path);

}  // namespace migdra::control
