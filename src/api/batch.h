// batch/v1 Job, the subset migdra acts on. As for the core/v1 kinds (core.h), fields migdra does
// not model (selector, suspend, completionMode, podFailurePolicy, ...) are kept verbatim in
// `extra` and written back unchanged by the codecs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/core.h"
#include "api/meta.h"

namespace migdra::api {

struct JobSpec {
  PodTemplateSpec template_;  // "template" on the wire
  std::optional<int32_t> completions;
  std::optional<int32_t> parallelism;
  std::optional<int32_t> backoff_limit;
  std::optional<int64_t> active_deadline_seconds;
  std::optional<int32_t> ttl_seconds_after_finished;
  nlohmann::json extra;
};

struct JobStatus {
  int32_t active = 0;
  int32_t succeeded = 0;
  int32_t failed = 0;
  std::optional<int32_t> ready;
  std::vector<Condition> conditions;
  std::string start_time;       // RFC 3339, empty when unset
  std::string completion_time;  // RFC 3339, empty when unset
  nlohmann::json extra;         // terminating, uncountedTerminatedPods, ...
};

struct Job {
  TypeMeta type_meta{"batch/v1", "Job"};
  ObjectMeta metadata;
  JobSpec spec;
  JobStatus status;
  nlohmann::json extra;
};

}  // namespace migdra::api
