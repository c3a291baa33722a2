// Reads and edits of the metadata and status every object kind shares, as the controllers and
// the pod runner (src/node) apply them to API objects held as JSON: deletion, finalizers, owner
// references, a pod's phase, the conditions of pods and Jobs, and the Events written about
// objects. Reads are lenient as json_access.h's (a missing key or a value of another type reads
// as absent); edits create what they need.
//
// Header-only and free of the control module (it needs only json_access.h and common/clock.h),
// so that src/node, which links no control code, shares it with the controllers.
//
// Thread safety: pure functions on the caller's values.
#pragma once

#include <algorithm>
#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "control/json_access.h"

namespace migdra::control {

// metadata.namespace, metadata.name and metadata.uid ("" when absent).
inline std::string Ns(const nlohmann::json& object) {
  return Str(Field(object, {"metadata"}), "namespace");
}
inline std::string Name(const nlohmann::json& object) {
  return Str(Field(object, {"metadata"}), "name");
}
inline std::string Uid(const nlohmann::json& object) {
  return Str(Field(object, {"metadata"}), "uid");
}

// Whether metadata.deletionTimestamp is set: the object is being deleted and stays only until
// its finalizers are removed.
inline bool Deleting(const nlohmann::json& object) {
  return !Field(object, {"metadata", "deletionTimestamp"}).is_null();
}

inline bool HasFinalizer(const nlohmann::json& object, const std::string& finalizer) {
  const nlohmann::json& finalizers = ArrayAt(object, {"metadata", "finalizers"});
  return std::find(finalizers.begin(), finalizers.end(), finalizer) != finalizers.end();
}

// Appends `finalizer` to metadata.finalizers unless it is there. A finalizers field that is not
// a list (a malformed stored object) is not overwritten: push_back throws, and the worker's guard
// reports the object (FailedSync) instead of silently dropping what it held.
inline void AddFinalizer(nlohmann::json& object, const std::string& finalizer) {
  if (HasFinalizer(object, finalizer)) return;
  nlohmann::json& meta = object["metadata"];
  if (!meta.contains("finalizers")) meta["finalizers"] = nlohmann::json::array();
  meta["finalizers"].push_back(finalizer);
}

// Removes `finalizer` from metadata.finalizers, dropping the list when it becomes empty.
inline void RemoveFinalizer(nlohmann::json& object, const std::string& finalizer) {
  nlohmann::json& meta = object["metadata"];
  if (!meta.contains("finalizers") || !meta["finalizers"].is_array()) return;
  nlohmann::json kept = nlohmann::json::array();
  for (const nlohmann::json& v : meta["finalizers"]) {
    if (v != finalizer) kept.push_back(v);
  }
  if (kept.empty()) {
    meta.erase("finalizers");
  } else {
    meta["finalizers"] = kept;
  }
}

// The ownerReference with controller=true, or null.
inline const nlohmann::json* ControllerRef(const nlohmann::json& object) {
  for (const nlohmann::json& ref : ArrayAt(object, {"metadata", "ownerReferences"})) {
    if (Field(ref, {"controller"}) == true) return &ref;
  }
  return nullptr;
}

// An ownerReference to `owner` (blockOwnerDeletion set, as the built-in controllers set it).
inline nlohmann::json OwnerRef(const nlohmann::json& owner, bool controller) {
  return nlohmann::json{{"apiVersion", Str(owner, "apiVersion")},
                        {"kind", Str(owner, "kind")},
                        {"name", Name(owner)},
                        {"uid", Uid(owner)},
                        {"controller", controller},
                        {"blockOwnerDeletion", true}};
}

// A pod's status.phase, and whether it is Succeeded or Failed (its containers will not run again).
inline std::string Phase(const nlohmann::json& pod) { return Str(Field(pod, {"status"}), "phase"); }
inline bool Terminal(const nlohmann::json& pod) {
  return Phase(pod) == "Succeeded" || Phase(pod) == "Failed";
}

// Sets the condition `type` in `status.conditions` (a pod's or a Job's status object) to `value`
// ("True"/"False") with `reason` and `message` (omitted when empty). lastTransitionTime changes
// only when the value does; `probe_time` also stamps lastProbeTime (null on a new condition), as
// the scheduler and the Job controller do. Returns whether anything changed.
inline bool SetCondition(nlohmann::json& status, const std::string& type, const std::string& value,
                         const std::string& reason = "", const std::string& message = "",
                         bool probe_time = false) {
  if (!status.contains("conditions") || !status["conditions"].is_array()) {
    status["conditions"] = nlohmann::json::array();
  }
  for (nlohmann::json& c : status["conditions"]) {
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
  nlohmann::json c = {{"type", type}, {"status", value}, {"lastTransitionTime", NowRfc3339()}};
  if (probe_time) c["lastProbeTime"] = nullptr;
  if (!reason.empty()) c["reason"] = reason;
  if (!message.empty()) c["message"] = message;
  status["conditions"].push_back(c);
  return true;
}

// Whether `object`'s condition `type` is "True"; its message ("" when it has none).
inline bool ConditionTrue(const nlohmann::json& object, const std::string& type) {
  for (const nlohmann::json& c : ArrayAt(object, {"status", "conditions"})) {
    if (Str(c, "type") == type && Str(c, "status") == "True") return true;
  }
  return false;
}
inline std::string ConditionMessage(const nlohmann::json& object, const std::string& type) {
  for (const nlohmann::json& c : ArrayAt(object, {"status", "conditions"})) {
    if (Str(c, "type") == type) return Str(c, "message");
  }
  return "";
}

// A new core/v1 Event about `object` (kind, apiVersion, namespace, name, uid, resourceVersion
// from it) by `component` (source and reporting component): count 1, first and last seen now,
// in the object's namespace ("default" for a cluster-scoped object), named by generateName.
inline nlohmann::json MakeEvent(const nlohmann::json& object, const std::string& type,
                                const std::string& reason, const std::string& message,
                                const std::string& component) {
  const std::string ns = Ns(object);
  const std::string now = NowRfc3339();
  nlohmann::json event = {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata",
       {{"namespace", ns.empty() ? "default" : ns}, {"generateName", Name(object) + "."}}},
      {"involvedObject",
       {{"kind", Str(object, "kind")},
        {"apiVersion", Str(object, "apiVersion")},
        {"name", Name(object)},
        {"uid", Uid(object)},
        {"resourceVersion", Str(Field(object, {"metadata"}), "resourceVersion")}}},
      {"reason", reason},
      {"message", message},
      {"type", type},
      {"source", {{"component", component}}},
      {"reportingComponent", component},
      {"reportingInstance", component},
      {"firstTimestamp", now},
      {"lastTimestamp", now},
      {"count", 1}};
  if (!ns.empty()) event["involvedObject"]["namespace"] = ns;
  return event;
}

}  // namespace migdra::control
