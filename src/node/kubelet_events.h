// The Events serve's node writes as the kubelet (source component "kubelet"), through the API
// server's REST API, so that `kubectl describe pod` and `kubectl describe resourceclaim` explain
// what the node did:
//  - Warning FailedPrepareDynamicResources on the pod, "Failed to prepare dynamic resources: "
//    followed by the driver's message (the kubelet's reason and wording); a repeat of the same
//    message raises the existing Event's count instead of adding one, as the kubelet's event
//    correlator does.
//  - Normal MigDeviceCreated / MigDeviceDestroyed on the claim for each MIG device prepared or
//    unprepared for it (serve's driver creates MIG devices at prepare and destroys them at
//    unprepare).
//  - Warning FailedSync on a pod whose worker failed unexpectedly (ReportFailure).
// Image pull events (Pulled, Failed) belong to the container runtime path and are not written.
// Failures to write an Event are logged, never raised: events explain, they do not decide.
//
// Thread safety: as the kube::Client.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "kube/client.h"

namespace migdra::node {

// One Event about `object` (which carries kind and apiVersion).
void RecordEvent(kube::Client& client, const nlohmann::json& object, const std::string& type,
                 const std::string& reason, const std::string& message);

void RecordPrepareFailure(kube::Client& client, const nlohmann::json& pod,
                          const std::string& problem);

// One Event per MIG device of the claim's allocation (read from the API server; nothing when
// the claim or its allocation is gone).
void RecordMigDevices(kube::Client& client, bool created, const std::string& claim_namespace,
                      const std::string& claim_name, const nlohmann::json& pod);

// Logs `what` on stderr and records it as a FailedSync Warning on `object`, once per object
// version and message.
void ReportFailure(kube::Client& client, const nlohmann::json& object, const std::string& what);

}  // namespace migdra::node
