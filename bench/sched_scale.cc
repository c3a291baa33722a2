// Scheduling at cluster scale: upstream's DRA scheduler_perf scenarios against a real
// `migdra serve` process, everything through its HTTPS API.
//
// Scenario (kubernetes/kubernetes test/integration/scheduler_perf/dra/performance-config.yaml):
//   - SchedulingWithResourceClaimTemplate/5000pods_500nodes: 500 nodes, each with one
//     ResourceSlice of 10 devices (driver test-driver.cdi.k8s.io, pool = node name, devices
//     claim-0000..claim-0009), a DeviceClass selecting that driver, a ResourceClaimTemplate of one
//     request, then 2,500 "init" pods and 2,500 "measure" pods, each with a claim from the
//     template. Reported: pods per second from the first create to the last pod bound (with its
//     claim allocated), for each phase.
//   - SteadyStateClusterResourceClaimTemplate/half_500nodes: with the cluster half full (the
//     2,500 init pods), rounds of 10 pods: create, wait until all are bound, delete; pods bound
//     per second over --steady-seconds.
// No plugins and no kubelet: bound pods stay Pending on their (API-only) nodes.
//
// Each binary given runs the same scenario in turn (the baseline first), so the figures of one
// run are comparable; ratios are printed against the first. `migdra serve` is started with
// --simulate (its own simulated node joins the 500) and its start-up to /readyz 200 is reported.
//
// Usage: sched_scale [--nodes N] [--pods N] [--per-node N] [--clients N] [--steady-seconds S]
//                    [--data-root DIR] MIGDRA_BINARY...
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "watch_events.h"

extern char** environ;

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr const char* kNamespace = "bench";
constexpr const char* kDriver = "test-driver.cdi.k8s.io";
int timeout_s = 300;  // per phase

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Config {
  int nodes = 500;
  int pods = 5000;  // half init, half measured, as upstream
  int per_node = 10;
  int clients = 4;
  int steady_seconds = 10;
  std::string data_root = fs::temp_directory_path().string();
  std::vector<std::string> binaries;
};

// A port that was free a moment ago on 127.0.0.1.
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// The serve process running now, stopped if the bench is interrupted.
volatile pid_t running_serve = -1;

void StopServeAndExit(int) {
  if (running_serve > 0) ::kill(running_serve, SIGTERM);
  _exit(1);
}

// One `migdra serve` child process.
class Serve {
 public:
  Serve(const std::string& binary, const std::string& dir) : dir_(dir) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    port_ = FreePort();
    const std::string listen = "127.0.0.1:" + std::to_string(port_);
    const std::string log = dir_ + "/serve.log";
    std::vector<std::string> args = {binary,        "serve",      "--data-dir", dir_,
                                     "--listen",    listen,       "--simulate", "h100-80gb:1",
                                     "--node-name", "bench-local"};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    started_ = Clock::now();
    if (posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    running_serve = pid_;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Serve() { Stop(); }

  // Seconds from spawn to /readyz 200, or -1 after 30 s.
  double WaitReady() {
    while (Since(started_) < 30 && pid_ > 0) {
      httplib::SSLClient probe("127.0.0.1", port_);
      probe.enable_server_certificate_verification(false);
      probe.set_connection_timeout(0, 100000);
      auto res = probe.Get("/readyz");
      if (res && res->status == 200) return Since(started_);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return -1;
  }

  std::unique_ptr<httplib::SSLClient> Client(int read_timeout_s = 60) const {
    auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", port_);
    c->set_ca_cert_path((dir_ + "/ca.crt").c_str());
    c->enable_server_certificate_verification(true);
    std::ifstream token_file(dir_ + "/token");
    std::string token;
    std::getline(token_file, token);
    c->set_bearer_token_auth(token.c_str());
    c->set_keep_alive(true);
    c->set_tcp_nodelay(true);
    c->set_read_timeout(read_timeout_s, 0);
    return c;
  }

  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    running_serve = -1;
    fs::remove_all(dir_);
  }

 private:
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  Clock::time_point started_;
};

// Runs op(client, i) for i in [0, count) over the clients; returns the failures.
int Parallel(std::vector<std::unique_ptr<httplib::SSLClient>>& clients, int count,
             const std::function<bool(httplib::SSLClient&, int)>& op) {
  std::atomic<int> next{0}, failures{0};
  std::vector<std::thread> pool;
  for (auto& c : clients) {
    pool.emplace_back([&, client = c.get()] {
      for (int i = next++; i < count; i = next++) {
        if (!op(*client, i)) ++failures;
      }
    });
  }
  for (auto& t : pool) t.join();
  return failures;
}

bool Post(httplib::SSLClient& c, const std::string& path, const json& body) {
  auto res = c.Post(path, body.dump(), "application/json");
  if (!res || res->status != 201) {
    std::fprintf(stderr, "POST %s: %s\n", path.c_str(),
                 res ? res->body.substr(0, 300).c_str() : httplib::to_string(res.error()).c_str());
    return false;
  }
  return true;
}

std::string NodeName(int i) {
  char name[64];
  std::snprintf(name, sizeof name, "scheduler-perf-dra-%04d", i);
  return name;
}

json NodeObject(int i) {
  return {
      {"apiVersion", "v1"},
      {"kind", "Node"},
      {"metadata", {{"name", NodeName(i)}, {"labels", {{"kubernetes.io/hostname", NodeName(i)}}}}},
      {"spec", json::object()},
      {"status",
       {{"capacity", {{"cpu", "4"}, {"memory", "32Gi"}, {"pods", "110"}}},
        {"allocatable", {{"cpu", "4"}, {"memory", "32Gi"}, {"pods", "110"}}},
        {"conditions", json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
}

json SliceObject(int i, int devices) {
  json list = json::array();
  for (int d = 0; d < devices; ++d) {
    char name[32];
    std::snprintf(name, sizeof name, "claim-%04d", d);
    list.push_back({{"name", name}});
  }
  return {{"apiVersion", "resource.k8s.io/v1"},
          {"kind", "ResourceSlice"},
          {"metadata", {{"name", NodeName(i) + "-" + kDriver}}},
          {"spec",
           {{"driver", kDriver},
            {"nodeName", NodeName(i)},
            {"pool", {{"name", NodeName(i)}, {"generation", 1}, {"resourceSliceCount", 1}}},
            {"devices", list}}}};
}

json PodObject(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", kNamespace}}},
          {"spec",
           {{"containers", json::array({{{"name", "pause"},
                                         {"image", "registry.k8s.io/pause:3.10"},
                                         {"resources", {{"claims", {{{"name", "resource"}}}}}}}})},
            {"resourceClaims",
             json::array({{{"name", "resource"},
                           {"resourceClaimTemplateName", "test-claim-template"}}})}}}};
}

// Follows the bench namespace's pods on one watch and records when each is first seen bound.
class BoundWatch {
 public:
  BoundWatch(const Serve& serve, int64_t from) : client_(serve.Client(3600)) {
    thread_ = std::thread([this, from] {
      migdra::bench::WatchEventReader reader;
      client_->Get(
          std::string("/api/v1/namespaces/") + kNamespace +
              "/pods?watch=true&timeoutSeconds=3600&resourceVersion=" + std::to_string(from),
          [&](const char* data, size_t len) {
            reader.Feed(data, len, [&](const json& pod) {
              if (pod["spec"].value("nodeName", "").empty()) return true;
              std::lock_guard lock(mu_);
              if (bound_.emplace(pod["metadata"].value("name", ""), Clock::now()).second) {
                cv_.notify_all();
              }
              return true;
            });
            return !stop_;
          });
    });
  }
  ~BoundWatch() {
    stop_ = true;
    client_->stop();
    thread_.join();
  }
  // Waits until every name is bound (or `timeout`); returns the latest bind time, or nullopt.
  std::optional<Clock::time_point> WaitAll(const std::vector<std::string>& names,
                                           std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    auto all = [&] {
      return std::all_of(names.begin(), names.end(),
                         [&](const std::string& n) { return bound_.count(n) > 0; });
    };
    if (!cv_.wait_for(lock, timeout, all)) return std::nullopt;
    Clock::time_point last{};
    for (const auto& n : names) last = std::max(last, bound_[n]);
    return last;
  }
  size_t Bound() {
    std::lock_guard lock(mu_);
    return bound_.size();
  }

 private:
  std::unique_ptr<httplib::SSLClient> client_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Clock::time_point> bound_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct Figures {
  double ready_s = -1;
  double init_pods_per_s = 0;
  double measure_pods_per_s = 0;
  double measure_creates_per_s = 0;
  double steady_pods_per_s = 0;
  int allocated_claims = 0;
};

// Creates pods `prefix`-[first, first+count) and returns pods/s from the first create to the
// last bind, and (via creates_per_s) the rate at which the creates alone were answered.
double CreateAndWait(std::vector<std::unique_ptr<httplib::SSLClient>>& clients, BoundWatch& watch,
                     const std::string& prefix, int count, double* creates_per_s) {
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) names.push_back(prefix + std::to_string(i));
  const std::string path = std::string("/api/v1/namespaces/") + kNamespace + "/pods";
  auto start = Clock::now();
  int failed = Parallel(clients, count, [&](httplib::SSLClient& c, int i) {
    return Post(c, path, PodObject(names[static_cast<size_t>(i)]));
  });
  if (creates_per_s) *creates_per_s = count / Since(start);
  if (failed) std::fprintf(stderr, "  %d pod creates failed\n", failed);
  auto last = watch.WaitAll(names, std::chrono::seconds(timeout_s));
  if (!last) {
    std::fprintf(stderr, "  %s: only %zu pods bound after %d s\n", prefix.c_str(), watch.Bound(),
                 timeout_s);
    auto pod = clients[0]->Get(path + "/" + names.back());
    if (pod) std::fprintf(stderr, "  %s\n", pod->body.substr(0, 2000).c_str());
    return 0;
  }
  return count / std::chrono::duration<double>(*last - start).count();
}

Figures Run(const Config& config, const std::string& binary, int index) {
  Figures f;
  Serve serve(binary, config.data_root + "/migdra-sched-scale-" + std::to_string(::getpid()) + "-" +
                          std::to_string(index));
  f.ready_s = serve.WaitReady();
  std::fprintf(stderr, "%s: ready after %.0f ms\n", binary.c_str(), f.ready_s * 1000);
  if (f.ready_s < 0) {
    std::fprintf(stderr, "%s: not ready within 30 s\n", binary.c_str());
    return f;
  }
  std::vector<std::unique_ptr<httplib::SSLClient>> clients;
  for (int i = 0; i < config.clients; ++i) clients.push_back(serve.Client());
  httplib::SSLClient& c = *clients[0];
  Post(c, "/api/v1/namespaces",
       {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", kNamespace}}}});
  Post(c, "/apis/resource.k8s.io/v1/deviceclasses",
       {{"apiVersion", "resource.k8s.io/v1"},
        {"kind", "DeviceClass"},
        {"metadata", {{"name", "test-class"}}},
        {"spec",
         {{"selectors", json::array({{{"cel",
                                       {{"expression", std::string("device.driver == '") + kDriver +
                                                           "'"}}}}})}}}});
  Post(c,
       std::string("/apis/resource.k8s.io/v1/namespaces/") + kNamespace + "/resourceclaimtemplates",
       {{"apiVersion", "resource.k8s.io/v1"},
        {"kind", "ResourceClaimTemplate"},
        {"metadata", {{"name", "test-claim-template"}}},
        {"spec",
         {{"spec",
           {{"devices",
             {{"requests",
               json::array({{{"name", "req-0"},
                             {"exactly", {{"deviceClassName", "test-class"}}}}})}}}}}}}});
  Parallel(clients, config.nodes,
           [&](httplib::SSLClient& cl, int i) { return Post(cl, "/api/v1/nodes", NodeObject(i)); });
  Parallel(clients, config.nodes, [&](httplib::SSLClient& cl, int i) {
    return Post(cl, "/apis/resource.k8s.io/v1/resourceslices", SliceObject(i, config.per_node));
  });

  auto list = c.Get(std::string("/api/v1/namespaces/") + kNamespace + "/pods");
  int64_t from = 0;
  if (list && list->status == 200) {
    from = std::stoll(json::parse(list->body)["metadata"].value("resourceVersion", "0"));
  }
  std::fprintf(stderr, "  %d nodes and slices created\n", config.nodes);
  BoundWatch watch(serve, from);
  const int half = config.pods / 2;
  f.init_pods_per_s = CreateAndWait(clients, watch, "init-", half, nullptr);

  // Steady state on the half-full cluster: rounds of 10 pods created, bound, deleted.
  int steady = 0;
  auto steady_start = Clock::now();
  for (int round = 0; Since(steady_start) < config.steady_seconds; ++round) {
    const std::string prefix = "steady-" + std::to_string(round) + "-";
    if (CreateAndWait(clients, watch, prefix, 10, nullptr) == 0) break;
    steady += 10;
    Parallel(clients, 10, [&](httplib::SSLClient& cl, int i) {
      auto res = cl.Delete(std::string("/api/v1/namespaces/") + kNamespace + "/pods/" + prefix +
                           std::to_string(i));
      return res && res->status == 200;
    });
  }
  f.steady_pods_per_s = steady / Since(steady_start);

  f.measure_pods_per_s =
      CreateAndWait(clients, watch, "measure-", config.pods - half, &f.measure_creates_per_s);

  auto claims =
      c.Get(std::string("/apis/resource.k8s.io/v1/namespaces/") + kNamespace + "/resourceclaims");
  if (!claims || claims->status != 200) {
    std::fprintf(
        stderr, "  listing claims failed: %s\n",
        claims ? claims->body.substr(0, 300).c_str() : httplib::to_string(claims.error()).c_str());
  } else {
    json items = json::parse(claims->body)["items"];
    for (const json& claim : items) {
      if (claim.contains("status") && claim["status"].contains("allocation")) ++f.allocated_claims;
    }
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  signal(SIGINT, StopServeAndExit);
  signal(SIGTERM, StopServeAndExit);
  signal(SIGPIPE, SIG_IGN);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--nodes")
      config.nodes = std::atoi(value().c_str());
    else if (a == "--pods")
      config.pods = std::atoi(value().c_str());
    else if (a == "--per-node")
      config.per_node = std::atoi(value().c_str());
    else if (a == "--clients")
      config.clients = std::atoi(value().c_str());
    else if (a == "--steady-seconds")
      config.steady_seconds = std::atoi(value().c_str());
    else if (a == "--data-root")
      config.data_root = value();
    else if (a == "--timeout")
      timeout_s = std::atoi(value().c_str());
    else
      config.binaries.push_back(a);
  }
  if (config.binaries.empty()) {
    std::fprintf(stderr,
                 "usage: sched_scale [--nodes N] [--pods N] [--per-node N] [--clients N] "
                 "[--steady-seconds S] [--data-root DIR] MIGDRA_BINARY...\n");
    return 2;
  }
  std::printf(
      "DRA scheduler_perf SchedulingWithResourceClaimTemplate/%dpods_%dnodes (%d devices a node), "
      "%d API clients, data in %s\n",
      config.pods, config.nodes, config.per_node, config.clients, config.data_root.c_str());
  std::vector<Figures> all;
  for (size_t i = 0; i < config.binaries.size(); ++i) {
    all.push_back(Run(config, config.binaries[i], static_cast<int>(i)));
  }
  std::printf("%-44s %8s %10s %10s %10s %10s %9s\n", "binary", "ready ms", "init p/s",
              "measure p/s", "creates/s", "steady p/s", "allocated");
  for (size_t i = 0; i < all.size(); ++i) {
    const Figures& f = all[i];
    std::printf("%-44s %8.0f %10.0f %10.0f %10.0f %10.1f %9d\n", config.binaries[i].c_str(),
                f.ready_s * 1000, f.init_pods_per_s, f.measure_pods_per_s, f.measure_creates_per_s,
                f.steady_pods_per_s, f.allocated_claims);
  }
  for (size_t i = 1; i < all.size(); ++i) {
    auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
    std::printf("ratios %s / %s: ready %.2f, init %.2f, measure %.2f, steady %.2f\n",
                config.binaries[i].c_str(), config.binaries[0].c_str(),
                ratio(all[i].ready_s, all[0].ready_s),
                ratio(all[i].init_pods_per_s, all[0].init_pods_per_s),
                ratio(all[i].measure_pods_per_s, all[0].measure_pods_per_s),
                ratio(all[i].steady_pods_per_s, all[0].steady_pods_per_s));
  }
  return 0;
}
