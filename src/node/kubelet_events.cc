#include "node/kubelet_events.h"

#include "control/controllers.h"
#include "control/json_access.h"
#include "control/objects.h"
#include "control/resources.h"

namespace migdra::node {

using control::Field;
using control::FindResource;
using control::NowRfc3339;
using control::RecordEvent;
using control::ResourceInfo;
using control::Store;
using control::Str;
using control::UpdateObject;
namespace {

using json = nlohmann::json;

constexpr const char* kKubelet = "kubelet";

// Raises the count of the Event about `object` with this reason and message, if there is one.
bool BumpExisting(Store& store, const json& object, const std::string& reason,
                  const std::string& message) {
  const ResourceInfo* events = FindResource("", "v1", "events");
  if (events == nullptr) return false;
  const std::string uid = Str(object["metadata"], "uid");
  for (json event : store.List(events->StoreKey(), Str(object["metadata"], "namespace"))) {
    if (Str(Field(event, {"involvedObject"}), "uid") != uid || Str(event, "reason") != reason ||
        Str(event, "message") != message) {
      continue;
    }
    event["count"] = event.value("count", 1) + 1;
    event["lastTimestamp"] = NowRfc3339();
    return UpdateObject(store, *events, std::move(event), false).ok();
  }
  return false;
}

}  // namespace

void RecordPrepareFailure(Store& store, const json& pod, const std::string& problem) {
  const std::string message = "Failed to prepare dynamic resources: " + problem;
  if (BumpExisting(store, pod, "FailedPrepareDynamicResources", message)) return;
  RecordEvent(store, pod, "Warning", "FailedPrepareDynamicResources", message, kKubelet);
}

void RecordMigDevices(Store& store, bool created, const std::string& claim_namespace,
                      const std::string& claim_name, const json& pod) {
  const ResourceInfo* claims = FindResource("resource.k8s.io", "v1", "resourceclaims");
  if (claims == nullptr) return;
  std::optional<json> claim = store.Get(claims->StoreKey(), claim_namespace, claim_name);
  if (!claim) return;
  const std::string pod_name =
      Str(pod["metadata"], "namespace") + "/" + Str(pod["metadata"], "name");
  const json& results = Field(*claim, {"status", "allocation", "devices", "results"});
  if (!results.is_array()) return;
  for (const json& result : results) {
    const std::string device = Str(result, "device");
    if (device.find("-mig-") == std::string::npos) continue;
    RecordEvent(store, *claim, "Normal", created ? "MigDeviceCreated" : "MigDeviceDestroyed",
                std::string(created ? "created MIG device " : "destroyed MIG device ") + device +
                    (created ? " for pod " : " after pod ") + pod_name,
                kKubelet);
  }
}

}  // namespace migdra::node
