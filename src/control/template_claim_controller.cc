// The template claims controller (controllers.h): a ResourceClaim for each of a pending pod's
// resourceClaimTemplateName entries.
#include "control/controllers.h"

#include <map>
#include <optional>

#include "control/controller_support.h"
#include "control/json_access.h"
#include "control/object_meta.h"
#include "control/objects.h"

namespace migdra::control {

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
          Result<json> created = CreateObject(store_, Info("resourceclaims"), std::move(claim));
          if (!created.ok()) {
            RecordEvent(
                store_, pod, "Warning", "FailedResourceClaimCreation",
                "PodResourceClaims: creating ResourceClaim failed: " + created.error().message,
                "resource_claim");
            continue;
          }
          existing = Name(*created);
        }
        pod["status"]["resourceClaimStatuses"].push_back(
            {{"name", claim_entry}, {"resourceClaimName", existing}});
        changed = true;
      }
      if (changed) ControllerWrite(store_, "pods", pod);
    });
  }
}

}  // namespace migdra::control
