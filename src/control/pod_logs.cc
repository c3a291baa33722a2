#include "control/pod_logs.h"

#include "common/cri_log.h"
#include "control/http_request.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <thread>
#include <vector>

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

// Go's %q of a plain value, as strconv's and time's errors quote the input.
std::string Quoted(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

// strconv.ParseInt(value, 10, 64), with its error text.
Result<int64_t> ParseInt64(const std::string& value) {
  const bool digits = !value.empty() &&
                      value.find_first_not_of("0123456789", value[0] == '-' || value[0] == '+') ==
                          std::string::npos &&
                      value.size() > static_cast<size_t>(value[0] == '-' || value[0] == '+');
  if (!digits) {
    return MakeError(ErrorReason::kBadRequest,
                     "strconv.ParseInt: parsing " + Quoted(value) + ": invalid syntax");
  }
  errno = 0;
  const long long parsed = std::strtoll(value.c_str(), nullptr, 10);
  if (errno == ERANGE) {
    return MakeError(ErrorReason::kBadRequest,
                     "strconv.ParseInt: parsing " + Quoted(value) + ": value out of range");
  }
  return parsed;
}

// The kubelet's output timestamp (RFC3339NanoFixed: nine digits of fraction) of a CRI log
// timestamp, in the zone the log wrote it in.
std::string FixedNanos(std::string_view timestamp) {
  size_t zone = timestamp.find_first_of("Zz+-", 19);
  std::string fraction;
  if (timestamp.size() > 19 && timestamp[19] == '.') {
    fraction = std::string(timestamp.substr(20, zone - 20)).substr(0, 9);
  }
  fraction.resize(9, '0');
  return std::string(timestamp.substr(0, 19)) + "." + fraction +
         std::string(timestamp.substr(zone));
}

std::vector<CriLogEntry> ParseEntries(std::string_view log, bool complete_last) {
  std::vector<CriLogEntry> entries;
  while (!log.empty()) {
    const size_t end = log.find('\n');
    if (end == std::string_view::npos) {
      entries.push_back(ParseCriLogLine(log, complete_last));
      break;
    }
    entries.push_back(ParseCriLogLine(log.substr(0, end), true));
    log.remove_prefix(end + 1);
  }
  return entries;
}

}  // namespace

Result<PodLogOptions> ParsePodLogOptions(
    const std::function<std::optional<std::string>(const std::string&)>& query,
    const std::string& pod, int64_t now_nanos) {
  PodLogOptions options;
  std::optional<int64_t> since_seconds;
  bool since_time = false;
  // Decoding first (BadRequest), as the API server's parameter codec, in the order of the
  // PodLogOptions fields (the first error is the answer); validation after (Invalid).
  auto decode_int = [&](const char* key, std::optional<int64_t>& target) -> Status {
    std::optional<std::string> value = query(key);
    if (!value) return OkStatus();
    MIGDRA_ASSIGN_OR_RETURN(target, ParseInt64(*value));
    return OkStatus();
  };
  options.follow = QueryBool(query("follow"));
  options.previous = QueryBool(query("previous"));
  MIGDRA_RETURN_IF_ERROR(decode_int("sinceSeconds", since_seconds));
  if (std::optional<std::string> value = query("sinceTime"); value && !value->empty()) {
    std::optional<int64_t> nanos = ParseRfc3339Nanos(*value);
    if (!nanos) {
      return MakeError(ErrorReason::kBadRequest,
                       "parsing time " + Quoted(*value) +
                           " as \"2006-01-02T15:04:05Z07:00\": cannot parse " + Quoted(*value) +
                           " as RFC 3339");
    }
    // metav1.Time reaches the kubelet with whole seconds.
    options.since_nanos = *nanos - ((*nanos % 1'000'000'000) + 1'000'000'000) % 1'000'000'000;
    since_time = true;
  }
  options.timestamps = QueryBool(query("timestamps"));
  MIGDRA_RETURN_IF_ERROR(decode_int("tailLines", options.tail_lines));
  MIGDRA_RETURN_IF_ERROR(decode_int("limitBytes", options.limit_bytes));
  // pkg/apis/core/validation ValidatePodLogOptions.
  std::vector<ErrorCause> causes;
  auto invalid = [&](const char* field, int64_t value, const char* why) {
    causes.push_back(
        {"FieldValueInvalid", field, "Invalid value: " + std::to_string(value) + ": " + why});
  };
  if (options.tail_lines && *options.tail_lines < 0) {
    invalid("tailLines", *options.tail_lines, "must be greater than or equal to 0");
  }
  if (options.limit_bytes && *options.limit_bytes < 1) {
    invalid("limitBytes", *options.limit_bytes, "must be greater than 0");
  }
  if (since_seconds && since_time) {
    causes.push_back({"FieldValueForbidden", "",
                      "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"});
  } else if (since_seconds && *since_seconds < 1) {
    invalid("sinceSeconds", *since_seconds, "must be greater than 0");
  }
  if (!causes.empty()) {
    std::vector<std::string> parts;
    for (const ErrorCause& c : causes) parts.push_back(c.field + ": " + c.message);
    std::string joined = parts[0];
    if (parts.size() > 1) {
      joined = "[";
      for (size_t i = 0; i < parts.size(); ++i) joined += (i ? ", " : "") + parts[i];
      joined += "]";
    }
    Error error =
        MakeError(ErrorReason::kInvalid, "PodLogOptions \"" + pod + "\" is invalid: " + joined,
                  std::move(causes));
    error.subject = {pod, "", "PodLogOptions"};
    return error;
  }
  if (since_seconds) {
    options.since_nanos =
        now_nanos - std::min<int64_t>(*since_seconds, now_nanos / 1'000'000'000) * 1'000'000'000;
  }
  return options;
}

std::string PodLogReader::Add(std::string_view log) {
  pending_.append(log);
  const size_t end = pending_.rfind('\n');
  if (end == std::string::npos) return "";
  std::string complete = pending_.substr(0, end + 1);
  pending_.erase(0, end + 1);
  return Render(complete, true);
}

std::string PodLogReader::Finish() {
  std::string rest = std::move(pending_);
  pending_.clear();
  return Render(rest, false);
}

std::string PodLogReader::Render(std::string_view log, bool complete_last) {
  std::vector<CriLogEntry> entries = ParseEntries(log, complete_last);
  size_t from = 0;
  if (first_ && options_.tail_lines) {
    // The kubelet counts the log file's lines (tail.FindTailLineStartIndex): one per entry, a
    // partial (P) entry included, so the first line shown may be the end of a longer one. A last
    // file line still being written is not counted, but shown.
    const size_t counted = entries.size() - (complete_last || entries.empty() ? 0 : 1);
    from = counted - std::min<size_t>(counted, static_cast<size_t>(*options_.tail_lines));
  }
  first_ = false;
  std::string out;
  for (size_t i = from; i < entries.size() && !Done(); ++i) {
    const CriLogEntry& e = entries[i];
    if (options_.since_nanos && e.nanos && *e.nanos < *options_.since_nanos) continue;
    std::string text;
    if (options_.timestamps && line_start_ && e.nanos) text = FixedNanos(e.timestamp) + " ";
    text.append(e.text);
    if (e.newline) text.push_back('\n');
    line_start_ = e.ends_line;
    if (options_.limit_bytes) {
      if (static_cast<int64_t>(text.size()) > *options_.limit_bytes) {
        text.resize(static_cast<size_t>(*options_.limit_bytes));
      }
      *options_.limit_bytes -= static_cast<int64_t>(text.size());
    }
    out += text;
  }
  return out;
}

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
                  const std::function<std::optional<std::string>(size_t offset)>& read_log,
                  const std::string& container, int attempt, size_t sent, PodLogReader reader,
                  const std::function<bool(const std::string&)>& write,
                  const std::atomic<bool>& stop) {
  while (!stop.load() && !reader.Done()) {
    // The status first: a log read after it saw the end holds everything the attempt wrote.
    std::optional<json> pod = pod_now();
    const bool running = pod && PodLogAttemptRunning(*pod, container, attempt);
    std::optional<std::string> log = read_log(sent);
    std::string text;
    if (log && !log->empty()) {
      text = reader.Add(*log);
      sent += log->size();
    }
    if (!running) text += reader.Finish();
    if (!text.empty() && !write(text)) return;
    if (!running || !write("")) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

}  // namespace migdra::control
