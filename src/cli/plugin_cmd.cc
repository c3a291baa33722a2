// migdra plugin: the DRA kubelet plugin for a real cluster.
//
//   migdra plugin [--node-name NAME] [--kubeconfig FILE] [--driver-name gpu.nvidia.com]
//                 [--plugins-dir DIR] [--registry-dir DIR] [--cdi-root DIR] [--state-dir DIR]
//                 [--nvml PATH] [--driver-root DIR] [--simulate MODEL[:COUNT][,...]]
//                 [--dynamic-mig enabled-gpus|all|none] [--layout 1.34|1.35]
//                 [--http-endpoint HOST:PORT] [--metrics-path /metrics]
//
// Reads the node's GPUs through NVML (or nvmlsim with --simulate), recovers its checkpoint,
// publishes the node's ResourceSlices to the API server (kubeconfig, else in-cluster config),
// serves the kubelet's DRA API (v1, v1beta1) and registers with the kubelet; runs until SIGTERM
// or SIGINT. Claims named in prepare requests are read from the API server. With --http-endpoint
// (NVIDIA's flag; env HTTP_ENDPOINT) the driver's Prometheus metrics (driver/metrics.h) are served
// over plain HTTP at --metrics-path.
// Environment: NODE_NAME (default node name), KUBECONFIG, MIGDRA_CRASH_AT (test hook, see
// driver/device_state.h).
// Exit codes: 0 after a signal, 2 on bad flags or when the plugin cannot start.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <CLI/CLI.hpp>

#include "api/codec.h"
#include "cli/command.h"
#include "common/guard.h"
#include "driver/cdi.h"
#include "driver/claim_source.h"
#include "driver/device_state.h"
#include "driver/dra_service.h"
#include "driver/driver_root.h"
#include "driver/metrics.h"
#include "driver/nvml_mig_backend.h"
#include "driver/slice_builder.h"
#include "gpu/inventory.h"
#include "gpu/nvml.h"
#include "gpu/simulator.h"
#include "kube/client.h"
#include "kube/slice_publisher.h"

namespace migdra::cli {
namespace {

std::atomic<bool> g_stop{false};

int RunPlugin(int argc, char** argv) {
  CLI::App app{"The DRA kubelet plugin for NVIDIA GPUs and MIG devices", "migdra plugin"};
  std::string node = gpu::LocalNodeName(), kubeconfig, driver_name = "gpu.nvidia.com";
  std::string plugins_dir = "/var/lib/kubelet/plugins";
  std::string registry_dir = "/var/lib/kubelet/plugins_registry";
  std::string cdi_root = "/var/run/cdi", state_dir, nvml_path, driver_root, simulate;
  std::string dynamic_mig = "enabled-gpus", layout = "1.35";
  if (const char* k = std::getenv("KUBECONFIG")) kubeconfig = k;
  if (const char* d = std::getenv("KUBELET_PLUGINS_DIRECTORY_PATH")) plugins_dir = d;
  if (const char* d = std::getenv("KUBELET_REGISTRAR_DIRECTORY_PATH")) registry_dir = d;
  app.add_option("--node-name", node, "this node's name (the pool name)");
  app.add_option("--kubeconfig", kubeconfig, "kubeconfig file (default: in-cluster config)");
  app.add_option("--driver-name", driver_name, "DRA driver name");
  app.add_option("--plugins-dir", plugins_dir, "the kubelet's plugins folder");
  app.add_option("--registry-dir", registry_dir, "the kubelet's plugins_registry folder");
  app.add_option("--cdi-root", cdi_root, "where CDI specs are written");
  app.add_option("--state-dir", state_dir, "checkpoint folder (default <plugins-dir>/<driver>)");
  app.add_option("--nvml", nvml_path, "path of libnvidia-ml.so.1");
  app.add_option("--driver-root", driver_root, "root of the NVIDIA driver installation");
  app.add_option("--simulate", simulate, "simulate GPUs with nvmlsim: MODEL[:COUNT][,...]");
  app.add_option("--dynamic-mig", dynamic_mig,
                 "which GPUs are partitioned on demand: enabled-gpus (MIG already on), all (also "
                 "turn MIG on for idle Hopper+ GPUs), none")
      ->check(CLI::IsMember({"enabled-gpus", "all", "none"}));
  app.add_option("--layout", layout, "ResourceSlice layout for this Kubernetes version")
      ->check(CLI::IsMember({"1.34", "1.35"}));
  std::string http_endpoint, metrics_path = "/metrics";
  if (const char* e = std::getenv("HTTP_ENDPOINT")) http_endpoint = e;
  app.add_option("--http-endpoint", http_endpoint,
                 "HOST:PORT of the HTTP server for metrics (empty: no server)");
  app.add_option("--metrics-path", metrics_path, "HTTP path of the Prometheus metrics");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  auto fail = [](const std::string& message) {
    std::cerr << "migdra plugin: " << message << "\n";
    return 2;
  };
  // Block the stop signals before any thread starts, so that only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  if (state_dir.empty()) state_dir = plugins_dir + "/" + driver_name;
  auto policy = driver::ParseDynamicMigPolicy(dynamic_mig);
  if (!policy.ok()) return fail(policy.error().message);

  // NVML, or nvmlsim; the simulator keeps its MIG state beside the checkpoint so that a restarted
  // plugin sees the instances it created.
  std::unique_ptr<gpu::Nvml> nvml;
  if (!simulate.empty()) {
    std::filesystem::create_directories(state_dir);
    const char* state_env = std::getenv("MIGDRA_NVMLSIM_STATE");
    std::string sim_state = state_env != nullptr && *state_env != '\0'
                                ? std::string(state_env)
                                : state_dir + "/nvmlsim-state.json";
    auto sim = gpu::OpenSimulator(simulate, sim_state);
    if (!sim.ok()) return fail(sim.error().message);
    nvml = std::move(*sim);
    std::cerr << "migdra plugin: simulating " << nvml->simulation_description()
              << " with nvmlsim\n";
  } else {
    auto real = gpu::Nvml::Open({nvml_path, driver_root});
    if (!real.ok()) return fail(real.error().message);
    nvml = std::move(*real);
  }

  Result<kube::Config> config =
      kubeconfig.empty() ? kube::InClusterConfig() : kube::LoadKubeconfig(kubeconfig);
  if (!config.ok()) return fail(config.error().message);
  auto client = kube::Client::Create(*config);
  if (!client.ok()) return fail(client.error().message);

  auto inventory = gpu::ReadInventory(*nvml, node);
  if (!inventory.ok()) return fail(inventory.error().message);
  driver::TimedMigBackend backend(std::make_unique<driver::NvmlMigBackend>(nvml.get()));
  driver::GlobalDriverMetrics().SetNode(node);
  driver::KubeClaimSource claims(client->get());
  driver::DeviceStateOptions options;
  options.driver_name = driver_name;
  options.pool_name = node;
  options.state_dir = state_dir;
  options.cdi_root = cdi_root;
  options.dynamic_mig = *policy;
  // The driver installation is scanned once: every claim's CDI spec shares its edits. Under
  // nvmlsim only a named --driver-root is scanned (its libraries tell the version).
  if (!nvml->simulated() || !driver_root.empty()) {
    auto driver = driver::DiscoverDriver({driver_root.empty() ? "/" : driver_root,
                                          nvml->simulated() ? "" : inventory->driver_version, ""});
    if (!driver.ok()) return fail("CDI specs: " + driver.error().message);
    if (driver->hook_path.empty()) {
      std::cerr << "migdra plugin: no nvidia-cdi-hook under " << driver->root
                << ": CDI specs bind-mount the library links instead of running the toolkit's "
                   "hooks (images must use the standard library folders or LD_LIBRARY_PATH)\n";
    }
    options.dev_root = driver->dev_root == "/" ? "/dev" : driver->dev_root + "/dev";
    options.cdi_common_edits = driver::CommonEdits(*driver);
  }
  if (const char* crash = std::getenv("MIGDRA_CRASH_AT")) options.crash_at = crash;
  auto state = driver::DeviceState::Create(options, &backend, &claims);
  if (!state.ok()) return fail(state.error().message);

  driver::SliceOptions slice_options;
  slice_options.driver = driver_name;
  slice_options.layout =
      layout == "1.34" ? driver::SliceLayout::kCombined : driver::SliceLayout::kSplit;
  auto slices = driver::BuildSlicesForPolicy(*inventory, *policy, slice_options);
  if (!slices.ok()) return fail(slices.error().message);
  std::vector<nlohmann::json> desired;
  for (const auto& s : *slices) desired.push_back(api::ToJson(s));

  driver::DraServerOptions server_options;
  server_options.driver_name = driver_name;
  server_options.plugins_dir = plugins_dir;
  server_options.registry_dir = registry_dir;
  driver::DraServer server(server_options, state->get());
  if (Status s = server.Start(); !s.ok()) return fail(s.error().message);
  std::cerr << "migdra plugin: serving " << server.dra_socket() << ", registration at "
            << server.registration_socket() << "\n";

  httplib::Server metrics_server;
  std::thread metrics_thread;
  if (!http_endpoint.empty()) {
    const size_t colon = http_endpoint.rfind(':');
    std::string host = colon == std::string::npos ? "" : http_endpoint.substr(0, colon);
    if (host.empty()) host = "0.0.0.0";
    int port = -1;
    try {
      port = colon == std::string::npos ? -1 : std::stoi(http_endpoint.substr(colon + 1));
    } catch (const std::exception&) {
    }
    metrics_server.Get(metrics_path, [](const httplib::Request&, httplib::Response& res) {
      res.set_content(driver::GlobalDriverMetrics().Render(),
                      "text/plain; version=0.0.4; charset=utf-8");
    });
    if (port < 0 || !metrics_server.bind_to_port(host, port)) {
      server.Stop();
      return fail("--http-endpoint: cannot listen on " + http_endpoint);
    }
    metrics_thread = std::thread([&metrics_server] { metrics_server.listen_after_bind(); });
    std::cerr << "migdra plugin: metrics at http://" << http_endpoint << metrics_path << "\n";
  }

  // Publish the slices until it works, then re-assert them every few minutes (another writer
  // or a restarted API server may have changed them).
  std::mutex mu;
  std::condition_variable cv;
  std::thread publisher([&] {
    kube::SlicePublisher pub(client->get(), driver_name, node);
    auto wait = std::chrono::seconds(1);
    auto failed = [&](const std::string& why) {
      std::cerr << "migdra plugin: publishing ResourceSlices: " << why << "\n";
      wait = std::min(wait * 2, std::chrono::seconds(60));
    };
    while (!g_stop) {
      // An exception (say an API server's odd answer) is one failed attempt, never the end of
      // the process: the publisher backs off and tries again.
      RunGuarded(
          [&] {
            auto stats = pub.Publish(desired);
            if (!stats.ok()) return failed(stats.error().message);
            if (stats->created + stats->updated + stats->deleted > 0) {
              std::cerr << "migdra plugin: published " << desired.size() << " ResourceSlices ("
                        << stats->created << " created, " << stats->updated << " updated, "
                        << stats->deleted << " deleted)\n";
            }
            wait = std::chrono::seconds(300);
          },
          failed);
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, wait, [] { return g_stop.load(); });
    }
  });

  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "migdra plugin: signal " << sig << ", stopping\n";
  {
    std::lock_guard<std::mutex> lock(mu);
    g_stop = true;
  }
  cv.notify_all();
  publisher.join();
  if (metrics_thread.joinable()) {
    metrics_server.stop();
    metrics_thread.join();
  }
  server.Stop();
  return 0;
}

}  // namespace
}  // namespace migdra::cli

MIGDRA_REGISTER_COMMAND(plugin, "plugin", "Run the DRA kubelet plugin for a real cluster",
                        migdra::cli::RunPlugin);
