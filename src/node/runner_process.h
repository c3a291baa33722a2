// The host-process container runtime of the pod runner (runner.h): how one attempt of a
// container runs as host processes, how it is found again after `migdra serve` restarts, and how
// every process of a pod is killed. The containerd runtime (src/cri) sits beside this one behind
// container_runtime.h, which says why this one is not a ContainerRuntime; the runner only uses
// what this header declares.
//
// Supervision. Each attempt runs under a shim (container_shim.h: `migdra-container-shim` beside
// the running binary, or its own `migdra container-shim`), in a session of its own, so that it
// outlives serve. The shim
//  - is the container's parent and a child subreaper (PR_SET_CHILD_SUBREAPER), so every orphaned
//    descendant of the container is reparented to it, whatever it did (`cmd &`, `setsid cmd`);
//  - forwards SIGTERM to the container's process group (graceful stop), kills everything on
//    SIGUSR1 (hard stop);
//  - when the container's main process exits (Kubernetes: the container ends with its PID 1),
//    kills every remaining descendant (KillTree below), reaps them all, then records the exit
//    status durably (ATTEMPT/exit, written to a temporary file, fsynced, renamed) and exits.
//    So an exit record means: the container and all its descendants are gone.
//
// Confinement (what KillTree uses), chosen once per runner start (ProcessRuntime::Create):
//  - cgroup v2 with cgroup.kill (kernel >= 5.14) when writable: at /sys/fs/cgroup (pure v2) or at
//    /sys/fs/cgroup/unified (hybrid v1/v2), under the cgroup serve runs in. Each pod gets
//    ROOT/POD_UID and each container attempt ROOT/POD_UID/NAME-ATTEMPT; the container joins it
//    before exec. Killing a cgroup kills every process in it, even one that escaped the shim's
//    subtree by a double fork whose middle process the shim reaped first.
//    ROOT (ROOT_PARENT/migdra-pods-RANDOM) is recorded in DATA_DIR/runner/cgroup-root and reused
//    by later starts while it exists, so a restarted serve (even in another cgroup) finds the
//    pods of the crashed one.
//  - otherwise (no writable cgroup2, cgroup.kill missing): the subreaper alone. KillTree repeats
//    "SIGKILL every child of the shim, reap one" until the shim has no children left; since
//    orphans are reparented to the shim, this reaches every descendant. It cannot reach a
//    process whose shim was itself killed (see kLost).
//
// Identities. A process recorded on disk (ATTEMPT/shim) is "BOOT_ID PID START_TIME STARTED_AT":
// the kernel boot ID (/proc/sys/kernel/random/boot_id), the PID, its start time in clock ticks
// since boot (/proc/PID/stat field 22) and the RFC 3339 time the attempt started. Before any
// signal, the runner opens a pidfd for PID and checks that boot ID and start time still match
// (OpenRecordedProcess); every later signal goes through that pidfd, so PID reuse can never
// redirect a kill.
//
// Crash semantics (the runner's state folder is DATA_DIR/runner/pods/POD_UID/NAME/):
//   - ATTEMPT/ created, no shim record: the runner crashed before recording the shim; the shim
//     waits for a go byte on a pipe from the runner before it starts the container, so the
//     container never ran (kNotStarted) and the attempt is started again.
//   - shim record, no exit record, recorded process alive: the container is running (kRunning);
//     the restarted runner adopts it and later reads its exit record.
//   - exit record: the container ended (kExited) with the recorded code; an attempt that could
//     not start (no shim record) is recorded as exited with 128.
//   - shim record, no exit record, process gone or boot ID changed (reboot, shim killed):
//     kLost — its exit status is unknown; the runner reports it as Kubernetes does
//     (ContainerStatusUnknown, exit code 137) and never runs it again silently.
//   - stopping serve (SIGTERM) or killing it leaves containers running; the next start adopts
//     them, as a kubelet restart leaves containerd's containers running.
//
// Thread safety: ProcessRuntime is immutable after Create; a ContainerProcess is used by one
// thread (its pod's worker).
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "node/pod_config.h"

namespace migdra::node {

// The boot ID of the running kernel ("" if unreadable).
std::string CurrentBootId();

// A running shim's identity, as recorded in ATTEMPT/shim.
struct ProcessIdentity {
  std::string boot_id;
  pid_t pid = 0;
  unsigned long long start_time = 0;  // /proc/PID/stat field 22
};

// A pidfd for the process `id` names if it is that very process (same boot, same start time);
// -1 if it is gone or another process now has its PID.
int OpenRecordedProcess(const ProcessIdentity& id);

// What the runner starts: one attempt of one container.
struct ContainerLaunch {
  std::vector<std::string> argv;  // command + args (argv[0] looked up on PATH)
  std::vector<std::string> env;   // NAME=VALUE, the container's whole environment
  std::string working_dir;        // "" = the shim's cwd
  std::string log_path;           // stdout and stderr are appended here (CRI log format)
  std::string attempt_dir;        // created by Start; holds the shim and exit records
  std::string cgroup;             // "" = no cgroup (subreaper confinement)
  // Bind mounts made in a private mount namespace of the container before it starts (its
  // volumes, pod_config.h); recorded in ATTEMPT/mounts for the shim. A mount that fails ends
  // the attempt with 126 and the reason in its log.
  std::vector<BindMount> mounts;
  // `stdin: true`: the container reads the FIFO ATTEMPT/stdin (kStdinFifo), held open
  // read-write by the container itself, instead of /dev/null; kubectl attach -i writes to it.
  bool open_stdin = false;
};

inline constexpr const char* kStdinFifo = "stdin";

// One attempt of a container, started here or adopted after a restart. Destroying it leaves the
// processes running.
class ContainerProcess {
 public:
  ContainerProcess(int pidfd, pid_t pid, std::string attempt_dir, std::string started_at);
  ~ContainerProcess();
  ContainerProcess(const ContainerProcess&) = delete;
  ContainerProcess& operator=(const ContainerProcess&) = delete;

  pid_t shim_pid() const { return pid_; }
  const std::string& started_at() const { return started_at_; }
  // Whether the shim has exited (then its exit record, if any, is complete).
  bool Ended() const;
  // SIGTERM to the container's process group, through the shim.
  void Terminate() const;
  // Every process of the container, now, through the shim.
  void Kill() const;

 private:
  int pidfd_;
  pid_t pid_;
  std::string attempt_dir_;
  std::string started_at_;
};

// What is known of one attempt directory.
struct AttemptState {
  enum Kind { kNotStarted, kRunning, kExited, kLost } kind = kNotStarted;
  std::unique_ptr<ContainerProcess> process;  // kRunning
  int exit_code = 0;                          // kExited, kLost (137)
  std::string started_at;                     // all but kNotStarted
  std::string finished_at;                    // kExited, kLost (when it was found lost)
  std::string message;                        // kLost: why
};

// Reads ATTEMPT_DIR as the crash semantics above say.
AttemptState ReadAttempt(const std::string& attempt_dir);

class ProcessRuntime {
 public:
  // Detects the confinement (see above); `runner_dir` keeps the cgroup root's record.
  static std::unique_ptr<ProcessRuntime> Create(const std::string& runner_dir);
  // Removes the cgroup root if no pod's cgroup is left in it (running pods keep it).
  ~ProcessRuntime();

  // "cgroup v2 at PATH" or "subreaper (REASON)", for serve's log.
  const std::string& description() const { return description_; }
  bool uses_cgroups() const { return !cgroup_root_.empty(); }

  // Starts one attempt: creates its directory and cgroup, forks the shim, records its identity,
  // then lets it start the container. `name` is a validated container name, `attempt` its
  // restart number; `pod_uid` a validated UID.
  Result<std::unique_ptr<ContainerProcess>> Start(const std::string& pod_uid,
                                                  const std::string& name, int attempt,
                                                  ContainerLaunch launch) const;
  // Kills every process left in the attempt's cgroup (a kLost attempt's orphans).
  void KillAttempt(const std::string& pod_uid, const std::string& name, int attempt) const;
  // Kills every process left in the pod's cgroup and removes its cgroups (no-op without them).
  void KillPod(const std::string& pod_uid) const;

 private:
  std::string cgroup_root_;  // "" = subreaper only
  std::string loader_path_;  // serve's LD_LIBRARY_PATH, which the shim needs to load
  std::string shim_path_;    // migdra-container-shim beside this binary; "" = this binary
  std::string description_;
};

}  // namespace migdra::node
