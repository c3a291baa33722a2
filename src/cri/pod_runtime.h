// Pods as containers through a CRI runtime (containerd): what a kubelet asks of its runtime, in
// the terms of migdra's pod runner. One sandbox per pod, host network (no CNI), the pause image
// configurable; containers created from the pod's image with the kubelet's mapping of the pod
// spec:
//   - `command` replaces the image's ENTRYPOINT and `args` its CMD; when the pod gives neither
//     the runtime runs the image's own (the CRI config carries them empty);
//   - `env` (already expanded by the runner) is the container's environment on top of the
//     image's; `workingDir` replaces the image's;
//   - the CDI edits of the container's claims (cdi_edits.h) are explicit devices, mounts and
//     environment, because containerd 1.6 applies no CDI itself; CDI hooks cannot be applied
//     this way and make the container fail to be created (CreateContainerError) rather than run
//     without them;
//   - the container's output goes to LOG_ROOT/POD_UID/NAME/ATTEMPT.log in the CRI log format
//     (cri_log.h), one file per attempt, so the previous attempt's log stays readable.
// Images follow imagePullPolicy: Never uses only a present image (ErrImageNeverPull
// otherwise), IfNotPresent pulls a missing one, Always pulls every time; an empty policy is the
// API default (Always for a `:latest` or untagged image, IfNotPresent otherwise). A failed pull
// is ErrImagePull with the runtime's message.
//
// Identity and recovery: sandboxes and containers carry the kubelet's labels
// (io.kubernetes.pod.uid, .name, .namespace, io.kubernetes.container.name) and the
// container's attempt in its metadata, so after a restart of serve (even a kill -9) the runner
// finds every container of a pod (PodContainers) instead of starting it again, and RemovePod
// finds everything of a pod that is gone. Orphans() lists the pods that have sandboxes here.
//
// Thread safety: all methods may be called from several threads at once (one per pod).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "cri/client.h"

namespace migdra::cri {

struct PodRuntimeOptions {
  std::string socket;       // the CRI socket (containerd's)
  std::string pause_image;  // the sandbox image
  std::string log_root;     // LOG_ROOT (see above)
  std::string cdi_root;     // where the node's driver writes CDI specs
  std::chrono::milliseconds connect_timeout{2000};
};

struct PodIdentity {
  std::string uid;
  std::string ns;
  std::string name;
};

struct ContainerRequest {
  std::string name;
  int attempt = 0;
  std::string image;
  std::string pull_policy;               // Always | IfNotPresent | Never | "" (default)
  std::vector<std::string> command;      // replaces ENTRYPOINT when not empty
  std::vector<std::string> args;         // replaces CMD when not empty
  std::vector<std::string> env;          // NAME=VALUE
  std::string working_dir;               // "" = the image's
  std::vector<std::string> cdi_devices;  // CDI device IDs of the container's claims
};

// A failure the pod's status reports as the container's waiting reason.
struct ContainerError {
  std::string reason;  // ErrImagePull, ErrImageNeverPull, CreateContainerError, RunContainerError
  std::string message;
};

struct ContainerInfo {
  std::string id;
  std::string name;
  int attempt = 0;
  enum State { kCreated, kRunning, kExited, kUnknown } state = kUnknown;
  int exit_code = 0;
  std::string started_at;   // RFC 3339, "" before the start
  std::string finished_at;  // RFC 3339, kExited only
  std::string reason;       // the runtime's (Completed, Error, OOMKilled)
  std::string message;
};

class PodRuntime {
 public:
  // Connects to the runtime; fails when its socket does not answer.
  static Result<std::unique_ptr<PodRuntime>> Connect(PodRuntimeOptions options);

  // "containerd 1.6.20 (CRI v1) at SOCKET", for serve's log.
  std::string Description() const;
  // "containerd://1.6.20", the node's status.nodeInfo.containerRuntimeVersion.
  std::string RuntimeVersion() const;

  // Makes the image present as its pull policy says; nullopt when it is.
  std::optional<ContainerError> EnsureImage(const std::string& image, const std::string& policy);
  // Creates and starts one attempt of a container in the pod's sandbox (created when the pod
  // has none ready). `container_id` is set once the container exists, even if it failed to
  // start (then `error` says why and the container counts as the attempt).
  struct Started {
    std::string container_id;
    std::optional<ContainerError> error;
  };
  Started StartContainer(const PodIdentity& pod, const ContainerRequest& request);
  // The container's state now; an error when the runtime does not know it.
  Result<ContainerInfo> Inspect(const std::string& container_id);
  // Every container of the pod the runtime has, oldest attempt first.
  Result<std::vector<ContainerInfo>> PodContainers(const std::string& pod_uid);
  // The container's stop signal, then SIGKILL after `grace_seconds`; returns once it stopped.
  Status StopContainer(const std::string& container_id, int64_t grace_seconds);
  // Stops and removes every container and sandbox of the pod (none left is success).
  Status RemovePod(const std::string& pod_uid);
  // The UIDs of the pods that have a sandbox here.
  Result<std::vector<std::string>> PodUids();

  // The attempt's log file, and its output as the container wrote it ("" when none).
  std::string LogPath(const std::string& pod_uid, const std::string& name, int attempt) const;
  std::string ReadLog(const std::string& pod_uid, const std::string& name, int attempt) const;

 private:
  PodRuntime(PodRuntimeOptions options, std::unique_ptr<CriClient> client);
  v1::PodSandboxConfig SandboxConfig(const PodIdentity& pod) const;
  Result<std::string> ReadySandbox(const PodIdentity& pod, const v1::PodSandboxConfig& config);

  PodRuntimeOptions options_;
  std::unique_ptr<CriClient> client_;
};

}  // namespace migdra::cri
