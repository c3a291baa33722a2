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

// The plugin's plain-HTTP endpoint (NVIDIA's --http-endpoint): Prometheus metrics, also the
// DaemonSet's liveness probe.
class MetricsEndpoint {
 public:
  ~MetricsEndpoint() { Stop(); }

  // Binds HOST:PORT (an empty HOST is every address) and serves `path` in the background.
  Status Start(const std::string& endpoint, const std::string& path) {
    const size_t colon = endpoint.rfind(':');
    std::string host = colon == std::string::npos ? "" : endpoint.substr(0, colon);
    if (host.empty()) host = "0.0.0.0";
    int port = -1;
    try {
      port = colon == std::string::npos ? -1 : std::stoi(endpoint.substr(colon + 1));
    } catch (const std::exception&) {
    }
    server_.Get(path, [](const httplib::Request&, httplib::Response& res) {
      res.set_content(driver::GlobalDriverMetrics().Render(),
                      "text/plain; version=0.0.4; charset=utf-8");
    });
    if (port < 0 || !server_.bind_to_port(host, port)) {
      return MakeError("--http-endpoint: cannot listen on " + endpoint);
    }
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // httplib's stop() does nothing before the listening loop has begun.
    for (int i = 0; i < 1000 && !server_.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return OkStatus();
  }

  void Stop() {
    if (!thread_.joinable()) return;
    server_.stop();
    thread_.join();
  }

 private:
  httplib::Server server_;
  std::thread thread_;
};

// The flags that are not PluginOptions fields as they are.
struct PluginFlags {
  std::string kubeconfig;
  std::string dynamic_mig = "enabled-gpus";
  std::string layout = "1.35";
  std::string http_endpoint;
  std::string metrics_path = "/metrics";
};

// Declares the flags, with the environment's defaults (the kubelet's and NVIDIA's variables).
void AddPluginFlags(CLI::App& app, driver::PluginOptions& options, PluginFlags& flags) {
  options.node_name = gpu::LocalNodeName();
  if (const char* k = std::getenv("KUBECONFIG")) flags.kubeconfig = k;
  if (const char* d = std::getenv("KUBELET_PLUGINS_DIRECTORY_PATH")) options.plugins_dir = d;
  if (const char* d = std::getenv("KUBELET_REGISTRAR_DIRECTORY_PATH")) options.registry_dir = d;
  if (const char* e = std::getenv("HTTP_ENDPOINT")) flags.http_endpoint = e;
  app.add_option("--node-name", options.node_name, "this node's name (the pool name)");
  app.add_option("--kubeconfig", flags.kubeconfig, "kubeconfig file (default: in-cluster config)");
  app.add_option("--driver-name", options.driver_name, "DRA driver name");
  app.add_option("--plugins-dir", options.plugins_dir, "the kubelet's plugins folder");
  app.add_option("--registry-dir", options.registry_dir, "the kubelet's plugins_registry folder");
  app.add_option("--cdi-root", options.cdi_root, "where CDI specs are written");
  app.add_option("--state-dir", options.state_dir,
                 "checkpoint folder (default <plugins-dir>/<driver>)");
  app.add_option("--nvml", options.nvml_path, "path of libnvidia-ml.so.1");
  app.add_option("--driver-root", options.driver_root, "root of the NVIDIA driver installation");
  app.add_option("--simulate", options.simulate, "simulate GPUs with nvmlsim: MODEL[:COUNT][,...]");
  app.add_option("--dynamic-mig", flags.dynamic_mig,
                 "which GPUs are partitioned on demand: enabled-gpus (MIG already on), all (also "
                 "turn MIG on for idle Hopper+ GPUs), none")
      ->check(CLI::IsMember({"enabled-gpus", "all", "none"}));
  app.add_option("--layout", flags.layout, "ResourceSlice layout for this Kubernetes version")
      ->check(CLI::IsMember({"1.34", "1.35"}));
  app.add_option("--http-endpoint", flags.http_endpoint,
                 "HOST:PORT of the HTTP server for metrics (empty: no server)");
  app.add_option("--metrics-path", flags.metrics_path, "HTTP path of the Prometheus metrics");
}

int RunPlugin(int argc, char** argv) {
  CLI::App app{"The DRA kubelet plugin for NVIDIA GPUs and MIG devices", "migdra plugin"};
  driver::PluginOptions options;
  PluginFlags flags;
  AddPluginFlags(app, options, flags);
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

  auto policy = driver::ParseDynamicMigPolicy(flags.dynamic_mig);
  if (!policy.ok()) return fail(policy.error().message);
  options.dynamic_mig = *policy;
  options.layout =
      flags.layout == "1.34" ? driver::SliceLayout::kCombined : driver::SliceLayout::kSplit;
  if (const char* state_env = std::getenv("MIGDRA_NVMLSIM_STATE"))
    options.nvmlsim_state = state_env;
  if (const char* crash = std::getenv("MIGDRA_CRASH_AT")) options.crash_at = crash;
  Result<kube::Config> config =
      flags.kubeconfig.empty() ? kube::InClusterConfig() : kube::LoadKubeconfig(flags.kubeconfig);
  if (!config.ok()) return fail(config.error().message);
  auto client = kube::Client::Create(*config);
  if (!client.ok()) return fail(client.error().message);

  // The HTTP endpoint is bound before the driver starts: a port conflict fails before any GPU
  // is touched, and the endpoint (the DaemonSet's liveness probe) answers as soon as the
  // plugin's sockets exist.
  MetricsEndpoint metrics;
  if (!flags.http_endpoint.empty()) {
    if (Status s = metrics.Start(flags.http_endpoint, flags.metrics_path); !s.ok()) {
      return fail(s.error().message);
    }
  }
  const bool simulated = !options.simulate.empty();
  auto plugin = driver::Plugin::Start(std::move(options), std::move(*client));
  if (!plugin.ok()) return fail(plugin.error().message);
  if (simulated) {
    std::cerr << "migdra plugin: simulating " << (*plugin)->Describe() << " with nvmlsim\n";
  }
  std::cerr << "migdra plugin: serving " << (*plugin)->dra_socket() << ", registration at "
            << (*plugin)->registration_socket() << "\n";
  if (!flags.http_endpoint.empty()) {
    std::cerr << "migdra plugin: metrics at http://" << flags.http_endpoint << flags.metrics_path
              << "\n";
  }

  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "migdra plugin: signal " << sig << ", stopping\n";
  metrics.Stop();
  (*plugin)->Stop();
  return 0;
}

}  // namespace
}  // namespace migdra::cli

MIGDRA_REGISTER_COMMAND(plugin, "plugin", "Run the DRA kubelet plugin for a real cluster",
                        migdra::cli::RunPlugin);
