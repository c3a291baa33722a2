// The allocator: an index of slices built once (pools, devices, counters as dense integer arrays),
// a selector-result cache, committed state, and a depth-first search per Allocate call that
// mutates the dense state in place and undoes every change on backtrack.
#include "alloc/allocator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string_view>
#include <unordered_map>

#include "alloc/node_selector.h"
#include "cel/cel.h"

namespace migdra::alloc {
namespace {

constexpr size_t kMaxResultsPerClaim = 32;

// An attribute value, comparable by value (distinctAttribute uses value equality, §7).
struct AttrValue {
  enum Kind { kNone, kInt, kBool, kString, kVersion } kind = kNone;
  int64_t number = 0;
  std::string text;
  bool operator==(const AttrValue& o) const {
    return kind == o.kind && number == o.number && text == o.text;
  }
  bool operator<(const AttrValue& o) const {
    if (kind != o.kind) return kind < o.kind;
    if (number != o.number) return number < o.number;
    return text < o.text;
  }
};

// A device's value of an attribute as a set (sorted, without repeats): a list-type attribute's
// items, a scalar as a set of one.
std::vector<AttrValue> ToAttrValues(const api::DeviceAttribute& a) {
  std::vector<AttrValue> out;
  auto add = [&](AttrValue::Kind kind, int64_t number, const std::string& text) {
    AttrValue v;
    v.kind = kind;
    v.number = number;
    v.text = text;
    out.push_back(std::move(v));
  };
  if (a.int_value) add(AttrValue::kInt, *a.int_value, "");
  if (a.bool_value) add(AttrValue::kBool, *a.bool_value ? 1 : 0, "");
  if (a.string_value) add(AttrValue::kString, 0, *a.string_value);
  if (a.version_value) add(AttrValue::kVersion, 0, *a.version_value);
  for (int64_t i : a.int_values.value_or(std::vector<int64_t>{})) add(AttrValue::kInt, i, "");
  for (bool b : a.bool_values.value_or(std::vector<bool>{})) add(AttrValue::kBool, b ? 1 : 0, "");
  for (const auto& t : a.string_values.value_or(std::vector<std::string>{})) {
    add(AttrValue::kString, 0, t);
  }
  for (const auto& t : a.version_values.value_or(std::vector<std::string>{})) {
    add(AttrValue::kVersion, 0, t);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool Intersect(std::vector<AttrValue>& into, const std::vector<AttrValue>& other) {
  std::vector<AttrValue> both;
  std::set_intersection(into.begin(), into.end(), other.begin(), other.end(),
                        std::back_inserter(both));
  into = std::move(both);
  return !into.empty();
}

// lookupAttribute: the exact key first; a name in the driver's own domain also finds the bare id.
const api::DeviceAttribute* LookupAttribute(const api::Device& device, const std::string& driver,
                                            const std::string& qualified) {
  auto it = device.attributes.find(qualified);
  if (it != device.attributes.end()) return &it->second;
  auto slash = qualified.find('/');
  if (slash != std::string::npos && qualified.compare(0, slash, driver) == 0) {
    it = device.attributes.find(qualified.substr(slash + 1));
    if (it != device.attributes.end()) return &it->second;
  }
  return nullptr;
}

bool IsBlockingEffect(const std::string& effect) {
  return effect == "NoSchedule" || effect == "NoExecute";
}

bool Tolerates(const api::DeviceToleration& t, const api::DeviceTaint& taint) {
  if (!t.effect.empty() && t.effect != taint.effect) return false;
  if (!t.key.empty() && t.key != taint.key) return false;
  if (t.op == "Exists") return true;
  if (t.op.empty() || t.op == "Equal") return !t.key.empty() && t.value == taint.value;
  return false;
}

bool TaintsTolerated(const api::Device& device,
                     const std::vector<api::DeviceToleration>& tolerations) {
  for (const auto& taint : device.taints) {
    if (!IsBlockingEffect(taint.effect)) continue;
    bool ok = false;
    for (const auto& t : tolerations) {
      if (Tolerates(t, taint)) {
        ok = true;
        break;
      }
    }
    if (!ok) return false;
  }
  return true;
}

// `value` (>= 0) base units as upstream's NewQuantity(value, BinarySI) prints them: the largest
// binary suffix that divides it exactly ("3Gi", "1953125Ki"), else plain digits.
api::Quantity BinarySI(int64_t value) {
  static constexpr const char* kSuffixes[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  size_t suffix = 0;
  int64_t mantissa = value;
  while (mantissa != 0 && mantissa % 1024 == 0 && suffix + 1 < std::size(kSuffixes)) {
    mantissa /= 1024;
    ++suffix;
  }
  auto parsed = api::Quantity::Parse(std::to_string(mantissa) + kSuffixes[suffix]);
  return parsed.ok() ? *parsed : api::Quantity::FromInt(value);
}

// What a request consumes of a capacity, as upstream's calculateConsumedCapacity (value and
// format): `requested` (null when the request does not name the capacity) rounded up by the
// policy, else the policy's default, else the whole capacity. A range with a step rounds in whole
// units (upstream uses Quantity.Value()) and gives a BinarySI quantity (upstream NewQuantity).
api::Quantity ConsumedQuantity(const api::Quantity* requested, const api::DeviceCapacity& cap) {
  const std::optional<api::CapacityRequestPolicy>& policy = cap.request_policy;
  if (requested == nullptr) {
    return policy && policy->default_value ? *policy->default_value : cap.value;
  }
  if (!policy) return *requested;
  if (policy->valid_range) {
    const api::CapacityRequestPolicyRange& range = *policy->valid_range;
    if (requested->Compare(range.min) < 0) return range.min;
    if (!range.step) return *requested;
    const int64_t min = range.min.Value();
    const int64_t step = range.step->Value();
    const int64_t added = requested->Value() - min;
    const int64_t steps = added / step + (added % step != 0 ? 1 : 0);
    return BinarySI(min + step * steps);
  }
  for (const auto& value : policy->valid_values) {
    if (requested->Compare(value) <= 0) return value;
  }
  return *requested;
}

// Whether `consumed` breaks `policy`, as upstream's violatesPolicy: the default never does; a
// range rules out more than max and, with a step, what is not min plus whole steps (in whole
// units); valid values rule out any other value.
bool ViolatesPolicy(const api::Quantity& consumed,
                    const std::optional<api::CapacityRequestPolicy>& policy) {
  if (!policy) return false;
  if (policy->default_value && consumed == *policy->default_value) return false;
  if (policy->valid_range) {
    const api::CapacityRequestPolicyRange& range = *policy->valid_range;
    if (range.max && consumed.Compare(*range.max) > 0) return true;
    return range.step && (consumed.Value() - range.min.Value()) % range.step->Value() != 0;
  }
  if (policy->valid_values.empty()) return false;
  return std::none_of(policy->valid_values.begin(), policy->valid_values.end(),
                      [&](const api::Quantity& value) { return consumed == value; });
}

struct CapInfo {
  std::string name;
  int64_t value = 0;
  const api::DeviceCapacity* source = nullptr;
};

struct DeviceInfo {
  const api::Device* device = nullptr;
  int slice = 0;
  int pool = 0;
  std::vector<std::pair<int, int64_t>> consumes;  // dense counter index, milli-units
  std::vector<int> sets;                          // counter sets consumed
  std::vector<CapInfo> capacity;                  // in device.capacity order
  bool shared = false;
  bool has_blocking_taint = false;
  // A node-specific device (slice nodeName): releases on it only affect that node.
  const std::string* node_name = nullptr;
  double size_counters = 0;  // Σ consumed/total over its counters of amounts (see Index)
  double size_memory = 0;    // "memory" capacity
};

struct SliceInfo {
  const api::ResourceSlice* slice = nullptr;
  int pool = 0;
};

// One generation of a pool. Every generation in the input is indexed: which one a node sees is
// decided per node (ViewFor), as upstream's GatherPools.
struct PoolInfo {
  std::string driver;
  std::string name;
  int64_t generation = 0;
  int64_t newest_generation = 0;  // of any slice of the pool
  std::vector<int> slices;        // of this generation, sorted by name
  std::vector<int> devices;       // in slice-name order, then slice order
  // Invalid on every node: counter sets defined twice, devices consuming undefined counters.
  bool invalid = false;
  bool has_binding_conditions = false;
  // Some device name occurs in two slices: the pool is invalid on the nodes that see both (a
  // node's view decides, as upstream validates only the slices gathered for the node).
  bool repeats_device_names = false;
  std::string invalid_reason;
  int64_t in_use = 0;  // committed devices, for node fullness
};

struct CounterSetInfo {
  int pool = 0;
  std::string name;
  int first = 0;  // dense index of its first counter
  int count = 0;
  std::vector<int> devices;  // devices consuming it
};

// A request or subrequest, resolved for one Allocate call.
struct Slot {
  std::string name;  // "req" or "req/sub"
  std::string parent;
  int claim = 0;
  const api::DeviceClass* device_class = nullptr;
  bool all_mode = false;
  int64_t count = 1;
  bool admin = false;
  const std::vector<api::DeviceToleration>* tolerations = nullptr;
  const std::map<std::string, api::Quantity>* capacity_requests = nullptr;  // null: none
  int selector_set = 0;
  std::vector<int> candidates;  // selectable visible devices, in upstream order
  int64_t skipped_in_use = 0;   // visible devices in use, not evaluated (as upstream)
};

struct ConstraintState {
  std::vector<std::string> requests;  // empty: all
  bool match = true;                  // matchAttribute, else distinctAttribute
  std::string attribute;
  // The value sets of the devices added so far, in order (a backtrack pops the last). match:
  // their intersection must stay non-empty (for scalars: one value); distinct: they must be
  // pairwise disjoint (for scalars: different values).
  std::vector<std::vector<AttrValue>> held;

  bool Applies(const Slot& slot) const {
    if (requests.empty()) return true;
    for (const auto& r : requests) {
      if (r == slot.parent || r == slot.name) return true;
    }
    return false;
  }
};

struct ClaimPlan {
  const api::ResourceClaim* claim = nullptr;
  std::vector<std::vector<Slot>> requests;  // per request: its one slot, or its subrequests
  std::vector<bool> first_available;
  std::vector<int> selected;  // chosen slot index per request
  std::vector<ConstraintState> constraints;
};

struct PickRecord {
  int device = 0;
  const Slot* slot = nullptr;
  bool share = false;
  std::vector<int64_t> consumed;  // per device capacity, for shares
  std::vector<int> constraints;   // constraints the device was added to
};

struct SelectorSet {
  std::vector<const cel::CompiledSelector*> selectors;
  std::vector<std::string> labels;  // "class X: selector #i" / "request R: selector #i"
  std::vector<int8_t> match;        // per device: -1 unknown, 0, 1
};

// How good a fitting allocation is under kPack, smaller first: the size of the devices it takes
// (right-sizing), then how much of what was still placeable next to them it blocks.
struct PlacementScore {
  double size_counters = 0;
  double size_memory = 0;
  double blocked = 0;
  auto operator<=>(const PlacementScore&) const = default;
};

struct NodeView {
  std::map<std::string, std::string> labels;
  api::Node node;
  std::vector<int> devices;  // visible, in upstream order (pools sorted, slices by name)
  // The pools (one generation each) this node gathers, in order; `incomplete` says which of them
  // lack slices: they contribute no devices, and make All an error. `invalid` (why, or empty)
  // says which are invalid for this node: their devices are skipped, and they make All an error
  // and an allocation that finds nothing an error.
  std::vector<int> pools;
  std::vector<bool> incomplete;
  std::vector<std::string> invalid;
  std::vector<int> invalid_pools;       // of `pools`, those with a reason in `invalid`
  std::vector<int> pools_with_devices;  // of `pools`, those with devices for this node
  std::vector<int> sets;                // counter sets of visible devices
  int64_t device_total = 0;             // devices of visible pools
  uint64_t epoch = 0;   // releases on this node: infeasibility memos older than this are stale
  uint64_t change = 0;  // commits and releases on this node
  double fullness = 0;  // cached NodeFullness, valid for (fullness_change, fullness_global)
  uint64_t fullness_change = ~0ULL;
  uint64_t fullness_global = ~0ULL;
  // Claims (by FeasibilitySignature) found not to fit, valid while both epochs are unchanged:
  // committing more never makes claims fit, only releases do.
  struct Memo {
    uint64_t node_epoch = 0;
    uint64_t global_epoch = 0;
    std::string reason;
    bool invalid_pools = false;  // nothing found while the node sees an invalid pool
  };
  std::unordered_map<std::string, Memo> infeasible;
  // Claims (by FeasibilitySignature) found to fit, with the score of the allocation found, valid
  // while this node's and the global change counters are unchanged.
  struct Fit {
    uint64_t node_change = 0;
    uint64_t global_change = 0;
    PlacementScore score;
  };
  std::unordered_map<std::string, Fit> fitting;
};

enum Verdict { kUsable, kInUse, kCounters, kTainted, kCapacity, kConstraint };

// The index of the capacity `name` or -1. Names match exactly, as upstream's
// CmpRequestOverCapacity looks requests up in the device's capacity map: "dra.example.com/memory"
// does not name a capacity "memory" (unlike CEL's device.capacity, which resolves domains).
int CapacityIndex(const DeviceInfo& info, const std::string& name) {
  for (size_t c = 0; c < info.capacity.size(); ++c) {
    if (info.capacity[c].name == name) return static_cast<int>(c);
  }
  return -1;
}

// What `slot` asks of the capacity `name`, or null.
const api::Quantity* RequestedCapacity(const Slot& slot, const std::string& name) {
  if (slot.capacity_requests == nullptr) return nullptr;
  auto it = slot.capacity_requests->find(name);
  return it == slot.capacity_requests->end() ? nullptr : &it->second;
}

struct Committed {
  std::vector<PickRecord> picks;
};

std::string FormatInt(int64_t v) { return std::to_string(v); }

}  // namespace

struct Allocator::State {
  Options options;
  std::vector<api::ResourceSlice> slice_store;
  std::vector<api::DeviceClass> class_store;
  std::map<std::string, const api::DeviceClass*> classes;

  std::vector<SliceInfo> slices;
  std::vector<PoolInfo> pools;
  std::vector<int> pool_order;
  std::vector<DeviceInfo> devices;
  // A device's index in every generation of its pool that has it: a committed device is in use
  // in each (upstream's allocated state names devices by driver, pool and name only).
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<int>> device_by_id;
  std::vector<CounterSetInfo> sets;
  std::vector<int64_t> counter_total;
  std::vector<int64_t> counter_used;  // committed + current search
  std::vector<std::string> counter_names;

  std::vector<int32_t> in_use;  // committed exclusive allocations
  std::vector<int32_t> picked;  // picks of the current search (any claim, any mode)
  std::vector<int32_t> shares;  // committed + search shares of shared devices
  std::vector<std::vector<int64_t>> capacity_used;  // per device capacity (shares; committed)

  std::map<std::string, Committed> committed;
  std::map<std::string, cel::CompiledSelector> compiled;
  std::map<std::string, int> selector_set_ids;
  std::vector<SelectorSet> selector_sets;
  std::map<std::string, NodeView> nodes;
  uint64_t global_epoch = 0;   // releases of devices not tied to one node
  uint64_t global_change = 0;  // commits and releases of such devices
  std::mt19937_64 rng;

  // Per Allocate call.
  std::vector<ClaimPlan> plans;
  std::vector<std::vector<PickRecord>> picks;  // per claim
  int64_t steps = 0;
  size_t search_end = 0;  // the search succeeds when it reaches this claim
  std::optional<Error> error;
  const NodeView* view = nullptr;
  PlacementScore last_score;  // of the last fitting Run under kPack

  Status Index(const AllocatorInput& input);
  Status CommitPicks(const std::string& key, std::vector<PickRecord> records);
  std::vector<PickRecord> RecordsOf(const api::AllocationResult& allocation) const;
  // Marks the node views that see `device` as changed (and, on release, their memos stale).
  void Touch(int device, bool released);
  bool CountedAlready(int device) const {
    return devices[device].shared ? shares[device] > 0 : (in_use[device] > 0 || picked[device] > 0);
  }
  NodeView& ViewFor(const api::Node& node);
  std::string InvalidReason(int p, const api::Node& node) const;
  Result<int> SelectorSetFor(const api::DeviceClass& device_class,
                             const std::vector<api::DeviceSelector>& request_selectors,
                             const std::string& request_label);
  Result<bool> Selectable(const Slot& slot, int device);
  Status Prepare(std::span<const api::ResourceClaim* const> claims);
  void UndoAll() {
    for (auto& claim_picks : picks) {
      while (!claim_picks.empty()) {
        Undo(claim_picks.back());
        claim_picks.pop_back();
      }
    }
  }
  // Allocates `claims` on the node of `view`. Nothing found while the node sees an invalid pool is
  // `!fits` with upstream's reason and `invalid_pools_failure` set: an error for this node only
  // (upstream's ErrFailedAllocationOnNode), which Allocate reports as an error and ChooseNode only
  // when no candidate fits.
  Result<Outcome> Run(const NodeView& view, std::span<const api::ResourceClaim* const> claims);
  bool invalid_pools_failure = false;
  std::string Precheck();
  std::string Diagnose();

  // Search.
  bool CountersFit(int device) const;
  // Upstream's CmpRequestOverCapacity, for shared and exclusive devices alike: every capacity of
  // `device` is consumed by `slot` (its request, else the policy's default, else the whole
  // capacity, rounded up by the policy), must pass the policy and must fit beside the committed
  // shares and, with `in_search`, the shares taken by the current search. Fills `consumed` (per
  // capacity) when given.
  bool CapacityFits(const Slot& slot, int device, bool in_search, std::vector<int64_t>* consumed);
  // Whether `device` defines every capacity `slot` requests (else upstream skips it).
  bool DefinesRequestedCapacity(const Slot& slot, int device) const;
  void AddCounters(int device, int64_t sign);
  // Whether `device` can serve `slot` now; on kUsable the constraints hold it and `record` is ready
  // for Apply (or ConstraintsRemove to drop it).
  Verdict Usable(const Slot& slot, int device, PickRecord* record);
  void Apply(PickRecord& record);
  void Undo(const PickRecord& record);
  bool ConstraintsAdd(int claim, const Slot& slot, int device, PickRecord* record);
  void ConstraintsRemove(int claim, const PickRecord& record);
  int Search(size_t claim, size_t request);
  int SearchSlot(size_t claim, size_t request, const Slot& slot);
  int Pick(size_t claim, size_t request, const Slot& slot, std::vector<int>& order,
           std::vector<int8_t>& refined, int64_t k, size_t start);
  void OrderForPack(std::vector<int>& order);
  void RefineGroup(std::vector<int>& order, size_t begin, size_t end);
  double Blocked(int device);
  PlacementScore ScorePicks();
  // The node ChooseNode takes among `candidates` (see there), without building its allocation
  // when its score is remembered.
  struct NodePick {
    std::vector<size_t> order;  // candidates in name order
    std::vector<NodeView*> views;
    std::optional<size_t> best;
    PlacementScore score;
    std::optional<Outcome> outcome;  // of `best`, when this call searched it
  };
  Result<NodePick> PickNode(std::span<const api::Node* const> candidates,
                            std::span<const api::ResourceClaim* const> claims,
                            const std::string& signature);
  double SetFullness(int set) const;
  double NodeFullness(const NodeView& view) const;
  Result<api::AllocationResult> BuildResult(size_t claim);
  std::string ShareId();
};

namespace {
// kTooManyResults: the claim's results so far plus what the rest of the claim needs exceed 32,
// whichever devices were taken: nothing this far back can help but another subrequest (upstream's
// errAllocationResultMaxSizeExceeded), so the searches above give up at once instead of trying
// the other combinations of the same number of devices.
enum SearchResult { kNotFound = 0, kFound = 1, kAbort = 2, kTooManyResults = 3 };
}  // namespace

std::string_view StrategyName(Strategy strategy) {
  return strategy == Strategy::kKubernetes ? "kubernetes" : "pack";
}

Result<Strategy> ParseStrategy(std::string_view name) {
  if (name == "kubernetes") return Strategy::kKubernetes;
  if (name == "pack") return Strategy::kPack;
  return MakeError("unknown strategy \"" + std::string(name) + "\" (want kubernetes or pack)");
}

std::string ClaimKey(const api::ResourceClaim& claim) {
  return claim.metadata.namespace_ + "/" + claim.metadata.name;
}

// ---- indexing ------------------------------------------------------------------------------

Status Allocator::State::Index(const AllocatorInput& input) {
  for (const auto* c : input.classes) class_store.push_back(*c);
  for (const auto& c : class_store) classes[c.metadata.name] = &c;

  for (const auto* s : input.slices) slice_store.push_back(*s);
  std::map<std::tuple<std::string, std::string, int64_t>, int> pool_ids;
  std::map<std::pair<std::string, std::string>, int64_t> newest;
  for (size_t i = 0; i < slice_store.size(); ++i) {
    const auto& s = slice_store[i];
    auto key = std::make_tuple(s.spec.driver, s.spec.pool.name, s.spec.pool.generation);
    auto [it, inserted] = pool_ids.emplace(key, static_cast<int>(pools.size()));
    if (inserted) {
      PoolInfo p;
      p.driver = s.spec.driver;
      p.name = s.spec.pool.name;
      p.generation = s.spec.pool.generation;
      pools.push_back(std::move(p));
    }
    slices.push_back({&s, it->second});
    pools[it->second].slices.push_back(static_cast<int>(i));
    int64_t& generation = newest[{s.spec.driver, s.spec.pool.name}];
    generation = std::max(generation, s.spec.pool.generation);
  }
  for (auto& pool : pools) {
    std::stable_sort(pool.slices.begin(), pool.slices.end(), [&](int a, int b) {
      return slice_store[a].metadata.name < slice_store[b].metadata.name;
    });
    pool.newest_generation = newest[{pool.driver, pool.name}];
  }
  // Counter sets (pool-scoped), then devices.
  std::vector<std::map<std::string, int>> set_ids(pools.size());
  std::vector<std::map<std::pair<int, std::string>, int>> counter_ids(pools.size());
  for (size_t p = 0; p < pools.size(); ++p) {
    for (int si : pools[p].slices) {
      for (const auto& cs : slice_store[si].spec.shared_counters) {
        if (set_ids[p].count(cs.name)) {
          pools[p].invalid = true;
          pools[p].invalid_reason = "duplicate counter set " + cs.name;
          continue;
        }
        CounterSetInfo info;
        info.pool = static_cast<int>(p);
        info.name = cs.name;
        info.first = static_cast<int>(counter_total.size());
        int set = static_cast<int>(sets.size());
        for (const auto& [cname, counter] : cs.counters) {
          counter_ids[p][{set, cname}] = static_cast<int>(counter_total.size());
          counter_total.push_back(counter.value.MilliValue());
          counter_names.push_back(cs.name + "/" + cname);
          ++info.count;
        }
        set_ids[p][cs.name] = set;
        sets.push_back(std::move(info));
      }
    }
  }
  counter_used.assign(counter_total.size(), 0);
  for (size_t p = 0; p < pools.size(); ++p) {
    PoolInfo& pool = pools[p];
    std::set<std::string_view> names;
    for (int si : pool.slices) {
      const auto& spec = slice_store[si].spec;
      for (const auto& d : spec.devices) {
        if (!names.emplace(d.name).second) pool.repeats_device_names = true;
        DeviceInfo info;
        info.device = &d;
        info.slice = si;
        info.pool = static_cast<int>(p);
        info.shared = d.allow_multiple_allocations.value_or(false);
        if (!d.binding_conditions.empty()) pool.has_binding_conditions = true;
        if (spec.node_name && !spec.per_device_node_selection.value_or(false)) {
          info.node_name = &*spec.node_name;
        }
        for (const auto& t : d.taints) {
          if (IsBlockingEffect(t.effect)) info.has_blocking_taint = true;
        }
        double amount_share = 0;
        double slot_share = 0;
        for (const auto& use : d.consumes_counters) {
          auto set_it = set_ids[p].find(use.counter_set);
          if (set_it == set_ids[p].end()) {
            pool.invalid = true;
            pool.invalid_reason =
                "device " + d.name + " consumes undefined counter set " + use.counter_set;
            continue;
          }
          info.sets.push_back(set_it->second);
          for (const auto& [cname, counter] : use.counters) {
            auto c_it = counter_ids[p].find({set_it->second, cname});
            if (c_it == counter_ids[p].end()) {
              pool.invalid = true;
              pool.invalid_reason = "device " + d.name + " consumes undefined counter " + cname +
                                    " of " + use.counter_set;
              continue;
            }
            int64_t amount = counter.value.MilliValue();
            info.consumes.emplace_back(c_it->second, amount);
            const int64_t total = counter_total[c_it->second];
            if (total <= 0) continue;
            const double share = static_cast<double>(amount) / static_cast<double>(total);
            (total > 1000 ? amount_share : slot_share) += share;
          }
        }
        // A counter of capacity 1 is a slot: it says where a device sits (NVIDIA's
        // memory-slice-<i>), not how much it takes, and would make a 1g.20gb (two slots) look as
        // large as a 2g. A device is sized by its shares of the counters that hold amounts
        // (multiprocessors, engines, memory); only one that consumes slots alone is sized by them.
        info.size_counters = amount_share > 0 ? amount_share : slot_share;
        for (const auto& [cname, cap] : d.capacity) {
          info.capacity.push_back({cname, cap.value.MilliValue(), &cap});
          if (cname == "memory") info.size_memory = cap.value.AsApproximateFloat();
        }
        int id = static_cast<int>(devices.size());
        device_by_id[{spec.driver, pool.name, d.name}].push_back(id);
        pool.devices.push_back(id);
        for (int set : info.sets) sets[set].devices.push_back(id);
        devices.push_back(std::move(info));
      }
    }
  }
  for (size_t p = 0; p < pools.size(); ++p) pool_order.push_back(static_cast<int>(p));
  std::sort(pool_order.begin(), pool_order.end(), [&](int a, int b) {
    const auto& pa = pools[a];
    const auto& pb = pools[b];
    if (pa.has_binding_conditions != pb.has_binding_conditions) return pb.has_binding_conditions;
    if (pa.driver != pb.driver) return pa.driver < pb.driver;
    if (pa.name != pb.name) return pa.name < pb.name;
    return pa.generation > pb.generation;
  });
  in_use.assign(devices.size(), 0);
  picked.assign(devices.size(), 0);
  shares.assign(devices.size(), 0);
  capacity_used.resize(devices.size());
  for (size_t d = 0; d < devices.size(); ++d) {
    capacity_used[d].assign(devices[d].capacity.size(), 0);
  }

  for (const auto* claim : input.allocated_claims) {
    if (!claim->status.allocation) continue;
    std::string key = ClaimKey(*claim);
    if (committed.count(key)) key += "#" + claim->metadata.uid;
    MIGDRA_RETURN_IF_ERROR(CommitPicks(key, RecordsOf(*claim->status.allocation)));
  }
  return OkStatus();
}

std::vector<PickRecord> Allocator::State::RecordsOf(const api::AllocationResult& allocation) const {
  std::vector<PickRecord> records;
  for (const auto& r : allocation.devices.results) {
    if (r.admin_access.value_or(false)) continue;  // admin results do not count as in use
    auto it = device_by_id.find({r.driver, r.pool, r.device});
    if (it == device_by_id.end()) continue;
    for (int device : it->second) {
      PickRecord rec;
      rec.device = device;
      const DeviceInfo& info = devices[device];
      rec.share = r.share_id.has_value();
      if (rec.share) {
        rec.consumed.assign(info.capacity.size(), 0);
        for (size_t c = 0; c < info.capacity.size(); ++c) {
          auto q = r.consumed_capacity.find(info.capacity[c].name);
          if (q != r.consumed_capacity.end()) rec.consumed[c] = q->second.MilliValue();
        }
      }
      records.push_back(std::move(rec));
    }
  }
  return records;
}

void Allocator::State::Touch(int device, bool released) {
  const DeviceInfo& info = devices[device];
  if (info.node_name != nullptr) {
    auto view = nodes.find(*info.node_name);
    if (view == nodes.end()) return;
    view->second.change++;
    if (released) view->second.epoch++;
  } else {
    global_change++;
    if (released) global_epoch++;
  }
}

void Allocator::State::AddCounters(int device, int64_t sign) {
  for (const auto& [c, amount] : devices[device].consumes) counter_used[c] += sign * amount;
}

bool Allocator::State::CountersFit(int device) const {
  for (const auto& [c, amount] : devices[device].consumes) {
    if (counter_used[c] + amount > counter_total[c]) return false;
  }
  return true;
}

Status Allocator::State::CommitPicks(const std::string& key, std::vector<PickRecord> records) {
  if (committed.count(key)) return MakeError("claim " + key + " is already committed");
  for (const auto& rec : records) {
    const DeviceInfo& info = devices[rec.device];
    if (rec.share) {
      if (shares[rec.device]++ == 0) AddCounters(rec.device, +1);
      for (size_t c = 0; c < rec.consumed.size(); ++c) {
        capacity_used[rec.device][c] += rec.consumed[c];
      }
    } else {
      if (in_use[rec.device]++ == 0) AddCounters(rec.device, +1);
      pools[info.pool].in_use++;
    }
    Touch(rec.device, false);
  }
  committed[key].picks = std::move(records);
  return OkStatus();
}

// ---- node views and selectors --------------------------------------------------------------

namespace {

bool SliceTargets(const api::ResourceSliceSpec& spec, const api::Node& node) {
  if (spec.node_name) return *spec.node_name == node.metadata.name;
  if (spec.all_nodes.value_or(false)) return true;
  if (spec.node_selector) return SelectorMatches(*spec.node_selector, node);
  return false;
}

bool DeviceTargets(const api::Device& device, const api::Node& node) {
  if (device.node_name) return *device.node_name == node.metadata.name;
  if (device.all_nodes.value_or(false)) return true;
  if (device.node_selector) return SelectorMatches(*device.node_selector, node);
  return false;
}

// Whether upstream's GatherPools counts `spec` as relevant for `node`: counter sets always, a
// slice by its node selection, a per-device slice when one of its devices targets the node.
bool SliceRelevant(const api::ResourceSliceSpec& spec, const api::Node& node) {
  if (!spec.shared_counters.empty()) return true;
  if (spec.node_name || spec.all_nodes.value_or(false) || spec.node_selector) {
    return SliceTargets(spec, node);
  }
  if (spec.per_device_node_selection.value_or(false)) {
    return std::any_of(spec.devices.begin(), spec.devices.end(),
                       [&](const api::Device& d) { return DeviceTargets(d, node); });
  }
  return false;  // a node selection this version does not know
}

}  // namespace

// Why pool `p` is invalid for `node`, or empty. As upstream's buildPool: the node-independent
// reasons, else a device name that occurs twice among the device slices gathered for the node
// (slices of other nodes are not checked, nor are counter-set slices).
std::string Allocator::State::InvalidReason(int p, const api::Node& node) const {
  const PoolInfo& pool = pools[p];
  if (pool.invalid) return pool.invalid_reason;
  if (!pool.repeats_device_names) return {};
  std::set<std::string_view> names;
  for (int si : pool.slices) {
    const auto& spec = slice_store[si].spec;
    if (!spec.shared_counters.empty() || !SliceRelevant(spec, node)) continue;
    for (const auto& d : spec.devices) {
      if (!names.emplace(d.name).second) return "duplicate device name " + d.name;
    }
  }
  return {};
}

// Which generation of each pool `node` sees, as upstream's GatherPools: the newest among the
// slices relevant for the node. It is complete when those slices are as many as the pool's
// resourceSliceCount (of the first of them in input order), even where a newer generation exists
// elsewhere (upstream's multi-host-resource-pool-complete-update-from-node-1-to-node-2). If not,
// a newer generation anywhere makes the pool obsolete, left out, and otherwise it is complete
// when all slices of that generation, on any node, are as many.
NodeView& Allocator::State::ViewFor(const api::Node& node) {
  auto it = nodes.find(node.metadata.name);
  if (it != nodes.end() && it->second.labels == node.metadata.labels) return it->second;
  NodeView view;
  view.labels = node.metadata.labels;
  view.node.metadata.name = node.metadata.name;
  view.node.metadata.labels = node.metadata.labels;
  // Per pool (driver, name): the generation seen and whether it is complete.
  struct Seen {
    int pool = -1;
    size_t relevant = 0;
    int first_slice = std::numeric_limits<int>::max();
  };
  std::map<std::pair<std::string, std::string>, Seen> seen;
  for (size_t p = 0; p < pools.size(); ++p) {
    const PoolInfo& pool = pools[p];
    Seen candidate;
    candidate.pool = static_cast<int>(p);
    for (int si : pool.slices) {
      if (!SliceRelevant(slice_store[si].spec, node)) continue;
      ++candidate.relevant;
      candidate.first_slice = std::min(candidate.first_slice, si);
    }
    if (candidate.relevant == 0) continue;
    Seen& current = seen[{pool.driver, pool.name}];
    if (current.pool < 0 || pools[current.pool].generation < pool.generation) current = candidate;
  }
  std::vector<int8_t> state(pools.size(), -1);  // -1 not gathered, 0 complete, 1 incomplete
  for (const auto& [key, s] : seen) {
    const PoolInfo& pool = pools[s.pool];
    const int64_t count = slice_store[s.first_slice].spec.pool.resource_slice_count;
    if (static_cast<int64_t>(s.relevant) == count) {
      state[s.pool] = 0;
    } else if (pool.generation < pool.newest_generation) {
      continue;  // being replaced by a generation this node has no slice of yet
    } else {
      state[s.pool] = static_cast<int64_t>(pool.slices.size()) == count ? 0 : 1;
    }
  }
  std::vector<bool> set_seen(sets.size(), false);
  for (int p : pool_order) {
    if (state[p] < 0) continue;
    const PoolInfo& pool = pools[p];
    view.pools.push_back(p);
    view.incomplete.push_back(state[p] == 1);
    view.invalid.push_back(state[p] == 1 ? std::string() : InvalidReason(p, node));
    if (!view.invalid.back().empty()) view.invalid_pools.push_back(p);
    if (state[p] == 1) continue;
    const size_t devices_before = view.devices.size();
    for (int si : pool.slices) {
      const auto& spec = slice_store[si].spec;
      bool per_device = spec.per_device_node_selection.value_or(false);
      if (!per_device && !SliceTargets(spec, node)) continue;
      size_t base = 0;
      for (int d : pool.devices) {
        if (devices[d].slice == si) break;
        ++base;
      }
      for (size_t k = 0; k < spec.devices.size(); ++k) {
        int d = pool.devices[base + k];
        if (per_device && !DeviceTargets(*devices[d].device, node)) continue;
        view.devices.push_back(d);
        for (int set : devices[d].sets) {
          if (!set_seen[set]) {
            set_seen[set] = true;
            view.sets.push_back(set);
          }
        }
      }
    }
    if (view.devices.size() > devices_before) {
      view.pools_with_devices.push_back(p);
      view.device_total += static_cast<int64_t>(pool.devices.size());
    }
  }
  auto& slot = nodes[node.metadata.name];
  slot = std::move(view);
  return slot;
}

Result<int> Allocator::State::SelectorSetFor(
    const api::DeviceClass& device_class, const std::vector<api::DeviceSelector>& request_selectors,
    const std::string& request_label) {
  std::string key = device_class.metadata.name;
  key += '\0';
  for (const auto& s : device_class.spec.selectors) {
    key += s.cel ? s.cel->expression : std::string();
    key += '\1';
  }
  key += '\0';
  for (const auto& s : request_selectors) {
    key += s.cel ? s.cel->expression : std::string();
    key += '\1';
  }
  auto it = selector_set_ids.find(key);
  if (it != selector_set_ids.end()) return it->second;
  SelectorSet set;
  auto add = [&](const std::vector<api::DeviceSelector>& list, const std::string& who) -> Status {
    for (size_t i = 0; i < list.size(); ++i) {
      std::string label = who + ": selector #" + std::to_string(i);
      if (!list[i].cel) return MakeError(label + ": a selector needs a cel expression");
      const std::string& expr = list[i].cel->expression;
      auto c = compiled.find(expr);
      if (c == compiled.end()) {
        auto compiled_selector = cel::CompiledSelector::Compile(expr);
        if (!compiled_selector.ok()) {
          return MakeError(label + ": CEL compile error: " + compiled_selector.error().message);
        }
        c = compiled.emplace(expr, std::move(compiled_selector).value()).first;
      }
      set.selectors.push_back(&c->second);
      set.labels.push_back(std::move(label));
    }
    return OkStatus();
  };
  MIGDRA_RETURN_IF_ERROR(add(device_class.spec.selectors, "class " + device_class.metadata.name));
  MIGDRA_RETURN_IF_ERROR(add(request_selectors, request_label));
  set.match.assign(devices.size(), -1);
  int id = static_cast<int>(selector_sets.size());
  selector_sets.push_back(std::move(set));
  selector_set_ids.emplace(std::move(key), id);
  return id;
}

Result<bool> Allocator::State::Selectable(const Slot& slot, int device) {
  SelectorSet& set = selector_sets[slot.selector_set];
  int8_t& cached = set.match[device];
  if (cached >= 0) return cached == 1;
  const DeviceInfo& info = devices[device];
  const std::string& driver = slice_store[info.slice].spec.driver;
  for (size_t i = 0; i < set.selectors.size(); ++i) {
    auto r = set.selectors[i]->Matches(*info.device, driver);
    if (!r.ok()) {
      return MakeError(set.labels[i] + ": CEL runtime error on device " + driver + "/" +
                       pools[info.pool].name + "/" + info.device->name + ": " + r.error().message);
    }
    if (!*r) {
      cached = 0;
      return false;
    }
  }
  cached = 1;
  return true;
}

// ---- request preparation --------------------------------------------------------------------

Status Allocator::State::Prepare(std::span<const api::ResourceClaim* const> claims) {
  plans.clear();
  picks.assign(claims.size(), {});
  for (size_t ci = 0; ci < claims.size(); ++ci) {
    const api::ResourceClaim& claim = *claims[ci];
    const std::string who = "claim " + ClaimKey(claim);
    ClaimPlan plan;
    plan.claim = &claim;
    int64_t lower_bound = 0;
    const auto& reqs = claim.spec.devices.requests;
    if (reqs.size() > kMaxResultsPerClaim) {
      return MakeError(who + ": more than 32 requests", "spec.devices.requests");
    }
    for (size_t ri = 0; ri < reqs.size(); ++ri) {
      const api::DeviceRequest& req = reqs[ri];
      const std::string field = "spec.devices.requests[" + std::to_string(ri) + "]";
      std::vector<Slot> slots;
      auto make = [&](const std::string& name, const std::string& class_name,
                      const std::vector<api::DeviceSelector>& selectors, const std::string& mode,
                      std::optional<int64_t> count, std::optional<bool> admin,
                      const std::vector<api::DeviceToleration>& tolerations,
                      const std::optional<api::CapacityRequirements>& capacity,
                      const std::string& f) -> Status {
        Slot slot;
        slot.name = name;
        slot.parent = req.name;
        slot.claim = static_cast<int>(ci);
        if (class_name.empty()) {
          return MakeError(who + ": request " + name + ": deviceClassName is required",
                           f + ".deviceClassName");
        }
        auto cls = classes.find(class_name);
        if (cls == classes.end()) {
          return MakeError(who + ": request " + name + ": could not retrieve device class " +
                               class_name + ": not found",
                           f + ".deviceClassName");
        }
        slot.device_class = cls->second;
        if (mode.empty() || mode == api::kAllocationModeExactCount) {
          slot.count = count.value_or(1);
          if (slot.count <= 0) {
            return MakeError(who + ": request " + name + ": count must be greater than zero",
                             f + ".count");
          }
        } else if (mode == api::kAllocationModeAll) {
          slot.all_mode = true;
          if (count.value_or(0) != 0) {
            return MakeError(who + ": request " + name + ": count must be 0 in mode All",
                             f + ".count");
          }
        } else {
          return MakeError(who + ": request " + name + ": unsupported allocation mode " + mode,
                           f + ".allocationMode");
        }
        slot.admin = admin.value_or(false);
        slot.tolerations = &tolerations;
        if (capacity && !capacity->requests.empty()) slot.capacity_requests = &capacity->requests;
        MIGDRA_ASSIGN_OR_RETURN(slot.selector_set,
                                SelectorSetFor(*slot.device_class, selectors, "request " + name));
        slots.push_back(std::move(slot));
        return OkStatus();
      };
      if (req.exactly.has_value() == !req.first_available.empty()) {
        return MakeError(who + ": request " + req.name +
                             ": exactly one of exactly or firstAvailable is required",
                         field);
      }
      if (req.exactly) {
        const auto& e = *req.exactly;
        MIGDRA_RETURN_IF_ERROR(make(req.name, e.device_class_name, e.selectors, e.allocation_mode,
                                    e.count, e.admin_access, e.tolerations, e.capacity,
                                    field + ".exactly"));
      } else {
        for (size_t si = 0; si < req.first_available.size(); ++si) {
          const auto& s = req.first_available[si];
          MIGDRA_RETURN_IF_ERROR(make(req.name + "/" + s.name, s.device_class_name, s.selectors,
                                      s.allocation_mode, s.count, std::nullopt, s.tolerations,
                                      s.capacity,
                                      field + ".firstAvailable[" + std::to_string(si) + "]"));
        }
      }
      plan.requests.push_back(std::move(slots));
      plan.first_available.push_back(!req.first_available.empty());
    }
    plan.selected.assign(plan.requests.size(), 0);
    // Candidates (and All-mode device lists) for every slot.
    for (auto& slots : plan.requests) {
      int64_t min_devices = std::numeric_limits<int64_t>::max();
      for (auto& slot : slots) {
        // All needs every pool the node gathers complete and valid, whatever its driver.
        for (size_t k = 0; slot.all_mode && k < view->pools.size(); ++k) {
          const PoolInfo& pool = pools[view->pools[k]];
          if (view->incomplete[k] || !view->invalid[k].empty()) {
            return MakeError(
                who + ": request " + slot.name + ": asks for all devices, but resource pool " +
                pool.driver + "/" + pool.name + " is currently " +
                (view->incomplete[k] ? "being updated" : "invalid (" + view->invalid[k] + ")"));
          }
        }
        for (int d : view->devices) {
          const DeviceInfo& info = devices[d];
          if (!view->invalid_pools.empty() &&
              std::find(view->invalid_pools.begin(), view->invalid_pools.end(), info.pool) !=
                  view->invalid_pools.end()) {
            continue;
          }
          // For ExactCount, in-use devices are never evaluated, as upstream (their selectors may
          // not apply). All takes every selectable device, in use or not (then it fails).
          if (!slot.all_mode && !slot.admin && !info.shared && in_use[d] > 0) {
            ++slot.skipped_in_use;
            continue;
          }
          MIGDRA_ASSIGN_OR_RETURN(bool ok, Selectable(slot, d));
          if (!ok || !DefinesRequestedCapacity(slot, d)) continue;
          // All is fixed before the search: the devices whose capacity the request would fit
          // into beside the committed shares (upstream's validateDeviceRequest).
          if (slot.all_mode && !CapacityFits(slot, d, /*in_search=*/false, nullptr)) continue;
          slot.candidates.push_back(d);
        }
        if (slot.all_mode) slot.count = static_cast<int64_t>(slot.candidates.size());
        min_devices = std::min(min_devices, slot.count);
      }
      lower_bound += min_devices;
    }
    if (lower_bound > static_cast<int64_t>(kMaxResultsPerClaim)) {
      return MakeError(who + ": number of requested devices " + FormatInt(lower_bound) +
                       " exceeds the claim limit of 32");
    }
    for (size_t k = 0; k < claim.spec.devices.constraints.size(); ++k) {
      const auto& c = claim.spec.devices.constraints[k];
      ConstraintState state;
      state.requests = c.requests;
      if (c.match_attribute) {
        state.match = true;
        state.attribute = *c.match_attribute;
      } else if (c.distinct_attribute) {
        state.match = false;
        state.attribute = *c.distinct_attribute;
      } else {
        return MakeError(who + ": empty constraint",
                         "spec.devices.constraints[" + std::to_string(k) + "]");
      }
      plan.constraints.push_back(std::move(state));
    }
    plans.push_back(std::move(plan));
  }
  return OkStatus();
}

// ---- the search -----------------------------------------------------------------------------

bool Allocator::State::ConstraintsAdd(int claim, const Slot& slot, int device, PickRecord* record) {
  ClaimPlan& plan = plans[claim];
  const DeviceInfo& info = devices[device];
  const std::string& driver = slice_store[info.slice].spec.driver;
  for (size_t k = 0; k < plan.constraints.size(); ++k) {
    ConstraintState& c = plan.constraints[k];
    if (!c.Applies(slot)) continue;
    const api::DeviceAttribute* attr = LookupAttribute(*info.device, driver, c.attribute);
    bool ok = attr != nullptr;
    std::vector<AttrValue> values;
    if (ok) values = ToAttrValues(*attr);
    if (ok && c.match) {
      // Recomputed from the held sets, so a backtrack never leaves a stale intersection.
      std::vector<AttrValue> common = values;
      for (const auto& held : c.held) {
        if (!Intersect(common, held)) break;
      }
      ok = !common.empty();
    } else if (ok) {
      for (const auto& held : c.held) {
        std::vector<AttrValue> shared = values;
        if (Intersect(shared, held)) {
          ok = false;
          break;
        }
      }
    }
    if (!ok) {
      ConstraintsRemove(claim, *record);
      record->constraints.clear();
      return false;
    }
    c.held.push_back(std::move(values));
    record->constraints.push_back(static_cast<int>(k));
  }
  return true;
}

void Allocator::State::ConstraintsRemove(int claim, const PickRecord& record) {
  ClaimPlan& plan = plans[claim];
  for (int k : record.constraints) {
    plan.constraints[k].held.pop_back();
  }
}

Verdict Allocator::State::Usable(const Slot& slot, int device, PickRecord* record) {
  const DeviceInfo& info = devices[device];
  // 1. In use. Admin requests may take devices others use, but not one device twice per claim.
  if (!info.shared) {
    if (slot.admin) {
      for (const auto& p : picks[slot.claim]) {
        if (p.device == device) return kInUse;
      }
    } else if (in_use[device] > 0 || picked[device] > 0) {
      return kInUse;
    }
  }
  // 2. Counters, unless the device's consumption is already counted (a shared device with other
  // shares, or a device an admin request takes from another claim).
  if (!info.consumes.empty() && !CountedAlready(device) && !CountersFit(device)) {
    return kCounters;
  }
  // 3. Taints (admin access does not bypass them).
  if (info.has_blocking_taint && !TaintsTolerated(*info.device, *slot.tolerations)) {
    return kTainted;
  }
  record->device = device;
  record->slot = &slot;
  record->share = info.shared;
  record->consumed.clear();
  record->constraints.clear();
  // 4. Constraints, then 5. capacity, as upstream's allocateDevice: in All mode a constraint
  // violation is an error even where the capacity would not have fit either.
  if (!ConstraintsAdd(slot.claim, slot, device, record)) return kConstraint;
  if (!CapacityFits(slot, device, /*in_search=*/true, info.shared ? &record->consumed : nullptr)) {
    ConstraintsRemove(slot.claim, *record);
    record->constraints.clear();
    return kCapacity;
  }
  return kUsable;
}

bool Allocator::State::DefinesRequestedCapacity(const Slot& slot, int device) const {
  const DeviceInfo& info = devices[device];
  if (slot.capacity_requests == nullptr) return true;
  for (const auto& [name, amount] : *slot.capacity_requests) {
    if (CapacityIndex(info, name) < 0) return false;
  }
  return true;
}

bool Allocator::State::CapacityFits(const Slot& slot, int device, bool in_search,
                                    std::vector<int64_t>* consumed) {
  const DeviceInfo& info = devices[device];
  if (consumed) consumed->assign(info.capacity.size(), 0);
  // An exclusive device without shares and without capacity requests consumes all of each
  // capacity (or its default), which always fits: the common case, decided without the loop.
  if (info.capacity.empty() ||
      (!info.shared && slot.capacity_requests == nullptr && shares[device] == 0)) {
    return true;
  }
  for (size_t c = 0; c < info.capacity.size(); ++c) {
    const CapInfo& cap = info.capacity[c];
    const api::Quantity consumed_quantity =
        ConsumedQuantity(RequestedCapacity(slot, cap.name), *cap.source);
    if (ViolatesPolicy(consumed_quantity, cap.source->request_policy)) return false;
    const int64_t rounded = consumed_quantity.MilliValue();
    int64_t taken = capacity_used[device][c];
    if (in_search && info.shared && shares[device] > 0) {
      for (const auto& claim_picks : picks) {
        for (const auto& p : claim_picks) {
          if (p.device == device && p.share) taken += p.consumed[c];
        }
      }
    }
    if (taken + rounded > cap.value) return false;
    if (consumed) (*consumed)[c] = rounded;
  }
  return true;
}

void Allocator::State::Apply(PickRecord& record) {
  const DeviceInfo& info = devices[record.device];
  if (info.shared) {
    if (shares[record.device]++ == 0) AddCounters(record.device, +1);
  } else {
    if (picked[record.device]++ == 0 && in_use[record.device] == 0) {
      AddCounters(record.device, +1);
    }
  }
  picks[record.slot->claim].push_back(std::move(record));
}

void Allocator::State::Undo(const PickRecord& record) {
  const DeviceInfo& info = devices[record.device];
  ConstraintsRemove(record.slot->claim, record);
  if (info.shared) {
    if (--shares[record.device] == 0) AddCounters(record.device, -1);
  } else {
    if (--picked[record.device] == 0 && in_use[record.device] == 0) {
      AddCounters(record.device, -1);
    }
  }
}

int Allocator::State::Search(size_t claim, size_t request) {
  if (claim == search_end) return kFound;
  ClaimPlan& plan = plans[claim];
  if (request == plan.requests.size()) {
    // The limit is per claim: other choices in this claim may still leave room for the next.
    int r = Search(claim + 1, 0);
    return r == kTooManyResults ? kNotFound : r;
  }
  auto& slots = plan.requests[request];
  if (!plan.first_available[request]) return SearchSlot(claim, request, slots[0]);
  // A subrequest that exceeds the limit is followed by the next, which may need fewer devices;
  // only when every one exceeds it is the limit the reason (upstream's allAllocationExceeded).
  bool all_too_many = true;
  for (size_t s = 0; s < slots.size(); ++s) {
    plan.selected[request] = static_cast<int>(s);
    int r = SearchSlot(claim, request, slots[s]);
    if (r == kTooManyResults) continue;
    all_too_many = false;
    if (r != kNotFound) return r;
  }
  return all_too_many ? kTooManyResults : kNotFound;
}

int Allocator::State::SearchSlot(size_t claim, size_t request, const Slot& slot) {
  if (slot.all_mode) {
    if (slot.candidates.empty()) return kNotFound;
    if (picks[claim].size() + slot.candidates.size() > kMaxResultsPerClaim) {
      return kTooManyResults;
    }
    size_t applied = 0;
    int result = kNotFound;
    for (int d : slot.candidates) {
      if (++steps > options.step_budget) {
        error = MakeError("search step budget of " + FormatInt(options.step_budget) +
                          " devices exhausted");
        result = kAbort;
        break;
      }
      PickRecord rec;
      // "must": a device that cannot be used fails the request; a constraint violation is an
      // error because nothing else could satisfy All.
      Verdict verdict = Usable(slot, d, &rec);
      if (verdict == kConstraint) {
        const DeviceInfo& info = devices[d];
        error = MakeError("claim " + ClaimKey(*plans[claim].claim) + ": cannot add device " +
                          pools[info.pool].driver + "/" + pools[info.pool].name + "/" +
                          info.device->name + " for request " + slot.name +
                          " because a claim constraint would not be satisfied");
        result = kAbort;
      }
      if (verdict != kUsable) break;
      Apply(rec);
      ++applied;
    }
    if (applied == slot.candidates.size() && result == kNotFound) {
      result = Search(claim, request + 1);
    }
    if (result != kFound) {
      for (size_t i = 0; i < applied; ++i) {
        Undo(picks[claim].back());
        picks[claim].pop_back();
      }
    }
    return result;
  }
  std::vector<int> order = slot.candidates;
  std::vector<int8_t> refined;
  if (options.strategy == Strategy::kPack) {
    OrderForPack(order);
    if (options.pack_placement != PackPlacement::kRightSizeOnly) refined.assign(order.size(), 0);
  }
  return Pick(claim, request, slot, order, refined, 0, 0);
}

int Allocator::State::Pick(size_t claim, size_t request, const Slot& slot, std::vector<int>& order,
                           std::vector<int8_t>& refined, int64_t k, size_t start) {
  if (k == slot.count) return Search(claim, request + 1);
  int64_t remaining = slot.count - k;
  if (static_cast<int64_t>(picks[claim].size()) + remaining >
      static_cast<int64_t>(kMaxResultsPerClaim)) {
    return kTooManyResults;
  }
  for (size_t i = start; i + remaining <= order.size(); ++i) {
    if (!refined.empty() && refined[i] == 0) {
      // Refine the group of equally sized devices that starts here, with the current state.
      const DeviceInfo& first = devices[order[i]];
      size_t end = i;
      while (end < order.size() && devices[order[end]].size_counters == first.size_counters &&
             devices[order[end]].size_memory == first.size_memory) {
        ++end;
      }
      RefineGroup(order, i, end);
      for (size_t j = i; j < end; ++j) refined[j] = 1;
    }
    if (++steps > options.step_budget) {
      error = MakeError("search step budget of " + FormatInt(options.step_budget) +
                        " devices exhausted");
      return kAbort;
    }
    PickRecord rec;
    if (Usable(slot, order[i], &rec) != kUsable) continue;
    Apply(rec);
    int r = Pick(claim, request, slot, order, refined, k + 1, i + 1);
    if (r == kFound) return r;
    Undo(picks[claim].back());
    picks[claim].pop_back();
    if (r == kAbort || r == kTooManyResults) return r;
  }
  return kNotFound;
}

// Right-size first: order by size; groups of equal size are refined lazily (RefineGroup).
void Allocator::State::OrderForPack(std::vector<int>& order) {
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    const DeviceInfo& da = devices[a];
    const DeviceInfo& db = devices[b];
    if (da.size_counters != db.size_counters) return da.size_counters < db.size_counters;
    return da.size_memory < db.size_memory;
  });
}

double Allocator::State::SetFullness(int set) const {
  const CounterSetInfo& s = sets[set];
  double sum = 0;
  for (int c = s.first; c < s.first + s.count; ++c) {
    if (counter_total[c] > 0) {
      sum += static_cast<double>(counter_used[c]) / static_cast<double>(counter_total[c]);
    }
  }
  return s.count > 0 ? sum / s.count : 0;
}

// What placing free device `d` would take away on its counter sets: the summed sizes of the
// devices there that fit now and would not fit after. Zero for devices without counters.
double Allocator::State::Blocked(int d) {
  const DeviceInfo& info = devices[d];
  double blocked = 0;
  if (info.sets.empty()) return blocked;
  AddCounters(d, +1);
  for (int set : info.sets) {
    for (int e : sets[set].devices) {
      if (e == d || in_use[e] > 0 || picked[e] > 0) continue;
      if (CountersFit(e)) continue;
      AddCounters(d, -1);
      bool fit_before = CountersFit(e);
      AddCounters(d, +1);
      if (fit_before) blocked += devices[e].size_counters;
    }
  }
  AddCounters(d, -1);
  return blocked;
}

// The score of the picks of the current search, each device judged against the state just before
// it was picked. Leaves the picks applied.
PlacementScore Allocator::State::ScorePicks() {
  std::vector<int> taken;
  for (const auto& claim_picks : picks) {
    for (const PickRecord& rec : claim_picks) {
      if (!devices[rec.device].shared) taken.push_back(rec.device);
    }
  }
  PlacementScore score;
  for (auto it = taken.rbegin(); it != taken.rend(); ++it) {
    int d = *it;
    score.size_counters += devices[d].size_counters;
    score.size_memory += devices[d].size_memory;
    if (--picked[d] == 0 && in_use[d] == 0) {
      AddCounters(d, -1);
      if (options.pack_placement == PackPlacement::kLeastBlocking) score.blocked += Blocked(d);
    }
  }
  for (int d : taken) {
    if (picked[d]++ == 0 && in_use[d] == 0) AddCounters(d, +1);
  }
  return score;
}

// Within one size: the device that blocks the least of what is still placeable on its counter
// sets (weighted by the size of what it blocks), then the fullest counter set, then upstream
// order.
void Allocator::State::RefineGroup(std::vector<int>& order, size_t begin, size_t end) {
  struct Key {
    double blocked;
    double fullness;
    size_t position;
  };
  std::vector<Key> keys(end - begin);
  for (size_t i = begin; i < end; ++i) {
    int d = order[i];
    const DeviceInfo& info = devices[d];
    Key& key = keys[i - begin];
    key.position = i;
    key.fullness = 0;
    bool free = (info.shared || (in_use[d] == 0 && picked[d] == 0)) && CountersFit(d);
    if (!free) {
      key.blocked = std::numeric_limits<double>::infinity();
      continue;
    }
    for (int set : info.sets) key.fullness += SetFullness(set);
    key.blocked = Blocked(d);
  }
  std::stable_sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
    if (std::isinf(a.blocked) != std::isinf(b.blocked)) return std::isinf(b.blocked);
    if (a.blocked != b.blocked) return a.blocked < b.blocked;
    return a.fullness > b.fullness;
  });
  std::vector<int> sorted;
  sorted.reserve(keys.size());
  for (const Key& k : keys) sorted.push_back(order[k.position]);
  std::copy(sorted.begin(), sorted.end(), order.begin() + static_cast<std::ptrdiff_t>(begin));
}

double Allocator::State::NodeFullness(const NodeView& view) const {
  double sum = 0;
  for (int set : view.sets) sum += SetFullness(set);
  double counters = view.sets.empty() ? 0 : sum / static_cast<double>(view.sets.size());
  int64_t used = 0;
  for (int p : view.pools_with_devices) used += pools[p].in_use;
  double devices_used = view.device_total > 0
                            ? static_cast<double>(used) / static_cast<double>(view.device_total)
                            : 0;
  return counters + devices_used;
}

// ---- prechecks and diagnostics --------------------------------------------------------------

namespace {

struct SlotCounts {
  int64_t usable = 0;
  int64_t in_use = 0;
  int64_t counters = 0;
  int64_t tainted = 0;
  int64_t capacity = 0;
  int64_t constraint = 0;
  std::string counter_set;
};

}  // namespace

// Cheap necessary conditions, checked before the search: every request (some subrequest) has
// enough individually usable devices, and matchAttribute / distinctAttribute constraints over
// ExactCount requests can be met by those devices. Returns the reason when one fails.
std::string Allocator::State::Precheck() {
  // Hall's condition over all requests of all claims: any set of requests needs at least as many
  // distinct free devices as it asks for. One group per exclusive, non-admin ExactCount request.
  struct Group {
    std::string name;
    int64_t needed = 0;
    std::vector<int> devices;
  };
  std::vector<Group> groups;
  for (size_t ci = 0; ci < plans.size(); ++ci) {
    ClaimPlan& plan = plans[ci];
    // usable[ri][si]: the devices subrequest si of request ri could take on its own.
    std::vector<std::vector<std::vector<int>>> usable(plan.requests.size());
    for (size_t ri = 0; ri < plan.requests.size(); ++ri) {
      std::string reason;
      bool any = false;
      for (const Slot& slot : plan.requests[ri]) {
        usable[ri].emplace_back();
        if (slot.all_mode) {  // All is decided (or an error) in the search
          any = true;
          continue;
        }
        SlotCounts counts;
        for (int d : slot.candidates) {
          PickRecord rec;
          switch (Usable(slot, d, &rec)) {
            case kUsable:
              ConstraintsRemove(slot.claim, rec);
              ++counts.usable;
              usable[ri].back().push_back(d);
              break;
            case kInUse:
              ++counts.in_use;
              break;
            case kCounters:
              ++counts.counters;
              if (counts.counter_set.empty() && !devices[d].sets.empty()) {
                counts.counter_set = sets[devices[d].sets.front()].name;
              }
              break;
            case kTainted:
              ++counts.tainted;
              break;
            case kCapacity:
              ++counts.capacity;
              break;
            case kConstraint:
              ++counts.constraint;
              break;
          }
        }
        if (counts.usable >= slot.count) {
          any = true;
          continue;
        }
        if (!reason.empty()) reason += "; ";
        reason += "request " + slot.name + ": " + FormatInt(counts.usable) + " of " +
                  FormatInt(static_cast<int64_t>(slot.candidates.size())) +
                  " matching devices free, " + FormatInt(slot.count) + " needed";
        std::string detail;
        auto add = [&](int64_t n, const std::string& what) {
          if (n == 0) return;
          if (!detail.empty()) detail += ", ";
          detail += FormatInt(n) + " " + what;
        };
        add(counts.in_use, "in use");
        add(counts.counters, "blocked by counters of " + counts.counter_set);
        add(counts.tainted, "tainted");
        add(counts.capacity, "without enough capacity");
        add(counts.constraint, "without a constrained attribute");
        if (!detail.empty()) reason += " (" + detail + ")";
        if (slot.skipped_in_use > 0) {
          reason += "; " + FormatInt(slot.skipped_in_use) + " other devices of the node in use";
        }
      }
      if (!any) return "claim " + ClaimKey(*plan.claim) + " " + reason;
      Group group;
      group.name = ClaimKey(*plan.claim) + " request " + plan.requests[ri][0].parent;
      group.needed = std::numeric_limits<int64_t>::max();
      bool exclusive = true;
      for (size_t si = 0; si < plan.requests[ri].size(); ++si) {
        const Slot& slot = plan.requests[ri][si];
        if (slot.all_mode || slot.admin) exclusive = false;
        group.needed = std::min(group.needed, slot.count);
        for (int d : usable[ri][si]) {
          if (devices[d].shared) exclusive = false;
          group.devices.push_back(d);
        }
      }
      if (exclusive) {
        std::sort(group.devices.begin(), group.devices.end());
        group.devices.erase(std::unique(group.devices.begin(), group.devices.end()),
                            group.devices.end());
        groups.push_back(std::move(group));
      }
    }
    // Constraints: a request counts when the constraint covers all its subrequests; it then needs
    // at least its smallest subrequest count of devices, from the union of their usable devices.
    for (const ConstraintState& c : plan.constraints) {
      std::vector<size_t> covered;
      std::vector<int64_t> needed;
      bool checkable = true;
      for (size_t ri = 0; ri < plan.requests.size(); ++ri) {
        bool all_covered = true;
        int64_t min_count = std::numeric_limits<int64_t>::max();
        for (const Slot& slot : plan.requests[ri]) {
          if (!c.Applies(slot)) all_covered = false;
          if (slot.all_mode) checkable = false;
          min_count = std::min(min_count, slot.count);
        }
        if (!all_covered) continue;
        covered.push_back(ri);
        needed.push_back(min_count);
      }
      if (!checkable || covered.empty()) continue;
      // Per value: the devices each covered request could use, and all of them together.
      std::map<AttrValue, std::vector<int64_t>> per_value;
      std::map<AttrValue, std::vector<int>> union_by_value;
      int64_t total = 0;
      for (size_t k = 0; k < covered.size(); ++k) {
        total += needed[k];
        std::vector<int> devices_of_request;
        for (const auto& list : usable[covered[k]]) {
          devices_of_request.insert(devices_of_request.end(), list.begin(), list.end());
        }
        std::sort(devices_of_request.begin(), devices_of_request.end());
        devices_of_request.erase(std::unique(devices_of_request.begin(), devices_of_request.end()),
                                 devices_of_request.end());
        for (int d : devices_of_request) {
          const DeviceInfo& info = devices[d];
          const auto* attr = LookupAttribute(*info.device, pools[info.pool].driver, c.attribute);
          if (attr == nullptr) continue;
          // A list-type attribute counts for each of its values: a match needs one value every
          // chosen device has; distinct devices need a value each that no other one has.
          for (const AttrValue& v : ToAttrValues(*attr)) {
            auto& counts = per_value[v];
            counts.resize(covered.size(), 0);
            counts[k]++;
            union_by_value[v].push_back(d);
          }
        }
      }
      for (auto& [v, list] : union_by_value) {
        std::sort(list.begin(), list.end());
        list.erase(std::unique(list.begin(), list.end()), list.end());
      }
      const auto& distinct = union_by_value;
      std::string constraint_name =
          (c.match ? "matchAttribute " : "distinctAttribute ") + c.attribute;
      if (c.match) {
        bool ok = false;
        for (const auto& [v, counts] : per_value) {
          bool all = static_cast<int64_t>(union_by_value[v].size()) >= total;
          for (size_t k = 0; k < covered.size(); ++k) {
            if (counts[k] < needed[k]) all = false;
          }
          if (all) {
            ok = true;
            break;
          }
        }
        if (!ok) {
          return "claim " + ClaimKey(*plan.claim) + ": constraint " + constraint_name +
                 ": no value is shared by enough free devices (" +
                 FormatInt(static_cast<int64_t>(per_value.size())) + " distinct values among " +
                 "the free matching devices)";
        }
      } else if (static_cast<int64_t>(distinct.size()) < total) {
        return "claim " + ClaimKey(*plan.claim) + ": constraint " + constraint_name + ": " +
               FormatInt(static_cast<int64_t>(distinct.size())) +
               " distinct values among the free matching devices, " + FormatInt(total) + " needed";
      }
    }
  }
  if (groups.size() > 1) {
    // Every subset when there are few groups, else all of them together.
    const size_t n = groups.size();
    const uint64_t subsets = n <= 8 ? (uint64_t{1} << n) : 0;
    std::vector<uint64_t> stamp(devices.size(), 0);
    uint64_t round = 0;
    auto check = [&](auto&& in_subset) -> std::string {
      ++round;
      int64_t needed = 0;
      int64_t distinct = 0;
      std::string names;
      for (size_t g = 0; g < n; ++g) {
        if (!in_subset(g)) continue;
        needed += groups[g].needed;
        names += (names.empty() ? "" : ", ") + groups[g].name;
        for (int d : groups[g].devices) {
          if (stamp[d] != round) {
            stamp[d] = round;
            ++distinct;
          }
        }
      }
      if (needed <= distinct) return {};
      return names + " need " + FormatInt(needed) + " devices together, but only " +
             FormatInt(distinct) + " distinct free devices match them";
    };
    for (uint64_t mask = 3; mask < subsets; ++mask) {
      if ((mask & (mask - 1)) == 0) continue;  // single requests were checked above
      std::string reason = check([&](size_t g) { return (mask >> g) & 1; });
      if (!reason.empty()) return reason;
    }
    if (subsets == 0) {
      std::string reason = check([](size_t) { return true; });
      if (!reason.empty()) return reason;
    }
  }
  return {};
}

std::string Allocator::State::Diagnose() {
  std::string reason = "no combination of free devices satisfies every request and constraint";
  if (plans.size() > 1)
    reason += " of the " + FormatInt(static_cast<int64_t>(plans.size())) + " claims together";
  reason += " (" + FormatInt(steps) + " devices tried)";
  const auto incomplete = std::count(view->incomplete.begin(), view->incomplete.end(), true);
  if (incomplete > 0) {
    reason += "; " + FormatInt(incomplete) + " incomplete pool(s) skipped";
  }
  return reason;
}

// ---- results --------------------------------------------------------------------------------

std::string Allocator::State::ShareId() {
  uint64_t a = rng();
  uint64_t b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 1
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

Result<api::AllocationResult> Allocator::State::BuildResult(size_t ci) {
  const ClaimPlan& plan = plans[ci];
  api::AllocationResult out;
  std::vector<const api::NodeSelectorTerm*> terms;
  bool bound_to_node = false;
  for (const PickRecord& rec : picks[ci]) {
    const DeviceInfo& info = devices[rec.device];
    const auto& spec = slice_store[info.slice].spec;
    api::DeviceRequestAllocationResult r;
    r.request = rec.slot->name;
    r.driver = spec.driver;
    r.pool = spec.pool.name;
    r.device = info.device->name;
    if (rec.slot->admin) r.admin_access = true;
    r.tolerations = *rec.slot->tolerations;
    r.binding_conditions = info.device->binding_conditions;
    r.binding_failure_conditions = info.device->binding_failure_conditions;
    if (rec.share) {
      r.share_id = ShareId();
      for (size_t c = 0; c < info.capacity.size(); ++c) {
        r.consumed_capacity[info.capacity[c].name] = ConsumedQuantity(
            RequestedCapacity(*rec.slot, info.capacity[c].name), *info.capacity[c].source);
      }
    }
    out.devices.results.push_back(std::move(r));
    const api::Device& dev = *info.device;
    const std::optional<api::NodeSelector>* selector = &spec.node_selector;
    bool has_name = spec.node_name.has_value();
    if (spec.per_device_node_selection.value_or(false)) {
      selector = &dev.node_selector;
      has_name = dev.node_name.has_value();
    }
    if (has_name || dev.binds_to_node.value_or(false)) bound_to_node = true;
    if (*selector) {
      if ((*selector)->node_selector_terms.size() != 1) {
        return MakeError("device " + r.driver + "/" + r.pool + "/" + r.device +
                         ": a node selector with " +
                         FormatInt(static_cast<int64_t>((*selector)->node_selector_terms.size())) +
                         " terms cannot be combined into an allocation's node selector");
      }
      terms.push_back(&(*selector)->node_selector_terms[0]);
    }
  }
  api::NodeSelector selector;
  if (MergeNodeSelector(terms, bound_to_node ? view->node.metadata.name : std::string(),
                        &selector)) {
    out.node_selector = std::move(selector);
  }
  // Config, as upstream: class configs (FromClass) once per class, naming the requests (or
  // selected subrequests) that use it; then each claim config (FromClaim) with its requests as
  // written, once if it names none, else once per request it names by name or by the selected
  // subrequest (so a config naming two requests appears twice).
  std::vector<std::pair<const api::DeviceClass*, std::vector<std::string>>> by_class;
  for (size_t ri = 0; ri < plan.requests.size(); ++ri) {
    const Slot& slot = plan.requests[ri][plan.selected[ri]];
    auto it = std::find_if(by_class.begin(), by_class.end(),
                           [&](const auto& e) { return e.first == slot.device_class; });
    if (it == by_class.end()) {
      by_class.push_back({slot.device_class, {slot.name}});
    } else {
      it->second.push_back(slot.name);
    }
  }
  for (const auto& [cls, names] : by_class) {
    for (const auto& cfg : cls->spec.config) {
      api::DeviceAllocationConfiguration c;
      c.source = api::kConfigSourceFromClass;
      c.requests = names;
      c.opaque = cfg.opaque;
      out.devices.config.push_back(std::move(c));
    }
  }
  for (const auto& cfg : plan.claim->spec.devices.config) {
    auto names = [&](const std::string& name) {
      return std::find(cfg.requests.begin(), cfg.requests.end(), name) != cfg.requests.end();
    };
    size_t copies = cfg.requests.empty() ? 1 : 0;
    for (size_t ri = 0; ri < plan.requests.size(); ++ri) {
      const Slot& slot = plan.requests[ri][plan.selected[ri]];
      if (names(slot.parent) || (plan.first_available[ri] && names(slot.name))) ++copies;
    }
    for (size_t k = 0; k < copies; ++k) {
      api::DeviceAllocationConfiguration c;
      c.source = api::kConfigSourceFromClaim;
      c.requests = cfg.requests;
      c.opaque = cfg.opaque;
      out.devices.config.push_back(std::move(c));
    }
  }
  return out;
}

// ---- one Allocate ---------------------------------------------------------------------------

Result<Outcome> Allocator::State::Run(const NodeView& node_view,
                                      std::span<const api::ResourceClaim* const> claims) {
  view = &node_view;
  steps = 0;
  error.reset();
  invalid_pools_failure = false;
  MIGDRA_RETURN_IF_ERROR(Prepare(claims));
  Outcome outcome;
  std::string reason = options.prechecks ? Precheck() : std::string();
  int r = kNotFound;
  // The results limit is per claim: Search stops kTooManyResults at the claim it arose in, and
  // Prepare's lower bound keeps it from arising in the first claim searched; it means no fit.
  auto search_from = [&](size_t claim) {
    int result = Search(claim, 0);
    return result == kTooManyResults ? kNotFound : result;
  };
  // With several claims, each must fit on its own first: a claim that cannot would otherwise make
  // the search retry every placement of the claims before it.
  for (size_t ci = 0; options.prechecks && reason.empty() && plans.size() > 1 && ci < plans.size();
       ++ci) {
    search_end = ci + 1;
    r = search_from(ci);
    UndoAll();
    if (r == kAbort) return *error;
    if (r == kNotFound) {
      reason = "claim " + ClaimKey(*plans[ci].claim) + " does not fit on its own: " + Diagnose();
    }
  }
  if (reason.empty()) {
    search_end = plans.size();
    r = search_from(0);
  }
  if (r == kAbort) {
    UndoAll();
    return *error;
  }
  if (r == kNotFound) {
    for (size_t k = 0; k < view->pools.size(); ++k) {
      const int p = view->pools[k];
      if (!view->invalid[k].empty()) {
        outcome.reason = "invalid resource pools were encountered: " + pools[p].driver + "/" +
                         pools[p].name + ": " + view->invalid[k];
        invalid_pools_failure = true;
        return outcome;
      }
    }
    outcome.reason = reason.empty() ? Diagnose() : std::move(reason);
    return outcome;
  }
  outcome.fits = true;
  Result<void> build_error;
  for (size_t ci = 0; ci < plans.size(); ++ci) {
    auto result = BuildResult(ci);
    if (!result.ok()) {
      build_error = std::move(result).error();
      break;
    }
    outcome.allocations.push_back(std::move(result).value());
  }
  if (options.strategy == Strategy::kPack) last_score = ScorePicks();
  // The search leaves its picks applied; take them back out so the committed state is unchanged.
  UndoAll();
  if (!build_error.ok()) return std::move(build_error).error();
  return outcome;
}

// ---- public surface -------------------------------------------------------------------------

Allocator::Allocator(std::unique_ptr<State> state) : state_(std::move(state)) {}
Allocator::~Allocator() = default;

Result<std::unique_ptr<Allocator>> Allocator::Create(const AllocatorInput& input, Options options) {
  auto state = std::make_unique<State>();
  state->options = options;
  uint64_t seed = options.share_id_seed;
  if (seed == 0)
    seed = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  state->rng.seed(seed);
  MIGDRA_RETURN_IF_ERROR(state->Index(input));
  return std::unique_ptr<Allocator>(new Allocator(std::move(state)));
}

Result<Outcome> Allocator::Allocate(const api::Node& node,
                                    std::span<const api::ResourceClaim* const> claims) {
  NodeView& view = state_->ViewFor(node);
  MIGDRA_ASSIGN_OR_RETURN(Outcome outcome, state_->Run(view, claims));
  if (state_->invalid_pools_failure) return MakeError(std::move(outcome.reason));
  return outcome;
}

namespace {

void AppendSelectors(const std::vector<api::DeviceSelector>& selectors, std::string& out) {
  for (const auto& s : selectors) {
    out += s.cel ? s.cel->expression : std::string();
    out += '\1';
  }
}

void AppendRequest(const std::string& cls, const std::vector<api::DeviceSelector>& selectors,
                   const std::string& mode, std::optional<int64_t> count, bool admin,
                   const std::vector<api::DeviceToleration>& tolerations,
                   const std::optional<api::CapacityRequirements>& capacity, std::string& out) {
  out += cls + '\2';
  AppendSelectors(selectors, out);
  out += mode + '\2' + std::to_string(count.value_or(-1)) + (admin ? "A" : "-");
  for (const auto& t : tolerations) {
    out += t.key + '\3' + t.op + '\3' + t.value + '\3' + t.effect + '\2';
  }
  if (capacity) {
    for (const auto& [k, q] : capacity->requests) out += k + '=' + q.ToString() + '\2';
  }
  out += '\4';
}

// Fitting claim sets remembered per node; past this many the memo starts over, so a long-lived
// allocator that sees many distinct claims does not grow without bound.
constexpr size_t kMaxRememberedFits = 256;

// What decides whether claims fit (not their names or configs): the memo key of infeasibility.
std::string FeasibilitySignature(std::span<const api::ResourceClaim* const> claims) {
  std::string out;
  for (const auto* claim : claims) {
    for (const auto& r : claim->spec.devices.requests) {
      out += r.name + '\5';
      if (r.exactly) {
        const auto& e = *r.exactly;
        AppendRequest(e.device_class_name, e.selectors, e.allocation_mode, e.count,
                      e.admin_access.value_or(false), e.tolerations, e.capacity, out);
      }
      for (const auto& s : r.first_available) {
        out += s.name + '\5';
        AppendRequest(s.device_class_name, s.selectors, s.allocation_mode, s.count, false,
                      s.tolerations, s.capacity, out);
      }
    }
    for (const auto& c : claim->spec.devices.constraints) {
      for (const auto& r : c.requests) out += r + '\3';
      out += c.match_attribute.value_or("") + '\2' + c.distinct_attribute.value_or("") + '\4';
    }
    out += '\6';
  }
  return out;
}

}  // namespace

// kubernetes: the first node in name order that fits. pack: every node is scored and the best
// taken (ties: the fullest, then name order); scores are remembered per node until that node
// changes, so one claim after another re-runs only the nodes the last commits touched.
Result<Allocator::State::NodePick> Allocator::State::PickNode(
    std::span<const api::Node* const> candidates, std::span<const api::ResourceClaim* const> claims,
    const std::string& signature) {
  const bool pack = options.strategy == Strategy::kPack;
  const bool least_blocking = options.pack_placement == PackPlacement::kLeastBlocking;
  NodePick pick;
  pick.order.resize(candidates.size());
  pick.views.resize(candidates.size());
  for (size_t i = 0; i < candidates.size(); ++i) {
    pick.order[i] = i;
    pick.views[i] = &ViewFor(*candidates[i]);
  }
  std::sort(pick.order.begin(), pick.order.end(), [&](size_t a, size_t b) {
    return candidates[a]->metadata.name < candidates[b]->metadata.name;
  });
  auto fullness = [&](size_t i) {
    NodeView& v = *pick.views[i];
    if (v.fullness_change != v.change || v.fullness_global != global_change) {
      v.fullness = NodeFullness(v);
      v.fullness_change = v.change;
      v.fullness_global = global_change;
    }
    return v.fullness;
  };
  for (size_t i : pick.order) {
    NodeView& view = *pick.views[i];
    auto memo = view.infeasible.find(signature);
    if (memo != view.infeasible.end() && memo->second.node_epoch == view.epoch &&
        memo->second.global_epoch == global_epoch) {
      continue;
    }
    std::optional<Outcome> outcome;
    PlacementScore score;
    auto fit = pack ? view.fitting.find(signature) : view.fitting.end();
    if (fit != view.fitting.end() && fit->second.node_change == view.change &&
        fit->second.global_change == global_change) {
      score = fit->second.score;
    } else {
      MIGDRA_ASSIGN_OR_RETURN(Outcome run, Run(view, claims));
      if (!run.fits) {
        view.infeasible[signature] = {view.epoch, global_epoch, std::move(run.reason),
                                      invalid_pools_failure};
        continue;
      }
      if (!pack) {
        pick.best = i;
        pick.outcome = std::move(run);
        return pick;
      }
      score = last_score;
      if (view.fitting.size() >= kMaxRememberedFits) view.fitting.clear();
      view.fitting[signature] = {view.change, global_change, score};
      outcome = std::move(run);
    }
    bool better = !pick.best || score < pick.score ||
                  (score == pick.score && least_blocking && fullness(i) > fullness(*pick.best));
    if (better) {
      pick.best = i;
      pick.score = score;
      pick.outcome = std::move(outcome);
    }
  }
  return pick;
}

Result<NodeChoice> Allocator::ChooseNode(std::span<const api::Node* const> candidates,
                                         std::span<const api::ResourceClaim* const> claims) {
  State& s = *state_;
  const std::string signature = FeasibilitySignature(claims);
  MIGDRA_ASSIGN_OR_RETURN(State::NodePick pick, s.PickNode(candidates, claims, signature));
  NodeChoice choice;
  if (pick.best) {
    if (!pick.outcome) {
      MIGDRA_ASSIGN_OR_RETURN(Outcome run, s.Run(*pick.views[*pick.best], claims));
      if (!run.fits) {
        return MakeError("internal: node " + candidates[*pick.best]->metadata.name +
                         " was remembered to fit the claims but does not");
      }
      pick.outcome = std::move(run);
    }
    choice.fits = true;
    choice.node_index = static_cast<int>(*pick.best);
    choice.allocations = std::move(pick.outcome->allocations);
    return choice;
  }
  // Nothing fits: every candidate now has a current memo with its reason. Invalid pools are an
  // error now, as upstream surfaces them when allocation fails on every node.
  for (size_t i : pick.order) {
    const auto& memo = pick.views[i]->infeasible[signature];
    if (memo.invalid_pools) return MakeError(candidates[i]->metadata.name + ": " + memo.reason);
  }
  for (size_t i : pick.order) {
    choice.reason +=
        candidates[i]->metadata.name + ": " + pick.views[i]->infeasible[signature].reason + "\n";
  }
  return choice;
}

Result<std::vector<size_t>> Allocator::BatchOrder(
    std::span<const api::Node* const> candidates,
    std::span<const std::vector<const api::ResourceClaim*>> claim_sets) {
  std::vector<size_t> order(claim_sets.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (state_->options.strategy != Strategy::kPack || claim_sets.size() < 2) return order;
  std::vector<std::optional<PlacementScore>> size(claim_sets.size());
  for (size_t i = 0; i < claim_sets.size(); ++i) {
    if (claim_sets[i].empty()) continue;
    MIGDRA_ASSIGN_OR_RETURN(
        State::NodePick pick,
        state_->PickNode(candidates, claim_sets[i], FeasibilitySignature(claim_sets[i])));
    if (pick.best) size[i] = pick.score;
  }
  auto larger = [](const PlacementScore& a, const PlacementScore& b) {
    if (a.size_counters != b.size_counters) return a.size_counters > b.size_counters;
    return a.size_memory > b.size_memory;
  };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (size[a].has_value() != size[b].has_value()) return size[a].has_value();
    return size[a] && larger(*size[a], *size[b]);
  });
  return order;
}

Status Allocator::Commit(const std::string& key, const api::AllocationResult& allocation) {
  State& s = *state_;
  return s.CommitPicks(key, s.RecordsOf(allocation));
}

Status Allocator::Release(const std::string& key) {
  State& s = *state_;
  auto it = s.committed.find(key);
  if (it == s.committed.end()) return MakeError("claim " + key + " is not committed");
  for (const auto& rec : it->second.picks) {
    const DeviceInfo& info = s.devices[rec.device];
    if (rec.share) {
      for (size_t c = 0; c < rec.consumed.size(); ++c) {
        s.capacity_used[rec.device][c] -= rec.consumed[c];
      }
      if (--s.shares[rec.device] == 0) s.AddCounters(rec.device, -1);
    } else {
      if (--s.in_use[rec.device] == 0) s.AddCounters(rec.device, -1);
      s.pools[info.pool].in_use--;
    }
    s.Touch(rec.device, true);
  }
  s.committed.erase(it);
  return OkStatus();
}

size_t Allocator::committed_count() const { return state_->committed.size(); }
const Options& Allocator::options() const { return state_->options; }

Result<Outcome> Allocate(const AllocatorInput& input, const api::Node& node,
                         std::span<const api::ResourceClaim* const> claims, Options options) {
  MIGDRA_ASSIGN_OR_RETURN(auto allocator, Allocator::Create(input, options));
  return allocator->Allocate(node, claims);
}

}  // namespace migdra::alloc
