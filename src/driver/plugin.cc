#include "driver/plugin.h"

#include <cstdio>
#include <filesystem>

#include "api/codec.h"
#include "common/guard.h"
#include "driver/cdi.h"
#include "driver/claim_source.h"
#include "driver/dra_service.h"
#include "driver/driver_root.h"
#include "driver/metrics.h"
#include "driver/node_labels.h"
#include "driver/nvml_mig_backend.h"
#include "gpu/nvml.h"
#include "gpu/simulator.h"
#include "kube/slice_publisher.h"

namespace migdra::driver {
namespace {

constexpr std::chrono::seconds kFirstRetry{1};
constexpr std::chrono::seconds kMaxRetry{60};
constexpr std::chrono::seconds kReassert{300};

}  // namespace

Result<std::unique_ptr<Plugin>> Plugin::Start(PluginOptions options,
                                              std::unique_ptr<kube::Client> client) {
  std::unique_ptr<Plugin> plugin(new Plugin());
  if (options.state_dir.empty())
    options.state_dir = options.plugins_dir + "/" + options.driver_name;
  std::error_code ec;
  std::filesystem::create_directories(options.state_dir, ec);

  // NVML, or nvmlsim (also where real NVML is missing and a stand-in was asked for).
  if (options.simulate.empty()) {
    auto real = gpu::Nvml::Open({options.nvml_path, options.driver_root});
    if (real.ok()) {
      plugin->nvml_ = std::move(*real);
    } else if (options.simulate_without_nvml.empty()) {
      return MakeError("NVML: " + real.error().message);
    } else {
      options.simulate = options.simulate_without_nvml;
      plugin->fallback_note_ = "no NVML: " + real.error().message;
    }
  }
  if (!plugin->nvml_) {
    const std::string sim_state = options.nvmlsim_state.empty()
                                      ? options.state_dir + "/nvmlsim-state.json"
                                      : options.nvmlsim_state;
    auto sim = gpu::OpenSimulator(options.simulate, sim_state);
    if (!sim.ok()) return MakeError("--simulate: " + sim.error().message);
    plugin->nvml_ = std::move(*sim);
  }
  auto inventory = gpu::ReadInventory(*plugin->nvml_, options.node_name);
  if (!inventory.ok()) return MakeError("reading the GPU inventory: " + inventory.error().message);
  plugin->inventory_ = std::move(*inventory);
  plugin->inventory_.simulated = plugin->inventory_.simulated || plugin->nvml_->simulated();

  plugin->backend_ =
      std::make_unique<TimedMigBackend>(std::make_unique<NvmlMigBackend>(plugin->nvml_.get()));
  GlobalDriverMetrics().SetNode(options.node_name);
  plugin->client_ = std::move(client);
  plugin->claims_ = std::make_unique<KubeClaimSource>(plugin->client_.get());

  DeviceStateOptions state_options;
  state_options.driver_name = options.driver_name;
  state_options.pool_name = options.node_name;
  state_options.state_dir = options.state_dir;
  state_options.cdi_root = options.cdi_root;
  state_options.dynamic_mig = options.dynamic_mig;
  state_options.crash_at = options.crash_at;
  // The driver installation is scanned once: every claim's CDI spec shares its edits. Under
  // nvmlsim only a named driver root is scanned (its libraries tell the version).
  const bool simulated = plugin->nvml_->simulated();
  if (!simulated || !options.driver_root.empty()) {
    auto driver = DiscoverDriver({options.driver_root.empty() ? "/" : options.driver_root,
                                  simulated ? "" : plugin->inventory_.driver_version, ""});
    if (!driver.ok()) return MakeError("CDI specs: " + driver.error().message);
    if (driver->hook_path.empty()) {
      std::fprintf(stderr,
                   "migdra: no nvidia-cdi-hook under %s: CDI specs bind-mount the library links "
                   "instead of running the toolkit's hooks (images must use the standard library "
                   "folders or LD_LIBRARY_PATH)\n",
                   driver->root.c_str());
    }
    state_options.dev_root = driver->dev_root == "/" ? "/dev" : driver->dev_root + "/dev";
    state_options.cdi_common_edits = CommonEdits(*driver);
  }
  auto state = DeviceState::Create(state_options, plugin->backend_.get(), plugin->claims_.get());
  if (!state.ok()) return MakeError("driver state: " + state.error().message);
  plugin->state_ = std::move(*state);

  SliceOptions slice_options;
  slice_options.driver = options.driver_name;
  slice_options.layout = options.layout;
  auto slices = BuildSlicesForPolicy(plugin->inventory_, options.dynamic_mig, slice_options);
  if (!slices.ok()) return MakeError("building ResourceSlices: " + slices.error().message);
  for (const api::ResourceSlice& s : *slices) plugin->slices_.push_back(api::ToJson(s));

  DraServerOptions server_options;
  server_options.driver_name = options.driver_name;
  server_options.plugins_dir = options.plugins_dir;
  server_options.registry_dir = options.registry_dir;
  server_options.register_with_kubelet = options.register_with_kubelet;
  plugin->server_ = std::make_unique<DraServer>(server_options, plugin->state_.get());
  if (Status s = plugin->server_->Start(); !s.ok()) {
    return MakeError("DRA gRPC server: " + s.error().message);
  }
  plugin->options_ = std::move(options);
  Plugin* raw = plugin.get();
  plugin->publisher_ = std::thread([raw] { raw->Publish(); });
  return plugin;
}

Plugin::~Plugin() { Stop(); }

void Plugin::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (publisher_.joinable()) publisher_.join();
  if (server_) server_->Stop();
}

void Plugin::Publish() {
  kube::SlicePublisher publisher(client_.get(), options_.driver_name, options_.node_name);
  std::chrono::seconds wait = kFirstRetry;
  auto failed = [&](const std::string& why) {
    std::fprintf(stderr, "migdra: publishing ResourceSlices: %s\n", why.c_str());
    wait = std::min(wait * 2, kMaxRetry);
  };
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    // An exception (say an API server's odd answer) is one failed attempt, never the end of the
    // process: the publisher backs off and tries again.
    bool done = false;
    RunGuarded(
        [&] {
          auto stats = publisher.Publish(slices_);
          if (!stats.ok()) return failed(stats.error().message);
          if (stats->created + stats->updated + stats->deleted > 0) {
            std::fprintf(stderr,
                         "migdra: published %zu ResourceSlices (%d created, %d updated, %d "
                         "deleted)\n",
                         slices_.size(), stats->created, stats->updated, stats->deleted);
          }
          done = true;
          wait = kReassert;
        },
        failed);
    lock.lock();
    if (done && !published_) {
      published_ = true;
      cv_.notify_all();
    }
    cv_.wait_for(lock, wait, [this] { return stopping_; });
  }
}

bool Plugin::WaitUntilPublished(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return published_ || stopping_; }) && published_;
}

std::map<std::string, std::string> Plugin::NodeLabels() const {
  return driver::NodeLabels(inventory_);
}

std::string Plugin::Describe() const {
  std::string text =
      std::to_string(inventory_.gpus.size()) + " x " +
      (inventory_.gpus.empty() ? std::string("no GPU") : inventory_.gpus.front().product_name);
  if (inventory_.simulated) {
    text += fallback_note_.empty() ? " (simulated)" : " (simulated, " + fallback_note_ + ")";
  }
  return text;
}

std::string Plugin::dra_socket() const { return server_->dra_socket(); }
std::string Plugin::registration_socket() const { return server_->registration_socket(); }

}  // namespace migdra::driver
