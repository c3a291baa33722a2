// Reads and edits of the metadata and status every object kind shares, as the controllers and
// the pod runner apply them to API objects held as JSON: deletion, finalizers, owner references,
// a pod's phase and the conditions of pods and Jobs. Reads are lenient as json_access.h's (a
// missing key or a value of another type reads as absent); edits create what they need.
//
// Thread safety: pure functions on the caller's values.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace migdra::control {

// metadata.namespace, metadata.name and metadata.uid ("" when absent).
std::string Ns(const nlohmann::json& object);
std::string Name(const nlohmann::json& object);
std::string Uid(const nlohmann::json& object);

// Whether metadata.deletionTimestamp is set: the object is being deleted and stays only until
// its finalizers are removed.
bool Deleting(const nlohmann::json& object);
bool HasFinalizer(const nlohmann::json& object, const std::string& finalizer);
// Removes `finalizer` from metadata.finalizers, dropping the list when it becomes empty.
void RemoveFinalizer(nlohmann::json& object, const std::string& finalizer);

// The ownerReference with controller=true, or null.
const nlohmann::json* ControllerRef(const nlohmann::json& object);
// An ownerReference to `owner` (blockOwnerDeletion set, as the built-in controllers set it).
nlohmann::json OwnerRef(const nlohmann::json& owner, bool controller);

// A pod's status.phase, and whether it is Succeeded or Failed (its containers will not run again).
std::string Phase(const nlohmann::json& pod);
bool Terminal(const nlohmann::json& pod);

// Sets the condition `type` in `status.conditions` (a pod's or a Job's status object) to `value`
// ("True"/"False") with `reason` and `message` (omitted when empty). lastTransitionTime changes
// only when the value does; `probe_time` also stamps lastProbeTime (null on a new condition), as
// the scheduler and the Job controller do. Returns whether anything changed.
bool SetCondition(nlohmann::json& status, const std::string& type, const std::string& value,
                  const std::string& reason = "", const std::string& message = "",
                  bool probe_time = false);
// Whether `object`'s condition `type` is "True"; its message ("" when it has none).
bool ConditionTrue(const nlohmann::json& object, const std::string& type);
std::string ConditionMessage(const nlohmann::json& object, const std::string& type);

}  // namespace migdra::control
