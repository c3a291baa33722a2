// HTTPS (HTTP/1.1 over TLS 1.2+) transport for the ApiHandler, built to keep answering its
// authenticated clients -- kubectl, and serve's own node agents, which read claims over this API
// -- while strangers open many slow or idle connections.
//
// Contract:
//  - Authentication: every request carries "Authorization: Bearer <token>", except the health
//    probes /healthz, /livez and /readyz (answered anonymously, as Kubernetes does) and the
//    partition map page's shell under /ui/ (no data in it; its API calls carry the token). The
//    token is checked as soon as the request head is in, before the body is read and before the
//    ApiHandler sees the request; a request without it gets 401 and its connection is closed.
//  - One front thread accepts connections and, without blocking, runs their TLS handshakes and
//    reads request heads. A connection is "unauthenticated" until one of its requests carried the
//    token (or while it is being closed). Limits (HttpOptions; Kubernetes' own where it has one):
//      * the TLS handshake and the whole request head must arrive within header_timeout (32 s,
//        as kube-apiserver's ReadHeaderTimeout) of the connection's start, or of the first byte of
//        a later request on a kept-alive connection -- a client that trickles bytes gains nothing;
//      * a request head is at most max_header_bytes (64 KiB; 431 above);
//      * at most max_unauthenticated_per_client unauthenticated connections per client IP address
//        and max_unauthenticated in all: a new connection over either limit closes the oldest
//        unauthenticated one (of that client, or of all), so old slow connections can never shut
//        out a new client;
//      * at most max_connections open connections (and never more than the open-file limit
//        allows): beyond it the oldest unauthenticated connection is closed, and when every
//        connection is authenticated new ones are refused;
//      * an authenticated connection idles at most idle_timeout (90 s) between requests.
//  - Requests run on worker threads, at most max_in_flight at once (watches included); above it
//    the answer is 429 with Retry-After. A worker reads the body within request_timeout: at most
//    max_body_bytes (3 MiB, 413 above) whatever the framing (Content-Length, checked before
//    reading, or chunked, checked as it arrives) and again after undoing a gzip/deflate
//    Content-Encoding (checked while inflating). Malformed requests are answered as
//    http_request.h says (400, 415, 501, 505) and their connection is closed.
//  - Responses use keep-alive unless the client asks otherwise; TCP_NODELAY is on. Responses of
//    at least 128 KiB are gzip-compressed for clients that accept it (as kube-apiserver does);
//    watches and streamed bodies (ApiResponse::stream, kubectl logs -f) are never compressed:
//    each event or piece goes out in its own HTTP chunk as soon as it happens. A client that
//    stops reading for write_timeout is dropped.
//  - Errors are Kubernetes Status objects.
//  - Protocol switches (kubectl exec, attach, port-forward): a request with "Connection: Upgrade"
//    is offered to the UpgradeRoute first. When it takes the request, the answer is "101
//    Switching Protocols" with the route's fields, and the route's session then owns the
//    connection on its worker thread (reads without a deadline, each write within
//    write_timeout) until the session returns or the server stops; the connection is closed
//    after it. A session counts as a request in flight.
//
// Thread safety: Start/Stop from one thread; requests are served on internal threads.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "control/api_handler.h"
#include "control/credentials.h"
#include "control/http_request.h"
#include "stream/transport.h"

namespace migdra::control {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 6443;  // 0 picks a free port
  bool tls = true;  // false only for tests of the handler over plain HTTP
  size_t max_body_bytes = 3 * 1024 * 1024;
  size_t max_header_bytes = 64 * 1024;
  std::chrono::seconds header_timeout{32};
  std::chrono::seconds idle_timeout{90};
  std::chrono::seconds request_timeout{60};  // to read a request's body
  std::chrono::seconds write_timeout{60};    // for the client to take each part of a response
  size_t max_unauthenticated = 1024;
  size_t max_unauthenticated_per_client = 128;
  size_t max_connections = 8192;
  size_t max_in_flight = 1024;
};

// A route's acceptance of a protocol switch: the fields of the 101 answer and the session that
// then runs over the connection.
struct Upgrade {
  std::vector<std::pair<std::string, std::string>> fields;
  std::function<void(stream::Transport&)> session;
};
// nullopt passes the request on to the ApiHandler; an error is answered as a Status (and the
// connection kept as for any answer).
using UpgradeRoute = std::function<std::optional<Result<Upgrade>>(const RequestHead&)>;

class HttpServer {
 public:
  HttpServer(const ApiHandler& handler, Credentials credentials, HttpOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving in the background. Fails when the address cannot be bound or the
  // certificate cannot be loaded.
  Result<int> Start();  // the bound port
  // Set before Start.
  void SetUpgradeRoute(UpgradeRoute route) { upgrade_route_ = std::move(route); }
  // Ends open watches, closes every connection and stops serving; idempotent.
  void Stop();

 private:
  class Front;  // the front thread, its connections and the workers (http_server.cc)

  const ApiHandler& handler_;
  Credentials credentials_;
  HttpOptions options_;
  UpgradeRoute upgrade_route_;
  std::unique_ptr<Front> front_;
};

}  // namespace migdra::control
