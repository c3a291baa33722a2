// The kubelet-facing gRPC side of the plugin: the DRA service (v1 and v1beta1, on
// `<plugins dir>/<driver>/dra.sock`) and the plugin-registration service (on
// `<registry dir>/<driver>-reg.sock`), both unix sockets with mode 0600.
//
// Every claim of a request gets an entry in the response: its devices with CDI ids, or the
// error that stopped its preparation. Claims of one request are handled one after another;
// requests run concurrently (DeviceState serialises what must be).
//
// Thread safety: Start and Stop from one thread; the handlers run on gRPC's threads.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "driver/device_state.h"

namespace grpc {
class Server;
}

namespace migdra::driver {

struct DraServerOptions {
  std::string driver_name = "gpu.nvidia.com";
  std::string plugins_dir = "/var/lib/kubelet/plugins";
  std::string registry_dir = "/var/lib/kubelet/plugins_registry";
  // When false, no registration socket is served (e.g. inside `migdra serve`).
  bool register_with_kubelet = true;
};

class DraServer {
 public:
  // `state` must outlive the server.
  DraServer(DraServerOptions options, DeviceState* state);
  ~DraServer();

  // Creates the folders, removes stale sockets, listens, and restricts the sockets to 0600.
  Status Start();
  void Stop();

  std::string dra_socket() const;
  std::string registration_socket() const;
  // Whether the kubelet reported a successful registration.
  bool registered() const;

  class Services;

 private:
  DraServerOptions options_;
  DeviceState* state_;
  std::unique_ptr<Services> services_;
  std::unique_ptr<grpc::Server> dra_server_;
  std::unique_ptr<grpc::Server> registration_server_;
};

}  // namespace migdra::driver
