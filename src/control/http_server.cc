#include "control/http_server.h"

#include <httplib.h>
#include <openssl/crypto.h>

namespace migdra::control {
namespace {

bool TokenMatches(const std::string& header, const std::string& token) {
  const std::string prefix = "Bearer ";
  if (header.size() != prefix.size() + token.size() ||
      header.compare(0, prefix.size(), prefix) != 0) {
    return false;
  }
  return CRYPTO_memcmp(header.data() + prefix.size(), token.data(), token.size()) == 0;
}

void Send(const ApiResponse& response, httplib::Response& res) {
  res.status = response.status;
  for (const auto& [k, v] : response.headers) res.set_header(k, v);
  res.set_content(response.body, response.content_type);
}

}  // namespace

HttpServer::HttpServer(const ApiHandler& handler, Credentials credentials, HttpOptions options)
    : handler_(handler), credentials_(std::move(credentials)), options_(std::move(options)) {}

HttpServer::~HttpServer() { Stop(); }

ApiResult<int> HttpServer::Start() {
  if (options_.tls) {
    server_ = std::make_unique<httplib::SSLServer>(credentials_.cert_path.c_str(),
                                                   credentials_.key_path.c_str());
  } else {
    server_ = std::make_unique<httplib::Server>();
  }
  if (!server_->is_valid()) {
    return ApiResult<int>::Fail(ApiError{
        500, "InternalError", "cannot load the serving certificate " + credentials_.cert_path});
  }
  const size_t threads = options_.threads;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_payload_max_length(options_.max_body_bytes);
  // Small responses and watch events go out at once instead of waiting out Nagle's delay (40 ms
  // per request with kubectl's keep-alive connections).
  server_->set_tcp_nodelay(true);
  server_->set_keep_alive_max_count(10000);
  server_->set_keep_alive_timeout(30);
  server_->set_read_timeout(30, 0);
  server_->set_write_timeout(30, 0);

  const std::string token = credentials_.token;
  server_->set_pre_routing_handler([token](const httplib::Request& req, httplib::Response& res) {
    // The partition map page's shell holds no data; its API calls carry the token.
    if (req.path == "/healthz" || req.path == "/livez" || req.path == "/readyz" ||
        req.path.rfind("/ui/", 0) == 0) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    if (TokenMatches(req.get_header_value("Authorization"), token)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    res.status = 401;
    res.set_content(ApiHandler::StatusJson(ApiError{401, "Unauthorized", "Unauthorized"}).dump(),
                    "application/json");
    return httplib::Server::HandlerResponse::Handled;
  });

  auto serve = [this](const httplib::Request& req, httplib::Response& res) {
    ApiRequest request;
    request.method = req.method;
    request.path = req.path;
    for (const auto& [k, v] : req.params) request.query.emplace(k, v);
    request.content_type = req.get_header_value("Content-Type");
    request.accept = req.get_header_value("Accept");
    request.body = req.body;
    ApiResponse response = handler_.Handle(request);
    if (!response.watch) {
      Send(response, res);
      return;
    }
    auto spec = std::make_shared<WatchSpec>(std::move(*response.watch));
    res.status = 200;
    // Not plain "application/json": httplib compresses that type for clients that accept gzip or
    // br (every browser), and its compressor holds the events back until the watch ends.
    res.set_chunked_content_provider("application/json;stream=watch",
                                     [this, spec](size_t, httplib::DataSink& sink) {
                                       handler_.StreamWatch(
                                           *spec,
                                           [&sink](const std::string& line) {
                                             if (!sink.is_writable()) return false;
                                             if (line.empty()) return true;
                                             return sink.write(line.data(), line.size());
                                           },
                                           stopping_);
                                       sink.done();
                                       return true;
                                     });
  };
  server_->Get(".*", serve);
  server_->Post(".*", serve);
  server_->Put(".*", serve);
  server_->Patch(".*", serve);
  server_->Delete(".*", serve);

  int port = options_.port;
  if (port == 0) {
    port = server_->bind_to_any_port(options_.host.c_str());
  } else if (!server_->bind_to_port(options_.host.c_str(), port)) {
    port = -1;
  }
  if (port <= 0) {
    return ApiResult<int>::Fail(
        ApiError{500, "InternalError",
                 "cannot listen on " + options_.host + ":" + std::to_string(options_.port)});
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return ApiResult<int>::Ok(port);
}

void HttpServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace migdra::control
