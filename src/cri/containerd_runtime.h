// The node's container runtime (node/container_runtime.h) over a CRI runtime — containerd —
// reached on its unix socket with the CRI client (client.h). Each call of the interface is the
// CRI call of the same name; what the kubelet adds on top is done here:
//   - Sandboxes: the pod network when containerd has one (its CRI Status says NetworkReady: it
//     loaded a CNI configuration; asked for each new sandbox, as containerd reloads its CNI
//     folder) and the pod is not spec.hostNetwork — then with the pod's hostname, and its IPs
//     from PodSandboxStatus — else the host's network (no hostname: the host's UTS namespace).
//     A container is made in its sandbox's network (read back from the sandbox, so also after a
//     serve restart). Host-visible PIDs stay private (pid namespace per container), the
//     pause image of containerd's configuration; labelled with the kubelet's labels
//     (io.kubernetes.pod.uid/.name/.namespace) plus migdra.io/pod-runner, and only sandboxes with
//     that label are listed, so a containerd shared with a kubelet never mixes their pods.
//     RunPodSandbox returns the pod's ready sandbox when it has one (after a serve restart too).
//   - Containers: `command` replaces the image's ENTRYPOINT and `args` its CMD; both empty run the
//     image's own (the kubelet's mapping). The environment is the pod's on top of the image's.
//   - Devices: where containerd applies CDI itself and reads the node's CDI specs — its
//     verbose CRI Status reports its configuration (info "config", containerd >= 1.7) with
//     enableCDI true and cdi_root among cdiSpecDirs — the container's devices go by name
//     (ContainerConfig.CDI_devices) and containerd applies their edits, hooks included.
//     Otherwise (containerd 1.6 applies no CDI) the CDI edits of the container's devices
//     (cdi_edits.h) become explicit devices, mounts and environment of the CRI config; CDI hooks
//     cannot be written in a CRI config, so they are named in serve's log and not run. Decided
//     once, at Connect (containerd reads its CRI configuration only when it starts).
//     Simulated GPUs (serve --simulate) have no device nodes on the host: with
//     `device_stand_ins` set, a CDI device node whose host path does not exist is given to the
//     container at its path as a stand-in, a character device equal to /dev/null made in that
//     folder, so the container still sees exactly which devices it was given (always explicit
//     edits: containerd's CDI would refuse a device node that does not exist).
//   - Logs: containerd writes CRI log lines at the log path (relative to the sandbox's log
//     directory, appended across attempts); ReadLog strips their prefixes (cri_log.h).
//   - Images: PullImage honours imagePullPolicy (see PullImage below).
//   - States: CRI's; containerd's reasons Completed/Error become "" (the runner words them), an
//     unknown container is kExited 137 ContainerStatusUnknown.
//
// Thread safety: every method may be called from several threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
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

// Whether a CRI runtime whose verbose Status info["config"] is `config_json` applies the CDI
// specs under `cdi_root` by device name: its enableCDI is true and one of its cdiSpecDirs is
// cdi_root. False for anything else (containerd 1.6 has no such keys; unparsable JSON).
bool RuntimeAppliesCdi(const std::string& config_json, const std::string& cdi_root);

class ContainerdRuntime : public node::ContainerRuntime {
 public:
  // Connects and reads containerd's CDI support (Devices above); fails when the CRI Version or
  // Status call on the socket is not answered.
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
  Result<node::PodSandbox> PodSandboxStatus(const std::string& sandbox_id) override;
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
  // A connection to `port` on localhost of the pod `pod_uid`'s own network (kubectl
  // port-forward, as containerd's PortForward does it: inside the sandbox's network namespace);
  // nullopt when the pod shares the node's network.
  Result<std::optional<int>> DialPodNetwork(const std::string& pod_uid, uint16_t port);

 private:
  ContainerdRuntime(ContainerdOptions options, std::unique_ptr<CriClient> client);
  Result<std::string> HostDevice(const std::string& container_path, const std::string& host_path);
  Result<bool> NetworkReady();
  Status AddCdiEdits(const node::ContainerConfig& c, const node::PodSandboxConfig& sandbox,
                     v1::ContainerConfig& config);

  ContainerdOptions options_;
  std::unique_ptr<CriClient> client_;
  bool cdi_by_name_ = false;  // see Devices above
};

}  // namespace migdra::cri
