// The pod runner: a kubelet for the one node of `migdra serve`.
//
// For every pod bound to the local node it
//  1. takes the pod under its care (finalizer `migdra.io/pod-runner`, so a deleted pod stays
//     visible until its processes are stopped and its devices released),
//  2. prepares the pod's ResourceClaims through the DRA gRPC API on the node driver's socket,
//     exactly as a kubelet would (serve's driver, driver::Plugin, serves that socket),
//  3. applies the CDI edits of the prepared devices (environment: NVIDIA_VISIBLE_DEVICES,
//     CUDA_VISIBLE_DEVICES, ...) and starts each container's `command` + `args` as host processes
//     (runner_process.h: one supervisor per container attempt, the pod's processes confined in
//     its cgroup or under the supervisor as subreaper) with the container's env (value with
//     $(VAR) references, valueFrom.fieldRef; see container_env.h) and workingDir — init
//     containers one after another, then the containers together. A container without `command`
//     keeps the pod Pending (CommandRequired: the host runtime runs commands, not images), as
//     does an env source serve cannot provide (CreateContainerConfigError),
//  4. writes the pod's phase, container states, exit codes and restart counts (restartPolicy
//     Always / OnFailure / Never), keeps each container's output for `kubectl logs`,
//  5. on deletion sends SIGTERM to the container's process group and, after the pod's grace
//     period, kills every process of the container, and
//  6. when the pod ends (completion or deletion) kills whatever is left in the pod (background
//     children included), unprepares the claims, then releases the finalizer.
//
// Restarts of serve (crash or stop): containers keep running under their supervisors. The next
// start finds every pod it had taken (the finalizer) and, for each container, reads its state
// from disk (runner_process.h, crash semantics): a running attempt is adopted (its exit is
// observed later, with its code, and its log continues); a finished one stays finished; a
// container whose supervisor vanished without an exit record (shim killed, host rebooted) is
// reported terminated with reason ContainerStatusUnknown and exit code 137 and follows the
// restart policy like any exit — never run again silently. restartCount is the number of the
// container's last attempt directory, so it never goes backwards.
//
// Names that become paths: the state folder is DATA_DIR/runner/pods/POD_UID/CONTAINER/ATTEMPT/
// (one per attempt: its log, its records). A pod whose UID is not hex-and-dashes or whose container
// names are not unique DNS-1123 labels (API validation admits no other) is kept Pending with
// CreateContainerConfigError before any path is built; PodLog answers only for a DNS-1123 name
// of a container of the pod.
//
// It sees the control plane only through its REST API (kube::Client): it lists and watches the
// pods whose spec.nodeName is its node, reads their claims, writes pod status (the status
// subresource) and finalizers, and records Events (kubelet_events.h).
//
// State: the context's state_dir (serve: DATA_DIR/runner/) holds the pods' logs and supervisor
// records and the cgroup root's record; the CDI specs it reads are under the context's cdi_root.
//
// Thread safety: Start and Stop from one thread; PodLog from any.
#pragma once

#include <memory>

#include "node/node_agent.h"

namespace migdra::node {

inline constexpr const char* kPodRunnerFinalizer = "migdra.io/pod-runner";

// The runner `migdra serve` starts beside its controllers (see node_agent.h).
std::unique_ptr<NodeAgent> MakePodRunner(const NodeAgentContext& context);

}  // namespace migdra::node
