#include "control/object_meta.h"

#include <algorithm>

#include "control/json_access.h"
#include "control/store.h"

namespace migdra::control {

std::string Ns(const json& object) { return Str(Field(object, {"metadata"}), "namespace"); }
std::string Name(const json& object) { return Str(Field(object, {"metadata"}), "name"); }
std::string Uid(const json& object) { return Str(Field(object, {"metadata"}), "uid"); }

bool Deleting(const json& object) {
  return !Field(object, {"metadata", "deletionTimestamp"}).is_null();
}

bool HasFinalizer(const json& object, const std::string& finalizer) {
  const json& finalizers = ArrayAt(object, {"metadata", "finalizers"});
  return std::find(finalizers.begin(), finalizers.end(), finalizer) != finalizers.end();
}

void RemoveFinalizer(json& object, const std::string& finalizer) {
  json& meta = object["metadata"];
  if (!meta.contains("finalizers") || !meta["finalizers"].is_array()) return;
  json kept = json::array();
  for (const json& v : meta["finalizers"]) {
    if (v != finalizer) kept.push_back(v);
  }
  if (kept.empty()) {
    meta.erase("finalizers");
  } else {
    meta["finalizers"] = kept;
  }
}

const json* ControllerRef(const json& object) {
  for (const json& ref : ArrayAt(object, {"metadata", "ownerReferences"})) {
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

std::string Phase(const json& pod) { return Str(Field(pod, {"status"}), "phase"); }

bool Terminal(const json& pod) { return Phase(pod) == "Succeeded" || Phase(pod) == "Failed"; }

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
  for (const json& c : ArrayAt(object, {"status", "conditions"})) {
    if (Str(c, "type") == type && Str(c, "status") == "True") return true;
  }
  return false;
}

std::string ConditionMessage(const json& object, const std::string& type) {
  for (const json& c : ArrayAt(object, {"status", "conditions"})) {
    if (Str(c, "type") == type) return Str(c, "message");
  }
  return "";
}

}  // namespace migdra::control
