// The seam between serve's streaming subresources (pods/exec, pods/attach, pods/portforward)
// and the node's container runtime: what a runtime gives so that kubectl exec/attach/port-forward
// reach a pod. The host-process runtime implements it with processes in the container's
// environment (src/node/host_streaming.h); a CRI runtime implements it over the runtime's
// Exec/Attach/PortForward streaming endpoints.
//
// Contract for implementations:
//  - Exec starts `command` in the container's environment (its env, working directory,
//    confinement) with the requested streams; Attach connects to the running container's own
//    streams. Both fail (with a message kubectl shows) when the container is not running.
//  - A StreamedProcess's descriptors are owned by it; the session reads stdout/stderr until EOF
//    (a pseudo-terminal's EIO counts as EOF), writes stdin, and then asks Wait for the exit code.
//  - DialPort connects to `port` of the pod's network (the node's, for host-network pods) and
//    returns the connected socket, owned by the caller.
//  - StreamUrl, when given, replaces Exec and Attach (see there).
//
// Thread safety: implementations are called from any thread; one StreamedProcess from one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace migdra::stream {

struct StreamRequest {
  std::string container;             // a container of the pod (checked by the caller)
  std::vector<std::string> command;  // exec only
  bool want_stdin = false;
  bool want_stdout = false;
  bool want_stderr = false;
  bool tty = false;
};

class StreamedProcess {
 public:
  virtual ~StreamedProcess() = default;
  // -1 when the stream was not requested. With a tty, stdout is the terminal (stderr is -1).
  virtual int stdin_fd() const = 0;
  virtual int stdout_fd() const = 0;
  virtual int stderr_fd() const = 0;
  // The client closed its stdin (end of input).
  virtual void CloseStdin() = 0;
  virtual void Resize(uint16_t width, uint16_t height) = 0;
  // Readable once Wait will not block (a pidfd); -1 when Wait never blocks long.
  virtual int wait_fd() const = 0;
  // After stdout and stderr ended: the exit code (attach: 0 when the container ended), or why it
  // cannot be known.
  virtual Result<int> Wait() = 0;
  // The client went away first: an exec'd command is killed, an attached container left running.
  virtual void Abandon() = 0;
};

class ContainerStreaming {
 public:
  virtual ~ContainerStreaming() = default;
  virtual Result<std::unique_ptr<StreamedProcess>> Exec(const nlohmann::json& pod,
                                                        const StreamRequest& request) = 0;
  virtual Result<std::unique_ptr<StreamedProcess>> Attach(const nlohmann::json& pod,
                                                          const StreamRequest& request) = 0;
  virtual Result<int> DialPort(const nlohmann::json& pod, uint16_t port) = 0;
  // A runtime with a streaming server of its own (a CRI runtime: containerd) serves exec
  // (`exec` true) and attach there: the URL (http://HOST:PORT/PATH, single use) that the API
  // server proxies the client's upgrade request and connection to, as kube-apiserver does
  // through the kubelet; the client and that server then speak their protocol end to end.
  // nullopt (the default): Exec and Attach above serve the request in serve itself.
  virtual std::optional<Result<std::string>> StreamUrl(const nlohmann::json& pod,
                                                       const StreamRequest& request, bool exec) {
    return std::nullopt;
  }
};

}  // namespace migdra::stream
