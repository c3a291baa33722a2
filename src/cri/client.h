// A client of a container runtime's CRI (runtime.v1 RuntimeService and ImageService, see
// proto/cri_runtime_v1.proto) over its unix socket — containerd's, in particular.
//
// Every call has a deadline (the runtime may hang; the caller's thread must not) and returns the
// runtime's gRPC status as an Error: "RPC: CODE: message". NotFound is recognisable
// (IsNotFound) because the kubelet's cleanup treats "already gone" as success.
//
// Thread safety: a CriClient may be used from any number of threads at once (gRPC stubs are).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/result.h"
#include "cri_runtime_v1.grpc.pb.h"

namespace migdra::cri {

namespace v1 = ::runtime::v1;

// Whether an error of a CriClient call is the runtime's NotFound.
bool IsNotFound(const Error& error);

class CriClient {
 public:
  // A client of the runtime listening on the unix socket `socket_path`. Fails when nothing answers
  // a Version call there within `timeout`.
  static Result<std::unique_ptr<CriClient>> Connect(const std::string& socket_path,
                                                    std::chrono::milliseconds timeout);

  const std::string& socket_path() const { return socket_path_; }
  // The runtime's answer to Version at Connect time.
  const v1::VersionResponse& version() const { return version_; }

  // The runtime's conditions (RuntimeReady, NetworkReady); with `verbose`, also its info map
  // (containerd: "config", its CRI configuration as JSON).
  Result<v1::StatusResponse> RuntimeStatus(bool verbose = false);
  Result<std::string> RunPodSandbox(const v1::PodSandboxConfig& config);
  Status StopPodSandbox(const std::string& sandbox_id);
  Status RemovePodSandbox(const std::string& sandbox_id);
  // With `verbose`, also the info map (containerd: "info", JSON with the sandbox's "pid").
  Result<v1::PodSandboxStatusResponse> PodSandboxStatus(const std::string& sandbox_id,
                                                        bool verbose = false);
  Result<v1::ListPodSandboxResponse> ListPodSandbox(const v1::PodSandboxFilter& filter);
  Result<std::string> CreateContainer(const std::string& sandbox_id,
                                      const v1::ContainerConfig& config,
                                      const v1::PodSandboxConfig& sandbox_config);
  Status StartContainer(const std::string& container_id);
  // Sends the container its stop signal, and SIGKILL after `grace_seconds`; returns when it has
  // stopped (the deadline covers the grace period).
  Status StopContainer(const std::string& container_id, int64_t grace_seconds);
  Status RemoveContainer(const std::string& container_id);
  Result<v1::ListContainersResponse> ListContainers(const v1::ContainerFilter& filter);
  Result<v1::ContainerStatus> ContainerStatus(const std::string& container_id);
  // The image's record, or nullopt when the runtime does not have it.
  Result<std::optional<v1::Image>> ImageStatus(const std::string& image);
  // Pulls `image`; returns its reference (image ID). Pulls may take minutes: `timeout`.
  Result<std::string> PullImage(const std::string& image, std::chrono::seconds timeout);

  // The single-use URL of the runtime's streaming server for an exec / an attach.
  Result<std::string> Exec(const v1::ExecRequest& request);
  Result<std::string> Attach(const v1::AttachRequest& request);

  // The stubs, for calls this class does not wrap (port-forward).
  v1::RuntimeService::Stub& runtime() { return *runtime_; }
  v1::ImageService::Stub& images() { return *images_; }

 private:
  CriClient(std::string socket_path, std::shared_ptr<grpc::Channel> channel);

  std::string socket_path_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::RuntimeService::Stub> runtime_;
  std::unique_ptr<v1::ImageService::Stub> images_;
  v1::VersionResponse version_;
};

}  // namespace migdra::cri
