// The scheduler (controllers.h): binds pending pods whose claims all exist, allocating their
// claims on a node where they fit.
#include "control/controllers.h"

#include <algorithm>
#include <map>

#include "alloc/allocator.h"
#include "api/codec.h"
#include "control/controller_support.h"
#include "control/json_access.h"
#include "control/object_meta.h"
#include "control/typed.h"

namespace migdra::control {

// Under pack, pods that have waited (PodScheduled=False) keep their turn, oldest first, and the
// pods this pass sees for the first time (a batch submitted together, such as one `kubectl apply`
// of many Jobs) follow largest first (alloc BatchOrder), so small ones fill around large ones
// instead of crowding them out. Reordering the waiting ones too would admit more work but make
// small pods wait longer, which DESIGN.md rules out. Under kubernetes: creation order.
void Controllers::OrderForPlacement(alloc::Allocator& allocator,
                                    const std::vector<api::Node>& nodes,
                                    std::vector<json>& pending) {
  if (options_.strategy != alloc::Strategy::kPack || nodes.empty()) return;
  auto waited = [](const json& pod) {
    for (const json& c : ArrayAt(pod, {"status", "conditions"})) {
      if (Str(c, "type") == "PodScheduled") return true;
    }
    return false;
  };
  auto fresh_begin = std::stable_partition(pending.begin(), pending.end(), waited);
  const size_t first_fresh = static_cast<size_t>(fresh_begin - pending.begin());
  if (pending.size() - first_fresh < 2) return;
  std::vector<std::vector<api::ResourceClaim>> claims(pending.size() - first_fresh);
  for (size_t i = 0; i < claims.size(); ++i) {
    const json& pod = pending[first_fresh + i];
    for (const json& entry : PodClaims(pod)) {
      std::string claim_name = ClaimNameFor(pod, entry);
      if (claim_name.empty()) continue;
      std::optional<json> claim =
          store_.Get(Info("resourceclaims").StoreKey(), Ns(pod), claim_name);
      if (!claim || (claim->contains("status") && (*claim)["status"].contains("allocation"))) {
        continue;
      }
      if (auto typed = Decode<api::ResourceClaim>(*claim)) claims[i].push_back(std::move(*typed));
    }
  }
  std::vector<std::vector<const api::ResourceClaim*>> sets(claims.size());
  for (size_t i = 0; i < claims.size(); ++i) {
    for (const auto& c : claims[i]) sets[i].push_back(&c);
  }
  std::vector<const api::Node*> node_ptrs;
  for (const auto& n : nodes) node_ptrs.push_back(&n);
  Result<std::vector<size_t>> order = allocator.BatchOrder(node_ptrs, sets);
  // An error here (say a CEL runtime error in one claim) is reported per pod by the loop that
  // follows; the order then stays as created.
  if (!order.ok()) return;
  std::vector<json> fresh;
  fresh.reserve(order->size());
  for (size_t i : *order) fresh.push_back(std::move(pending[first_fresh + i]));
  std::move(fresh.begin(), fresh.end(), pending.begin() + static_cast<std::ptrdiff_t>(first_fresh));
}

// The allocator for this pass over `claims` (every ResourceClaim): the cached one when slices and
// classes are unchanged, brought up to date by releasing claims whose allocation went away or
// changed and committing those newly allocated; else a new one. Null with `error` when the
// allocator cannot be built.
alloc::Allocator* Controllers::CurrentAllocator(const std::vector<json>& claims,
                                                std::string* error) {
  std::vector<json> slice_objects = ListAll(store_, "resourceslices");
  std::vector<json> class_objects = ListAll(store_, "deviceclasses");
  std::string inputs;
  for (const auto* objects : {&slice_objects, &class_objects}) {
    for (const json& o : *objects) {
      inputs += Name(o) + "@" + Str(Field(o, {"metadata"}), "resourceVersion") + ";";
    }
    inputs += "|";
  }
  if (!allocator_cache_ || allocator_cache_->inputs != inputs) {
    allocator_cache_.reset();
    std::vector<api::ResourceSlice> slices;
    for (const json& s : slice_objects) {
      if (auto slice = Decode<api::ResourceSlice>(s)) slices.push_back(std::move(*slice));
    }
    std::vector<api::DeviceClass> classes;
    for (const json& c : class_objects) {
      if (auto cls = Decode<api::DeviceClass>(c)) classes.push_back(std::move(*cls));
    }
    alloc::AllocatorInput input;
    for (const auto& s : slices) input.slices.push_back(&s);
    for (const auto& c : classes) input.classes.push_back(&c);
    alloc::Options alloc_options;
    alloc_options.strategy = options_.strategy;
    Result<std::unique_ptr<alloc::Allocator>> created =
        alloc::Allocator::Create(input, alloc_options);
    if (!created.ok()) {
      *error = created.error().ToString();
      return nullptr;
    }
    allocator_cache_ = std::make_unique<AllocatorCache>();
    allocator_cache_->inputs = std::move(inputs);
    allocator_cache_->allocator = std::move(*created);
  }
  AllocatorCache& cache = *allocator_cache_;
  std::map<std::string, const json*> allocated;
  for (const json& c : claims) {
    if (c.contains("status") && c["status"].contains("allocation")) {
      allocated[Uid(c)] = &c["status"]["allocation"];
    }
  }
  for (auto it = cache.committed.begin(); it != cache.committed.end();) {
    auto now = allocated.find(it->first);
    if (now != allocated.end() && *now->second == it->second) {
      ++it;
      continue;
    }
    (void)cache.allocator->Release(it->first);
    it = cache.committed.erase(it);
  }
  for (const json& c : claims) {
    auto now = allocated.find(Uid(c));
    if (now == allocated.end() || cache.committed.count(now->first)) continue;
    std::optional<api::ResourceClaim> claim = Decode<api::ResourceClaim>(c);
    if (!claim || !claim->status.allocation) continue;
    if (cache.allocator->Commit(now->first, *claim->status.allocation).ok()) {
      cache.committed.emplace(now->first, *now->second);
    }
  }
  return cache.allocator.get();
}

namespace {

// Pods to schedule (not deleting, not finished, no node yet), oldest first.
std::vector<json> PendingPods(Store& store) {
  std::vector<json> pending;
  for (json& pod : ListAll(store, "pods")) {
    if (!Deleting(pod) && !Terminal(pod) && Str(pod["spec"], "nodeName").empty()) {
      pending.push_back(std::move(pod));
    }
  }
  std::sort(pending.begin(), pending.end(), [](const json& a, const json& b) {
    std::string ta = Str(a["metadata"], "creationTimestamp"),
                tb = Str(b["metadata"], "creationTimestamp");
    if (ta != tb) return ta < tb;
    return Name(a) < Name(b);
  });
  return pending;
}

// Nodes that take pods: not deleting, not cordoned, readable as a Node.
std::vector<api::Node> SchedulableNodes(Store& store) {
  std::vector<api::Node> nodes;
  for (json& n : ListAll(store, "nodes")) {
    if (Deleting(n) || Field(n, {"spec", "unschedulable"}) == true) continue;
    std::optional<api::Node> node = Decode<api::Node>(n);
    if (node) nodes.push_back(std::move(*node));
  }
  return nodes;
}

// Records PodScheduled=False with `message` and, when that changed the pod, a FailedScheduling
// Event.
void MarkUnschedulable(Store& store, json pod, const std::string& message) {
  json status = pod["status"];
  if (!SetCondition(status, "PodScheduled", "False", "Unschedulable", message, true)) return;
  pod["status"] = status;
  if (ControllerWrite(store, "pods", pod)) {
    RecordEvent(store, pod, "Warning", "FailedScheduling", message, "default-scheduler");
  }
}

// The claims of `pod`, read from the store into `claims`. Returns "" when every one exists and
// is not being deleted, else why the pod waits.
std::string ResolveClaims(Store& store, const json& pod, std::vector<json>& claims) {
  for (const json& entry : PodClaims(pod)) {
    std::string claim_name = ClaimNameFor(pod, entry);
    if (claim_name.empty()) {
      return "waiting for resource claim of entry \"" + Str(entry, "name") + "\" to be created";
    }
    std::optional<json> claim = store.Get(Info("resourceclaims").StoreKey(), Ns(pod), claim_name);
    if (!claim) return "resourceclaim.resource.k8s.io \"" + claim_name + "\" not found";
    if (Deleting(*claim)) return "resourceclaim \"" + claim_name + "\" is being deleted";
    claims.push_back(std::move(*claim));
  }
  return "";
}

// The claims of a pod that still need an allocation, typed, and their indexes in its claim list.
struct ClaimsToAllocate {
  std::vector<api::ResourceClaim> claims;
  std::vector<size_t> index;
  std::string unschedulable;  // why the pod cannot be scheduled; "" when it can
};

ClaimsToAllocate UnallocatedClaims(const json& pod, const std::vector<json>& claims,
                                   const std::string& none_available) {
  ClaimsToAllocate out;
  for (size_t i = 0; i < claims.size(); ++i) {
    if (!Field(claims[i], {"status", "allocation"}).is_null()) {
      const json& reserved = ArrayAt(claims[i], {"status", "reservedFor"});
      bool mine = std::any_of(reserved.begin(), reserved.end(),
                              [&](const json& r) { return Str(r, "uid") == Uid(pod); });
      if (!mine && reserved.size() >= kMaxReservedFor) {
        out.unschedulable = none_available + "resourceclaim \"" + Name(claims[i]) +
                            "\" is reserved by too many consumers";
        return out;
      }
      continue;
    }
    std::optional<api::ResourceClaim> typed = Decode<api::ResourceClaim>(claims[i]);
    if (!typed) {
      out.unschedulable = "resourceclaim \"" + Name(claims[i]) + "\" cannot be decoded";
      return out;
    }
    out.claims.push_back(std::move(*typed));
    out.index.push_back(i);
  }
  return out;
}

// The node of a pod whose claims are all allocated: the node their allocations select, else the
// first node.
std::string NodeOfAllocatedClaims(const std::vector<json>& claims,
                                  const std::vector<api::Node>& nodes) {
  std::string node_name = nodes.front().metadata.name;
  for (const json& c : claims) {
    for (const json& term :
         ArrayAt(c, {"status", "allocation", "nodeSelector", "nodeSelectorTerms"})) {
      for (const json& f : ArrayAt(term, {"matchFields"})) {
        const json& values = ArrayAt(f, {"values"});
        if (Str(f, "key") == "metadata.name" && !values.empty() && values[0].is_string()) {
          node_name = values[0].get<std::string>();
        }
      }
    }
  }
  return node_name;
}

}  // namespace

void Controllers::Schedule() {
  std::vector<json> pending = PendingPods(store_);
  if (pending.empty()) return;
  const std::vector<api::Node> nodes = SchedulableNodes(store_);
  std::string allocator_error;
  alloc::Allocator* allocator =
      CurrentAllocator(ListAll(store_, "resourceclaims"), &allocator_error);
  if (allocator) OrderForPlacement(*allocator, nodes, pending);
  for (json& pod : pending) {
    ForObject(pod, "default-scheduler", [&] {
      if (nodes.empty()) {
        MarkUnschedulable(store_, pod, "no nodes available to schedule pods");
        return;
      }
      SchedulePod(pod, nodes, allocator, allocator_error);
    });
  }
}

void Controllers::SchedulePod(json& pod, const std::vector<api::Node>& nodes,
                              alloc::Allocator* allocator, const std::string& allocator_error) {
  const std::string none_available = "0/" + std::to_string(nodes.size()) + " nodes are available: ";
  // Resolve the pod's claims; wait for generated ones.
  std::vector<json> claims;
  const std::string waiting = ResolveClaims(store_, pod, claims);
  if (!waiting.empty()) {
    if (!PodClaims(pod).empty() && ConditionMessage(pod, "PodScheduled") != waiting &&
        waiting.find("to be created") == std::string::npos) {
      MarkUnschedulable(store_, pod, waiting);
    }
    return;
  }
  ClaimsToAllocate to_allocate = UnallocatedClaims(pod, claims, none_available);
  if (!to_allocate.unschedulable.empty()) {
    MarkUnschedulable(store_, pod, to_allocate.unschedulable);
    return;
  }

  // Pick the node: the one the allocation fits, else one where the allocated claims are.
  std::string node_name;
  std::vector<api::AllocationResult> results;
  if (!to_allocate.claims.empty()) {
    if (!allocator) {
      MarkUnschedulable(store_, pod, "allocator: " + allocator_error);
      return;
    }
    std::vector<const api::ResourceClaim*> claim_ptrs;
    for (const auto& c : to_allocate.claims) claim_ptrs.push_back(&c);
    std::vector<const api::Node*> node_ptrs;
    for (const auto& n : nodes) node_ptrs.push_back(&n);
    Result<alloc::NodeChoice> choice = allocator->ChooseNode(node_ptrs, claim_ptrs);
    if (!choice.ok()) {
      MarkUnschedulable(store_, pod,
                        none_available + "error allocating claims: " + choice.error().ToString());
      return;
    }
    if (!choice->fits) {
      MarkUnschedulable(store_, pod,
                        none_available + std::to_string(nodes.size()) +
                            " cannot allocate all claims. " + choice->reason);
      return;
    }
    node_name = nodes[static_cast<size_t>(choice->node_index)].metadata.name;
    results = std::move(choice->allocations);
  } else {
    node_name = NodeOfAllocatedClaims(claims, nodes);
  }

  // Write the claims first (allocation + reservation), then bind the pod.
  if (!ReserveClaims(pod, claims, to_allocate.index, results, allocator)) return;
  BindPod(pod, node_name);
}

// Writes each claim of `pod` with its allocation (`results[k]` for the claim at
// `allocated_index[k]`), the delete-protection finalizer and the pod in reservedFor; commits the
// allocations to `allocator`. False when a claim changed under us: the next pass retries with
// fresh state.
bool Controllers::ReserveClaims(const json& pod, const std::vector<json>& claims,
                                const std::vector<size_t>& allocated_index,
                                const std::vector<api::AllocationResult>& results,
                                alloc::Allocator* allocator) {
  for (size_t i = 0; i < claims.size(); ++i) {
    json claim = claims[i];
    auto slot = std::find(allocated_index.begin(), allocated_index.end(), i);
    if (slot != allocated_index.end()) {
      const api::AllocationResult& result =
          results[static_cast<size_t>(slot - allocated_index.begin())];
      claim["status"]["allocation"] = api::ToJson(result);
      json& finalizers = claim["metadata"]["finalizers"];
      if (!finalizers.is_array()) finalizers = json::array();
      if (!HasFinalizer(claim, kDeleteProtection)) finalizers.push_back(kDeleteProtection);
    }
    json& reserved = claim["status"]["reservedFor"];
    if (!reserved.is_array()) reserved = json::array();
    if (std::none_of(reserved.begin(), reserved.end(),
                     [&](const json& r) { return Str(r, "uid") == Uid(pod); })) {
      reserved.push_back({{"resource", "pods"}, {"name", Name(pod)}, {"uid", Uid(pod)}});
    }
    if (claim == claims[i]) continue;
    if (!ControllerWrite(store_, "resourceclaims", claim)) return false;
    if (slot != allocated_index.end() && allocator &&
        allocator->Commit(Uid(claim), results[static_cast<size_t>(slot - allocated_index.begin())])
            .ok()) {
      allocator_cache_->committed.emplace(Uid(claim), claim["status"]["allocation"]);
    }
  }
  return true;
}

// Sets spec.nodeName and PodScheduled=True, and records the Scheduled Event.
void Controllers::BindPod(json& pod, const std::string& node_name) {
  pod["spec"]["nodeName"] = node_name;
  SetCondition(pod["status"], "PodScheduled", "True", "", "", true);
  if (!ControllerWrite(store_, "pods", pod)) return;
  std::optional<json> bound = store_.Get("pods", Ns(pod), Name(pod));
  if (bound) {
    RecordEvent(store_, *bound, "Normal", "Scheduled",
                "Successfully assigned " + Ns(pod) + "/" + Name(pod) + " to " + node_name,
                "default-scheduler");
  }
}

}  // namespace migdra::control
