// The in-process controllers of `migdra serve`, level-triggered: each pass reads the whole state
// from the Store and moves it one step towards the desired state; a pass runs after every
// write (and at least once a second), so a crash between two writes is repaired by the next
// pass after restart.
//
// Each controller has its own file (template_claim_controller.cc, scheduler.cc, job_controller.cc,
// claim_controller.cc, garbage_collector.cc); controllers.cc runs them.
//
// - Template claims (kube-controller-manager's resourceclaim controller): for each
//   pod.spec.resourceClaims[] entry with resourceClaimTemplateName, a claim named
//   `<pod>-<claim>-<5 random>` (generateName) with an owner reference to the pod, the annotation
//   `resource.kubernetes.io/pod-claim-name`, the template's labels/annotations, recorded in
//   pod.status.resourceClaimStatuses.
// - Scheduler: binds pending pods whose claims all exist. Unallocated claims are allocated
//   together with the allocator (alloc/, the configured strategy) on a node where they fit; the
//   claim gets status.allocation, status.reservedFor += the pod and the finalizer
//   `resource.kubernetes.io/delete-protection`; then the pod gets spec.nodeName and
//   PodScheduled=True. When nothing fits: PodScheduled=False (Unschedulable) with the reason and
//   a FailedScheduling Event (once per distinct reason). Pods are retried on every pass, so they
//   are scheduled as soon as devices free up. Each pass tries pending pods in creation order;
//   under `pack`, the pods a pass sees for the first time come after those that waited, largest
//   first (alloc::Allocator::BatchOrder). Allocation state
//   is read from the claims in the store, and claims are written before the pod is bound, so no
//   device is handed out twice, even across a crash.
// - Jobs: pods per parallelism/completions; backoffLimit; Complete/Failed conditions.
// - Claim cleanup: reservedFor drops pods that are gone, replaced or finished; the last one
//   deallocates (clears status.allocation and the finalizer); generated claims of finished pods
//   are deleted.
// - Garbage collection: dependents of deleted owners (ownerReferences), foreground and orphan
//   deletion, namespace deletion.
//
// Failures: a controller never takes the process down. Each object a pass visits is handled on
// its own; an exception while handling it (a bug, or an object stored before admission typed
// its fields) is written to stderr and recorded once per object version as a Warning Event
// with reason FailedSync on that object (`kubectl get events`, `kubectl describe`), and the pass
// goes on with the next object. A failure outside any object skips the rest of that controller
// for the pass, with a log line.
//
// Thread safety: Start/Stop from one thread; the controllers run on their own thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "alloc/allocator.h"
#include "control/store.h"

namespace migdra::control {

struct ControllerOptions {
  alloc::Strategy strategy = alloc::Strategy::kPack;
};

class Controllers {
 public:
  Controllers(Store& store, ControllerOptions options);
  ~Controllers();
  Controllers(const Controllers&) = delete;
  Controllers& operator=(const Controllers&) = delete;

  void Start();
  void Stop();

  // One pass of every controller (tests drive this directly instead of Start).
  void ReconcileOnce();

 private:
  void Loop();
  void SyncTemplateClaims();
  void Schedule();
  // The scheduler's phases for one pod, in order (scheduler.cc).
  void SchedulePod(json& pod, const std::vector<api::Node>& nodes, alloc::Allocator* allocator,
                   const std::string& allocator_error);
  bool ReserveClaims(const json& pod, const std::vector<json>& claims,
                     const std::vector<size_t>& allocated_index,
                     const std::vector<api::AllocationResult>& results,
                     alloc::Allocator* allocator);
  void BindPod(json& pod, const std::string& node_name);
  void OrderForPlacement(alloc::Allocator& allocator, const std::vector<api::Node>& nodes,
                         std::vector<nlohmann::json>& pending);
  void SyncJobs();
  void SyncClaims();
  void CollectGarbage();
  // Runs one object's share of a controller pass, reporting a failure (see the header comment).
  void ForObject(const json& object, const char* component, const std::function<void()>& work);

  // The allocator of the last scheduling pass, kept while the ResourceSlices and DeviceClasses it
  // indexed are unchanged; claims allocated or deallocated since are committed to it or released
  // from it, so a pass costs what changed instead of indexing the whole cluster again.
  struct AllocatorCache;
  alloc::Allocator* CurrentAllocator(const std::vector<json>& claims, std::string* error);

  Store& store_;
  ControllerOptions options_;
  std::unique_ptr<AllocatorCache> allocator_cache_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Writes `object` as the controllers do: optimistic on its resourceVersion, and deleting an
// object left with a deletionTimestamp and no finalizers. Returns whether it was written.
bool ControllerWrite(Store& store, const std::string& plural, json object);

// Reports that a worker (a controller, the runner; `component` names it as Events do) failed to
// handle `object` with the exception message `what`: a stderr line and a Warning Event with
// reason FailedSync on the object, once per object version, component and message (a worker
// that retries every pass does not flood the Events).
void ReportFailure(Store& store, const json& object, const std::string& component,
                   const std::string& what);

// Records a core/v1 Event about `object` (kind, namespace, name, uid from it).
void RecordEvent(Store& store, const json& object, const std::string& type,
                 const std::string& reason, const std::string& message,
                 const std::string& component);

}  // namespace migdra::control
