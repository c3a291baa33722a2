#include "kube/client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <httplib.h>

#include "kube/slice_publisher.h"

namespace migdra::kube {
namespace {

namespace fs = std::filesystem;

// An httplib server on 127.0.0.1 (a free port), run on its own thread.
template <typename Server>
class Running {
 public:
  explicit Running(Server* s) : s_(s) {
    port_ = s_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { s_->listen_after_bind(); });
    while (!s_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~Running() {
    s_->stop();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  Server* s_;
  int port_;
  std::thread thread_;
};

RetryPolicy FastRetry() {
  RetryPolicy r;
  r.initial_backoff = std::chrono::milliseconds(1);
  r.max_backoff = std::chrono::milliseconds(5);
  r.request_timeout = std::chrono::seconds(5);
  return r;
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("migdra-kube-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(Kubeconfig, ReadsCurrentContextWithInlineAndFileCredentials) {
  TempDir dir;
  std::ofstream(dir.path() / "token") << "file-token\n";
  std::ofstream(dir.path() / "config") << R"(apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://10.0.0.1:6443", certificate-authority-data: "aGVsbG8="}
- name: b
  cluster: {server: "http://127.0.0.1:8080", insecure-skip-tls-verify: true}
users:
- name: ua
  user: {token: inline-token}
- name: ub
  user: {tokenFile: token}
contexts:
- name: ca
  context: {cluster: a, user: ua}
- name: cb
  context: {cluster: b, user: ub}
current-context: ca
)";
  auto a = LoadKubeconfig((dir.path() / "config").string());
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->server, "https://10.0.0.1:6443");
  EXPECT_EQ(a->ca_pem, "hello");
  EXPECT_EQ(a->token, "inline-token");
  auto b = LoadKubeconfig((dir.path() / "config").string(), "cb");
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(b->token, "file-token");
  EXPECT_TRUE(b->insecure_skip_tls_verify);
  EXPECT_FALSE(LoadKubeconfig((dir.path() / "config").string(), "nope").ok());
  EXPECT_FALSE(LoadKubeconfig((dir.path() / "missing").string()).ok());
}

TEST(Client, RetriesServerErrorsAndReturnsOtherStatuses) {
  httplib::Server server;
  std::atomic<int> calls{0};
  server.Get("/flaky", [&](const httplib::Request& req, httplib::Response& res) {
    EXPECT_EQ(req.get_header_value("Authorization"), "Bearer t0k");
    if (++calls < 3) {
      res.status = 503;
      return;
    }
    res.set_content(R"({"ok":true})", "application/json");
  });
  server.Get("/missing", [](const httplib::Request&, httplib::Response& res) { res.status = 404; });
  server.Get("/down", [](const httplib::Request&, httplib::Response& res) { res.status = 500; });
  Running<httplib::Server> running(&server);
  Config config;
  config.server = "http://127.0.0.1:" + std::to_string(running.port());
  config.token = "t0k";
  auto client = Client::Create(config, FastRetry());
  ASSERT_TRUE(client.ok());
  auto r = (*client)->Get("/flaky");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(calls.load(), 3);
  auto missing = (*client)->Get("/missing");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  auto down = (*client)->Get("/down");
  ASSERT_FALSE(down.ok());
  EXPECT_NE(down.error().message.find("5 attempts"), std::string::npos);
}

TEST(Client, ReusesConnectionsAcrossRequests) {
  httplib::Server server;
  std::mutex mu;
  std::set<int> client_ports;  // one per connection the server accepted
  server.Get("/x", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    client_ports.insert(req.remote_port);
    res.set_content("{}", "application/json");
  });
  Running<httplib::Server> running(&server);
  Config config;
  config.server = "http://127.0.0.1:" + std::to_string(running.port());
  auto client = Client::Create(config, FastRetry());
  ASSERT_TRUE(client.ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE((*client)->Get("/x").ok());
  EXPECT_EQ(client_ports.size(), 1u) << "sequential requests should share one connection";

  // Concurrent requests each get a connection of their own, and all succeed.
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) ok += (*client)->Get("/x").ok() ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 40);
}

TEST(Client, UnreachableServerIsAnError) {
  Config config;
  config.server = "http://127.0.0.1:1";
  RetryPolicy retry = FastRetry();
  retry.max_attempts = 2;
  auto client = Client::Create(config, retry);
  ASSERT_TRUE(client.ok());
  EXPECT_FALSE((*client)->Get("/").ok());
}

TEST(Client, StreamsWatchEventsLineByLine) {
  httplib::Server server;
  server.Get("/watch", [](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/json", [](size_t, httplib::DataSink& sink) {
      std::string a = R"({"type":"ADDED","object":{}})"
                      "\n"
                      R"({"type":"MOD)";
      std::string b = R"(IFIED","object":{}})"
                      "\n";
      sink.write(a.data(), a.size());
      sink.write(b.data(), b.size());
      sink.done();
      return true;
    });
  });
  Running<httplib::Server> running(&server);
  Config config;
  config.server = "http://127.0.0.1:" + std::to_string(running.port());
  auto client = Client::Create(config, FastRetry());
  std::vector<std::string> events;
  Status s = (*client)->Watch("/watch", [&](const std::string& line) {
    events.push_back(line);
    return true;
  });
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[1].find("MODIFIED"), std::string::npos);
}

TEST(Client, VerifiesTlsWithTheConfiguredCa) {
  TempDir dir;
  const std::string d = dir.path().string();
  const std::string cmd =
      "cd " + d +
      " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 "
      "-subj /CN=test-ca 2>/dev/null"
      " && openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 "
      "2>/dev/null"
      " && printf 'subjectAltName=IP:127.0.0.1' > ext"
      " && openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt "
      "-days 1 -extfile ext 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "openssl CLI not available";
  httplib::SSLServer server((d + "/srv.crt").c_str(), (d + "/srv.key").c_str());
  server.Get("/x", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.get_header_value("Authorization"), "text/plain");
  });
  Running<httplib::SSLServer> running(&server);
  std::ifstream ca_in(d + "/ca.crt");
  std::string ca((std::istreambuf_iterator<char>(ca_in)), std::istreambuf_iterator<char>());

  Config config;
  config.server = "https://127.0.0.1:" + std::to_string(running.port());
  config.ca_pem = ca;
  config.token = "secret";
  auto client = Client::Create(config, FastRetry());
  ASSERT_TRUE(client.ok()) << client.error().message;
  auto r = (*client)->Get("/x");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "Bearer secret");

  // The same server is refused when its CA is not trusted.
  Config untrusted = config;
  std::ifstream other_in(d + "/srv.crt");
  untrusted.ca_pem.assign(std::istreambuf_iterator<char>(other_in), {});
  RetryPolicy once = FastRetry();
  once.max_attempts = 1;
  auto bad = Client::Create(untrusted, once);
  ASSERT_TRUE(bad.ok());
  EXPECT_FALSE((*bad)->Get("/x").ok());

  // Nor when only the system's CA bundle (OpenSSL's default file, here the server's CA) would
  // trust it: a configured CA replaces the system's, as for kubectl.
  ASSERT_EQ(setenv("SSL_CERT_FILE", (d + "/ca.crt").c_str(), 1), 0);
  auto system_only = Client::Create(untrusted, once);
  ASSERT_TRUE(system_only.ok());
  EXPECT_FALSE((*system_only)->Get("/x").ok());
  unsetenv("SSL_CERT_FILE");
}

TEST(SlicePublisher, CreatesUpdatesAndDeletesOnlyItsOwnSlices) {
  std::mutex mu;
  std::map<std::string, nlohmann::json> slices;
  int version = 0;
  auto own = [](const std::string& name, const std::string& node, int devices) {
    nlohmann::json d = nlohmann::json::array();
    for (int i = 0; i < devices; ++i) d.push_back({{"name", "gpu-" + std::to_string(i)}});
    return nlohmann::json{{"apiVersion", "resource.k8s.io/v1"},
                          {"kind", "ResourceSlice"},
                          {"metadata", {{"name", name}, {"resourceVersion", "1"}}},
                          {"spec",
                           {{"driver", "gpu.nvidia.com"},
                            {"nodeName", node},
                            {"pool", {{"name", node}}},
                            {"devices", d}}}};
  };
  slices["stale"] = own("stale", "node-a", 1);
  slices["changed"] = own("changed", "node-a", 1);
  slices["other-node"] = own("other-node", "node-b", 1);
  httplib::Server server;
  const std::string base = kResourceSlicesPath;
  server.Get(base, [&](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> l(mu);
    nlohmann::json items = nlohmann::json::array();
    for (auto& [n, s] : slices) items.push_back(s);
    res.set_content(nlohmann::json{{"items", items}}.dump(), "application/json");
  });
  server.Post(base, [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> l(mu);
    auto j = nlohmann::json::parse(req.body);
    j["metadata"]["resourceVersion"] = std::to_string(++version);
    slices[j["metadata"]["name"]] = j;
    res.status = 201;
    res.set_content(j.dump(), "application/json");
  });
  server.Put(base + "/(.*)", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> l(mu);
    auto j = nlohmann::json::parse(req.body);
    EXPECT_EQ(j["metadata"]["resourceVersion"], "1");
    slices[req.matches[1]] = j;
    res.set_content(j.dump(), "application/json");
  });
  server.Delete(base + "/(.*)", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> l(mu);
    slices.erase(req.matches[1]);
    res.set_content("{}", "application/json");
  });
  Running<httplib::Server> running(&server);
  Config config;
  config.server = "http://127.0.0.1:" + std::to_string(running.port());
  auto client = Client::Create(config, FastRetry());
  SlicePublisher publisher(client->get(), "gpu.nvidia.com", "node-a");
  auto stats = publisher.Publish({own("changed", "node-a", 2), own("", "node-a", 3)});
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->created, 1);
  EXPECT_EQ(stats->updated, 1);
  EXPECT_EQ(stats->deleted, 1);
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(slices.count("stale"), 0u);
  EXPECT_EQ(slices.count("other-node"), 1u);
  EXPECT_EQ(slices["changed"]["spec"]["devices"].size(), 2u);
  EXPECT_EQ(slices.count("node-a-gpu-nvidia-com-1"), 1u);
}

}  // namespace
}  // namespace migdra::kube
