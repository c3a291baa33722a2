// Node selectors (core/v1 NodeSelector) as the allocator uses them: matching a Node, and the
// merging of per-device selectors into the AllocationResult's nodeSelector.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "api/core.h"
#include "api/resource.h"

namespace migdra::alloc {

// True when `node` satisfies `requirement` on labels (match_fields == false) or on fields
// (match_fields == true; only `metadata.name` is known). Unknown operators never match.
bool RequirementMatches(const api::NodeSelectorRequirement& requirement, const api::Node& node,
                        bool match_fields);

// A term matches when all its requirements match; an empty term matches nothing (as upstream).
bool TermMatches(const api::NodeSelectorTerm& term, const api::Node& node);

// A selector matches when any of its terms matches.
bool SelectorMatches(const api::NodeSelector& selector, const api::Node& node);

// The node selector of an allocation made of devices restricted by `terms` (each the single term
// of a slice's or device's nodeSelector) and, when `node_name` is non-empty, bound to that node.
// Returns false (with `out` untouched) when nothing restricts the allocation.
bool MergeNodeSelector(const std::vector<const api::NodeSelectorTerm*>& terms,
                       const std::string& node_name, api::NodeSelector* out);

}  // namespace migdra::alloc
