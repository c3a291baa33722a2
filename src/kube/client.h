// A small Kubernetes REST client: kubeconfig or in-cluster configuration, HTTPS with a CA bundle
// and optional client certificate, bearer tokens, and JSON requests (get, list, create, update,
// patch, delete, watch) with retries and exponential backoff.
//
// Contract:
//  - Transport failures, 429 and 5xx answers are retried up to RetryPolicy::max_attempts times
//    with exponential backoff (honouring Retry-After when the server sends one); any other answer
//    is returned to the caller as a Response, whatever its status code -- 404 and 409 are normal
//    outcomes the caller decides about. An Error means the server could not be reached or kept
//    failing.
//  - Connections: a request takes an idle keep-alive connection from the client's pool (at most 8
//    are kept), else opens one; one request uses a connection at a time. A watch opens its own,
//    so a long watch never blocks other calls.
//  - Thread safety: a Client may be used from several threads at once.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"

namespace migdra::kube {

struct Config {
  std::string server;  // "https://10.0.0.1:6443" or "http://127.0.0.1:8080"
  std::string ca_pem;  // trusted CA certificates (PEM); empty: the system's store
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string token;  // bearer token; empty: none
  bool insecure_skip_tls_verify = false;
};

// Reads a kubeconfig file (YAML): the current context (or `context` when non-empty), its cluster
// (server, certificate-authority[-data], insecure-skip-tls-verify) and user (token, tokenFile,
// client-certificate[-data], client-key[-data]). Relative file names are resolved against the
// kubeconfig's folder.
Result<Config> LoadKubeconfig(const std::string& path, const std::string& context = "");

// The configuration of a process running in a pod: KUBERNETES_SERVICE_HOST/PORT and the service
// account's token and CA under /var/run/secrets/kubernetes.io/serviceaccount.
Result<Config> InClusterConfig();

struct RetryPolicy {
  int max_attempts = 5;
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{3000};
  std::chrono::seconds request_timeout{30};
};

struct Response {
  int status = 0;
  std::string body;
  bool ok() const { return status >= 200 && status < 300; }
};

class Client {
 public:
  static Result<std::unique_ptr<Client>> Create(Config config, RetryPolicy retry = {});
  ~Client();

  Result<Response> Get(const std::string& path);
  Result<Response> Create(const std::string& path, const std::string& json_body);  // POST
  Result<Response> Update(const std::string& path, const std::string& json_body);  // PUT
  Result<Response> Delete(const std::string& path);

  // Streams a watch (`path` should carry `watch=1` and usually `resourceVersion=`): calls
  // `on_event` with each event line (one JSON WatchEvent) until the server ends the stream or
  // `on_event` returns false. Not retried: the caller re-lists and re-watches.
  Status Watch(const std::string& path, const std::function<bool(const std::string&)>& on_event);

  const Config& config() const { return config_; }

 private:
  struct Impl;
  Client(Config config, RetryPolicy retry, std::unique_ptr<Impl> impl);
  Result<Response> Do(const std::string& method, const std::string& path, const std::string& body,
                      const std::string& content_type);

  Config config_;
  RetryPolicy retry_;
  std::unique_ptr<Impl> impl_;
};

// Percent-encodes a query parameter value.
std::string QueryEscape(const std::string& value);

}  // namespace migdra::kube
