#include "alloc/node_selector.h"

#include <algorithm>
#include <charconv>

namespace migdra::alloc {
namespace {

bool ParseInt(const std::string& text, int64_t* out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

bool SameRequirement(const api::NodeSelectorRequirement& a, const api::NodeSelectorRequirement& b) {
  return a.key == b.key && a.op == b.op && a.values == b.values;
}

void AppendUnique(std::vector<api::NodeSelectorRequirement>& list,
                  const api::NodeSelectorRequirement& requirement) {
  for (const auto& existing : list) {
    if (SameRequirement(existing, requirement)) return;
  }
  list.push_back(requirement);
}

}  // namespace

bool RequirementMatches(const api::NodeSelectorRequirement& requirement, const api::Node& node,
                        bool match_fields) {
  const std::string* value = nullptr;
  if (match_fields) {
    if (requirement.key == "metadata.name") value = &node.metadata.name;
  } else {
    auto it = node.metadata.labels.find(requirement.key);
    if (it != node.metadata.labels.end()) value = &it->second;
  }
  const auto& values = requirement.values;
  const std::string& op = requirement.op;
  if (op == "In") {
    return value != nullptr && std::find(values.begin(), values.end(), *value) != values.end();
  }
  if (op == "NotIn") {
    return value == nullptr || std::find(values.begin(), values.end(), *value) == values.end();
  }
  if (op == "Exists") return value != nullptr;
  if (op == "DoesNotExist") return value == nullptr;
  if (op == "Gt" || op == "Lt") {
    int64_t have = 0;
    int64_t want = 0;
    if (value == nullptr || values.size() != 1 || !ParseInt(*value, &have) ||
        !ParseInt(values[0], &want)) {
      return false;
    }
    return op == "Gt" ? have > want : have < want;
  }
  return false;
}

bool TermMatches(const api::NodeSelectorTerm& term, const api::Node& node) {
  if (term.match_expressions.empty() && term.match_fields.empty()) return false;
  for (const auto& r : term.match_expressions) {
    if (!RequirementMatches(r, node, false)) return false;
  }
  for (const auto& r : term.match_fields) {
    if (!RequirementMatches(r, node, true)) return false;
  }
  return true;
}

bool SelectorMatches(const api::NodeSelector& selector, const api::Node& node) {
  for (const auto& term : selector.node_selector_terms) {
    if (TermMatches(term, node)) return true;
  }
  return false;
}

bool MergeNodeSelector(const std::vector<const api::NodeSelectorTerm*>& terms,
                       const std::string& node_name, api::NodeSelector* out) {
  if (!node_name.empty()) {
    api::NodeSelectorTerm term;
    term.match_fields.push_back({"metadata.name", "In", {node_name}});
    out->node_selector_terms = {std::move(term)};
    return true;
  }
  if (terms.empty()) return false;
  api::NodeSelectorTerm merged;
  for (const api::NodeSelectorTerm* term : terms) {
    for (const auto& r : term->match_expressions) AppendUnique(merged.match_expressions, r);
    for (const auto& r : term->match_fields) AppendUnique(merged.match_fields, r);
  }
  out->node_selector_terms = {std::move(merged)};
  return true;
}

}  // namespace migdra::alloc
