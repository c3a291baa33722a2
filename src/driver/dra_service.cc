#include "driver/dra_service.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <grpcpp/grpcpp.h>

#include "driver/metrics.h"
#include "dra_v1.grpc.pb.h"
#include "dra_v1beta1.grpc.pb.h"
#include "pluginregistration_v1.grpc.pb.h"

namespace migdra::driver {
namespace {

namespace v1 = k8s::io::kubelet::pkg::apis::dra::v1;
namespace v1beta1 = k8s::io::kubelet::pkg::apis::dra::v1beta1;

// Runs `f`, turning an escaped exception into an error for this claim instead of a dead plugin.
template <typename F>
auto Guarded(F f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    return MakeError(std::string("internal error: ") + e.what());
  }
}

// Both API versions have identical messages; one template serves them.
template <typename Api>
grpc::Status Prepare(DeviceState* state, const typename Api::NodePrepareResourcesRequest* request,
                     typename Api::NodePrepareResourcesResponse* response) {
  for (const auto& claim : request->claims()) {
    auto& entry = (*response->mutable_claims())[claim.uid()];
    DriverMetrics::Request observed(GlobalDriverMetrics(), "prepare");
    auto devices = Guarded([&] {
      return state->Prepare({claim.namespace_(), claim.name(), claim.uid()});
    });
    if (!devices.ok()) {
      observed.Failed("prepare_devices");
      entry.set_error(devices.error().ToString());
      continue;
    }
    observed.Succeeded();
    for (const PreparedDevice& d : *devices) {
      auto* out = entry.add_devices();
      for (const auto& r : d.requests) out->add_request_names(r.substr(0, r.find('/')));
      out->set_pool_name(d.pool);
      out->set_device_name(d.device);
      for (const auto& id : d.cdi_device_ids) out->add_cdi_device_ids(id);
    }
  }
  return grpc::Status::OK;
}

template <typename Api>
grpc::Status Unprepare(DeviceState* state,
                       const typename Api::NodeUnprepareResourcesRequest* request,
                       typename Api::NodeUnprepareResourcesResponse* response) {
  for (const auto& claim : request->claims()) {
    auto& entry = (*response->mutable_claims())[claim.uid()];
    DriverMetrics::Request observed(GlobalDriverMetrics(), "unprepare");
    Status s = Guarded([&] {
      return state->Unprepare({claim.namespace_(), claim.name(), claim.uid()});
    });
    if (s.ok()) {
      observed.Succeeded();
    } else {
      observed.Failed("unprepare_devices");
      entry.set_error(s.error().ToString());
    }
  }
  return grpc::Status::OK;
}

struct V1Api {
  using NodePrepareResourcesRequest = v1::NodePrepareResourcesRequest;
  using NodePrepareResourcesResponse = v1::NodePrepareResourcesResponse;
  using NodeUnprepareResourcesRequest = v1::NodeUnprepareResourcesRequest;
  using NodeUnprepareResourcesResponse = v1::NodeUnprepareResourcesResponse;
};
struct V1beta1Api {
  using NodePrepareResourcesRequest = v1beta1::NodePrepareResourcesRequest;
  using NodePrepareResourcesResponse = v1beta1::NodePrepareResourcesResponse;
  using NodeUnprepareResourcesRequest = v1beta1::NodeUnprepareResourcesRequest;
  using NodeUnprepareResourcesResponse = v1beta1::NodeUnprepareResourcesResponse;
};

class V1Service final : public v1::DRAPlugin::Service {
 public:
  explicit V1Service(DeviceState* s) : s_(s) {}
  grpc::Status NodePrepareResources(grpc::ServerContext*, const v1::NodePrepareResourcesRequest* rq,
                                    v1::NodePrepareResourcesResponse* rs) override {
    return Prepare<V1Api>(s_, rq, rs);
  }
  grpc::Status NodeUnprepareResources(grpc::ServerContext*,
                                      const v1::NodeUnprepareResourcesRequest* rq,
                                      v1::NodeUnprepareResourcesResponse* rs) override {
    return Unprepare<V1Api>(s_, rq, rs);
  }

 private:
  DeviceState* s_;
};

class V1beta1Service final : public v1beta1::DRAPlugin::Service {
 public:
  explicit V1beta1Service(DeviceState* s) : s_(s) {}
  grpc::Status NodePrepareResources(grpc::ServerContext*,
                                    const v1beta1::NodePrepareResourcesRequest* rq,
                                    v1beta1::NodePrepareResourcesResponse* rs) override {
    return Prepare<V1beta1Api>(s_, rq, rs);
  }
  grpc::Status NodeUnprepareResources(grpc::ServerContext*,
                                      const v1beta1::NodeUnprepareResourcesRequest* rq,
                                      v1beta1::NodeUnprepareResourcesResponse* rs) override {
    return Unprepare<V1beta1Api>(s_, rq, rs);
  }

 private:
  DeviceState* s_;
};

class RegistrationService final : public pluginregistration::Registration::Service {
 public:
  RegistrationService(std::string driver, std::string endpoint)
      : driver_(std::move(driver)), endpoint_(std::move(endpoint)) {}
  grpc::Status GetInfo(grpc::ServerContext*, const pluginregistration::InfoRequest*,
                       pluginregistration::PluginInfo* info) override {
    info->set_type("DRAPlugin");
    info->set_name(driver_);
    info->set_endpoint(endpoint_);
    info->add_supported_versions("v1.DRAPlugin");
    info->add_supported_versions("v1beta1.DRAPlugin");
    return grpc::Status::OK;
  }
  grpc::Status NotifyRegistrationStatus(grpc::ServerContext*,
                                        const pluginregistration::RegistrationStatus* status,
                                        pluginregistration::RegistrationStatusResponse*) override {
    registered = status->plugin_registered();
    if (!status->plugin_registered()) {
      std::fprintf(stderr, "migdra plugin: the kubelet refused the registration: %s\n",
                   status->error().c_str());
    }
    return grpc::Status::OK;
  }
  std::atomic<bool> registered{false};

 private:
  std::string driver_;
  std::string endpoint_;
};

// Creates the socket's folder and removes a stale socket. With `private_folder` the folder (the
// driver's own, plugins/<driver>/) is made 0700, so the socket is out of other users' reach from
// the moment it is bound, whatever the umask (which a process with threads cannot change safely).
Status PrepareSocketPath(const std::string& path, bool private_folder) {
  std::error_code ec;
  const std::string folder = std::filesystem::path(path).parent_path().string();
  std::filesystem::create_directories(folder, ec);
  if (ec) return MakeError("cannot create folder for " + path + ": " + ec.message());
  if (private_folder && ::chmod(folder.c_str(), 0700) != 0) {
    return MakeError("cannot make " + folder + " private: " + std::strerror(errno));
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return MakeError("cannot remove stale socket " + path + ": " + std::strerror(errno));
  }
  return OkStatus();
}

}  // namespace

class DraServer::Services {
 public:
  Services(DeviceState* s, const std::string& driver, const std::string& endpoint)
      : v1(s), v1beta1(s), registration(driver, endpoint) {}
  V1Service v1;
  V1beta1Service v1beta1;
  RegistrationService registration;
};

DraServer::DraServer(DraServerOptions options, DeviceState* state)
    : options_(std::move(options)), state_(state) {}

DraServer::~DraServer() { Stop(); }

std::string DraServer::dra_socket() const {
  return options_.plugins_dir + "/" + options_.driver_name + "/dra.sock";
}
std::string DraServer::registration_socket() const {
  return options_.registry_dir + "/" + options_.driver_name + "-reg.sock";
}
bool DraServer::registered() const {
  return services_ != nullptr && services_->registration.registered.load();
}

Status DraServer::Start() {
  GlobalDriverMetrics().Attach(options_.driver_name, state_);
  services_ = std::make_unique<Services>(state_, options_.driver_name, dra_socket());
  // The DRA socket (prepare/unprepare) sits in the driver's private folder. The registration
  // socket sits in the kubelet's shared registry folder and serves only what the kubelet's
  // plugin watcher may ask anyone (GetInfo, NotifyRegistrationStatus); both are 0600 once bound.
  auto start = [&](const std::string& path, std::vector<grpc::Service*> services,
                   std::unique_ptr<grpc::Server>* out, bool private_folder) -> Status {
    MIGDRA_RETURN_IF_ERROR(PrepareSocketPath(path, private_folder));
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("unix://" + path, grpc::InsecureServerCredentials(), &port);
    for (auto* s : services) builder.RegisterService(s);
    *out = builder.BuildAndStart();
    if (*out == nullptr) return MakeError("cannot listen on " + path);
    ::chmod(path.c_str(), 0600);
    return OkStatus();
  };
  Status s = start(dra_socket(), {&services_->v1, &services_->v1beta1}, &dra_server_,
                   /*private_folder=*/true);
  if (s.ok() && options_.register_with_kubelet) {
    s = start(registration_socket(), {&services_->registration}, &registration_server_,
              /*private_folder=*/false);
  }
  if (!s.ok()) Stop();
  return s;
}

void DraServer::Stop() {
  GlobalDriverMetrics().Detach(state_);
  if (registration_server_ != nullptr) {
    registration_server_->Shutdown();
    registration_server_.reset();
    ::unlink(registration_socket().c_str());
  }
  if (dra_server_ != nullptr) {
    dra_server_->Shutdown();
    dra_server_.reset();
    ::unlink(dra_socket().c_str());
  }
}

}  // namespace migdra::driver
