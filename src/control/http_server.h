// HTTPS transport for the ApiHandler: TLS with the serving certificate, bearer-token
// authentication on every request except the health probes (/healthz, /livez, /readyz, which
// Kubernetes also answers anonymously), request bodies limited to 3 MiB (413 above), chunked
// streaming for watches.
//
// Thread safety: Start/Stop from one thread; requests are served on an internal thread pool.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "control/api_handler.h"
#include "control/credentials.h"

namespace httplib {
class Server;
}

namespace migdra::control {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 6443;  // 0 picks a free port
  size_t max_body_bytes = 3 * 1024 * 1024;
  size_t threads = 96;
  bool tls = true;  // false only for tests of the handler over plain HTTP
};

class HttpServer {
 public:
  HttpServer(const ApiHandler& handler, Credentials credentials, HttpOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving in the background. Fails when the address cannot be bound or the
  // certificate cannot be loaded.
  ApiResult<int> Start();  // the bound port
  // Ends open watches and stops serving; idempotent.
  void Stop();

 private:
  const ApiHandler& handler_;
  Credentials credentials_;
  HttpOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
};

}  // namespace migdra::control
