// The node's container runtime (node/container_runtime.h) over a CRI runtime — containerd —
// reached on its unix socket with the CRI client (client.h). Each call of the interface is the
// CRI call of the same name; what the kubelet adds on top is done here:
//   - Sandboxes: host network, host-visible PIDs stay private (pid namespace per container), the
//     pause image of containerd's configuration; labelled with the kubelet's labels
//     (io.kubernetes.pod.uid/.name/.namespace) plus migdra.io/pod-runner, and only sandboxes with
//     that label are listed, so a containerd shared with a kubelet never mixes their pods.
//     RunPodSandbox returns the pod's ready sandbox when it has one (after a serve restart too).
//   - Containers: `command` replaces the image's ENTRYPOINT and `args` its CMD; both empty run the
//     image's own (the kubelet's mapping). The environment is the pod's on top of the image's.
//   - Devices: containerd 1.6 applies no CDI, so the CDI edits of the container's devices
//     (cdi_edits.h) become explicit devices, mounts and environment of the CRI config. CDI hooks
//     cannot be written in a CRI config; they are named in serve's log and not run.
//     Simulated GPUs (serve --simulate) have no device nodes on the host: with
//     `device_stand_ins` set, a CDI device node whose host path does not exist is given to the
//     container at its path as a stand-in, a character device equal to /dev/null made in that
//     folder, so the container still sees exactly which devices it was given.
//   - Logs: containerd writes CRI log lines at the log path (relative to the sandbox's log
//     directory, appended across attempts); ReadLog strips their prefixes (cri_log.h).
//   - Images: PullImage honours imagePullPolicy (see PullImage below).
//   - States: CRI's; containerd's reasons Completed/Error become "" (the runner words them), an
//     unknown container is kExited 137 ContainerStatusUnknown.
//
// Thread safety: every method may be called from several threads at once.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/result.h"
#include "cri/client.h"
#include "node/container_runtime.h"
#include "stream/container_streams.h"

namespace migdra::cri {

struct ContainerdOptions {
  std::string socket;            // containerd's CRI socket
  std::string cdi_root;          // where the node's driver writes CDI specs
  std::string device_stand_ins;  // "" = none (see above)
  std::chrono::milliseconds connect_timeout{2000};
};

// containerd's default socket.
inline constexpr const char* kDefaultContainerdSocket = "/run/containerd/containerd.sock";

// serve's `--runtime containerd[:SOCKET]|process`; no flag ("") is kAuto: containerd when its
// default socket answers, host processes otherwise.
struct RuntimeFlag {
  enum Kind { kAuto, kContainerd, kProcess } kind = kAuto;
  std::string socket = kDefaultContainerdSocket;
};
Result<RuntimeFlag> ParseRuntimeFlag(const std::string& value);

class ContainerdRuntime : public node::ContainerRuntime {
 public:
  // Connects; fails when nothing answers the CRI Version call on the socket.
  static Result<std::unique_ptr<ContainerdRuntime>> Connect(ContainerdOptions options);
  // The runtime `flag` chooses: containerd at flag.socket for kContainerd (an error when it does
  // not answer) and for kAuto when it answers; nullptr for host processes (kProcess, or kAuto
  // with no answer). `options.socket` is replaced by the flag's.
  static Result<std::unique_ptr<ContainerdRuntime>> Choose(const RuntimeFlag& flag,
                                                           ContainerdOptions options);

  std::string Describe() const override;
  std::string RuntimeVersion() const override;

  // Never: only a present image (Error.field "ErrImageNeverPull" otherwise); IfNotPresent: pulls a
  // missing one; Always: pulls every time; "": the API default (Always for `:latest` or no
  // tag, IfNotPresent otherwise). A failed pull: Error.field "ErrImagePull", the runtime's message.
  Status PullImage(const std::string& image, const std::string& policy) override;

  Result<std::string> RunPodSandbox(const node::PodSandboxConfig& config) override;
  Status StopPodSandbox(const std::string& sandbox_id) override;
  Status RemovePodSandbox(const std::string& sandbox_id) override;
  Result<std::vector<node::PodSandbox>> ListPodSandboxes() override;

  Result<std::string> CreateContainer(const std::string& sandbox_id,
                                      const node::ContainerConfig& config,
                                      const node::PodSandboxConfig& sandbox) override;
  Status StartContainer(const std::string& container_id) override;
  Status StopContainer(const std::string& container_id, std::chrono::seconds grace) override;
  Status RemoveContainer(const std::string& container_id) override;
  Result<node::ContainerStatus> GetContainerStatus(const std::string& container_id) override;
  Result<std::vector<node::ContainerStatus>> ListContainers(const std::string& sandbox_id) override;
  Result<std::string> ReadLog(const std::string& log_path) override;

  // The URL of containerd's streaming server for kubectl exec (`exec`) or attach into the
  // running attempt of `request.container` in the pod `pod_uid` (containerd_streaming.h); an
  // error, as kubectl shows it, when that container is not running.
  Result<std::string> StreamUrl(const std::string& pod_uid, const stream::StreamRequest& request,
                                bool exec);

 private:
  ContainerdRuntime(ContainerdOptions options, std::unique_ptr<CriClient> client);
  Result<std::string> HostDevice(const std::string& container_path, const std::string& host_path);

  ContainerdOptions options_;
  std::unique_ptr<CriClient> client_;
};

}  // namespace migdra::cri
