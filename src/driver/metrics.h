// The kubelet plugin's Prometheus metrics, process-wide (the plugin's --http-endpoint and serve's
// /metrics both render them):
//  - NVIDIA's DRA driver request metrics under its names, labels, types and buckets
//    (k8s-dra-driver-gpu pkg/metrics): nvidia_dra_requests_total{driver,operation} and
//    nvidia_dra_request_duration_seconds{driver,operation} count completed, successful Prepare and
//    Unprepare calls (one per claim); nvidia_dra_requests_inflight{driver,operation};
//    nvidia_dra_prepared_devices{node,driver,device_type} from the checkpoint (claims
//    PrepareCompleted; types gpu, mig, vfio, unknown); nvidia_dra_node_prepare_errors_total and
//    nvidia_dra_node_unprepare_errors_total{driver,error_type} (error_type prepare_devices /
//    unprepare_devices, as NVIDIA's driver names the stage).
//  - migdra's own: migdra_mig_create_duration_seconds / migdra_mig_destroy_duration_seconds
//    {gpu,operation} (operation gpu_instance | compute_instance; successful NVML calls only),
//    migdra_mig_instances{gpu,UUID,GPU_I_PROFILE} (live MIG devices the driver prepared, from the
//    checkpoint), migdra_gpu_healthy{gpu,UUID} (0 after the GPU's last MIG operation failed for a
//    reason other than a busy, missing or occupied instance; 1 otherwise).
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "common/prometheus.h"
#include "driver/device_state.h"
#include "driver/mig_backend.h"

namespace migdra::driver {

class DriverMetrics {
 public:
  DriverMetrics();

  // Names this process's driver and the state whose checkpoint the gauges read (DraServer's
  // Start and Stop). `state` must stay valid until Detach(state).
  void Attach(const std::string& driver, const DeviceState* state);
  void Detach(const DeviceState* state);
  // The node label of nvidia_dra_prepared_devices.
  void SetNode(const std::string& node);

  // One Prepare or Unprepare of a claim: in flight while alive; Succeeded() records its duration,
  // Failed(error_type) an error.
  class Request {
   public:
    Request(DriverMetrics& metrics, std::string operation);
    ~Request();
    void Succeeded();
    void Failed(const std::string& error_type);

   private:
    DriverMetrics& metrics_;
    std::string operation_;
    std::string driver_;
    std::chrono::steady_clock::time_point start_;
  };

  void ObserveMig(bool create, int gpu_minor, const char* operation, double seconds);
  void SetGpuHealth(int gpu_minor, bool healthy);

  // The exposition of every family above.
  std::string Render() const;

 private:
  std::string Driver() const;

  mutable std::mutex mu_;
  std::string driver_ = "gpu.nvidia.com";
  std::string node_;
  const DeviceState* state_ = nullptr;
  std::map<int, bool> healthy_;

  prometheus::CounterVec requests_;
  prometheus::HistogramVec request_duration_;
  prometheus::GaugeVec inflight_;
  prometheus::CounterVec prepare_errors_;
  prometheus::CounterVec unprepare_errors_;
  prometheus::HistogramVec mig_create_;
  prometheus::HistogramVec mig_destroy_;
};

DriverMetrics& GlobalDriverMetrics();

// A MigBackend that times MIG creation and destruction and tracks GPU health into
// GlobalDriverMetrics(), forwarding every call to `inner`.
class TimedMigBackend final : public MigBackend {
 public:
  explicit TimedMigBackend(std::unique_ptr<MigBackend> inner) : inner_(std::move(inner)) {}

  Result<std::vector<GpuInfo>> ListGpus() override { return inner_->ListGpus(); }
  Result<std::vector<MigInstance>> ListMigInstances(int gpu_minor) override {
    return inner_->ListMigInstances(gpu_minor);
  }
  Result<std::vector<MigInstance>> ListMigInstancesOfProfile(int gpu_minor,
                                                             int gi_profile_id) override {
    return inner_->ListMigInstancesOfProfile(gpu_minor, gi_profile_id);
  }
  MigStatus SetMigMode(int gpu_minor, bool enabled) override;
  MigStatus CreateGpuInstance(int gpu_minor, int gi_profile_id, int placement_start,
                              int* gi_id) override;
  MigStatus CreateComputeInstance(int gpu_minor, int gi_id, int* ci_id, std::string* uuid) override;
  MigStatus DestroyComputeInstance(int gpu_minor, int gi_id, int ci_id) override;
  MigStatus DestroyGpuInstance(int gpu_minor, int gi_id) override;

 private:
  std::unique_ptr<MigBackend> inner_;
};

}  // namespace migdra::driver
