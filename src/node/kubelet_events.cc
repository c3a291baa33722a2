#include "node/kubelet_events.h"

#include <cstdio>
#include <mutex>
#include <set>

#include "common/clock.h"
#include "control/json_access.h"
#include "control/object_meta.h"

namespace migdra::node {
namespace {

using control::Field;
using control::Str;
using json = nlohmann::json;

constexpr const char* kKubelet = "kubelet";

std::string EventsPath(const std::string& ns) { return "/api/v1/namespaces/" + ns + "/events"; }

// Raises the count of the Event about `object` with this reason and message, if there is one.
bool BumpExisting(kube::Client& client, const json& object, const std::string& reason,
                  const std::string& message) {
  const std::string ns = Str(object["metadata"], "namespace");
  auto list = client.Get(EventsPath(ns));
  if (!list.ok() || !list->ok()) return false;
  json events = json::parse(list->body, nullptr, false);
  const std::string uid = Str(object["metadata"], "uid");
  for (json event : Field(events, {"items"})) {
    if (Str(Field(event, {"involvedObject"}), "uid") != uid || Str(event, "reason") != reason ||
        Str(event, "message") != message) {
      continue;
    }
    event["count"] = event.value("count", 1) + 1;
    event["lastTimestamp"] = NowRfc3339();
    auto updated =
        client.Update(EventsPath(ns) + "/" + Str(event["metadata"], "name"), event.dump());
    return updated.ok() && updated->ok();
  }
  return false;
}

}  // namespace

void RecordEvent(kube::Client& client, const json& object, const std::string& type,
                 const std::string& reason, const std::string& message) {
  const json event = control::MakeEvent(object, type, reason, message, kKubelet);
  auto created =
      client.Create(EventsPath(Str(Field(event, {"metadata"}), "namespace")), event.dump());
  if (!created.ok() || !created->ok()) {
    std::fprintf(stderr, "migdra serve: node: recording event %s: %s\n", reason.c_str(),
                 created.ok() ? created->body.c_str() : created.error().message.c_str());
  }
}

void RecordPrepareFailure(kube::Client& client, const json& pod, const std::string& problem) {
  const std::string message = "Failed to prepare dynamic resources: " + problem;
  if (BumpExisting(client, pod, "FailedPrepareDynamicResources", message)) return;
  RecordEvent(client, pod, "Warning", "FailedPrepareDynamicResources", message);
}

void RecordMigDevices(kube::Client& client, bool created, const std::string& claim_namespace,
                      const std::string& claim_name, const json& pod) {
  auto got = client.Get("/apis/resource.k8s.io/v1/namespaces/" + claim_namespace +
                        "/resourceclaims/" + claim_name);
  if (!got.ok() || !got->ok()) return;
  json claim = json::parse(got->body, nullptr, false);
  const std::string pod_name =
      Str(pod["metadata"], "namespace") + "/" + Str(pod["metadata"], "name");
  const json& results = Field(claim, {"status", "allocation", "devices", "results"});
  if (!results.is_array()) return;
  for (const json& result : results) {
    const std::string device = Str(result, "device");
    if (device.find("-mig-") == std::string::npos) continue;
    RecordEvent(client, claim, "Normal", created ? "MigDeviceCreated" : "MigDeviceDestroyed",
                std::string(created ? "created MIG device " : "destroyed MIG device ") + device +
                    (created ? " for pod " : " after pod ") + pod_name);
  }
}

void ReportFailure(kube::Client& client, const json& object, const std::string& what) {
  static std::mutex mu;
  static std::set<std::string> reported;
  const json& meta = Field(object, {"metadata"});
  const std::string key = Str(meta, "uid") + "/" + Str(meta, "resourceVersion") + ": " + what;
  {
    std::lock_guard lock(mu);
    if (reported.size() > 10000) reported.clear();
    if (!reported.insert(key).second) return;
  }
  std::fprintf(stderr, "migdra serve: kubelet: %s %s/%s: %s\n", Str(object, "kind").c_str(),
               Str(meta, "namespace").c_str(), Str(meta, "name").c_str(), what.c_str());
  RecordEvent(client, object, "Warning", "FailedSync", std::string(kKubelet) + ": " + what);
}

}  // namespace migdra::node
