#include "control/pod_logs.h"

#include <chrono>
#include <thread>

namespace migdra::control {
namespace {

using json = nlohmann::json;

// The container's entry in status.containerStatuses / initContainerStatuses; null when none.
const json* StatusOf(const json& pod, const std::string& container) {
  if (!pod.contains("status") || !pod["status"].is_object()) return nullptr;
  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    auto statuses = pod["status"].find(list);
    if (statuses == pod["status"].end() || !statuses->is_array()) continue;
    for (const json& s : *statuses) {
      if (s.is_object() && s.value("name", "") == container) return &s;
    }
  }
  return nullptr;
}

bool Has(const json& status, const char* field, const char* state) {
  return status.contains(field) && status[field].is_object() && status[field].contains(state);
}

int RestartCount(const json& status) {
  auto count = status.find("restartCount");
  return count != status.end() && count->is_number_integer() ? count->get<int>() : 0;
}

}  // namespace

Result<int> PodLogAttempt(const json& pod, const std::string& container, bool previous) {
  const std::string pod_name = pod["metadata"].value("name", "");
  const json* status = StatusOf(pod, container);
  const int restarts = status ? RestartCount(*status) : 0;
  // Waiting for a restart: the attempt that ended last is restartCount, for both.
  const bool backing_off =
      status && Has(*status, "state", "waiting") && Has(*status, "lastState", "terminated");
  if (previous) {
    if (status && backing_off) return restarts;
    if (status && restarts > 0 && !Has(*status, "state", "waiting")) return restarts - 1;
    return MakeError("previous terminated container \"" + container + "\" in pod \"" + pod_name +
                     "\" not found");
  }
  if (status &&
      (backing_off || Has(*status, "state", "running") || Has(*status, "state", "terminated"))) {
    return restarts;
  }
  std::string reason = "ContainerCreating";
  if (status && Has(*status, "state", "waiting")) {
    reason = (*status)["state"]["waiting"].value("reason", reason);
  }
  return MakeError("container \"" + container + "\" in pod \"" + pod_name +
                   "\" is waiting to start: " + reason);
}

bool PodLogAttemptRunning(const json& pod, const std::string& container, int attempt) {
  const json* status = StatusOf(pod, container);
  return status && Has(*status, "state", "running") && RestartCount(*status) == attempt;
}

void FollowPodLog(const std::function<std::optional<json>()>& pod_now,
                  const std::function<std::optional<std::string>()>& read_log,
                  const std::string& container, int attempt, size_t sent,
                  const std::function<bool(const std::string&)>& write,
                  const std::atomic<bool>& stop) {
  while (!stop.load()) {
    // The status first: a log read after it saw the end holds everything the attempt wrote.
    std::optional<json> pod = pod_now();
    const bool running = pod && PodLogAttemptRunning(*pod, container, attempt);
    std::optional<std::string> log = read_log();
    if (log && log->size() > sent) {
      if (!write(log->substr(sent))) return;
      sent = log->size();
    }
    if (!running || !write("")) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

}  // namespace migdra::control
