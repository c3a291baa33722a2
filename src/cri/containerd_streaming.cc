#include "cri/containerd_streaming.h"

namespace migdra::cri {

Result<std::unique_ptr<stream::StreamedProcess>> ContainerdStreaming::Exec(
    const nlohmann::json&, const stream::StreamRequest& request) {
  return MakeError(
      "container " + request.container +
      ": exec into containerd's containers goes through containerd's streaming server");
}

Result<std::unique_ptr<stream::StreamedProcess>> ContainerdStreaming::Attach(
    const nlohmann::json&, const stream::StreamRequest& request) {
  return MakeError("container " + request.container +
                   ": attach to containerd's containers goes through containerd's streaming "
                   "server");
}

Result<int> ContainerdStreaming::DialPort(const nlohmann::json& pod, uint16_t port) {
  auto dialed = runtime_->DialPodNetwork(pod["metadata"].value("uid", ""), port);
  if (!dialed.ok()) return std::move(dialed).error();
  if (*dialed) return **dialed;
  return host_network_->DialPort(pod, port);
}

std::optional<Result<std::string>> ContainerdStreaming::StreamUrl(
    const nlohmann::json& pod, const stream::StreamRequest& request, bool exec) {
  const std::string uid = pod["metadata"].value("uid", "");
  return runtime_->StreamUrl(uid, request, exec);
}

}  // namespace migdra::cri
