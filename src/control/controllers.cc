#include "control/controllers.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>

#include "api/codec.h"
#include "common/guard.h"
#include "control/json_access.h"
#include "control/objects.h"
#include "control/resources.h"
#include "control/selectors.h"
#include "control/typed.h"

namespace migdra::control {
namespace {

constexpr const char* kDeleteProtection = "resource.kubernetes.io/delete-protection";
constexpr const char* kPodClaimName = "resource.kubernetes.io/pod-claim-name";
constexpr size_t kMaxReservedFor = 256;

const ResourceInfo& Info(const std::string& plural) {
  for (const ResourceInfo& r : AllResources()) {
    if (r.plural == plural) return r;
  }
  return AllResources().front();
}

std::vector<json> ListAll(Store& store, const std::string& plural) {
  return store.List(Info(plural).StoreKey(), "");
}

const json& Meta(const json& o) { return Field(o, {"metadata"}); }
std::string Ns(const json& o) { return Str(Meta(o), "namespace"); }
std::string Name(const json& o) { return Str(Meta(o), "name"); }
std::string Uid(const json& o) { return Str(Meta(o), "uid"); }
DeleteOptions BackgroundDelete() {
  DeleteOptions options;
  options.propagation = "Background";
  return options;
}

bool Deleting(const json& o) { return !Field(o, {"metadata", "deletionTimestamp"}).is_null(); }
std::string Phase(const json& pod) { return Str(Field(pod, {"status"}), "phase"); }
bool Terminal(const json& pod) { return Phase(pod) == "Succeeded" || Phase(pod) == "Failed"; }

bool HasFinalizer(const json& o, const std::string& f) {
  const json& finalizers = Field(o, {"metadata", "finalizers"});
  return finalizers.is_array() &&
         std::find(finalizers.begin(), finalizers.end(), f) != finalizers.end();
}

// The list at `path`, or an empty one when it is missing or not a list.
const json& List(const json& o, std::initializer_list<const char*> path) {
  static const json empty = json::array();
  const json& v = Field(o, path);
  return v.is_array() ? v : empty;
}

void RemoveFinalizer(json& o, const std::string& f) {
  json& meta = o["metadata"];
  if (!meta.contains("finalizers") || !meta["finalizers"].is_array()) return;
  json kept = json::array();
  for (const json& v : meta["finalizers"]) {
    if (v != f) kept.push_back(v);
  }
  if (kept.empty()) {
    meta.erase("finalizers");
  } else {
    meta["finalizers"] = kept;
  }
}

const json* ControllerRef(const json& o) {
  for (const json& ref : List(o, {"metadata", "ownerReferences"})) {
    if (Field(ref, {"controller"}) == true) return &ref;
  }
  return nullptr;
}

json OwnerRef(const json& owner, bool controller) {
  return json{{"apiVersion", Str(owner, "apiVersion")},
              {"kind", Str(owner, "kind")},
              {"name", Name(owner)},
              {"uid", Uid(owner)},
              {"controller", controller},
              {"blockOwnerDeletion", true}};
}

// Sets (or replaces) a pod/job condition; returns whether anything changed.
bool SetCondition(json& status, const std::string& type, const std::string& value,
                  const std::string& reason, const std::string& message, bool probe_time) {
  if (!status.contains("conditions") || !status["conditions"].is_array()) {
    status["conditions"] = json::array();
  }
  for (json& c : status["conditions"]) {
    if (Str(c, "type") != type) continue;
    if (Str(c, "status") == value && Str(c, "reason") == reason && Str(c, "message") == message) {
      return false;
    }
    if (Str(c, "status") != value) c["lastTransitionTime"] = NowRfc3339();
    c["status"] = value;
    c["reason"] = reason;
    c["message"] = message;
    if (probe_time) c["lastProbeTime"] = NowRfc3339();
    if (reason.empty()) c.erase("reason");
    if (message.empty()) c.erase("message");
    return true;
  }
  json c = {{"type", type}, {"status", value}, {"lastTransitionTime", NowRfc3339()}};
  if (probe_time) c["lastProbeTime"] = nullptr;
  if (!reason.empty()) c["reason"] = reason;
  if (!message.empty()) c["message"] = message;
  status["conditions"].push_back(c);
  return true;
}

bool ConditionTrue(const json& object, const std::string& type) {
  for (const json& c : List(object, {"status", "conditions"})) {
    if (Str(c, "type") == type && Str(c, "status") == "True") return true;
  }
  return false;
}

std::string ConditionMessage(const json& object, const std::string& type) {
  for (const json& c : List(object, {"status", "conditions"})) {
    if (Str(c, "type") == type) return Str(c, "message");
  }
  return "";
}

// j[key] when it is an integer that fits an int, else `fallback`.
int IntOr(const json& j, const char* key, int fallback) {
  const json& v = Field(j, {key});
  if (!v.is_number_integer()) return fallback;
  const int64_t i = v.get<int64_t>();
  return i < INT32_MIN || i > INT32_MAX ? fallback : static_cast<int>(i);
}

// The claim name a pod's resourceClaims entry resolves to ("" while not yet created).
std::string ClaimNameFor(const json& pod, const json& entry) {
  std::string direct = Str(entry, "resourceClaimName");
  if (!direct.empty()) return direct;
  for (const json& s : List(pod, {"status", "resourceClaimStatuses"})) {
    if (Str(s, "name") == Str(entry, "name")) return Str(s, "resourceClaimName");
  }
  return "";
}

const json& PodClaims(const json& pod) { return List(pod, {"spec", "resourceClaims"}); }

}  // namespace

bool ControllerWrite(Store& store, const std::string& plural, json object) {
  const ResourceInfo& info = Info(plural);
  const int64_t version = ParseVersion(Str(Meta(object), "resourceVersion"));
  const std::string ns = info.namespaced ? Ns(object) : "";
  if (Deleting(object) && Field(object, {"metadata", "finalizers"}).is_null() &&
      plural != "namespaces") {
    return store.Delete(info.StoreKey(), ns, Name(object), version).ok();
  }
  return store.Update(info.StoreKey(), std::move(object), version).ok();
}

void ReportFailure(Store& store, const json& object, const std::string& component,
                   const std::string& what) {
  static std::mutex mu;
  static std::set<std::string> reported;
  const std::string key =
      Uid(object) + "/" + Str(Meta(object), "resourceVersion") + "/" + component + ": " + what;
  {
    std::lock_guard lock(mu);
    if (reported.size() > 10000) reported.clear();
    if (!reported.insert(key).second) return;
  }
  std::fprintf(stderr, "migdra serve: %s: %s %s/%s: %s\n", component.c_str(),
               Str(object, "kind").c_str(), Ns(object).c_str(), Name(object).c_str(), what.c_str());
  RecordEvent(store, object, "Warning", "FailedSync", component + ": " + what, component);
}

void RecordEvent(Store& store, const json& object, const std::string& type,
                 const std::string& reason, const std::string& message,
                 const std::string& component) {
  std::string ns = Ns(object);
  if (ns.empty()) ns = "default";
  const std::string now = NowRfc3339();
  json event = {{"apiVersion", "v1"},
                {"kind", "Event"},
                {"metadata", {{"namespace", ns}, {"generateName", Name(object) + "."}}},
                {"involvedObject",
                 {{"kind", Str(object, "kind")},
                  {"apiVersion", Str(object, "apiVersion")},
                  {"name", Name(object)},
                  {"uid", Uid(object)},
                  {"resourceVersion", Str(Meta(object), "resourceVersion")}}},
                {"reason", reason},
                {"message", message},
                {"type", type},
                {"source", {{"component", component}}},
                {"reportingComponent", component},
                {"reportingInstance", component},
                {"firstTimestamp", now},
                {"lastTimestamp", now},
                {"count", 1}};
  if (!Ns(object).empty()) event["involvedObject"]["namespace"] = Ns(object);
  (void)CreateObject(store, Info("events"), std::move(event));
}

struct Controllers::AllocatorCache {
  std::string inputs;  // "name@resourceVersion;" of every slice and class it indexed
  std::unique_ptr<alloc::Allocator> allocator;
  std::map<std::string, json> committed;  // claim uid -> the status.allocation committed
};

Controllers::Controllers(Store& store, ControllerOptions options)
    : store_(store), options_(options) {}

Controllers::~Controllers() { Stop(); }

void Controllers::Start() {
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Controllers::Stop() {
  stop_ = true;
  store_.WakeAll();
  if (thread_.joinable()) thread_.join();
}

void Controllers::Loop() {
  int64_t seen = -1;
  while (!stop_) {
    int64_t now = store_.CurrentVersion();
    if (now == seen) {
      store_.WaitForVersion(seen, std::chrono::milliseconds(1000));
      if (stop_) break;
    }
    seen = store_.CurrentVersion();
    ReconcileOnce();
  }
}

void Controllers::ReconcileOnce() {
  const std::pair<const char*, void (Controllers::*)()> controllers[] = {
      {"job-controller", &Controllers::SyncJobs},
      {"resourceclaim-controller", &Controllers::SyncTemplateClaims},
      {"default-scheduler", &Controllers::Schedule},
      {"resourceclaim-controller", &Controllers::SyncClaims},
      {"garbage-collector", &Controllers::CollectGarbage},
  };
  for (const auto& [component, pass] : controllers) {
    RunGuarded([&] { (this->*pass)(); },
               [&](const std::string& what) {
                 std::fprintf(stderr, "migdra serve: %s: pass failed: %s\n", component,
                              what.c_str());
               });
  }
}

void Controllers::ForObject(const json& object, const char* component,
                            const std::function<void()>& work) {
  RunGuarded(work,
             [&](const std::string& what) { ReportFailure(store_, object, component, what); });
}

void Controllers::SyncTemplateClaims() {
  // Claims made before a crash but not yet recorded in their pod's status, by
  // "<pod uid>/<pod-claim-name>"; listed once, on the first pod that needs them.
  std::optional<std::map<std::string, std::string>> generated;
  auto made_earlier = [&](const json& pod, const std::string& claim_entry) -> std::string {
    if (!generated) {
      generated.emplace();
      for (const json& claim : ListAll(store_, "resourceclaims")) {
        const json* ref = ControllerRef(claim);
        if (!ref) continue;
        const std::string entry = Str(Field(claim, {"metadata", "annotations"}), kPodClaimName);
        (*generated)[Ns(claim) + "/" + Str(*ref, "uid") + "/" + entry] = Name(claim);
      }
    }
    auto it = generated->find(Ns(pod) + "/" + Uid(pod) + "/" + claim_entry);
    return it == generated->end() ? "" : it->second;
  };
  for (json pod : ListAll(store_, "pods")) {
    ForObject(pod, "resourceclaim-controller", [&] {
      if (Deleting(pod) || Terminal(pod) || !Str(pod["spec"], "nodeName").empty()) return;
      bool changed = false;
      for (const json& entry : PodClaims(pod)) {
        const std::string templ = Str(entry, "resourceClaimTemplateName");
        if (templ.empty() || !ClaimNameFor(pod, entry).empty()) continue;
        const std::string claim_entry = Str(entry, "name");
        std::string existing = made_earlier(pod, claim_entry);
        if (existing.empty()) {
          std::optional<json> t =
              store_.Get(Info("resourceclaimtemplates").StoreKey(), Ns(pod), templ);
          if (!t) {
            std::string message =
                "resourceclaimtemplate.resource.k8s.io \"" + templ + "\" not found";
            json status = pod["status"];
            if (SetCondition(status, "PodScheduled", "False", "Unschedulable", message, true)) {
              pod["status"] = status;
              if (ControllerWrite(store_, "pods", pod)) {
                RecordEvent(store_, pod, "Warning", "FailedScheduling", message,
                            "default-scheduler");
              }
            }
            changed = false;
            break;
          }
          const json& tspec = Field(*t, {"spec"});
          json meta = Field(tspec, {"metadata"});
          if (!meta.is_object()) meta = json::object();
          json claim_meta = {{"namespace", Ns(pod)},
                             {"generateName", Name(pod) + "-" + claim_entry + "-"},
                             {"ownerReferences", json::array({OwnerRef(pod, true)})}};
          if (meta.contains("labels")) claim_meta["labels"] = meta["labels"];
          claim_meta["annotations"] =
              meta["annotations"].is_object() ? meta["annotations"] : json::object();
          claim_meta["annotations"][kPodClaimName] = claim_entry;
          std::string base = Name(pod) + "-" + claim_entry;
          if (base.size() > 57) base = base.substr(0, 57);
          claim_meta["generateName"] = base + "-";
          json claim = {{"apiVersion", "resource.k8s.io/v1"},
                        {"kind", "ResourceClaim"},
                        {"metadata", claim_meta},
                        {"spec", Field(tspec, {"spec"})}};
          ApiResult<json> created = CreateObject(store_, Info("resourceclaims"), std::move(claim));
          if (!created.ok()) {
            RecordEvent(
                store_, pod, "Warning", "FailedResourceClaimCreation",
                "PodResourceClaims: creating ResourceClaim failed: " + created.error.message,
                "resource_claim");
            continue;
          }
          existing = Name(*created.value);
        }
        pod["status"]["resourceClaimStatuses"].push_back(
            {{"name", claim_entry}, {"resourceClaimName", existing}});
        changed = true;
      }
      if (changed) ControllerWrite(store_, "pods", pod);
    });
  }
}

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
    for (const json& c : List(pod, {"status", "conditions"})) {
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

void Controllers::Schedule() {
  std::vector<json> pending;
  for (json& pod : ListAll(store_, "pods")) {
    if (!Deleting(pod) && !Terminal(pod) && Str(pod["spec"], "nodeName").empty()) {
      pending.push_back(std::move(pod));
    }
  }
  if (pending.empty()) return;
  std::sort(pending.begin(), pending.end(), [](const json& a, const json& b) {
    std::string ta = Str(a["metadata"], "creationTimestamp"),
                tb = Str(b["metadata"], "creationTimestamp");
    if (ta != tb) return ta < tb;
    return Name(a) < Name(b);
  });

  std::vector<json> node_objects;
  std::vector<api::Node> nodes;
  for (json& n : ListAll(store_, "nodes")) {
    if (Deleting(n) || Field(n, {"spec", "unschedulable"}) == true) continue;
    std::optional<api::Node> node = Decode<api::Node>(n);
    if (!node) continue;
    nodes.push_back(std::move(*node));
    node_objects.push_back(std::move(n));
  }
  std::string allocator_error;
  alloc::Allocator* allocator =
      CurrentAllocator(ListAll(store_, "resourceclaims"), &allocator_error);

  auto unschedulable = [&](json pod, const std::string& message) {
    json status = pod["status"];
    if (!SetCondition(status, "PodScheduled", "False", "Unschedulable", message, true)) return;
    pod["status"] = status;
    if (ControllerWrite(store_, "pods", pod)) {
      RecordEvent(store_, pod, "Warning", "FailedScheduling", message, "default-scheduler");
    }
  };
  const std::string none_available = "0/" + std::to_string(nodes.size()) + " nodes are available: ";
  if (allocator) OrderForPlacement(*allocator, nodes, pending);

  for (json& pod : pending) {
    ForObject(pod, "default-scheduler", [&] {
      if (nodes.empty()) {
        unschedulable(pod, "no nodes available to schedule pods");
        return;
      }
      // Resolve the pod's claims; wait for generated ones.
      std::vector<json> claims;
      std::string waiting;
      for (const json& entry : PodClaims(pod)) {
        std::string claim_name = ClaimNameFor(pod, entry);
        if (claim_name.empty()) {
          waiting =
              "waiting for resource claim of entry \"" + Str(entry, "name") + "\" to be created";
          break;
        }
        std::optional<json> claim =
            store_.Get(Info("resourceclaims").StoreKey(), Ns(pod), claim_name);
        if (!claim) {
          waiting = "resourceclaim.resource.k8s.io \"" + claim_name + "\" not found";
          break;
        }
        if (Deleting(*claim)) {
          waiting = "resourceclaim \"" + claim_name + "\" is being deleted";
          break;
        }
        claims.push_back(std::move(*claim));
      }
      if (!waiting.empty()) {
        if (!PodClaims(pod).empty() && ConditionMessage(pod, "PodScheduled") != waiting &&
            waiting.find("to be created") == std::string::npos) {
          unschedulable(pod, waiting);
        }
        return;
      }
      std::vector<api::ResourceClaim> to_allocate;
      std::vector<size_t> to_allocate_index;
      bool blocked = false;
      for (size_t i = 0; i < claims.size(); ++i) {
        if (!Field(claims[i], {"status", "allocation"}).is_null()) {
          const json& reserved = List(claims[i], {"status", "reservedFor"});
          bool mine = std::any_of(reserved.begin(), reserved.end(),
                                  [&](const json& r) { return Str(r, "uid") == Uid(pod); });
          if (!mine && reserved.size() >= kMaxReservedFor) {
            unschedulable(pod, none_available + "resourceclaim \"" + Name(claims[i]) +
                                   "\" is reserved by too many consumers");
            blocked = true;
            break;
          }
          continue;
        }
        std::optional<api::ResourceClaim> typed = Decode<api::ResourceClaim>(claims[i]);
        if (!typed) {
          unschedulable(pod, "resourceclaim \"" + Name(claims[i]) + "\" cannot be decoded");
          blocked = true;
          break;
        }
        to_allocate.push_back(std::move(*typed));
        to_allocate_index.push_back(i);
      }
      if (blocked) return;

      // Pick the node: the one the allocation fits, else one where the allocated claims are.
      std::string node_name;
      std::vector<api::AllocationResult> results;
      if (!to_allocate.empty()) {
        if (!allocator) {
          unschedulable(pod, "allocator: " + allocator_error);
          return;
        }
        std::vector<const api::ResourceClaim*> claim_ptrs;
        for (const auto& c : to_allocate) claim_ptrs.push_back(&c);
        std::vector<const api::Node*> node_ptrs;
        for (const auto& n : nodes) node_ptrs.push_back(&n);
        Result<alloc::NodeChoice> choice = allocator->ChooseNode(node_ptrs, claim_ptrs);
        if (!choice.ok()) {
          unschedulable(pod,
                        none_available + "error allocating claims: " + choice.error().ToString());
          return;
        }
        if (!choice->fits) {
          unschedulable(pod, none_available + std::to_string(nodes.size()) +
                                 " cannot allocate all claims. " + choice->reason);
          return;
        }
        node_name = nodes[static_cast<size_t>(choice->node_index)].metadata.name;
        results = std::move(choice->allocations);
      } else {
        node_name = nodes.front().metadata.name;
        for (const json& c : claims) {
          for (const json& term :
               List(c, {"status", "allocation", "nodeSelector", "nodeSelectorTerms"})) {
            for (const json& f : List(term, {"matchFields"})) {
              const json& values = List(f, {"values"});
              if (Str(f, "key") == "metadata.name" && !values.empty() && values[0].is_string()) {
                node_name = values[0].get<std::string>();
              }
            }
          }
        }
      }

      // Write the claims first (allocation + reservation), then bind the pod.
      bool ok = true;
      for (size_t i = 0; i < claims.size() && ok; ++i) {
        json claim = claims[i];
        auto slot = std::find(to_allocate_index.begin(), to_allocate_index.end(), i);
        if (slot != to_allocate_index.end()) {
          const api::AllocationResult& result =
              results[static_cast<size_t>(slot - to_allocate_index.begin())];
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
        ok = ControllerWrite(store_, "resourceclaims", claim);
        if (ok && slot != to_allocate_index.end() && allocator &&
            allocator
                ->Commit(Uid(claim), results[static_cast<size_t>(slot - to_allocate_index.begin())])
                .ok()) {
          allocator_cache_->committed.emplace(Uid(claim), claim["status"]["allocation"]);
        }
      }
      if (!ok) return;  // a claim changed under us: the next pass retries with fresh state
      pod["spec"]["nodeName"] = node_name;
      SetCondition(pod["status"], "PodScheduled", "True", "", "", true);
      if (!ControllerWrite(store_, "pods", pod)) return;
      std::optional<json> bound = store_.Get("pods", Ns(pod), Name(pod));
      if (bound) {
        RecordEvent(store_, *bound, "Normal", "Scheduled",
                    "Successfully assigned " + Ns(pod) + "/" + Name(pod) + " to " + node_name,
                    "default-scheduler");
      }
    });
  }
}

void Controllers::SyncJobs() {
  std::vector<json> pods = ListAll(store_, "pods");
  for (json job : ListAll(store_, "jobs")) {
    ForObject(job, "job-controller", [&] {
      if (Deleting(job)) return;
      json& spec = job["spec"];
      json& status = job["status"];
      if (!status.is_object()) status = json::object();
      const bool finished = ConditionTrue(job, "Complete") || ConditionTrue(job, "Failed");
      std::vector<json> owned;
      for (const json& pod : pods) {
        const json* ref = ControllerRef(pod);
        if (ref && Str(*ref, "uid") == Uid(job) && Ns(pod) == Ns(job)) owned.push_back(pod);
      }
      int active = 0, succeeded = 0, failed = 0, ready = 0, terminating = 0;
      for (const json& pod : owned) {
        if (Phase(pod) == "Succeeded") {
          ++succeeded;
        } else if (Phase(pod) == "Failed") {
          ++failed;
        } else if (Deleting(pod)) {
          ++terminating;
        } else {
          ++active;
          if (ConditionTrue(pod, "Ready")) ++ready;
        }
      }
      const int completions = IntOr(spec, "completions", 1);
      const int parallelism = IntOr(spec, "parallelism", 1);
      const int backoff_limit = IntOr(spec, "backoffLimit", 6);
      const bool suspended = Field(spec, {"suspend"}) == true;
      const json before = job;
      if (!status.contains("startTime") && !suspended) status["startTime"] = NowRfc3339();
      if (!finished) {
        if (failed > backoff_limit) {
          SetCondition(status, "FailureTarget", "True", "BackoffLimitExceeded",
                       "Job has reached the specified backoff limit", true);
          SetCondition(status, "Failed", "True", "BackoffLimitExceeded",
                       "Job has reached the specified backoff limit", true);
          for (const json& pod : owned) {
            if (!Terminal(pod) && !Deleting(pod)) {
              (void)DeleteObject(store_, Info("pods"), Ns(pod), Name(pod));
              --active;
            }
          }
        } else if (succeeded >= completions) {
          SetCondition(status, "SuccessCriteriaMet", "True", "CompletionsReached",
                       "Reached expected number of succeeded pods", true);
          SetCondition(status, "Complete", "True", "CompletionsReached",
                       "Reached expected number of succeeded pods", true);
          status["completionTime"] = NowRfc3339();
        } else if (!suspended) {
          int want = std::min(parallelism, completions - succeeded) - active;
          for (int i = 0; i < want; ++i) {
            const json& tmpl = Field(spec, {"template"});
            json meta = Field(tmpl, {"metadata"});
            if (!meta.is_object()) meta = json::object();
            meta["namespace"] = Ns(job);
            meta["generateName"] = Name(job) + "-";
            meta.erase("name");
            meta["ownerReferences"] = json::array({OwnerRef(job, true)});
            json pod = {{"apiVersion", "v1"},
                        {"kind", "Pod"},
                        {"metadata", meta},
                        {"spec", Field(tmpl, {"spec"})}};
            ApiResult<json> created = CreateObject(store_, Info("pods"), std::move(pod));
            if (created.ok()) {
              ++active;
              RecordEvent(store_, job, "Normal", "SuccessfulCreate",
                          "Created pod: " + Name(*created.value), "job-controller");
            } else {
              RecordEvent(store_, job, "Warning", "FailedCreate",
                          "Error creating: " + created.error.message, "job-controller");
              break;
            }
          }
        }
      }
      status["active"] = std::max(active, 0);
      status["succeeded"] = succeeded;
      status["failed"] = failed;
      status["ready"] = ready;
      status["terminating"] = terminating;
      if (!status.contains("uncountedTerminatedPods"))
        status["uncountedTerminatedPods"] = json::object();
      if (status["active"] == 0) status.erase("active");
      if (status["succeeded"] == 0) status.erase("succeeded");
      if (status["failed"] == 0) status.erase("failed");
      if (job != before) ControllerWrite(store_, "jobs", job);
    });
  }
}

void Controllers::SyncClaims() {
  std::map<std::string, json> pods_by_uid;
  for (json& pod : ListAll(store_, "pods")) {
    const std::string uid = Uid(pod);
    pods_by_uid[uid] = std::move(pod);
  }
  for (json claim : ListAll(store_, "resourceclaims")) {
    ForObject(claim, "resourceclaim-controller", [&] {
      const json before = claim;
      json& status = claim["status"];
      if (!status.is_object()) status = json::object();
      if (status.contains("reservedFor") && status["reservedFor"].is_array()) {
        json kept = json::array();
        for (const json& r : status["reservedFor"]) {
          if (Str(r, "resource") != "pods") {
            kept.push_back(r);
            continue;
          }
          auto it = pods_by_uid.find(Str(r, "uid"));
          if (it == pods_by_uid.end()) continue;
          const json& pod = it->second;
          if (Terminal(pod)) continue;
          if (Deleting(pod) && Str(pod["spec"], "nodeName").empty()) continue;
          kept.push_back(r);
        }
        if (kept.empty()) {
          status.erase("reservedFor");
        } else {
          status["reservedFor"] = kept;
        }
      }
      const bool reserved = status.contains("reservedFor");
      if (!reserved && status.contains("allocation") && HasFinalizer(claim, kDeleteProtection)) {
        status.erase("allocation");
        status.erase("devices");
      }
      if (!status.contains("allocation")) RemoveFinalizer(claim, kDeleteProtection);
      if (status.empty()) claim.erase("status");
      if (claim != before) {
        ControllerWrite(store_, "resourceclaims", claim);
        return;
      }
      // Generated claims of finished pods go away.
      const json* ref = ControllerRef(claim);
      if (ref && Str(*ref, "kind") == "Pod" && !Deleting(claim) &&
          Field(claim, {"metadata", "annotations"}).contains(kPodClaimName)) {
        auto it = pods_by_uid.find(Str(*ref, "uid"));
        if (it != pods_by_uid.end() && Terminal(it->second)) {
          (void)DeleteObject(store_, Info("resourceclaims"), Ns(claim), Name(claim));
        }
      }
    });
  }
}

void Controllers::CollectGarbage() {
  struct Entry {
    std::string plural;
    json object;
  };
  std::vector<Entry> all;
  std::map<std::string, size_t> by_uid;
  for (const ResourceInfo& info : AllResources()) {
    if (info.plural == "events") continue;
    for (json& o : store_.List(info.StoreKey(), "")) {
      by_uid[Uid(o)] = all.size();
      all.push_back({info.plural, std::move(o)});
    }
  }
  std::map<std::string, int> dependents;  // owner uid -> live dependents
  for (Entry& e : all) {
    ForObject(e.object, "garbage-collector", [&] {
      const json& refs = List(e.object, {"metadata", "ownerReferences"});
      if (refs.empty()) return;
      bool any_owner = false;
      bool owner_foreground = false;
      json kept_refs = json::array();
      bool orphaned = false;
      for (const json& ref : refs) {
        auto it = by_uid.find(Str(ref, "uid"));
        if (it == by_uid.end()) continue;
        const json& owner = all[it->second].object;
        if (Deleting(owner) && HasFinalizer(owner, "orphan")) {
          orphaned = true;
          continue;
        }
        any_owner = true;
        kept_refs.push_back(ref);
        if (Deleting(owner) && HasFinalizer(owner, "foregroundDeletion")) owner_foreground = true;
        dependents[Str(ref, "uid")]++;
      }
      if (orphaned) {
        json o = e.object;
        if (kept_refs.empty()) {
          o["metadata"].erase("ownerReferences");
        } else {
          o["metadata"]["ownerReferences"] = kept_refs;
        }
        ControllerWrite(store_, e.plural, o);
        return;
      }
      if ((!any_owner || owner_foreground) && !Deleting(e.object)) {
        (void)DeleteObject(store_, Info(e.plural), Ns(e.object), Name(e.object),
                           BackgroundDelete());
      }
    });
  }
  for (Entry& e : all) {
    ForObject(e.object, "garbage-collector", [&] {
      if (!Deleting(e.object)) return;
      json o = e.object;
      if (HasFinalizer(o, "foregroundDeletion") && dependents[Uid(o)] == 0) {
        RemoveFinalizer(o, "foregroundDeletion");
      }
      if (HasFinalizer(o, "orphan")) {
        bool has_dependents = false;
        for (const Entry& d : all) {
          for (const json& ref : List(d.object, {"metadata", "ownerReferences"})) {
            has_dependents = has_dependents || Str(ref, "uid") == Uid(o);
          }
        }
        if (!has_dependents) RemoveFinalizer(o, "orphan");
      }
      if (e.plural == "namespaces") {
        bool empty = true;
        for (const ResourceInfo& info : AllResources()) {
          if (!info.namespaced) continue;
          for (const json& child : store_.List(info.StoreKey(), Name(o))) {
            empty = false;
            if (!Deleting(child))
              (void)DeleteObject(store_, info, Name(o), Name(child), BackgroundDelete());
          }
        }
        if (empty) {
          (void)store_.Delete("namespaces", "", Name(o), std::nullopt);
        }
        return;
      }
      if (o != e.object) ControllerWrite(store_, e.plural, o);
    });
  }
}

}  // namespace migdra::control
