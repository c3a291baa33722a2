// The Job controller (controllers.h): pods per parallelism and completions, backoffLimit, and
// the Complete/Failed conditions.
#include "control/controllers.h"

#include <algorithm>

#include "control/controller_support.h"
#include "control/json_access.h"
#include "control/object_meta.h"
#include "control/objects.h"

namespace migdra::control {

void Controllers::SyncJobs() {
  std::vector<json> pods = ListAll(store_, "pods");
  for (json job : ListAll(store_, "jobs")) {
    ForObject(job, "job-controller", [&] {
      if (Deleting(job)) return;
      json& spec = job["spec"];
      json& status = job["status"];
      if (!status.is_object()) status = json::object();
      const bool finished = ConditionTrue(job, "Complete") || ConditionTrue(job, "Failed");
      std::vector<json> owned;
      for (const json& pod : pods) {
        const json* ref = ControllerRef(pod);
        if (ref && Str(*ref, "uid") == Uid(job) && Ns(pod) == Ns(job)) owned.push_back(pod);
      }
      int active = 0, succeeded = 0, failed = 0, ready = 0, terminating = 0;
      for (const json& pod : owned) {
        if (Phase(pod) == "Succeeded") {
          ++succeeded;
        } else if (Phase(pod) == "Failed") {
          ++failed;
        } else if (Deleting(pod)) {
          ++terminating;
        } else {
          ++active;
          if (ConditionTrue(pod, "Ready")) ++ready;
        }
      }
      const int completions = IntOr(spec, "completions", 1);
      const int parallelism = IntOr(spec, "parallelism", 1);
      const int backoff_limit = IntOr(spec, "backoffLimit", 6);
      const bool suspended = Field(spec, {"suspend"}) == true;
      const json before = job;
      if (!status.contains("startTime") && !suspended) status["startTime"] = NowRfc3339();
      if (!finished) {
        if (failed > backoff_limit) {
          SetCondition(status, "FailureTarget", "True", "BackoffLimitExceeded",
                       "Job has reached the specified backoff limit", true);
          SetCondition(status, "Failed", "True", "BackoffLimitExceeded",
                       "Job has reached the specified backoff limit", true);
          for (const json& pod : owned) {
            if (!Terminal(pod) && !Deleting(pod)) {
              (void)DeleteObject(store_, Info("pods"), Ns(pod), Name(pod));
              --active;
            }
          }
        } else if (succeeded >= completions) {
          SetCondition(status, "SuccessCriteriaMet", "True", "CompletionsReached",
                       "Reached expected number of succeeded pods", true);
          SetCondition(status, "Complete", "True", "CompletionsReached",
                       "Reached expected number of succeeded pods", true);
          status["completionTime"] = NowRfc3339();
        } else if (!suspended) {
          int want = std::min(parallelism, completions - succeeded) - active;
          for (int i = 0; i < want; ++i) {
            const json& tmpl = Field(spec, {"template"});
            json meta = Field(tmpl, {"metadata"});
            if (!meta.is_object()) meta = json::object();
            meta["namespace"] = Ns(job);
            meta["generateName"] = Name(job) + "-";
            meta.erase("name");
            meta["ownerReferences"] = json::array({OwnerRef(job, true)});
            json pod = {{"apiVersion", "v1"},
                        {"kind", "Pod"},
                        {"metadata", meta},
                        {"spec", Field(tmpl, {"spec"})}};
            Result<json> created = CreateObject(store_, Info("pods"), std::move(pod));
            if (created.ok()) {
              ++active;
              RecordEvent(store_, job, "Normal", "SuccessfulCreate",
                          "Created pod: " + Name(*created), "job-controller");
            } else {
              RecordEvent(store_, job, "Warning", "FailedCreate",
                          "Error creating: " + created.error().message, "job-controller");
              break;
            }
          }
        }
      }
      status["active"] = std::max(active, 0);
      status["succeeded"] = succeeded;
      status["failed"] = failed;
      status["ready"] = ready;
      status["terminating"] = terminating;
      if (!status.contains("uncountedTerminatedPods"))
        status["uncountedTerminatedPods"] = json::object();
      if (status["active"] == 0) status.erase("active");
      if (status["succeeded"] == 0) status.erase("succeeded");
      if (status["failed"] == 0) status.erase("failed");
      if (job != before) ControllerWrite(store_, "jobs", job);
    });
  }
}

}  // namespace migdra::control
