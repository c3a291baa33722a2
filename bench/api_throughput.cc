// API throughput and watch latency of the `migdra serve` control plane.
//
// Measures, in one process:
//   - creates/s and gets/s of ResourceClaims over HTTPS with bearer tokens, through the real
//     HttpServer + ApiHandler + durable SQLite store (WAL, synchronous=FULL), with N keep-alive
//     clients;
//   - the same operations called on the ApiHandler directly (no HTTP/TLS), on the durable store
//     and on an in-memory store — the baselines the HTTPS numbers are compared with;
//   - watch latency: time from sending a create to receiving its ADDED event on an open watch,
//     behind HTTPS on the durable store and, as its baseline, on the in-memory store.
// Usage: api_throughput [--clients N] [--creates N] [--gets N] [--watch-samples N]
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "control/api_handler.h"
#include "control/credentials.h"
#include "control/http_server.h"
#include "control/store.h"
#include "watch_events.h"

namespace {

using migdra::control::ApiHandler;
using migdra::control::ApiRequest;
using migdra::control::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kClaims = "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims";

std::string ClaimBody(const std::string& name) {
  return R"({"apiVersion":"resource.k8s.io/v1","kind":"ResourceClaim","metadata":{"name":")" +
         name +
         R"("},"spec":{"devices":{"requests":[{"name":"gpu","exactly":{"deviceClassName":"nvidia-mig"}}]}}})";
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

void EnsureDefaultNamespace(ApiHandler& handler) {
  ApiRequest r;
  r.method = "POST";
  r.path = "/api/v1/namespaces";
  r.body = R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}})";
  handler.Handle(r);
}

// Runs `ops` operations split over `threads` threads; returns operations per second.
double Parallel(int threads, int ops, const std::function<bool(int thread, int i)>& op) {
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = next++; i < ops; i = next++) {
        if (!op(t, i)) ++failures;
      }
    });
  }
  for (auto& th : pool) th.join();
  double rate = ops / Seconds(start);
  if (failures) std::fprintf(stderr, "  (%d operations failed)\n", failures.load());
  return rate;
}

double HandlerCreates(ApiHandler& handler, int threads, int ops, const std::string& prefix) {
  return Parallel(threads, ops, [&](int, int i) {
    ApiRequest r;
    r.method = "POST";
    r.path = kClaims;
    r.body = ClaimBody(prefix + std::to_string(i));
    return handler.Handle(r).status == 201;
  });
}

double HandlerGets(ApiHandler& handler, int threads, int ops, const std::string& prefix,
                   int existing) {
  return Parallel(threads, ops, [&](int, int i) {
    ApiRequest r;
    r.method = "GET";
    r.path = std::string(kClaims) + "/" + prefix + std::to_string(i % existing);
    return handler.Handle(r).status == 200;
  });
}

// Watch latency behind a server of its own on `handler`: one open watch over HTTPS, `samples`
// serial creates, the time from sending each until its ADDED event arrives. Sorted, in ms.
std::vector<double> WatchLatencyMs(ApiHandler& handler, migdra::control::Store& store,
                                   const migdra::control::Credentials& credentials, int samples) {
  migdra::control::HttpOptions http_options;
  http_options.port = 0;
  migdra::control::HttpServer server(handler, credentials, http_options);
  auto port = server.Start();
  if (!port.ok()) {
    std::fprintf(stderr, "server: %s\n", port.error().message.c_str());
    return {};
  }
  auto client = [&] {
    auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", *port);
    c->set_ca_cert_path(credentials.ca_cert_path.c_str());
    c->set_bearer_token_auth(credentials.token.c_str());
    c->set_tcp_nodelay(true);
    c->set_read_timeout(60, 0);
    return c;
  };
  auto poster = client();
  auto watch_client = client();
  std::mutex mu;
  std::vector<Clock::time_point> sent(static_cast<size_t>(samples));
  std::vector<double> latency_ms;
  std::atomic<int> received{0};
  const std::string from = std::to_string(store.CurrentVersion());
  std::thread watcher([&] {
    migdra::bench::WatchEventReader reader;
    watch_client->Get(
        std::string(kClaims) + "?watch=true&timeoutSeconds=60&resourceVersion=" + from,
        [&](const char* data, size_t len) {
          return reader.Feed(data, len, [&](const json& object) {
            std::string name = object["metadata"].value("name", "");
            if (name.rfind("w-", 0) != 0) return true;
            size_t i = std::stoul(name.substr(2));
            std::lock_guard lock(mu);
            latency_ms.push_back(
                std::chrono::duration<double, std::milli>(Clock::now() - sent[i]).count());
            return ++received < samples;
          });
        });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (int i = 0; i < samples; ++i) {
    {
      std::lock_guard lock(mu);
      sent[static_cast<size_t>(i)] = Clock::now();
    }
    poster->Post(kClaims, ClaimBody("w-" + std::to_string(i)), "application/json");
  }
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (received < samples && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  watch_client->stop();
  watcher.join();
  server.Stop();
  std::lock_guard lock(mu);
  std::sort(latency_ms.begin(), latency_ms.end());
  return latency_ms;
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return -1.0;
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))];
}

void PrintLatency(const char* what, const std::vector<double>& sorted) {
  std::printf(
      "%s (create sent -> ADDED received), %zu samples: p50 %.2f ms, p90 %.2f ms, p99 "
      "%.2f ms, max %.2f ms\n",
      what, sorted.size(), Percentile(sorted, 0.5), Percentile(sorted, 0.9),
      Percentile(sorted, 0.99), sorted.empty() ? -1.0 : sorted.back());
}

int Arg(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == name) return std::atoi(argv[i + 1]);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const int clients = Arg(argc, argv, "--clients", 8);
  const int creates = Arg(argc, argv, "--creates", 2000);
  const int gets = Arg(argc, argv, "--gets", 20000);
  const int watch_samples = Arg(argc, argv, "--watch-samples", 200);
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("migdra-api-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);

  auto durable = migdra::control::Store::Open((dir / "state.db").string());
  auto memory = migdra::control::Store::Open("");
  if (!durable.ok() || !memory.ok()) {
    std::fprintf(stderr, "cannot open stores\n");
    return 1;
  }
  auto credentials = migdra::control::EnsureCredentials(dir.string(), "127.0.0.1", 0);
  if (!credentials.ok()) {
    std::fprintf(stderr, "credentials: %s\n", credentials.error().message.c_str());
    return 1;
  }
  ApiHandler handler(**durable, "127.0.0.1:0");
  ApiHandler memory_handler(**memory, "127.0.0.1:0");
  EnsureDefaultNamespace(handler);
  EnsureDefaultNamespace(memory_handler);

  migdra::control::HttpOptions http_options;
  http_options.port = 0;
  migdra::control::HttpServer server(handler, *credentials, http_options);
  auto port = server.Start();
  if (!port.ok()) {
    std::fprintf(stderr, "server: %s\n", port.error().message.c_str());
    return 1;
  }
  const std::string token = credentials->token;
  std::vector<std::unique_ptr<httplib::SSLClient>> https;
  for (int i = 0; i < clients + 1; ++i) {
    auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", *port);
    c->set_ca_cert_path(credentials->ca_cert_path.c_str());
    c->enable_server_certificate_verification(true);
    c->set_bearer_token_auth(token.c_str());
    c->set_keep_alive(true);
    c->set_tcp_nodelay(true);
    c->set_read_timeout(30, 0);
    https.push_back(std::move(c));
  }

  std::printf("migdra serve API benchmark: %d clients, %d creates, %d gets (ResourceClaims)\n",
              clients, creates, gets);
  double mem_creates = HandlerCreates(memory_handler, clients, creates, "m-");
  double mem_gets = HandlerGets(memory_handler, clients, gets, "m-", creates);
  double dur_creates = HandlerCreates(handler, clients, creates, "d-");
  double dur_gets = HandlerGets(handler, clients, gets, "d-", creates);
  double http_creates = Parallel(clients, creates, [&](int t, int i) {
    auto res = https[static_cast<size_t>(t)]->Post(kClaims, ClaimBody("h-" + std::to_string(i)),
                                                   "application/json");
    return res && res->status == 201;
  });
  double http_gets = Parallel(clients, gets, [&](int t, int i) {
    auto res = https[static_cast<size_t>(t)]->Get(std::string(kClaims) + "/h-" +
                                                  std::to_string(i % creates));
    return res && res->status == 200;
  });

  // The durable server's creates and gets over HTTPS are done: its watch latency, then the
  // in-memory store's, each behind its own server.
  server.Stop();
  std::vector<double> durable_ms = WatchLatencyMs(handler, **durable, *credentials, watch_samples);
  std::vector<double> memory_ms =
      WatchLatencyMs(memory_handler, **memory, *credentials, watch_samples);

  std::printf("%-44s %12s %12s\n", "path", "creates/s", "gets/s");
  std::printf("%-44s %12.0f %12.0f\n", "handler, in-memory store (baseline)", mem_creates,
              mem_gets);
  std::printf("%-44s %12.0f %12.0f\n", "handler, durable SQLite store", dur_creates, dur_gets);
  std::printf("%-44s %12.0f %12.0f\n", "HTTPS + token + durable store (serve)", http_creates,
              http_gets);
  std::printf(
      "ratios: HTTPS/durable-handler creates %.2f, gets %.2f; durable/in-memory creates %.2f\n",
      http_creates / dur_creates, http_gets / dur_gets, dur_creates / mem_creates);
  PrintLatency("watch latency, in-memory store (baseline)", memory_ms);
  PrintLatency("watch latency, durable store (serve)", durable_ms);
  if (!memory_ms.empty() && !durable_ms.empty()) {
    std::printf("ratio: durable/in-memory watch p99 %.2f\n",
                Percentile(durable_ms, 0.99) / Percentile(memory_ms, 0.99));
  }
  fs::remove_all(dir);
  return 0;
}
