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

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include <httplib.h>
#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "driver/metrics.h"
#include "driver/plugin.h"
#include "gpu/inventory.h"
#include "kube/client.h"

namespace migdra::cli {
namespace {

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
  auto policy = driver::ParseDynamicMigPolicy(dynamic_mig);
  if (!policy.ok()) return fail(policy.error().message);
  Result<kube::Config> config =
      kubeconfig.empty() ? kube::InClusterConfig() : kube::LoadKubeconfig(kubeconfig);
  if (!config.ok()) return fail(config.error().message);
  auto client = kube::Client::Create(*config);
  if (!client.ok()) return fail(client.error().message);

  driver::PluginOptions options;
  options.node_name = node;
  options.driver_name = driver_name;
  options.plugins_dir = plugins_dir;
  options.registry_dir = registry_dir;
  options.cdi_root = cdi_root;
  options.state_dir = state_dir;
  options.nvml_path = nvml_path;
  options.driver_root = driver_root;
  options.simulate = simulate;
  if (const char* state_env = std::getenv("MIGDRA_NVMLSIM_STATE"))
    options.nvmlsim_state = state_env;
  options.dynamic_mig = *policy;
  options.layout = layout == "1.34" ? driver::SliceLayout::kCombined : driver::SliceLayout::kSplit;
  if (const char* crash = std::getenv("MIGDRA_CRASH_AT")) options.crash_at = crash;
  // The HTTP endpoint is bound before the driver starts: a port conflict fails before any GPU
  // is touched, and the endpoint (the DaemonSet's liveness probe) answers as soon as the
  // plugin's sockets exist.
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
      return fail("--http-endpoint: cannot listen on " + http_endpoint);
    }
    metrics_thread = std::thread([&metrics_server] { metrics_server.listen_after_bind(); });
    // httplib's stop() does nothing before the listening loop has begun.
    for (int i = 0; i < 1000 && !metrics_server.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  const auto stop_metrics = [&] {
    if (metrics_thread.joinable()) {
      metrics_server.stop();
      metrics_thread.join();
    }
  };

  auto plugin = driver::Plugin::Start(std::move(options), std::move(*client));
  if (!plugin.ok()) {
    stop_metrics();
    return fail(plugin.error().message);
  }
  if (!simulate.empty()) {
    std::cerr << "migdra plugin: simulating " << (*plugin)->Describe() << " with nvmlsim\n";
  }
  std::cerr << "migdra plugin: serving " << (*plugin)->dra_socket() << ", registration at "
            << (*plugin)->registration_socket() << "\n";

  if (!http_endpoint.empty()) {
    std::cerr << "migdra plugin: metrics at http://" << http_endpoint << metrics_path << "\n";
  }

  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "migdra plugin: signal " << sig << ", stopping\n";
  stop_metrics();
  (*plugin)->Stop();
  return 0;
}

}  // namespace
}  // namespace migdra::cli

MIGDRA_REGISTER_COMMAND(plugin, "plugin", "Run the DRA kubelet plugin for a real cluster",
                        migdra::cli::RunPlugin);
