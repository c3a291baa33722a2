#include "kube/client.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include <httplib.h>

namespace migdra::kube {
namespace {

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError("cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Result<std::string> Base64Decode(const std::string& in, const std::string& what) {
  std::string clean;
  for (char c : in) {
    if (!std::isspace(static_cast<unsigned char>(c))) clean.push_back(c);
  }
  if (clean.size() % 4 != 0) return MakeError(what + ": not valid base64");
  std::string out(clean.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()),
                          static_cast<int>(clean.size()));
  if (n < 0) return MakeError(what + ": not valid base64");
  size_t pad = 0;
  if (!clean.empty() && clean.back() == '=') pad++;
  if (clean.size() > 1 && clean[clean.size() - 2] == '=') pad++;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

// A kubeconfig value given inline (`<key>-data`, base64) or as a file (`<key>`).
Result<std::string> DataOrFile(const YAML::Node& node, const std::string& key,
                               const std::filesystem::path& base) {
  if (node[key + "-data"]) {
    return Base64Decode(node[key + "-data"].as<std::string>(), key + "-data");
  }
  if (node[key]) {
    std::filesystem::path p = node[key].as<std::string>();
    if (p.is_relative()) p = base / p;
    return ReadFile(p.string());
  }
  return std::string();
}

YAML::Node FindNamed(const YAML::Node& list, const std::string& name, const char* field) {
  if (!list || !list.IsSequence()) return YAML::Node();
  for (const auto& item : list) {
    if (item["name"] && item["name"].as<std::string>() == name) return item[field];
  }
  return YAML::Node();
}

struct ParsedUrl {
  bool https = false;
  std::string host;
  int port = 0;
  std::string base_path;
};

Result<ParsedUrl> ParseServer(const std::string& server) {
  ParsedUrl u;
  std::string rest;
  if (server.rfind("https://", 0) == 0) {
    u.https = true;
    rest = server.substr(8);
  } else if (server.rfind("http://", 0) == 0) {
    rest = server.substr(7);
  } else {
    return MakeError("server URL must start with http:// or https://: " + server);
  }
  auto slash = rest.find('/');
  if (slash != std::string::npos) {
    u.base_path = rest.substr(slash);
    while (!u.base_path.empty() && u.base_path.back() == '/') u.base_path.pop_back();
    rest = rest.substr(0, slash);
  }
  std::string port;
  if (!rest.empty() && rest.front() == '[') {  // [::1]:6443
    auto close = rest.find(']');
    if (close == std::string::npos) return MakeError("bad server URL: " + server);
    u.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else {
    auto colon = rest.rfind(':');
    u.host = rest.substr(0, colon);
    if (colon != std::string::npos) port = rest.substr(colon + 1);
  }
  if (u.host.empty()) return MakeError("bad server URL: " + server);
  if (port.empty()) {
    u.port = u.https ? 443 : 80;
  } else {
    char* end = nullptr;
    long p = std::strtol(port.c_str(), &end, 10);
    if (*end != '\0' || p <= 0 || p > 65535) return MakeError("bad port in server URL: " + server);
    u.port = static_cast<int>(p);
  }
  return u;
}

bool Retryable(int status) { return status == 429 || status >= 500; }

}  // namespace

Result<Config> LoadKubeconfig(const std::string& path, const std::string& context) {
  MIGDRA_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  try {
    YAML::Node root = YAML::Load(text);
    std::string ctx_name = context;
    if (ctx_name.empty() && root["current-context"]) {
      ctx_name = root["current-context"].as<std::string>();
    }
    YAML::Node ctx;
    if (ctx_name.empty()) {
      if (root["contexts"] && root["contexts"].IsSequence() && root["contexts"].size() == 1) {
        ctx = root["contexts"][0]["context"];
      }
    } else {
      ctx = FindNamed(root["contexts"], ctx_name, "context");
    }
    if (!ctx) return MakeError(path + ": no context " + (ctx_name.empty() ? "set" : ctx_name));
    std::string cluster_name = ctx["cluster"] ? ctx["cluster"].as<std::string>() : "";
    std::string user_name = ctx["user"] ? ctx["user"].as<std::string>() : "";
    YAML::Node cluster = FindNamed(root["clusters"], cluster_name, "cluster");
    if (!cluster || !cluster["server"]) {
      return MakeError(path + ": cluster " + cluster_name + " has no server");
    }
    std::filesystem::path base = std::filesystem::path(path).parent_path();
    Config c;
    c.server = cluster["server"].as<std::string>();
    MIGDRA_ASSIGN_OR_RETURN(c.ca_pem, DataOrFile(cluster, "certificate-authority", base));
    if (cluster["insecure-skip-tls-verify"]) {
      c.insecure_skip_tls_verify = cluster["insecure-skip-tls-verify"].as<bool>();
    }
    YAML::Node user = FindNamed(root["users"], user_name, "user");
    if (user) {
      if (user["token"]) {
        c.token = user["token"].as<std::string>();
      } else if (user["tokenFile"]) {
        std::filesystem::path p = user["tokenFile"].as<std::string>();
        if (p.is_relative()) p = base / p;
        MIGDRA_ASSIGN_OR_RETURN(c.token, ReadFile(p.string()));
      }
      while (!c.token.empty() && std::isspace(static_cast<unsigned char>(c.token.back()))) {
        c.token.pop_back();
      }
      MIGDRA_ASSIGN_OR_RETURN(c.client_cert_pem, DataOrFile(user, "client-certificate", base));
      MIGDRA_ASSIGN_OR_RETURN(c.client_key_pem, DataOrFile(user, "client-key", base));
    }
    return c;
  } catch (const std::exception& e) {
    return MakeError(path + ": " + e.what());
  }
}

Result<Config> InClusterConfig() {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr) {
    return MakeError("not running in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set");
  }
  const std::string dir = "/var/run/secrets/kubernetes.io/serviceaccount/";
  Config c;
  std::string h = host;
  c.server = "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + port;
  MIGDRA_ASSIGN_OR_RETURN(c.token, ReadFile(dir + "token"));
  MIGDRA_ASSIGN_OR_RETURN(c.ca_pem, ReadFile(dir + "ca.crt"));
  while (!c.token.empty() && std::isspace(static_cast<unsigned char>(c.token.back()))) {
    c.token.pop_back();
  }
  return c;
}

std::string QueryEscape(const std::string& value) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

struct Client::Impl {
  ParsedUrl url;
  std::vector<X509*> ca_certs;
  X509* client_cert = nullptr;
  EVP_PKEY* client_key = nullptr;

  ~Impl() {
    for (X509* c : ca_certs) X509_free(c);
    if (client_cert != nullptr) X509_free(client_cert);
    if (client_key != nullptr) EVP_PKEY_free(client_key);
  }

  std::unique_ptr<httplib::ClientImpl> NewClient(const Config& config, std::chrono::seconds timeout,
                                                 bool keep_alive) const {
    std::unique_ptr<httplib::ClientImpl> cli;
    if (url.https) {
      auto ssl = client_cert != nullptr ? std::make_unique<httplib::SSLClient>(
                                              url.host, url.port, client_cert, client_key)
                                        : std::make_unique<httplib::SSLClient>(url.host, url.port);
      if (config.insecure_skip_tls_verify) {
        ssl->enable_server_certificate_verification(false);
      } else {
        ssl->enable_server_certificate_verification(true);
        if (!ca_certs.empty()) {
          X509_STORE* store = X509_STORE_new();  // owned by the client from here on
          for (X509* c : ca_certs) X509_STORE_add_cert(store, c);
          ssl->set_ca_cert_store(store);
          // Without a CA path, cpp-httplib adds the system's CA bundle to this store on the first
          // connection: every public CA would be trusted beside the configured one (kubectl trusts
          // only the configured one), and parsing the bundle was a third of serve's start-up CPU.
          // A directory lookup under /dev/null finds no certificate, so only `store` remains.
          ssl->set_ca_cert_path("", "/dev/null");
        }
      }
      cli = std::move(ssl);
    } else {
      cli = std::make_unique<httplib::ClientImpl>(url.host, url.port);
    }
    if (!config.token.empty()) cli->set_bearer_token_auth(config.token);
    cli->set_connection_timeout(std::chrono::seconds(10));
    cli->set_read_timeout(timeout);
    cli->set_write_timeout(timeout);
    cli->set_keep_alive(keep_alive);
    cli->set_tcp_nodelay(true);
    return cli;
  }

  // A connection for one request: an idle one from the pool, else a new one. Making one costs a
  // TLS context (httplib loads the CA store into each) and a handshake, so they are kept.
  std::unique_ptr<httplib::ClientImpl> Acquire(const Config& config, std::chrono::seconds timeout) {
    {
      std::lock_guard<std::mutex> lock(idle_mu);
      if (!idle.empty()) {
        auto cli = std::move(idle.back());
        idle.pop_back();
        return cli;
      }
    }
    return NewClient(config, timeout, /*keep_alive=*/true);
  }
  // Returns a connection whose last request completed; beyond kMaxIdle it is closed.
  void Release(std::unique_ptr<httplib::ClientImpl> cli) {
    std::lock_guard<std::mutex> lock(idle_mu);
    if (idle.size() < kMaxIdle) idle.push_back(std::move(cli));
  }

  static constexpr size_t kMaxIdle = 8;
  std::mutex idle_mu;
  std::vector<std::unique_ptr<httplib::ClientImpl>> idle;
};

Result<std::unique_ptr<Client>> Client::Create(Config config, RetryPolicy retry) {
  auto impl = std::make_unique<Impl>();
  MIGDRA_ASSIGN_OR_RETURN(impl->url, ParseServer(config.server));
  if (!config.ca_pem.empty()) {
    BIO* bio = BIO_new_mem_buf(config.ca_pem.data(), static_cast<int>(config.ca_pem.size()));
    while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      impl->ca_certs.push_back(cert);
    }
    BIO_free(bio);
    if (impl->ca_certs.empty()) return MakeError("certificate authority holds no PEM certificate");
  }
  if (!config.client_cert_pem.empty() || !config.client_key_pem.empty()) {
    BIO* bio = BIO_new_mem_buf(config.client_cert_pem.data(),
                               static_cast<int>(config.client_cert_pem.size()));
    impl->client_cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    bio = BIO_new_mem_buf(config.client_key_pem.data(),
                          static_cast<int>(config.client_key_pem.size()));
    impl->client_key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (impl->client_cert == nullptr || impl->client_key == nullptr) {
      return MakeError("client certificate or key is not valid PEM");
    }
  }
  return std::unique_ptr<Client>(new Client(std::move(config), retry, std::move(impl)));
}

Client::Client(Config config, RetryPolicy retry, std::unique_ptr<Impl> impl)
    : config_(std::move(config)), retry_(retry), impl_(std::move(impl)) {}

Client::~Client() = default;

Result<Response> Client::Do(const std::string& method, const std::string& path,
                            const std::string& body, const std::string& content_type) {
  const std::string full = impl_->url.base_path + path;
  httplib::Headers headers = {{"Accept", "application/json"}};
  auto backoff = retry_.initial_backoff;
  std::string last_error;
  for (int attempt = 1; attempt <= std::max(1, retry_.max_attempts); ++attempt) {
    auto cli = impl_->Acquire(config_, retry_.request_timeout);
    httplib::Result r = method == "GET"     ? cli->Get(full, headers)
                        : method == "POST"  ? cli->Post(full, headers, body, content_type)
                        : method == "PUT"   ? cli->Put(full, headers, body, content_type)
                        : method == "PATCH" ? cli->Patch(full, headers, body, content_type)
                                            : cli->Delete(full, headers);
    auto wait = backoff;
    if (r) impl_->Release(std::move(cli));  // a failed connection is closed instead
    if (r) {
      if (!Retryable(r->status)) return Response{r->status, r->body};
      last_error = "HTTP " + std::to_string(r->status) + ": " + r->body.substr(0, 200);
      if (r->has_header("Retry-After")) {
        long secs = std::strtol(r->get_header_value("Retry-After").c_str(), nullptr, 10);
        if (secs > 0)
          wait =
              std::min<std::chrono::milliseconds>(std::chrono::seconds(secs), retry_.max_backoff);
      }
    } else {
      last_error = httplib::to_string(r.error());
    }
    if (attempt < retry_.max_attempts) {
      std::this_thread::sleep_for(wait);
      backoff = std::min(backoff * 2, retry_.max_backoff);
    }
  }
  return MakeError(method + " " + config_.server + full + " failed after " +
                   std::to_string(retry_.max_attempts) + " attempts: " + last_error);
}

Result<Response> Client::Get(const std::string& path) { return Do("GET", path, "", ""); }
Result<Response> Client::Create(const std::string& path, const std::string& json_body) {
  return Do("POST", path, json_body, "application/json");
}
Result<Response> Client::Update(const std::string& path, const std::string& json_body) {
  return Do("PUT", path, json_body, "application/json");
}
Result<Response> Client::Delete(const std::string& path) { return Do("DELETE", path, "", ""); }

Status Client::Watch(const std::string& path,
                     const std::function<bool(const std::string&)>& on_event) {
  // A watch stays open as long as the server keeps it; give it an hour between chunks.
  auto cli = impl_->NewClient(config_, std::chrono::seconds(3600), /*keep_alive=*/false);
  std::string pending;
  bool stopped = false;
  int status = 0;
  auto r = cli->Get(
      impl_->url.base_path + path, httplib::Headers{{"Accept", "application/json"}},
      [&](const httplib::Response& response) {
        status = response.status;
        return response.status >= 200 && response.status < 300;
      },
      [&](const char* data, size_t len) {
        pending.append(data, len);
        size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
          std::string line = pending.substr(0, nl);
          pending.erase(0, nl + 1);
          if (line.empty()) continue;
          if (!on_event(line)) {
            stopped = true;
            return false;
          }
        }
        return true;
      });
  if (stopped) return OkStatus();
  if (!r) {
    if (status != 0 && (status < 200 || status >= 300)) {
      return MakeError("watch " + path + ": HTTP " + std::to_string(status));
    }
    if (r.error() == httplib::Error::Canceled) return OkStatus();
    return MakeError("watch " + path + ": " + httplib::to_string(r.error()));
  }
  if (!pending.empty()) on_event(pending);
  return OkStatus();
}

}  // namespace migdra::kube
