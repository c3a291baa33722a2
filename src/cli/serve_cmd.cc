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
#include "cri/containerd_runtime.h"
#include "gpu/nvml.h"
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

// The node's container runtime as --runtime says (DESIGN: containerd when its socket answers,
// host processes otherwise); the choice is printed. Null: host processes.
Result<std::shared_ptr<node::ContainerRuntime>> ChooseContainerRuntime(
    const std::string& flag, const std::string& data_dir, const std::string& simulate) {
  auto parsed = cri::ParseRuntimeFlag(flag);
  if (!parsed.ok()) return std::move(parsed).error();
  cri::ContainerdOptions options;
  options.cdi_root = std::filesystem::absolute(data_dir).string() + "/cdi";
  // Simulated GPUs have no device nodes: containers get stand-ins (containerd_runtime.h).
  if (!simulate.empty() || !gpu::Nvml::Open().ok()) {
    options.device_stand_ins = std::filesystem::absolute(data_dir).string() + "/sim-devices";
  }
  auto containerd = cri::ContainerdRuntime::Choose(*parsed, options);
  if (!containerd.ok()) return MakeError("--runtime " + flag + ": " + containerd.error().message);
  if (*containerd) {
    std::fprintf(stderr, "migdra serve: runtime: %s\n", (*containerd)->Describe().c_str());
    return std::shared_ptr<node::ContainerRuntime>(std::move(*containerd));
  }
  std::fprintf(stderr, "migdra serve: runtime: host processes%s\n",
               parsed->kind == cri::RuntimeFlag::kProcess
                   ? ""
                   : (" (containerd does not answer at " + parsed->socket + ")").c_str());
  return std::shared_ptr<node::ContainerRuntime>();
}

int RunServe(int argc, char** argv) {
  CLI::App app{"Run the embedded Kubernetes-API-compatible control plane for this GPU server"};
  std::string data_dir;
  std::string listen = "127.0.0.1:6443";
  std::string simulate;
  std::string strategy_name = "pack";
  std::string node_name;
  app.add_option("--data-dir", data_dir,
                 "State, credentials and kubeconfig (default ~/.local/share/migdra)");
  app.add_option("--listen", listen, "HOST:PORT to serve HTTPS on (PORT 0 picks a free one)");
  app.add_option("--simulate", simulate,
                 "Simulate GPUs instead of NVML: MODEL[:COUNT][,...], e.g. a100-80gb:8");
  app.add_option("--strategy", strategy_name, "Placement strategy: pack (default) or kubernetes");
  app.add_option("--node-name", node_name, "Name of this node (default: the host name)");
  std::string runtime_flag;
  app.add_option("--runtime", runtime_flag,
                 "How the node runs containers: containerd[:SOCKET] (its CRI socket, default "
                 "/run/containerd/containerd.sock) or process (host processes); default: "
                 "containerd if its socket answers, else processes");
  bool no_node = false;
  app.add_flag("--no-node", no_node,
               "Run the API server, scheduler and controllers only: no local node, runner or "
               "driver (nodes join as on a cluster: a `migdra plugin` and a kubelet each)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  Result<alloc::Strategy> strategy = alloc::ParseStrategy(strategy_name);
  if (!strategy.ok()) {
    std::fprintf(stderr, "migdra serve: --strategy: %s\n", strategy.error().ToString().c_str());
    return 2;
  }
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
    std::fprintf(stderr, "migdra serve: --listen must be HOST:PORT, got \"%s\"\n", listen.c_str());
    return 2;
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    std::fprintf(stderr, "migdra serve: --listen: bad port in \"%s\"\n", listen.c_str());
    return 2;
  }
  if (no_node && (!simulate.empty() || !node_name.empty())) {
    std::fprintf(stderr,
                 "migdra serve: --no-node runs no node: --simulate and --node-name do not "
                 "apply\n");
    return 2;
  }
  if (data_dir.empty()) {
    const char* home = std::getenv("HOME");
    data_dir = std::string(home && *home ? home : ".") + "/.local/share/migdra";
  }
  if (!MakeDirs(data_dir)) {
    std::fprintf(stderr, "migdra serve: cannot create %s\n", data_dir.c_str());
    return 1;
  }
  // DIR holds the API token, the CA and serving keys and every object: only its owner may enter
  // it, whatever mode an earlier version or the user left on a directory that already existed.
  if (::chmod(data_dir.c_str(), 0700) != 0) {
    std::fprintf(stderr, "migdra serve: cannot make %s private: %s\n", data_dir.c_str(),
                 std::strerror(errno));
    return 1;
  }

  // Signals are taken synchronously by this thread; every thread started below inherits the mask.
  // Restore the default actions first: a signal ignored by the parent would never reach sigwait.
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  control::ControlPlaneOptions options;
  options.data_dir = data_dir;
  options.host = host;
  options.port = port;
  options.strategy = *strategy;
  options.wait_for_node = !no_node;
  auto plane = control::ControlPlane::Start(options);
  if (!plane.ok()) {
    std::fprintf(stderr, "migdra serve: %s\n", plane.error.message.c_str());
    return 1;
  }
  control::ControlPlane& cp = **plane.value;
  // After the start, which wrote the credentials and created state.db (SQLite follows the umask).
  if (std::string error = RestrictFiles(data_dir); !error.empty()) {
    std::fprintf(stderr, "migdra serve: %s\n", error.c_str());
    cp.Stop();
    return 1;
  }
  std::unique_ptr<node::NodeAgent> runner;
  std::string node_line = "no local node (--no-node)";
  if (!no_node) {
    auto runtime = ChooseContainerRuntime(runtime_flag, data_dir, simulate);
    if (!runtime.ok()) {
      std::fprintf(stderr, "migdra serve: %s\n", runtime.error().ToString().c_str());
      cp.Stop();
      return 2;
    }
    node::LocalNodeOptions node_options;
    node_options.node_name = node_name;
    node_options.simulate = simulate;
    if (*runtime) node_options.container_runtime_version = (*runtime)->RuntimeVersion();
    auto local = node::BuildLocalNode(node_options);
    auto registered = local.ok() ? node::RegisterLocalNode(cp.store(), *local.value)
                                 : control::ApiResult<bool>::Fail(local.error);
    if (!registered.ok()) {
      std::fprintf(stderr, "migdra serve: %s\n", registered.error.message.c_str());
      cp.Stop();
      return 1;
    }
    const std::string name = local.value->node["metadata"].value("name", "");
    runner = node::MakePodRunner({&cp.store(), name, data_dir, simulate, *runtime});
    if (std::string error = runner->Start(); !error.empty()) {
      std::fprintf(stderr, "migdra serve: pod runner: %s\n", error.c_str());
      cp.Stop();
      return 1;
    }
    cp.SetPodLogProvider(
        [&runner](const std::string& ns, const std::string& pod, const std::string& container) {
          return runner->PodLog(ns, pod, container);
        });
    cp.SetReady();
    node_line = "node " + name + ": " + local.value->description;
  }
  std::fprintf(stderr, "migdra serve: %s; strategy %s\n", node_line.c_str(),
               std::string(alloc::StrategyName(*strategy)).c_str());
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
  if (runner) {
    runner->Stop();
    cp.SetPodLogProvider(nullptr);
  }
  cp.Stop();
  return 0;
}

}  // namespace

MIGDRA_REGISTER_COMMAND(serve, "serve",
                        "Run the embedded Kubernetes-API control plane (kubectl-compatible)",
                        RunServe);

}  // namespace migdra::cli
