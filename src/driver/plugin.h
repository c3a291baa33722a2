// The DRA kubelet plugin assembled: the one place where the driver is wired, used by
// `migdra plugin` and by the node of `migdra serve` alike, so that both publish exactly what
// their driver will prepare.
//
//   NVML (or nvmlsim) ─► inventory ─► slices (BuildSlicesForPolicy) ─► kube::SlicePublisher
//          │                                                               (API server, REST)
//          └─► TimedMigBackend ─► DeviceState (checkpoint, CDI specs) ─► DraServer
//                                     ▲ claims read through kube::Client    (DRA gRPC socket,
//                                                                            registration)
//
// NVML is opened once, here. The slices are built from the same inventory and dynamic-MIG
// policy the DeviceState prepares under; the CDI specs carry the driver installation's common
// edits (driver/driver_root.h) whenever the driver is real or a --driver-root is named.
//
// Publishing: a background thread publishes the slices until it succeeds, backing off from 1 s
// to 60 s, then re-asserts them every 5 minutes (another writer or a restarted API server may
// have changed them). WaitUntilPublished tells when the first publication succeeded.
//
// Thread safety: Start and Stop from one thread; the accessors from any.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "driver/device_state.h"
#include "driver/slice_builder.h"
#include "gpu/inventory.h"
#include "kube/client.h"

namespace migdra::gpu {
class Nvml;
}

namespace migdra::driver {

class DraServer;
class MigBackend;
class KubeClaimSource;

struct PluginOptions {
  std::string node_name;  // the pool name
  std::string driver_name = "gpu.nvidia.com";
  std::string plugins_dir = "/var/lib/kubelet/plugins";
  std::string registry_dir = "/var/lib/kubelet/plugins_registry";
  bool register_with_kubelet = true;  // serve's node finds the socket itself
  std::string cdi_root = "/var/run/cdi";
  std::string state_dir;  // checkpoint folder; "" = PLUGINS_DIR/DRIVER
  std::string nvml_path;  // libnvidia-ml.so.1 ("" = the loader's search)
  std::string driver_root;
  // nvmlsim's MODEL[:COUNT][,...]; "" = real NVML. nvmlsim keeps its MIG state in
  // `nvmlsim_state` ("" = STATE_DIR/nvmlsim-state.json) so a restart sees what it created.
  std::string simulate;
  std::string nvmlsim_state;
  // When real NVML cannot be opened, simulate this instead of failing ("" = fail).
  std::string simulate_without_nvml;
  DynamicMigPolicy dynamic_mig = DynamicMigPolicy::kEnabledGpus;
  SliceLayout layout = SliceLayout::kSplit;
  std::string crash_at;  // DeviceStateOptions::crash_at (test hook)
};

class Plugin {
 public:
  // Opens NVML, reads the inventory, recovers the checkpoint, serves the DRA socket (and the
  // registration socket) and starts publishing through `client`. Errors say which step failed.
  static Result<std::unique_ptr<Plugin>> Start(PluginOptions options,
                                               std::unique_ptr<kube::Client> client);
  ~Plugin();
  // Stops publishing and serving (the checkpoint and the published slices stay).
  void Stop();

  // True once the slices were published; false when `timeout` passed first.
  bool WaitUntilPublished(std::chrono::milliseconds timeout);

  const gpu::NodeInventory& inventory() const { return inventory_; }
  // The GPU feature discovery labels of the node (driver/node_labels.h).
  std::map<std::string, std::string> NodeLabels() const;
  // "8 x NVIDIA A100-SXM4-80GB (simulated)", for logs.
  std::string Describe() const;
  std::string dra_socket() const;
  std::string registration_socket() const;

 private:
  Plugin() = default;
  void Publish();

  PluginOptions options_;
  std::string fallback_note_;  // why nvmlsim stands in for a missing NVML
  std::unique_ptr<kube::Client> client_;
  std::unique_ptr<gpu::Nvml> nvml_;
  gpu::NodeInventory inventory_;
  std::unique_ptr<MigBackend> backend_;
  std::unique_ptr<KubeClaimSource> claims_;
  std::unique_ptr<DeviceState> state_;
  std::unique_ptr<DraServer> server_;
  std::vector<nlohmann::json> slices_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;   // guarded by mu_
  bool published_ = false;  // guarded by mu_
  std::thread publisher_;
};

}  // namespace migdra::driver
