// The pod runner: a kubelet for the one node of `migdra serve`.
//
// For every pod bound to the local node it
//  1. takes the pod under its care (finalizer `migdra.io/pod-runner`, so a deleted pod stays
//     visible until its processes are stopped and its devices released),
//  2. prepares the pod's ResourceClaims through the DRA gRPC API on the node driver's socket,
//     exactly as a kubelet would (the driver runs in-process, serving that socket),
//  3. applies the CDI edits of the prepared devices (environment: NVIDIA_VISIBLE_DEVICES,
//     CUDA_VISIBLE_DEVICES, ...) and starts each container's `command` + `args` as a host process
//     with the container's env (value with $(VAR) references, valueFrom.fieldRef; see
//     container_env.h) and workingDir — init containers one after another, then the containers
//     together. A container without `command` keeps the pod Pending (CommandRequired: the host
//     runtime runs commands, not images), as does an env source serve cannot provide
//     (CreateContainerConfigError),
//  4. writes the pod's phase, container states, exit codes and restart counts (restartPolicy
//     Always / OnFailure / Never), keeps each container's output for `kubectl logs`,
//  5. on deletion sends SIGTERM to the container's process group and SIGKILL after the pod's
//     grace period, and
//  6. unprepares the claims when the pod ends, then releases the finalizer.
//
// State: DATA_DIR/runner/ holds container logs and the process groups it started (so that a
// restarted server kills what a crashed one left behind), DATA_DIR/driver the driver checkpoint,
// DATA_DIR/cdi the CDI specs and DATA_DIR/plugins the driver socket.
//
// Thread safety: Start and Stop from one thread; PodLog from any.
#pragma once

#include <memory>

#include "control/node_agent.h"

namespace migdra::control {

inline constexpr const char* kPodRunnerFinalizer = "migdra.io/pod-runner";

// The runner `migdra serve` starts beside its controllers (see node_agent.h).
std::unique_ptr<NodeAgent> MakePodRunner(const NodeAgentContext& context);

}  // namespace migdra::control
