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
//     Every 250 ms what the log gained since the last read is read (not a timed promise: the
//     end is the attempt's end).
//   - ?tailLines, ?sinceSeconds / ?sinceTime, ?timestamps, ?limitBytes: as the kubelet applies
//     them to a CRI log (PodLogOptions below); a log line not in the CRI format (a log written
//     before the process runtime recorded timestamps) has no time: it passes every since and
//     gets no timestamp.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "control/store.h"

namespace migdra::control {

// The query of GET pods/NAME/log that shapes the text (core/v1 PodLogOptions).
struct PodLogOptions {
  std::optional<int64_t> tail_lines;   // the last N lines of the log file only (kubelet's count)
  std::optional<int64_t> since_nanos;  // lines logged at or after (ns since the epoch) only
  bool follow = false;                 // stream what the container writes next
  bool previous = false;               // the attempt before the current one
  bool timestamps = false;             // each line prefixed with its RFC3339Nano time and a space
  std::optional<int64_t> limit_bytes;  // the text ends after N bytes
};

// The options in `query` (follow, previous, sinceSeconds, sinceTime, timestamps, tailLines,
// limitBytes) as the API server reads them: a number that is not one (tailLines=x) is BadRequest
// with Go's parse message, an invalid one Invalid `PodLogOptions "POD" is invalid: ...` as
// upstream's ValidatePodLogOptions; a boolean is false only when absent, "0" or "false" (any
// case), as apimachinery converts query parameters. sinceSeconds counts back from `now_nanos`.
Result<PodLogOptions> ParsePodLogOptions(
    const std::function<std::optional<std::string>(const std::string&)>& query,
    const std::string& pod, int64_t now_nanos);

// Turns a container's CRI log (TIMESTAMP STREAM F|P TEXT lines, containerd's and the process
// runtime's format) into the text `kubectl logs` shows, as the kubelet does, in pieces: Add
// takes the log's next bytes, Finish its end. tailLines applies to the first piece only (the
// log so far, when following).
class PodLogReader {
 public:
  explicit PodLogReader(PodLogOptions options) : options_(std::move(options)) {}
  // The text of the complete lines in `log` (an incomplete last line waits for the next piece
  // or Finish).
  std::string Add(std::string_view log);
  // The text of what is left (a last line without its newline).
  std::string Finish();
  // Whether limitBytes is reached: nothing more will come.
  bool Done() const { return options_.limit_bytes && *options_.limit_bytes <= 0; }

 private:
  // The text of the lines in `log`; the last one lacks its newline unless `complete_last`.
  std::string Render(std::string_view log, bool complete_last);

  PodLogOptions options_;
  std::string pending_;     // an incomplete last line
  bool first_ = true;       // tailLines not applied yet
  bool line_start_ = true;  // the next text starts a line (gets the timestamp)
};

// The attempt `kubectl logs [--previous]` reads of `container` in `pod` (its spec and status).
Result<int> PodLogAttempt(const nlohmann::json& pod, const std::string& container, bool previous);

// Whether `pod`'s status shows `attempt` of `container` running.
bool PodLogAttemptRunning(const nlohmann::json& pod, const std::string& container, int attempt);

// Writes, through `write`, the text the attempt logs after its first `sent` bytes, through
// `reader`, until it ends. `pod_now` reads the pod as stored now (nullopt once deleted),
// `read_log(offset)` the attempt's log from byte `offset` on. `write("")` asks whether the client
// is still there; false from `write` ends the stream.
void FollowPodLog(const std::function<std::optional<nlohmann::json>()>& pod_now,
                  const std::function<std::optional<std::string>(size_t offset)>& read_log,
                  const std::string& container, int attempt, size_t sent, PodLogReader reader,
                  const std::function<bool(const std::string&)>& write,
                  const std::atomic<bool>& stop);

}  // namespace migdra::control
