// The claim controller (controllers.h): reservedFor follows the pods that use a claim, the
// last one deallocates it, and the generated claims of finished pods are deleted.
#include "control/controllers.h"

#include <map>

#include "control/controller_support.h"
#include "control/json_access.h"
#include "control/object_meta.h"
#include "control/objects.h"

namespace migdra::control {

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

}  // namespace migdra::control
