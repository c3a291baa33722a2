// kubectl exec, attach and port-forward for pods that run in containerd (containerd_runtime.h):
// the node's stream::ContainerStreaming (stream/container_streams.h) when serve chose containerd.
//   - exec and attach: containerd's own streaming server serves them. StreamUrl finds the
//     container's running attempt (by the pod UID and container name labels) and asks containerd
//     for a single-use URL with CRI Exec / Attach; serve's API server proxies kubectl's upgraded
//     connection there (control/pod_streams.h), as kube-apiserver does through the kubelet.
//     Exec and Attach themselves are never asked (StreamUrl always answers).
//   - port-forward: a pod in containerd's pod network is dialled inside its network namespace
//     (ContainerdRuntime::DialPodNetwork); one on the host's network through `host_network`
//     (the host-process streaming of the runner).
//
// Thread safety: any thread, as ContainerdRuntime.
#pragma once

#include <memory>
#include <string>

#include "cri/containerd_runtime.h"
#include "stream/container_streams.h"

namespace migdra::cri {

class ContainerdStreaming : public stream::ContainerStreaming {
 public:
  ContainerdStreaming(std::shared_ptr<ContainerdRuntime> runtime,
                      stream::ContainerStreaming* host_network)
      : runtime_(std::move(runtime)), host_network_(host_network) {}

  Result<std::unique_ptr<stream::StreamedProcess>> Exec(
      const nlohmann::json& pod, const stream::StreamRequest& request) override;
  Result<std::unique_ptr<stream::StreamedProcess>> Attach(
      const nlohmann::json& pod, const stream::StreamRequest& request) override;
  Result<int> DialPort(const nlohmann::json& pod, uint16_t port) override;
  std::optional<Result<std::string>> StreamUrl(const nlohmann::json& pod,
                                               const stream::StreamRequest& request,
                                               bool exec) override;

 private:
  std::shared_ptr<ContainerdRuntime> runtime_;
  stream::ContainerStreaming* host_network_;
};

}  // namespace migdra::cri
