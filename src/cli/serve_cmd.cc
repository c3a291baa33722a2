// `migdra serve`: the embedded Kubernetes-API-compatible control plane for one GPU server.
#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "control/control_plane.h"
#include "control/device_classes.h"
#include "cri/containerd_runtime.h"
#include "cri/containerd_streaming.h"
#include "driver/metrics.h"
#include "driver/plugin.h"
#include "gpu/inventory.h"
#include "kube/client.h"
#include "node/local_node.h"
#include "node/runner.h"

namespace migdra::cli {
namespace {

bool MakeDirs(const std::string& path) {
  std::string cur;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!cur.empty() && ::mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST) return false;
    }
    if (i < path.size()) cur += path[i];
  }
  return true;
}

// Makes every file directly in `dir` (the token, the keys, state.db and its journal, the
// kubeconfig, ...) readable and writable by the owner only; the first failure's message, or "".
std::string RestrictFiles(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file(ec)) continue;
    if (::chmod(entry.path().c_str(), 0600) != 0) {
      return "cannot make " + entry.path().string() + " private: " + std::strerror(errno);
    }
  }
  return ec ? "cannot list " + dir + ": " + ec.message() : "";
}

// Serve's own node, joined to its control plane as a node joins a cluster: the driver
// (driver::Plugin, publishing through serve's REST API) and the kubelet's half (node/: the Node
// object and the pod runner, which reaches the driver over its DRA socket).
struct LocalNode {
  std::unique_ptr<driver::Plugin> plugin;
  std::unique_ptr<node::NodeAgent> runner;
  // exec/attach through containerd's streaming server when the runner runs pods there.
  std::unique_ptr<stream::ContainerStreaming> containerd_streaming;
  std::string description;  // "node NAME: 8 x NVIDIA A100-SXM4-80GB (simulated)"
};

// The node's container runtime as --runtime says (DESIGN: containerd when its socket answers,
// host processes otherwise); the choice is printed. Null: host processes.
Result<std::shared_ptr<node::ContainerRuntime>> ChooseContainerRuntime(const cri::RuntimeFlag& flag,
                                                                       const std::string& data_dir,
                                                                       bool simulated) {
  cri::ContainerdOptions options;
  options.cdi_root = data_dir + "/cdi";
  // Simulated GPUs have no device nodes: containers get stand-ins (containerd_runtime.h).
  if (simulated) options.device_stand_ins = data_dir + "/sim-devices";
  auto containerd = cri::ContainerdRuntime::Choose(flag, options);
  if (!containerd.ok()) return MakeError("--runtime: " + containerd.error().message);
  if (*containerd) {
    std::fprintf(stderr, "migdra serve: runtime: %s\n", (*containerd)->Describe().c_str());
    return std::shared_ptr<node::ContainerRuntime>(std::move(*containerd));
  }
  std::fprintf(stderr, "migdra serve: runtime: host processes%s\n",
               flag.kind == cri::RuntimeFlag::kProcess
                   ? ""
                   : (" (containerd does not answer at " + flag.socket + ")").c_str());
  return std::shared_ptr<node::ContainerRuntime>();
}

Result<LocalNode> StartLocalNode(const std::string& data_dir, std::string node_name,
                                 const std::string& simulate, const cri::RuntimeFlag& runtime) {
  if (node_name.empty()) node_name = gpu::LocalNodeName();
  auto api = kube::LoadKubeconfig(data_dir + "/kubeconfig");
  if (!api.ok()) return MakeError("reading the kubeconfig: " + api.error().message);
  auto client = kube::Client::Create(*api);
  if (!client.ok()) return MakeError("API client: " + client.error().message);

  LocalNode local;
  driver::PluginOptions options;
  options.node_name = node_name;
  options.plugins_dir = data_dir + "/plugins";
  options.registry_dir = data_dir + "/plugins_registry";
  options.register_with_kubelet = false;  // the runner knows the socket
  options.cdi_root = data_dir + "/cdi";
  options.state_dir = data_dir + "/driver";
  options.simulate = simulate;
  options.simulate_without_nvml = "a100-80gb:8";
  options.layout = driver::SliceLayout::kSplit;  // serve speaks Kubernetes 1.36
  auto plugin = driver::Plugin::Start(options, std::move(*client));
  if (!plugin.ok()) return plugin.error();
  local.plugin = std::move(*plugin);

  auto container_runtime =
      ChooseContainerRuntime(runtime, data_dir, local.plugin->inventory().simulated);
  if (!container_runtime.ok()) return container_runtime.error();

  std::map<std::string, std::string> labels = local.plugin->NodeLabels();
  if (!local.plugin->inventory().gpus.empty()) {
    // The GPU Operator's switch for the DRA driver: serve runs it.
    labels["nvidia.com/gpu.deploy.dra-driver"] = "true";
  }
  if (local.plugin->inventory().simulated) labels["migdra.io/simulated"] = "true";
  auto node_client = kube::Client::Create(*api);
  if (!node_client.ok()) return MakeError("API client: " + node_client.error().message);
  if (Status s = node::RegisterNode(
          **node_client,
          node::BuildNodeObject(node_name, labels,
                                *container_runtime ? (*container_runtime)->RuntimeVersion()
                                                   : std::string("migdra://0.1.0")));
      !s.ok()) {
    return s.error();
  }

  node::NodeAgentContext context;
  context.api = *api;
  context.node_name = node_name;
  context.state_dir = data_dir + "/runner";
  context.dra_socket = local.plugin->dra_socket();
  context.cdi_root = options.cdi_root;
  context.container_runtime = *container_runtime;
  local.runner = node::MakePodRunner(context);
  if (Status s = local.runner->Start(); !s.ok()) {
    return MakeError("pod runner: " + s.error().message);
  }
  if (auto containerd = std::dynamic_pointer_cast<cri::ContainerdRuntime>(*container_runtime)) {
    local.containerd_streaming =
        std::make_unique<cri::ContainerdStreaming>(containerd, local.runner->Streaming());
  }
  if (!local.plugin->WaitUntilPublished(std::chrono::seconds(30))) {
    return MakeError("the node's ResourceSlices could not be published in 30 s");
  }
  local.description = "node " + node_name + ": " + local.plugin->Describe();
  return local;
}

struct ServeFlags {
  std::string data_dir;
  std::string listen = "127.0.0.1:6443";
  std::string simulate;
  std::string strategy = "pack";
  std::string node_name;
  std::string runtime;
  bool no_node = false;
};

void AddServeFlags(CLI::App& app, ServeFlags& flags) {
  app.add_option("--data-dir", flags.data_dir,
                 "State, credentials and kubeconfig (default ~/.local/share/migdra)");
  app.add_option("--listen", flags.listen, "HOST:PORT to serve HTTPS on (PORT 0 picks a free one)");
  app.add_option("--simulate", flags.simulate,
                 "Simulate GPUs instead of NVML: MODEL[:COUNT][,...], e.g. a100-80gb:8");
  app.add_option("--strategy", flags.strategy, "Placement strategy: pack (default) or kubernetes");
  app.add_option("--node-name", flags.node_name, "Name of this node (default: the host name)");
  app.add_option("--runtime", flags.runtime,
                 "How the node runs containers: containerd[:SOCKET] (its CRI socket, default "
                 "/run/containerd/containerd.sock) or process (host processes); default: "
                 "containerd if its socket answers, else processes");
  app.add_flag("--no-node", flags.no_node,
               "Run the API server, scheduler and controllers only: no local node, runner or "
               "driver (nodes join as on a cluster: a `migdra plugin` and a kubelet each)");
}

// The flags' values checked and parsed; an error names the flag (exit 2).
struct ServeSettings {
  cri::RuntimeFlag runtime;
  alloc::Strategy strategy;
  std::string host;
  int port = 0;
};

Result<ServeSettings> CheckServeFlags(const ServeFlags& flags) {
  ServeSettings settings;
  Result<cri::RuntimeFlag> runtime = cri::ParseRuntimeFlag(flags.runtime);
  if (!runtime.ok()) return runtime.error();
  settings.runtime = *runtime;
  Result<alloc::Strategy> strategy = alloc::ParseStrategy(flags.strategy);
  if (!strategy.ok()) return MakeError("--strategy: " + strategy.error().ToString());
  settings.strategy = *strategy;
  const std::string& listen = flags.listen;
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
    return MakeError("--listen must be HOST:PORT, got \"" + listen + "\"");
  }
  settings.host = listen.substr(0, colon);
  if (settings.host.size() > 2 && settings.host.front() == '[' && settings.host.back() == ']')
    settings.host = settings.host.substr(1, settings.host.size() - 2);
  try {
    settings.port = std::stoi(listen.substr(colon + 1));
  } catch (const std::exception&) {
    settings.port = -1;
  }
  if (settings.port < 0 || settings.port > 65535) {
    return MakeError("--listen: bad port in \"" + listen + "\"");
  }
  if (flags.no_node && (!flags.simulate.empty() || !flags.node_name.empty())) {
    return MakeError("--no-node runs no node: --simulate and --node-name do not apply");
  }
  return settings;
}

// Makes the data directory (default ~/.local/share/migdra) and makes it private: it holds the API
// token, the CA and serving keys and every object, so only its owner may enter it, whatever mode
// an earlier version or the user left on a directory that already existed.
Status PrepareDataDir(std::string& data_dir) {
  if (data_dir.empty()) {
    const char* home = std::getenv("HOME");
    data_dir = std::string(home && *home ? home : ".") + "/.local/share/migdra";
  }
  if (!MakeDirs(data_dir)) return MakeError("cannot create " + data_dir);
  if (::chmod(data_dir.c_str(), 0700) != 0) {
    return MakeError("cannot make " + data_dir + " private: " + std::strerror(errno));
  }
  return OkStatus();
}

// Signals are taken synchronously by the calling thread; every thread started afterwards
// inherits the mask. The default actions are restored first: a signal ignored by the parent would
// never reach sigwait.
sigset_t BlockStopSignals() {
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return signals;
}

int RunServe(int argc, char** argv) {
  CLI::App app{"Run the embedded Kubernetes-API-compatible control plane for this GPU server"};
  ServeFlags flags;
  AddServeFlags(app, flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  Result<ServeSettings> settings = CheckServeFlags(flags);
  if (!settings.ok()) {
    std::fprintf(stderr, "migdra serve: %s\n", settings.error().message.c_str());
    return 2;
  }
  std::string data_dir = flags.data_dir;
  if (Status s = PrepareDataDir(data_dir); !s.ok()) {
    std::fprintf(stderr, "migdra serve: %s\n", s.error().message.c_str());
    return 1;
  }
  sigset_t signals = BlockStopSignals();

  control::ControlPlaneOptions options;
  options.data_dir = data_dir;
  options.host = settings->host;
  options.port = settings->port;
  options.strategy = settings->strategy;
  options.wait_for_node = !flags.no_node;
  if (!flags.no_node) options.extra_metrics = [] { return driver::GlobalDriverMetrics().Render(); };
  auto plane = control::ControlPlane::Start(options);
  if (!plane.ok()) {
    std::fprintf(stderr, "migdra serve: %s\n", plane.error().message.c_str());
    return 1;
  }
  control::ControlPlane& cp = **plane;
  // After the start, which wrote the credentials and created state.db (SQLite follows the umask).
  if (std::string error = RestrictFiles(data_dir); !error.empty()) {
    std::fprintf(stderr, "migdra serve: %s\n", error.c_str());
    cp.Stop();
    return 1;
  }
  Result<LocalNode> local = MakeError("no local node (--no-node)");
  if (!flags.no_node) {
    // The node's driver is NVIDIA's: its DeviceClasses come with it, as its chart installs them.
    control::InstallNvidiaDeviceClasses(cp.store());
    // The driver's socket path is a unix address: a relative one would depend on the cwd.
    std::error_code ec;
    local = StartLocalNode(std::filesystem::absolute(data_dir, ec).string(), flags.node_name,
                           flags.simulate, settings->runtime);
    if (!local.ok()) {
      std::fprintf(stderr, "migdra serve: %s\n", local.error().message.c_str());
      cp.Stop();
      return 1;
    }
    node::NodeAgent* runner = local->runner.get();
    cp.SetPodLogProvider([runner](const std::string& ns, const std::string& pod,
                                  const std::string& container, int attempt, size_t offset) {
      return runner->PodLog(ns, pod, container, attempt, offset);
    });
    cp.SetStreaming(local->containerd_streaming ? local->containerd_streaming.get()
                                                : runner->Streaming());
    cp.SetReady();
  }
  const std::string node_line = local.ok() ? local->description : local.error().message;
  const std::string& host = settings->host;
  std::fprintf(stderr, "migdra serve: %s; strategy %s\n", node_line.c_str(),
               std::string(alloc::StrategyName(settings->strategy)).c_str());
  std::fprintf(stderr, "migdra serve: serving https://%s:%d (state in %s)\n",
               host.find(':') != std::string::npos ? ("[" + host + "]").c_str() : host.c_str(),
               cp.port(), data_dir.c_str());
  std::fprintf(stdout, "export KUBECONFIG=%s\n", cp.credentials().kubeconfig_path.c_str());
  std::fflush(stdout);
  std::fflush(stderr);

  int received = 0;
  sigwait(&signals, &received);
  std::fprintf(stderr, "migdra serve: %s, shutting down\n",
               received == SIGINT ? "interrupted" : "terminated");
  if (local.ok()) {
    local->runner->Stop();
    cp.SetPodLogProvider(nullptr);
    cp.SetStreaming(nullptr);
    local->plugin->Stop();
  }
  cp.Stop();
  return 0;
}

}  // namespace

MIGDRA_REGISTER_COMMAND(serve, "serve",
                        "Run the embedded Kubernetes-API control plane (kubectl-compatible)",
                        RunServe);

}  // namespace migdra::cli
