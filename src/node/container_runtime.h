// The container runtime interface of serve's node: how the pod runner (runner.h) runs a pod's
// containers, finds them again after a restart, stops them and reads their logs. It is a small
// subset of the kubelet's CRI RuntimeService (k8s.io/cri-api runtime/v1), with the same shape, so
// that a CRI client (containerd) implements it call for call:
//
//   CRI                         here
//   RunPodSandbox               RunPodSandbox
//   StopPodSandbox              StopPodSandbox
//   RemovePodSandbox            RemovePodSandbox
//   PodSandboxStatus            PodSandboxStatus
//   ListPodSandbox              ListPodSandboxes
//   CreateContainer             CreateContainer
//   StartContainer              StartContainer
//   StopContainer               StopContainer
//   RemoveContainer             RemoveContainer
//   ContainerStatus             GetContainerStatus
//   ListContainers              ListContainers (of one sandbox)
//   (log files the runtime      ReadLog
//    writes at log_path)
//
// Implementation: the containerd CRI client (src/cri). The host-process runtime (ProcessRuntime,
// runner_process.h: host processes under `migdra container-shim`) is deliberately not one. The
// pod runner drives it through a seam of its own in runner.cc: the pod worker's Start, Recover,
// Reap and StopProcesses each have a host-process and a CRI side, and besides them only Release
// (KillPod or the sandbox's removal), the CommandRequired check, the containerID scheme, PodLog
// and the orphan-sandbox sweep ask which runtime runs the pods. The two differ exactly where
// this contract is strict:
//  - Adoption. Host processes are found again from their attempt directories (shim and exit
//    records, read once per container when a worker starts) and a live attempt is held as a
//    pidfd the worker polls; answering ListContainers / GetContainerStatus by ID would need a
//    registry of open pidfds inside the runtime that only re-states those records.
//  - Stopping. A deleted pod's processes all get SIGTERM at once and share one grace period,
//    and a serve that stops meanwhile leaves the rest of it to the next start. A blocking
//    StopContainer per container waits up to grace x containers and would hold up serve's
//    shutdown.
//  - No images and no sandboxes. A container without a command is refused before anything is
//    created (CommandRequired, the pod stays Pending), not reported as a failed attempt; the
//    attempt directory (its stdin FIFO, its shim) is what kubectl exec and attach reach
//    (host_streaming.h), which a CRI runtime serves through its own streaming.
//
// Contract every implementation keeps:
//  - Identity. A sandbox is the pod: RunPodSandbox is idempotent per pod UID — asked again for a
//    pod that has a sandbox (also one made before serve restarted) it returns that sandbox's ID.
//    A container is (sandbox, name, attempt): CreateContainer for a (name, attempt) that already
//    exists in the sandbox is an error, so a restarted runner never runs an attempt twice.
//    IDs are opaque strings of the runtime's choosing, stable across serve restarts.
//  - Persistence. Sandboxes and containers outlive serve (stopping or killing it leaves them
//    running); ListPodSandboxes and ListContainers return them after a restart, with their state.
//  - States follow CRI's: kCreated (not started yet), kRunning, kExited (exit code and finish
//    time known), kUnknown. A container whose runtime lost track of it (its supervisor killed,
//    the host rebooted) is reported kExited with exit code 137, reason ContainerStatusUnknown and
//    a message saying why — the runner applies the restart policy to it like to any exit, and
//    never starts it again silently.
//  - Network. A sandbox is in the runtime's pod network when the runtime has one (CRI Status
//    NetworkReady: containerd loaded a CNI configuration) and the pod does not ask for the node's
//    (spec.hostNetwork); it then has its own network and UTS namespaces, `hostname` and IPs
//    (PodSandboxStatus: ips, primary first). Otherwise it shares the node's network, and ips is
//    empty (the pod's IP is the node's). A sandbox keeps the network it was made with.
//  - Devices. ContainerConfig::cdi_devices are fully qualified CDI names (KIND=NAME, from the
//    driver's NodePrepareResources answer); the runtime applies their edits from the CDI specs
//    under the cdi_root it was made with — by name where the runtime applies CDI itself and
//    reads that folder, as explicit devices, mounts and environment otherwise — and fails
//    CreateContainer when one is not found.
//  - Stopping. StopContainer sends SIGTERM to the container's processes and, `grace` later, kills
//    all of them; it returns once they are gone (or with an error when they cannot be reached).
//    StopPodSandbox kills every process left in the pod (background children included) and is
//    idempotent; after it the pod's containers are kExited.
//  - Errors are Status/Result values with a message a user can act on; the runner shows them on
//    the pod (StartError, CreateContainerConfigError). No call throws.
//  - Logs. A container's stdout and stderr go to ContainerConfig::log_path (attempts of a
//    container may share one path; the runtime appends) as CRI log lines ("TIME STREAM TAG
//    TEXT", common/cri_log.h), which the runner hands to `kubectl logs` as they are (the API
//    side reads them, control/pod_logs.h). ReadLog returns the text without the prefixes.
//
// Thread safety: every method may be called from several threads at once (one per pod worker).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace migdra::node {

// The pod a sandbox is made for (CRI PodSandboxConfig, the fields serve's node fills).
struct PodSandboxConfig {
  std::string uid;  // the pod's metadata.uid (validated: hex digits and dashes)
  std::string namespace_;
  std::string name;
  // The pod's hostname in a pod network (the kubelet's: spec.hostname, else the pod's name, at
  // most 63 characters); unused on the node's network.
  std::string hostname;
  bool host_network = false;  // spec.hostNetwork: the node's network even where a pod network is
  std::string log_directory;  // the pod's folder of container logs
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
};

struct PodSandbox {
  std::string id;
  std::string uid;     // the pod's UID, as given to RunPodSandbox
  bool ready = false;  // false once stopped
  // PodSandboxStatus only: the pod's IPs in the pod network, primary first; empty on the node's.
  std::vector<std::string> ips;
};

// A host directory seen at `container_path` inside the container.
struct Mount {
  std::string host_path;
  std::string container_path;
  bool read_only = false;
};

// One attempt of one container (CRI ContainerConfig).
struct ContainerConfig {
  std::string name;  // the container's name in the pod (validated DNS-1123 label)
  int attempt = 0;   // the restart count this attempt will have
  std::string image;
  // The kubelet's mapping: `command` replaces the image's ENTRYPOINT, `args` its CMD; empty ones
  // keep the image's (the host runtime, which has no image, runs command + args and needs a
  // command). $(VAR) references expanded.
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::string image_pull_policy;  // Always | IfNotPresent | Never | "" (the API default)
  std::vector<std::string> env;   // NAME=VALUE, the container's environment from the pod spec
  std::string working_dir;        // "" = the image's (host runtime: serve's)
  std::vector<Mount> mounts;
  std::vector<std::string> cdi_devices;  // KIND=NAME, applied by the runtime
  std::string log_path;                  // absolute; stdout and stderr appended here
  // spec.stdin / stdinOnce / tty: the container reads what `kubectl attach -i` sends (once: its
  // stdin closes when the first attached client ends it) and runs on a terminal (attach -t).
  bool stdin = false;
  bool stdin_once = false;
  bool tty = false;
  std::map<std::string, std::string> labels;
};

enum class ContainerState { kCreated, kRunning, kExited, kUnknown };

struct ContainerStatus {
  std::string id;
  std::string name;
  int attempt = 0;
  ContainerState state = ContainerState::kUnknown;
  int exit_code = 0;        // kExited
  std::string started_at;   // RFC 3339; "" before the start
  std::string finished_at;  // RFC 3339; kExited
  std::string reason;   // kExited: "" (the runner says Completed/Error) or ContainerStatusUnknown
  std::string message;  // why, when reason is set
  std::string log_path;
};

class ContainerRuntime {
 public:
  virtual ~ContainerRuntime() = default;

  // One line for serve's log: "processes (cgroup v2 at /sys/fs/...)", "containerd 2.0 at ...".
  virtual std::string Describe() const = 0;
  // status.nodeInfo.containerRuntimeVersion: "containerd://1.6.20", "migdra://0.1.0".
  virtual std::string RuntimeVersion() const = 0;

  // Makes the image present as `policy` (imagePullPolicy) says. The error's field is the
  // kubelet's waiting reason (ErrImagePull, ErrImageNeverPull), its message the runtime's.
  virtual Status PullImage(const std::string& image, const std::string& policy) = 0;

  virtual Result<std::string> RunPodSandbox(const PodSandboxConfig& config) = 0;
  virtual Status StopPodSandbox(const std::string& sandbox_id) = 0;
  // Removes a stopped sandbox and its containers (their logs stay until the runner removes the
  // pod's log directory).
  virtual Status RemovePodSandbox(const std::string& sandbox_id) = 0;
  virtual Result<PodSandbox> PodSandboxStatus(const std::string& sandbox_id) = 0;
  virtual Result<std::vector<PodSandbox>> ListPodSandboxes() = 0;

  virtual Result<std::string> CreateContainer(const std::string& sandbox_id,
                                              const ContainerConfig& config,
                                              const PodSandboxConfig& sandbox) = 0;
  virtual Status StartContainer(const std::string& container_id) = 0;
  virtual Status StopContainer(const std::string& container_id, std::chrono::seconds grace) = 0;
  virtual Status RemoveContainer(const std::string& container_id) = 0;
  virtual Result<ContainerStatus> GetContainerStatus(const std::string& container_id) = 0;
  // Every container of the sandbox, every attempt, in no particular order.
  virtual Result<std::vector<ContainerStatus>> ListContainers(const std::string& sandbox_id) = 0;

  virtual Result<std::string> ReadLog(const std::string& log_path) = 0;
};

}  // namespace migdra::node
