// kubectl exec, attach and port-forward for pods the runner runs as host processes
// (stream/container_streams.h's seam, the host-process side).
//
// - The running container is found from the runner's state (runner.h): the highest attempt of
//   DATA_DIR/runner/pods/POD_UID/NAME/ whose supervisor is alive (runner_process.h), and the
//   container's main process is the supervisor's child that leads its own process group.
// - Exec runs the command in that process's environment: its environment variables (as the
//   runner built them: env, envFrom, the claims' CDI edits), its working directory and its
//   cgroup (so the command is killed with the container and counted in its pod), its mount
//   namespace when it has one (its volumes, pod_config.h), in a session
//   of its own; with a tty on a new pseudo-terminal (resized as the client asks). argv[0] is
//   looked up on the container's PATH; not found is an error before anything runs. In
//   subreaper confinement (no cgroups) the command is a child of serve instead.
// - Attach follows the container's output (stdout and stderr, as its log has them merged) from
//   the moment of attaching until the container ends; with -i it writes to the container's
//   stdin, the FIFO a container with `stdin: true` reads (runner_process.h). Containers without
//   it read /dev/null and have no terminal: -i to those, and -t, are refused saying so.
// - DialPort connects to 127.0.0.1:PORT, then [::1]:PORT: host processes share the node's
//   network.
//
// Thread safety: calls from any thread.
#pragma once

#include <string>

#include "stream/container_streams.h"

namespace migdra::node {

class HostProcessStreaming : public stream::ContainerStreaming {
 public:
  // `runner_dir` is DATA_DIR/runner.
  explicit HostProcessStreaming(std::string runner_dir) : runner_dir_(std::move(runner_dir)) {}

  Result<std::unique_ptr<stream::StreamedProcess>> Exec(
      const nlohmann::json& pod, const stream::StreamRequest& request) override;
  Result<std::unique_ptr<stream::StreamedProcess>> Attach(
      const nlohmann::json& pod, const stream::StreamRequest& request) override;
  Result<int> DialPort(const nlohmann::json& pod, uint16_t port) override;

 private:
  std::string runner_dir_;
};

}  // namespace migdra::node
