// `kubectl logs` on a pod (GET pods/NAME/log): which attempt of a container the request reads
// and, with ?follow=true, how its log is followed — as the kubelet answers them.
//
// Attempts are numbered by status.containerStatuses[].restartCount: the node's runner counts a
// container's current (or last) attempt there, and the node's log provider reads one attempt's
// log by that number (node_agent.h PodLog).
//   - The log (no ?previous): the running or last ended attempt (restartCount). A container
//     that has not run yet is an error: "container C in pod P is waiting to start: REASON".
//   - ?previous=true: the attempt before the running one; while the container waits to be
//     restarted (CrashLoopBackOff, lastState.terminated set), the one that ended last — the
//     kubelet's rule. An error when there is none: "previous terminated container C in pod P
//     not found".
//   - ?follow=true: what the attempt logged so far, then what it logs next, until it ends (its
//     pod's status no longer shows it running), the pod goes, the client goes or serve stops.
//     The log is read again every 250 ms (not a timed promise: the end is the attempt's end).
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace migdra::control {

// The attempt `kubectl logs [--previous]` reads of `container` in `pod` (its spec and status).
Result<int> PodLogAttempt(const nlohmann::json& pod, const std::string& container, bool previous);

// Whether `pod`'s status shows `attempt` of `container` running.
bool PodLogAttemptRunning(const nlohmann::json& pod, const std::string& container, int attempt);

// Writes, through `write`, the text the attempt logs after its first `sent` bytes, until it ends.
// `pod_now` reads the pod as stored now (nullopt once deleted), `read_log` the attempt's whole log
// so far. `write("")` asks whether the client is still there; false from `write` ends the stream.
void FollowPodLog(const std::function<std::optional<nlohmann::json>()>& pod_now,
                  const std::function<std::optional<std::string>()>& read_log,
                  const std::string& container, int attempt, size_t sent,
                  const std::function<bool(const std::string&)>& write,
                  const std::atomic<bool>& stop);

}  // namespace migdra::control
