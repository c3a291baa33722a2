// The Events serve's node writes as the kubelet (source component "kubelet"), so that
// `kubectl describe pod` and `kubectl describe resourceclaim` explain what the node did:
//  - Warning FailedPrepareDynamicResources on the pod, "Failed to prepare dynamic resources: "
//    followed by the driver's message (the kubelet's reason and wording); a repeat of the same
//    message raises the existing Event's count instead of adding one, as the kubelet's event
//    correlator does.
//  - Normal MigDeviceCreated / MigDeviceDestroyed on the claim for each MIG device prepared or
//    unprepared for it (serve's driver creates MIG devices at prepare and destroys them at
//    unprepare).
// Image pull events (Pulled, Failed) belong to the container runtime path and are not written.
//
// Thread safety: as the Store.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "control/store.h"

namespace migdra::node {

using control::Store;

void RecordPrepareFailure(Store& store, const nlohmann::json& pod, const std::string& problem);

// One Event per MIG device of the claim's allocation (read from the store; nothing when the claim
// or its allocation is gone).
void RecordMigDevices(Store& store, bool created, const std::string& claim_namespace,
                      const std::string& claim_name, const nlohmann::json& pod);

}  // namespace migdra::node
