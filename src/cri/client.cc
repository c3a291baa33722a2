#include "cri/client.h"

#include <grpcpp/grpcpp.h>

namespace migdra::cri {
namespace {

using namespace std::chrono_literals;

// Ordinary calls answer in milliseconds; a runtime busy with many pods on a loaded machine was
// seen taking over a minute. Stopping a sandbox unmounts and deletes its tasks: longer still.
constexpr std::chrono::seconds kCallTimeout = 120s;
constexpr std::chrono::seconds kSandboxTeardownTimeout = 300s;

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::CANCELLED:
      return "Cancelled";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "InvalidArgument";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DeadlineExceeded";
    case grpc::StatusCode::NOT_FOUND:
      return "NotFound";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "AlreadyExists";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FailedPrecondition";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "Unimplemented";
    case grpc::StatusCode::UNAVAILABLE:
      return "Unavailable";
    case grpc::StatusCode::INTERNAL:
      return "Internal";
    default:
      return "Unknown";
  }
}

// Calls `method` on `stub` with a deadline; the error names the RPC and the gRPC code.
template <typename Stub, typename Request, typename Response>
Result<Response> Call(Stub& stub,
                      grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                      const char* name, const Request& request,
                      std::chrono::milliseconds timeout = kCallTimeout) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  Response response;
  grpc::Status status = (stub.*method)(&context, request, &response);
  if (!status.ok()) {
    return MakeError(std::string(name) + ": " + CodeName(status.error_code()) + ": " +
                     status.error_message());
  }
  return response;
}

}  // namespace

bool IsNotFound(const Error& error) {
  return error.message.find(": NotFound: ") != std::string::npos;
}

CriClient::CriClient(std::string socket_path, std::shared_ptr<grpc::Channel> channel)
    : socket_path_(std::move(socket_path)),
      channel_(std::move(channel)),
      runtime_(v1::RuntimeService::NewStub(channel_)),
      images_(v1::ImageService::NewStub(channel_)) {}

Result<std::unique_ptr<CriClient>> CriClient::Connect(const std::string& socket_path,
                                                      std::chrono::milliseconds timeout) {
  grpc::ChannelArguments args;
  // Container logs and image lists can be large; the default 4 MiB cap is the kubelet's too.
  args.SetMaxReceiveMessageSize(16 << 20);
  auto channel =
      grpc::CreateCustomChannel("unix://" + socket_path, grpc::InsecureChannelCredentials(), args);
  std::unique_ptr<CriClient> client(new CriClient(socket_path, std::move(channel)));
  v1::VersionRequest request;
  request.set_version("v1");
  auto version =
      Call(*client->runtime_, &v1::RuntimeService::Stub::Version, "Version", request, timeout);
  if (!version.ok()) return MakeError(socket_path + ": " + version.error().message);
  client->version_ = std::move(*version);
  return client;
}

Result<v1::StatusResponse> CriClient::RuntimeStatus(bool verbose) {
  v1::StatusRequest request;
  request.set_verbose(verbose);
  return Call(*runtime_, &v1::RuntimeService::Stub::Status, "Status", request);
}

Result<std::string> CriClient::RunPodSandbox(const v1::PodSandboxConfig& config) {
  v1::RunPodSandboxRequest request;
  *request.mutable_config() = config;
  auto r = Call(*runtime_, &v1::RuntimeService::Stub::RunPodSandbox, "RunPodSandbox", request);
  if (!r.ok()) return std::move(r).error();
  return r->pod_sandbox_id();
}

Status CriClient::StopPodSandbox(const std::string& sandbox_id) {
  v1::StopPodSandboxRequest request;
  request.set_pod_sandbox_id(sandbox_id);
  auto r = Call(*runtime_, &v1::RuntimeService::Stub::StopPodSandbox, "StopPodSandbox", request,
                kSandboxTeardownTimeout);
  if (!r.ok()) return std::move(r).error();
  return OkStatus();
}

Status CriClient::RemovePodSandbox(const std::string& sandbox_id) {
  v1::RemovePodSandboxRequest request;
  request.set_pod_sandbox_id(sandbox_id);
  auto r = Call(*runtime_, &v1::RuntimeService::Stub::RemovePodSandbox, "RemovePodSandbox", request,
                kSandboxTeardownTimeout);
  if (!r.ok()) return std::move(r).error();
  return OkStatus();
}

Result<v1::PodSandboxStatusResponse> CriClient::PodSandboxStatus(const std::string& sandbox_id,
                                                                 bool verbose) {
  v1::PodSandboxStatusRequest request;
  request.set_pod_sandbox_id(sandbox_id);
  request.set_verbose(verbose);
  return Call(*runtime_, &v1::RuntimeService::Stub::PodSandboxStatus, "PodSandboxStatus", request);
}

Result<v1::ListPodSandboxResponse> CriClient::ListPodSandbox(const v1::PodSandboxFilter& filter) {
  v1::ListPodSandboxRequest request;
  *request.mutable_filter() = filter;
  return Call(*runtime_, &v1::RuntimeService::Stub::ListPodSandbox, "ListPodSandbox", request);
}

Result<std::string> CriClient::CreateContainer(const std::string& sandbox_id,
                                               const v1::ContainerConfig& config,
                                               const v1::PodSandboxConfig& sandbox_config) {
  v1::CreateContainerRequest request;
  request.set_pod_sandbox_id(sandbox_id);
  *request.mutable_config() = config;
  *request.mutable_sandbox_config() = sandbox_config;
  auto r = Call(*runtime_, &v1::RuntimeService::Stub::CreateContainer, "CreateContainer", request);
  if (!r.ok()) return std::move(r).error();
  return r->container_id();
}

Status CriClient::StartContainer(const std::string& container_id) {
  v1::StartContainerRequest request;
  request.set_container_id(container_id);
  auto r = Call(*runtime_, &v1::RuntimeService::Stub::StartContainer, "StartContainer", request);
  if (!r.ok()) return std::move(r).error();
  return OkStatus();
}

Status CriClient::StopContainer(const std::string& container_id, int64_t grace_seconds) {
  v1::StopContainerRequest request;
  request.set_container_id(container_id);
  request.set_timeout(grace_seconds);
  auto r = Call(*runtime_, &v1::RuntimeService::Stub::StopContainer, "StopContainer", request,
                kCallTimeout + std::chrono::seconds(grace_seconds));
  if (!r.ok()) return std::move(r).error();
  return OkStatus();
}

Status CriClient::RemoveContainer(const std::string& container_id) {
  v1::RemoveContainerRequest request;
  request.set_container_id(container_id);
  auto r = Call(*runtime_, &v1::RuntimeService::Stub::RemoveContainer, "RemoveContainer", request);
  if (!r.ok()) return std::move(r).error();
  return OkStatus();
}

Result<v1::ListContainersResponse> CriClient::ListContainers(const v1::ContainerFilter& filter) {
  v1::ListContainersRequest request;
  *request.mutable_filter() = filter;
  return Call(*runtime_, &v1::RuntimeService::Stub::ListContainers, "ListContainers", request);
}

Result<std::string> CriClient::Exec(const v1::ExecRequest& request) {
  auto r = Call(*runtime_, &v1::RuntimeService::Stub::Exec, "Exec", request);
  if (!r.ok()) return std::move(r).error();
  return r->url();
}

Result<std::string> CriClient::Attach(const v1::AttachRequest& request) {
  auto r = Call(*runtime_, &v1::RuntimeService::Stub::Attach, "Attach", request);
  if (!r.ok()) return std::move(r).error();
  return r->url();
}

Result<v1::ContainerStatus> CriClient::ContainerStatus(const std::string& container_id) {
  v1::ContainerStatusRequest request;
  request.set_container_id(container_id);
  auto r = Call(*runtime_, &v1::RuntimeService::Stub::ContainerStatus, "ContainerStatus", request);
  if (!r.ok()) return std::move(r).error();
  return r->status();
}

Result<std::optional<v1::Image>> CriClient::ImageStatus(const std::string& image) {
  v1::ImageStatusRequest request;
  request.mutable_image()->set_image(image);
  auto r = Call(*images_, &v1::ImageService::Stub::ImageStatus, "ImageStatus", request);
  if (!r.ok()) return std::move(r).error();
  // The runtime answers an unknown image with an empty record, not an error.
  if (!r->has_image() || r->image().id().empty()) return std::optional<v1::Image>();
  return std::optional<v1::Image>(r->image());
}

Result<std::string> CriClient::PullImage(const std::string& image, std::chrono::seconds timeout) {
  v1::PullImageRequest request;
  request.mutable_image()->set_image(image);
  auto r = Call(*images_, &v1::ImageService::Stub::PullImage, "PullImage", request, timeout);
  if (!r.ok()) return std::move(r).error();
  return r->image_ref();
}

}  // namespace migdra::cri
