#include "driver/metrics.h"

#include <cctype>

#include "driver/slice_builder.h"

namespace migdra::driver {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// NVML's profile name from the canonical device name's form: "1g10gb" -> "1g.10gb",
// "1g10gb-me" -> "1g.10gb+me" (device names drop the dot and map '+' to '-').
std::string ProfileFromCanonical(std::string p) {
  size_t i = 0;
  while (i < p.size() && std::isdigit(static_cast<unsigned char>(p[i]))) ++i;
  if (i > 0 && i < p.size() && p[i] == 'g' && i + 1 < p.size() && p[i + 1] != '.') {
    p.insert(i + 1, ".");
  }
  size_t dash = p.find('-');
  if (dash != std::string::npos) p[dash] = '+';
  return p;
}

bool HealthyAfter(const MigStatus& s) { return s.code != MigCode::kFailed; }

}  // namespace

DriverMetrics::DriverMetrics()
    : requests_("nvidia_dra_requests_total", "Total number of DRA prepare and unprepare requests.",
                {"driver", "operation"}),
      request_duration_("nvidia_dra_request_duration_seconds",
                        "Duration of DRA prepare and unprepare requests.", {"driver", "operation"},
                        prometheus::ExponentialBuckets(0.05, 2, 9)),
      inflight_("nvidia_dra_requests_inflight",
                "Number of in-flight DRA prepare and unprepare requests.", {"driver", "operation"}),
      prepare_errors_("nvidia_dra_node_prepare_errors_total",
                      "Total number of failures during DRA node prepare for kubelet plugins.",
                      {"driver", "error_type"}),
      unprepare_errors_("nvidia_dra_node_unprepare_errors_total",
                        "Total number of failures during DRA node unprepare for kubelet plugins.",
                        {"driver", "error_type"}),
      mig_create_("migdra_mig_create_duration_seconds",
                  "Duration of successful MIG GPU and compute instance creations (NVML calls).",
                  {"gpu", "operation"}, prometheus::ExponentialBuckets(0.001, 2, 14)),
      mig_destroy_("migdra_mig_destroy_duration_seconds",
                   "Duration of successful MIG GPU and compute instance destructions (NVML calls).",
                   {"gpu", "operation"}, prometheus::ExponentialBuckets(0.001, 2, 14)) {}

void DriverMetrics::SetNode(const std::string& node) {
  std::lock_guard<std::mutex> lock(mu_);
  node_ = node;
}

void DriverMetrics::Attach(const std::string& driver, const DeviceState* state) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    driver_ = driver;
    state_ = state;
    for (const GpuInfo& g : state->gpus()) healthy_.emplace(g.minor, true);
  }
  // Zero-valued series from the first scrape, as NVIDIA's driver pre-creates them.
  for (const char* op : {"prepare", "unprepare"}) {
    requests_.Touch({driver, op});
    request_duration_.Touch({driver, op});
    inflight_.Touch({driver, op});
  }
}

void DriverMetrics::Detach(const DeviceState* state) {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ == state) state_ = nullptr;
}

std::string DriverMetrics::Driver() const {
  std::lock_guard<std::mutex> lock(mu_);
  return driver_;
}

DriverMetrics::Request::Request(DriverMetrics& metrics, std::string operation)
    : metrics_(metrics),
      operation_(std::move(operation)),
      driver_(metrics.Driver()),
      start_(Clock::now()) {
  metrics_.inflight_.Add({driver_, operation_}, 1);
}

DriverMetrics::Request::~Request() { metrics_.inflight_.Add({driver_, operation_}, -1); }

void DriverMetrics::Request::Succeeded() {
  metrics_.requests_.Inc({driver_, operation_});
  metrics_.request_duration_.Observe({driver_, operation_}, SecondsSince(start_));
}

void DriverMetrics::Request::Failed(const std::string& error_type) {
  (operation_ == "prepare" ? metrics_.prepare_errors_ : metrics_.unprepare_errors_)
      .Inc({driver_, error_type});
}

void DriverMetrics::ObserveMig(bool create, int gpu_minor, const char* operation, double seconds) {
  (create ? mig_create_ : mig_destroy_).Observe({std::to_string(gpu_minor), operation}, seconds);
}

void DriverMetrics::SetGpuHealth(int gpu_minor, bool healthy) {
  std::lock_guard<std::mutex> lock(mu_);
  healthy_[gpu_minor] = healthy;
}

std::string DriverMetrics::Render() const {
  prometheus::TextWriter w;
  requests_.Write(w);
  request_duration_.Write(w);
  inflight_.Write(w);
  prepare_errors_.Write(w);
  unprepare_errors_.Write(w);

  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, int> by_type = {{"gpu", 0}, {"mig", 0}, {"vfio", 0}, {"unknown", 0}};
  std::map<std::vector<std::string>, int> instances;
  std::map<int, std::string> gpu_uuid;
  if (state_ != nullptr) {
    for (const GpuInfo& g : state_->gpus()) gpu_uuid[g.minor] = g.uuid;
    Checkpoint cp = state_->Snapshot();
    for (const auto& [uid, record] : cp.claims) {
      if (record.state != ClaimState::kPrepareCompleted) continue;
      for (const PreparedDevice& d : record.devices) {
        ++by_type[d.kind == DeviceKind::kGpu ? "gpu" : "mig"];
        if (d.kind == DeviceKind::kGpu) continue;
        auto ref = ParseMigDeviceName(d.device);
        std::string profile = ref ? ProfileFromCanonical(ref->profile) : "";
        ++instances[{std::to_string(d.gpu_minor), d.parent_uuid, profile}];
      }
    }
  }
  w.Family("nvidia_dra_prepared_devices", "gauge",
           "Current number of prepared devices by device type.");
  for (const auto& [type, n] : by_type) {
    w.Sample("nvidia_dra_prepared_devices",
             {{"node", node_}, {"driver", driver_}, {"device_type", type}}, n);
  }
  mig_create_.Write(w);
  mig_destroy_.Write(w);
  w.Family("migdra_mig_instances", "gauge",
           "Live MIG devices the driver prepared, by GPU and profile.");
  for (const auto& [labels, n] : instances) {
    w.Sample("migdra_mig_instances",
             {{"gpu", labels[0]}, {"UUID", labels[1]}, {"GPU_I_PROFILE", labels[2]}}, n);
  }
  w.Family("migdra_gpu_healthy", "gauge",
           "0 after the GPU's last MIG operation failed in NVML, else 1.");
  for (const auto& [minor, healthy] : healthy_) {
    w.Sample("migdra_gpu_healthy", {{"gpu", std::to_string(minor)}, {"UUID", gpu_uuid[minor]}},
             healthy ? 1 : 0);
  }
  return w.str();
}

DriverMetrics& GlobalDriverMetrics() {
  static DriverMetrics* metrics = new DriverMetrics();  // never destroyed: used until exit
  return *metrics;
}

MigStatus TimedMigBackend::SetMigMode(int gpu_minor, bool enabled) {
  MigStatus s = inner_->SetMigMode(gpu_minor, enabled);
  GlobalDriverMetrics().SetGpuHealth(gpu_minor, HealthyAfter(s));
  return s;
}

MigStatus TimedMigBackend::CreateGpuInstance(int gpu_minor, int gi_profile_id, int placement_start,
                                             int* gi_id) {
  const auto start = Clock::now();
  MigStatus s = inner_->CreateGpuInstance(gpu_minor, gi_profile_id, placement_start, gi_id);
  if (s.ok())
    GlobalDriverMetrics().ObserveMig(true, gpu_minor, "gpu_instance", SecondsSince(start));
  GlobalDriverMetrics().SetGpuHealth(gpu_minor, HealthyAfter(s));
  return s;
}

MigStatus TimedMigBackend::CreateComputeInstance(int gpu_minor, int gi_id, int* ci_id,
                                                 std::string* uuid) {
  const auto start = Clock::now();
  MigStatus s = inner_->CreateComputeInstance(gpu_minor, gi_id, ci_id, uuid);
  if (s.ok()) {
    GlobalDriverMetrics().ObserveMig(true, gpu_minor, "compute_instance", SecondsSince(start));
  }
  GlobalDriverMetrics().SetGpuHealth(gpu_minor, HealthyAfter(s));
  return s;
}

MigStatus TimedMigBackend::DestroyComputeInstance(int gpu_minor, int gi_id, int ci_id) {
  const auto start = Clock::now();
  MigStatus s = inner_->DestroyComputeInstance(gpu_minor, gi_id, ci_id);
  if (s.ok()) {
    GlobalDriverMetrics().ObserveMig(false, gpu_minor, "compute_instance", SecondsSince(start));
  }
  GlobalDriverMetrics().SetGpuHealth(gpu_minor, HealthyAfter(s));
  return s;
}

MigStatus TimedMigBackend::DestroyGpuInstance(int gpu_minor, int gi_id) {
  const auto start = Clock::now();
  MigStatus s = inner_->DestroyGpuInstance(gpu_minor, gi_id);
  if (s.ok()) {
    GlobalDriverMetrics().ObserveMig(false, gpu_minor, "gpu_instance", SecondsSince(start));
  }
  GlobalDriverMetrics().SetGpuHealth(gpu_minor, HealthyAfter(s));
  return s;
}

}  // namespace migdra::driver
