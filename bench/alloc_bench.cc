// Allocator benchmarks (issue 5), one command: build/bench/alloc_bench [--quick]
//
// 1. Throughput: 500 nodes x 8 H100-80GB with dynamic MIG slices (driver/slice_builder), 5,000
//    claims of the walkthrough's template (one device of class `device.driver ==
//    'gpu.nvidia.com'`) allocated one after another, node choice and commit included. pack and
//    kubernetes side by side, and a stateless baseline (index the cluster for every claim).
// 2. Hopeless requests: time to "does not fit", with and without the prechecks.
// 3. Packing: MIG claims arriving and leaving on 16 H100-80GB GPUs at 120% offered load, under
//    pack, kubernetes and two static partitionings, for three request mixes in the loss and queue
//    models; plus right-sizing on the walkthrough's node, and pack against the exact optimum of an
//    integer program solved by CBC on small static instances.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <time.h>
#include <unistd.h>

#include "alloc/allocator.h"
#include "driver/slice_builder.h"
#include "gpu/inventory.h"

namespace migdra::alloc {
namespace {

// CPU time of this thread: the machine these run on is shared, so wall-clock time would measure
// other processes too; "one core" is what the targets are about.
struct Clock {
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<Clock, duration>;
  static time_point now() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return time_point(duration(int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec));
  }
};

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

api::DeviceClass Class(const std::string& name, const std::string& expression) {
  api::DeviceClass c;
  c.metadata.name = name;
  c.spec.selectors.push_back({api::CELDeviceSelector{expression}});
  return c;
}

api::DeviceClass ProfileClass(const std::string& profile) {
  return Class("mig-" + profile,
               "device.attributes['gpu.nvidia.com'].type == 'mig' && "
               "device.attributes['gpu.nvidia.com'].profile == '" +
                   profile + "'");
}

api::ResourceClaim OneDeviceClaim(const std::string& name, const std::string& device_class,
                                  int64_t count = 1) {
  api::ResourceClaim c;
  c.metadata.name = name;
  c.metadata.namespace_ = "default";
  api::DeviceRequest r;
  r.name = "gpu";
  r.exactly.emplace();
  r.exactly->device_class_name = device_class;
  r.exactly->count = count;
  c.spec.devices.requests.push_back(r);
  return c;
}

std::vector<api::ResourceSlice> H100Node(const std::string& node, int gpus) {
  auto inventory = gpu::SimulatedInventory("h100-80gb", gpus, node);
  if (!inventory.ok()) {
    std::fprintf(stderr, "inventory: %s\n", inventory.error().ToString().c_str());
    std::exit(2);
  }
  auto slices = driver::BuildSlices(*inventory);
  if (!slices.ok()) {
    std::fprintf(stderr, "slices: %s\n", slices.error().ToString().c_str());
    std::exit(2);
  }
  return std::move(slices).value();
}

struct Cluster {
  std::vector<api::ResourceSlice> slices;
  std::vector<api::DeviceClass> classes;
  std::vector<api::Node> nodes;

  AllocatorInput Input() const {
    AllocatorInput in;
    for (const auto& s : slices) in.slices.push_back(&s);
    for (const auto& c : classes) in.classes.push_back(&c);
    return in;
  }
  std::vector<const api::Node*> NodePtrs() const {
    std::vector<const api::Node*> out;
    for (const auto& n : nodes) out.push_back(&n);
    return out;
  }
};

Cluster MakeCluster(int nodes, int gpus) {
  Cluster c;
  for (int i = 0; i < nodes; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "node-%03d", i);
    api::Node n;
    n.metadata.name = name;
    c.nodes.push_back(n);
    for (auto& s : H100Node(name, gpus)) c.slices.push_back(std::move(s));
  }
  c.classes.push_back(Class("nvidia-mig", "device.driver == 'gpu.nvidia.com'"));
  c.classes.push_back(Class("gpu",
                            "device.driver == 'gpu.nvidia.com' && "
                            "device.attributes['gpu.nvidia.com'].type == 'gpu'"));
  for (const char* p : {"1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"}) {
    c.classes.push_back(ProfileClass(p));
  }
  return c;
}

template <class T>
T Must(Result<T> r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, r.error().ToString().c_str());
    std::exit(2);
  }
  return std::move(r).value();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

// ---- 1. throughput --------------------------------------------------------------------------

struct ThroughputResult {
  double index_ms = 0;
  double claims_per_s = 0;
  double median_us = 0;
  double p99_us = 0;
  int allocated = 0;
  std::map<std::string, int> profiles;
};

ThroughputResult Throughput(const Cluster& cluster, Strategy strategy, int claims) {
  ThroughputResult out;
  Options options;
  options.strategy = strategy;
  options.share_id_seed = 1;
  auto start = Clock::now();
  auto allocator = Must(Allocator::Create(cluster.Input(), options), "create");
  out.index_ms = Micros(Clock::now() - start) / 1000;
  auto nodes = cluster.NodePtrs();
  std::vector<double> latencies;
  latencies.reserve(claims);
  std::vector<api::ResourceClaim> templates;
  for (int i = 0; i < claims; ++i) {
    templates.push_back(OneDeviceClaim("claim-" + std::to_string(i), "nvidia-mig"));
  }
  auto total_start = Clock::now();
  for (int i = 0; i < claims; ++i) {
    const api::ResourceClaim* claim = &templates[i];
    auto t0 = Clock::now();
    auto choice = Must(allocator->ChooseNode(nodes, std::span(&claim, 1)), "choose");
    if (choice.fits) {
      auto st = allocator->Commit(ClaimKey(*claim), choice.allocations[0]);
      if (!st.ok()) std::exit(3);
      ++out.allocated;
      const std::string& device = choice.allocations[0].devices.results[0].device;
      auto mig = device.find("-mig-");
      out.profiles[mig == std::string::npos
                       ? "full GPU"
                       : device.substr(mig + 5, device.find('-', mig + 5) - mig - 5)]++;
    }
    latencies.push_back(Micros(Clock::now() - t0));
  }
  double total_s = Micros(Clock::now() - total_start) / 1e6;
  out.claims_per_s = claims / total_s;
  out.median_us = Percentile(latencies, 0.5);
  out.p99_us = Percentile(latencies, 0.99);
  return out;
}

// Stateless baseline: index the whole cluster for every claim, as an allocator without state.
double StatelessMicrosPerClaim(const Cluster& cluster, int claims) {
  Options options;
  options.strategy = Strategy::kKubernetes;
  std::vector<api::ResourceClaim> allocated;
  auto nodes = cluster.NodePtrs();
  auto start = Clock::now();
  for (int i = 0; i < claims; ++i) {
    AllocatorInput in = cluster.Input();
    for (const auto& c : allocated) in.allocated_claims.push_back(&c);
    auto allocator = Must(Allocator::Create(in, options), "create");
    api::ResourceClaim claim = OneDeviceClaim("stateless-" + std::to_string(i), "nvidia-mig");
    const api::ResourceClaim* ptr = &claim;
    auto choice = Must(allocator->ChooseNode(nodes, std::span(&ptr, 1)), "choose");
    if (!choice.fits) break;
    claim.status.allocation = choice.allocations[0];
    allocated.push_back(claim);
  }
  return Micros(Clock::now() - start) / claims;
}

void RunThroughput(bool quick) {
  const int nodes = quick ? 50 : 500;
  const int claims = quick ? 500 : 5000;
  std::printf(
      "\n== 1. Throughput: %d nodes x 8 H100-80GB (dynamic MIG), %d claims of the "
      "walkthrough template, one after another (node choice + commit) ==\n",
      nodes, claims);
  auto build_start = Clock::now();
  Cluster cluster = MakeCluster(nodes, 8);
  std::printf("slices: %zu (built in %.0f ms by driver::BuildSlices)\n", cluster.slices.size(),
              Micros(Clock::now() - build_start) / 1000);
  std::printf("%-11s %10s %12s %11s %9s %10s  %s\n", "strategy", "index ms", "claims/s",
              "median us", "p99 us", "allocated", "devices given");
  ThroughputResult results[2];
  int i = 0;
  for (Strategy s : {Strategy::kPack, Strategy::kKubernetes}) {
    ThroughputResult r = Throughput(cluster, s, claims);
    std::string given;
    for (const auto& [p, n] : r.profiles) given += p + ":" + std::to_string(n) + " ";
    std::printf("%-11s %10.0f %12.0f %11.1f %9.1f %10d  %s\n", std::string(StrategyName(s)).c_str(),
                r.index_ms, r.claims_per_s, r.median_us, r.p99_us, r.allocated, given.c_str());
    results[i++] = r;
  }
  const int stateless_claims = quick ? 5 : 10;
  double stateless = StatelessMicrosPerClaim(cluster, stateless_claims);
  std::printf("stateless baseline (re-index per claim, kubernetes, %d claims): %.0f us/claim\n",
              stateless_claims, stateless);
  std::printf(
      "ratios: pack/kubernetes throughput %.2f; incremental pack vs stateless %.0fx; "
      "target >= 5000 claims/s and median <= 200 us: %s\n",
      results[0].claims_per_s / results[1].claims_per_s,
      stateless / (1e6 / results[0].claims_per_s),
      results[0].claims_per_s >= 5000 && results[0].median_us <= 200 ? "met" : "NOT met");
}

// ---- 2. hopeless requests -------------------------------------------------------------------

struct HopelessCase {
  std::string name;
  std::vector<api::ResourceSlice> slices;
  std::vector<api::DeviceClass> classes;
  api::ResourceClaim claim;
};

void RunHopeless() {
  std::printf("\n== 2. Hopeless requests: time to \"does not fit\" (median of 20) ==\n");
  std::vector<HopelessCase> cases;
  {
    HopelessCase c;
    c.name = "32 devices asked, 31 match";
    api::ResourceSlice s;
    s.metadata.name = "s";
    s.spec.driver = "gpu.nvidia.com";
    s.spec.pool = {"node-a", 1, 1};
    s.spec.node_name = "node-a";
    for (int i = 0; i < 31; ++i) {
      api::Device d;
      d.name = "dev-" + std::to_string(i);
      s.spec.devices.push_back(d);
    }
    c.slices = {s};
    c.classes = {Class("nvidia-mig", "device.driver == 'gpu.nvidia.com'")};
    c.claim = OneDeviceClaim("c", "nvidia-mig", 32);
    cases.push_back(c);
    HopelessCase split = c;
    split.name = "16 + 16 devices asked, 31 match";
    split.claim = OneDeviceClaim("c", "nvidia-mig", 16);
    auto second = split.claim.spec.devices.requests[0];
    second.name = "more";
    split.claim.spec.devices.requests.push_back(second);
    cases.push_back(split);
  }
  {
    HopelessCase c;
    c.name = "2 GPUs with matchAttribute uuid, 8 GPUs";
    c.slices = H100Node("node-a", 8);
    c.classes = {Class("gpu",
                       "device.driver == 'gpu.nvidia.com' && "
                       "device.attributes['gpu.nvidia.com'].type == 'gpu'")};
    c.claim = OneDeviceClaim("c", "gpu", 2);
    c.claim.spec.devices.constraints.push_back({{}, "gpu.nvidia.com/uuid", std::nullopt});
    cases.push_back(c);
    HopelessCase mixed;
    mixed.name = "2x3g + 1x2g on one parentUUID, 8 GPUs";
    mixed.slices = c.slices;
    mixed.classes = {ProfileClass("3g.40gb"), ProfileClass("2g.20gb")};
    mixed.claim = OneDeviceClaim("c", "mig-3g.40gb", 2);
    auto second = OneDeviceClaim("x", "mig-2g.20gb", 1).spec.devices.requests[0];
    second.name = "small";
    mixed.claim.spec.devices.requests.push_back(second);
    mixed.claim.spec.devices.constraints.push_back({{}, "gpu.nvidia.com/parentUUID", std::nullopt});
    cases.push_back(mixed);
  }
  std::printf("%-42s %-11s %14s %16s  %s\n", "case", "strategy", "with prechecks", "without",
              "reason (with prechecks)");
  for (const auto& c : cases) {
    for (Strategy s : {Strategy::kPack, Strategy::kKubernetes}) {
      std::string cells[2];
      std::string reason;
      for (int pre = 1; pre >= 0; --pre) {
        AllocatorInput in;
        for (const auto& x : c.slices) in.slices.push_back(&x);
        for (const auto& x : c.classes) in.classes.push_back(&x);
        Options o;
        o.strategy = s;
        o.prechecks = pre == 1;
        o.step_budget = 2'000'000;
        auto allocator = Must(Allocator::Create(in, o), "create");
        api::Node node;
        node.metadata.name = "node-a";
        const api::ResourceClaim* ptr = &c.claim;
        std::vector<double> times;
        std::string cell;
        for (int rep = 0; rep < 20; ++rep) {
          auto t0 = Clock::now();
          auto r = allocator->Allocate(node, std::span(&ptr, 1));
          times.push_back(Micros(Clock::now() - t0));
          if (!r.ok()) {
            cell = "error";
            if (pre == 1) reason = r.error().message;
            break;
          }
          if (r->fits) {
            cell = "FITS?";
            break;
          }
          if (pre == 1) reason = r->reason;
        }
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%.3f ms%s", Percentile(times, 0.5) / 1000,
                      cell.empty() ? "" : (" " + cell).c_str());
        cells[1 - pre] = buf;
      }
      if (reason.size() > 90) reason = reason.substr(0, 87) + "...";
      std::printf("%-42s %-11s %14s %16s  %s\n", c.name.c_str(),
                  std::string(StrategyName(s)).c_str(), cells[0].c_str(), cells[1].c_str(),
                  reason.c_str());
    }
  }
  std::printf(
      "(\"error\" without prechecks = the 2,000,000-step search budget ran out; target "
      "<= 10 ms each with prechecks)\n");
}

// ---- 3. packing -----------------------------------------------------------------------------

struct ProfileInfo {
  std::string name;
  int compute;  // g: GPU-slices
  int size;     // memory slices
  int multiprocessors;
  std::vector<int> starts;
};

// H100-80GB (reference/mig-geometry-and-prior-art.md A.3), without +me.
const std::vector<ProfileInfo>& Profiles() {
  static const std::vector<ProfileInfo> p = {
      {"1g.10gb", 1, 1, 16, {0, 1, 2, 3, 4, 5, 6}},
      {"1g.20gb", 1, 2, 26, {0, 2, 4, 6}},
      {"2g.20gb", 2, 2, 32, {0, 2, 4}},
      {"3g.40gb", 3, 4, 60, {0, 4}},
      {"4g.40gb", 4, 4, 64, {0}},
      {"7g.80gb", 7, 8, 132, {0}},
  };
  return p;
}

struct Mix {
  std::string name;
  std::vector<double> weights;  // per profile
};

const std::vector<Mix>& Mixes() {
  static const std::vector<Mix> m = {
      {"small-heavy", {0.45, 0.20, 0.20, 0.08, 0.04, 0.03}},
      {"mixed", {0.30, 0.15, 0.20, 0.15, 0.10, 0.10}},
      {"large-heavy", {0.10, 0.05, 0.15, 0.25, 0.20, 0.25}},
  };
  return m;
}

struct Request {
  double arrival = 0;
  double duration = 0;
  int profile = 0;
};

constexpr int kGpus = 16;
constexpr double kMeanDurationH = 2.0;
constexpr double kLoad = 1.2;

std::vector<Request> Stream(const Mix& mix, double horizon_h, uint32_t seed) {
  std::mt19937_64 rng(seed);
  double mean_g = 0;
  for (size_t i = 0; i < Profiles().size(); ++i) mean_g += mix.weights[i] * Profiles()[i].compute;
  const double rate = kLoad * kGpus * 7 / (mean_g * kMeanDurationH);  // arrivals per hour
  std::exponential_distribution<double> gap(rate);
  std::exponential_distribution<double> duration(1.0 / kMeanDurationH);
  std::discrete_distribution<int> profile(mix.weights.begin(), mix.weights.end());
  std::vector<Request> out;
  for (double t = gap(rng); t < horizon_h; t += gap(rng))
    out.push_back({t, duration(rng), profile(rng)});
  return out;
}

// Something that places one request and frees it later.
class Placer {
 public:
  virtual ~Placer() = default;
  virtual bool Place(int id, int profile) = 0;
  virtual void Free(int id) = 0;
};

// How a request names its size: the exact profile (class per profile), or a minimum size over
// the walkthrough's class (`device.driver == 'gpu.nvidia.com'`, which matches whole GPUs and every
// partition) as request selectors on memory and multiprocessors.
enum class RequestStyle { kExactProfile, kMinimumSize };

api::ResourceClaim SizeClaim(const ProfileInfo& p) {
  api::ResourceClaim c = OneDeviceClaim("c", "nvidia-mig");
  const int memory_gib = p.size * 10 - 1;  // 9, 19, 39, 79 GiB for 1, 2, 4, 8 memory slices
  std::string expr = "device.capacity['gpu.nvidia.com'].memory.compareTo(quantity('" +
                     std::to_string(memory_gib) + "Gi')) >= 0";
  if (p.compute > 1) {
    expr +=
        " && (!('multiprocessors' in device.capacity['gpu.nvidia.com']) || "
        "device.capacity['gpu.nvidia.com'].multiprocessors.compareTo(quantity('" +
        std::to_string(p.multiprocessors) + "')) >= 0)";
  }
  c.spec.devices.requests[0].exactly->selectors.push_back({api::CELDeviceSelector{expr}});
  return c;
}

class AllocatorPlacer : public Placer {
 public:
  AllocatorPlacer(const Cluster& cluster, Strategy strategy,
                  RequestStyle style = RequestStyle::kExactProfile,
                  PackPlacement placement = PackPlacement::kLeastBlocking)
      : nodes_(cluster.NodePtrs()) {
    Options o;
    o.strategy = strategy;
    o.pack_placement = placement;
    allocator_ = Must(Allocator::Create(cluster.Input(), o), "create");
    for (const auto& p : Profiles()) {
      claims_.push_back(style == RequestStyle::kExactProfile ? OneDeviceClaim("c", "mig-" + p.name)
                                                             : SizeClaim(p));
    }
  }
  bool Place(int id, int profile) override {
    const api::ResourceClaim* ptr = &claims_[profile];
    auto choice = Must(allocator_->ChooseNode(nodes_, std::span(&ptr, 1)), "choose");
    if (!choice.fits) return false;
    if (!allocator_->Commit(std::to_string(id), choice.allocations[0]).ok()) std::exit(3);
    return true;
  }
  void Free(int id) override {
    if (!allocator_->Release(std::to_string(id)).ok()) std::exit(3);
  }

 private:
  std::vector<const api::Node*> nodes_;
  std::unique_ptr<Allocator> allocator_;
  std::vector<api::ResourceClaim> claims_;
};

// Static partitioning: fixed instances per GPU; a request takes a free instance of its profile.
class StaticPlacer : public Placer {
 public:
  explicit StaticPlacer(const std::vector<std::vector<int>>& layout_per_gpu) {
    for (const auto& gpu : layout_per_gpu) {
      for (int p : gpu) free_[p]++;
    }
  }
  bool Place(int id, int profile) override {
    if (free_[profile] == 0) return false;
    free_[profile]--;
    held_[id] = profile;
    return true;
  }
  void Free(int id) override {
    free_[held_[id]]++;
    held_.erase(id);
  }

 private:
  std::map<int, int> free_;
  std::map<int, int> held_;
};

std::vector<std::vector<int>> AllOneG() {
  return std::vector<std::vector<int>>(kGpus, {0, 0, 0, 0, 0, 0, 0});
}

// Profiles indexes: 0 1g.10gb, 1 1g.20gb, 2 2g.20gb, 3 3g.40gb, 4 4g.40gb, 5 7g.80gb.
std::vector<std::vector<int>> Balanced() {
  std::vector<std::vector<int>> layout;
  for (int i = 0; i < 4; ++i) layout.push_back({5});           // 7g
  for (int i = 0; i < 4; ++i) layout.push_back({4, 3});        // 4g@0 + 3g@4
  for (int i = 0; i < 2; ++i) layout.push_back({2, 1, 3});     // 2g@0 + 1g.20gb@2 + 3g@4
  for (int i = 0; i < 3; ++i) layout.push_back({2, 2, 2, 0});  // 2g@0,2,4 + 1g@6
  for (int i = 0; i < 3; ++i) layout.push_back({0, 0, 0, 0, 0, 0, 0});
  return layout;
}

struct SimResult {
  double offered = 0;   // GPU-slice-hours offered
  double accepted = 0;  // loss: accepted GPU-slice-hours; queue: run within the horizon
  double mean_wait_h = 0;
};

// Loss model: a request that does not fit on arrival is dropped.
SimResult Loss(Placer& placer, const std::vector<Request>& stream) {
  SimResult r;
  using Event = std::pair<double, int>;  // departure time, id
  std::priority_queue<Event, std::vector<Event>, std::greater<>> departures;
  for (size_t i = 0; i < stream.size(); ++i) {
    const Request& q = stream[i];
    while (!departures.empty() && departures.top().first <= q.arrival) {
      placer.Free(departures.top().second);
      departures.pop();
    }
    double work = Profiles()[q.profile].compute * q.duration;
    r.offered += work;
    if (placer.Place(static_cast<int>(i), q.profile)) {
      r.accepted += work;
      departures.push({q.arrival + q.duration, static_cast<int>(i)});
    }
  }
  return r;
}

// Queue model: a request waits and is retried (in arrival order, at every arrival and departure)
// until partitions free up; what ran before the horizon counts.
SimResult Queue(Placer& placer, const std::vector<Request>& stream, double horizon_h) {
  SimResult r;
  using Event = std::pair<double, int>;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> departures;
  std::deque<int> waiting;
  double wait_sum = 0;
  int started = 0;
  size_t next = 0;
  auto try_waiting = [&](double now) {
    // Once a size fails in this event, later requests of that size fail too: skip them.
    std::vector<bool> failed(Profiles().size(), false);
    for (auto it = waiting.begin(); it != waiting.end();) {
      const Request& q = stream[*it];
      if (failed[q.profile]) {
        ++it;
        continue;
      }
      if (placer.Place(*it, q.profile)) {
        departures.push({now + q.duration, *it});
        r.accepted += Profiles()[q.profile].compute * (std::min(now + q.duration, horizon_h) - now);
        wait_sum += now - q.arrival;
        ++started;
        it = waiting.erase(it);
      } else {
        failed[q.profile] = true;
        ++it;
      }
    }
  };
  while (next < stream.size() || !departures.empty()) {
    double t_arrival = next < stream.size() ? stream[next].arrival : 1e18;
    double t_departure = departures.empty() ? 1e18 : departures.top().first;
    double now = std::min(t_arrival, t_departure);
    if (now >= horizon_h) break;
    if (t_departure <= t_arrival) {
      placer.Free(departures.top().second);
      departures.pop();
    } else {
      r.offered += Profiles()[stream[next].profile].compute * stream[next].duration;
      waiting.push_back(static_cast<int>(next++));
    }
    try_waiting(now);
  }
  r.mean_wait_h = started ? wait_sum / started : 0;
  return r;
}

void RunMixes(const Cluster& cluster, RequestStyle style, double horizon, bool quick) {
  for (const auto& mix : Mixes()) {
    for (int model = 0; model < 2; ++model) {
      double values[6] = {0, 0, 0, 0, 0, 0};
      double waits[6] = {0, 0, 0, 0, 0, 0};
      double offered = 0;
      const int seeds = quick ? 1 : 3;
      for (int seed = 1; seed <= seeds; ++seed) {
        auto stream = Stream(mix, horizon, static_cast<uint32_t>(seed));
        for (int k = 0; k < 6; ++k) {
          std::unique_ptr<Placer> placer;
          if (k == 0) placer = std::make_unique<AllocatorPlacer>(cluster, Strategy::kPack, style);
          if (k == 1) {
            placer = std::make_unique<AllocatorPlacer>(cluster, Strategy::kKubernetes, style);
          }
          if (k == 2) placer = std::make_unique<StaticPlacer>(AllOneG());
          if (k == 3) placer = std::make_unique<StaticPlacer>(Balanced());
          if (k == 4) {
            placer = std::make_unique<AllocatorPlacer>(cluster, Strategy::kPack, style,
                                                       PackPlacement::kRightSizeOnly);
          }
          if (k == 5) {
            placer = std::make_unique<AllocatorPlacer>(cluster, Strategy::kPack, style,
                                                       PackPlacement::kRightSizeOnly);
          }
          SimResult r = model == 0 ? Loss(*placer, stream) : Queue(*placer, stream, horizon);
          values[k] += r.accepted;
          waits[k] += r.mean_wait_h;
          if (k == 0) offered += r.offered;
        }
      }
      std::printf(
          "%-12s %-6s %8.0f %8.0f %8.0f %8.0f %8.0f %8.0f %8.0f %6.3f %6.3f %6.3f "
          "%5.2f/%5.2f/%5.2f/%5.2f\n",
          mix.name.c_str(), model == 0 ? "loss" : "queue", offered, values[0], values[4], values[5],
          values[1], values[2], values[3], values[0] / values[1], values[4] / values[1],
          values[5] / values[1], waits[0] / seeds, waits[4] / seeds, waits[5] / seeds,
          waits[1] / seeds);
    }
  }
}

void RunPacking(bool quick) {
  std::printf(
      "\n== 3. Packing: 16 H100-80GB (2 nodes x 8), MIG claims at %.0f%% offered load, "
      "exponential durations (mean %.0f h) ==\n",
      kLoad * 100, kMeanDurationH);
  std::printf("mixes (weights of 1g.10gb/1g.20gb/2g.20gb/3g.40gb/4g.40gb/7g.80gb):");
  for (const auto& m : Mixes()) {
    std::printf(" %s=", m.name.c_str());
    for (size_t i = 0; i < m.weights.size(); ++i) {
      std::printf("%s%.2f", i ? "/" : "", m.weights[i]);
    }
  }
  std::printf(
      "\npack-lb: least-blocking placement (the default); pack-ff: fullest GPU first; pack-rs: "
      "right-sizing only, first fit within a size\n");
  std::printf(
      "\nstatic balanced layout: 4x[7g] 4x[4g+3g] 2x[2g+1g.20gb+3g] 3x[3x2g+1g] "
      "3x[7x1g]; all-1g: 16x[7x1g]\n");
  const double horizon = quick ? 100 : 400;
  Cluster cluster = MakeCluster(2, 8);
  for (RequestStyle style : {RequestStyle::kExactProfile, RequestStyle::kMinimumSize}) {
    std::printf("\nrequests %s\n",
                style == RequestStyle::kExactProfile
                    ? "name the exact profile (placement only)"
                    : "ask for a minimum memory/SM size through the walkthrough's class "
                      "(right-sizing + placement)");
    std::printf("%-12s %-6s %8s %8s %8s %8s %8s %8s %8s %6s %6s %6s %s\n", "mix", "model",
                "offered", "pack-lb", "pack-ff", "pack-rs", "k8s", "static1g", "static-b", "lb/k8s",
                "ff/k8s", "rs/k8s", "wait h lb/ff/rs/k8s");
    RunMixes(cluster, style, horizon, quick);
  }
  std::printf(
      "(GPU-slice-hours = compute slices x hours; loss: accepted work; queue: work run "
      "before the horizon of %.0f h, mean wait in hours; target pack >= 1.10 x "
      "kubernetes)\n",
      horizon);
}

// Right-sizing on the walkthrough's node: how many claims of the walkthrough template fit.
void RunRightSizing() {
  std::printf(
      "\n== Right-sizing: claims of the walkthrough template (class matches whole GPUs "
      "and every partition) on one 8 x H100-80GB node ==\n");
  Cluster cluster = MakeCluster(1, 8);
  for (Strategy s : {Strategy::kPack, Strategy::kKubernetes}) {
    Options o;
    o.strategy = s;
    auto allocator = Must(Allocator::Create(cluster.Input(), o), "create");
    int fitted = 0;
    while (fitted < 200) {
      api::ResourceClaim claim = OneDeviceClaim("c" + std::to_string(fitted), "nvidia-mig");
      const api::ResourceClaim* ptr = &claim;
      auto r = Must(allocator->Allocate(cluster.nodes[0], std::span(&ptr, 1)), "allocate");
      if (!r.fits) break;
      if (!allocator->Commit(ClaimKey(claim), r.allocations[0]).ok()) std::exit(3);
      ++fitted;
    }
    std::printf("%-11s %d concurrent jobs\n", std::string(StrategyName(s)).c_str(), fitted);
  }
}

// ---- exact optimum (CBC) ---------------------------------------------------------------------

// Maximum GPU-slices of `requests` (profile indexes) placeable on `gpus` H100s, by CBC; -1 if the
// solver fails.
double Optimum(const std::vector<int>& requests, int gpus) {
  char dir_template[] = "/tmp/migdra-alloc-bench-XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (dir == nullptr) return -1;
  std::string lp = std::string(dir) + "/p.lp";
  std::string sol = std::string(dir) + "/p.sol";
  std::ostringstream obj, cons, bin;
  std::map<std::pair<int, int>, std::vector<std::string>> slice_users;  // (gpu, slice) -> vars
  std::map<int, std::vector<std::string>> sm;                           // gpu -> "k x"
  for (size_t r = 0; r < requests.size(); ++r) {
    const ProfileInfo& p = Profiles()[requests[r]];
    std::vector<std::string> vars;
    for (int g = 0; g < gpus; ++g) {
      for (int start : p.starts) {
        std::string v =
            "x_" + std::to_string(r) + "_" + std::to_string(g) + "_" + std::to_string(start);
        vars.push_back(v);
        obj << " + " << p.compute << " " << v;
        bin << " " << v;
        for (int s = start; s < start + p.size; ++s) slice_users[{g, s}].push_back(v);
        sm[g].push_back(std::to_string(p.multiprocessors) + " " + v);
      }
    }
    cons << " once_" << r << ":";
    for (const auto& v : vars) cons << " + " << v;
    cons << " <= 1\n";
  }
  for (const auto& [key, vars] : slice_users) {
    cons << " slice_" << key.first << "_" << key.second << ":";
    for (const auto& v : vars) cons << " + " << v;
    cons << " <= 1\n";
  }
  for (const auto& [g, terms] : sm) {
    cons << " sm_" << g << ":";
    for (const auto& t : terms) cons << " + " << t;
    cons << " <= 132\n";
  }
  {
    std::ofstream out(lp);
    out << "Maximize\n obj:" << obj.str() << "\nSubject To\n"
        << cons.str() << "Binary\n"
        << bin.str() << "\nEnd\n";
  }
  std::string cmd = "cbc " + lp + " solve solu " + sol + " > /dev/null 2>&1";
  double value = -1;
  if (std::system(cmd.c_str()) == 0) {
    std::ifstream in(sol);
    std::string line;
    std::getline(in, line);  // "Optimal - objective value 12.00000000"
    auto pos = line.find("objective value");
    if (line.rfind("Optimal", 0) == 0 && pos != std::string::npos) {
      value = std::atof(line.c_str() + pos + std::strlen("objective value"));
    }
  }
  std::remove(lp.c_str());
  std::remove(sol.c_str());
  rmdir(dir);
  return value;
}

void RunOptimum(bool quick) {
  std::printf(
      "\n== Pack against the exact optimum (integer program, CBC) on small static "
      "instances: 2 H100-80GB, a batch of random MIG requests (mixed weights) placed in "
      "arrival order ==\n");
  Cluster cluster = MakeCluster(1, 2);
  const int instances = quick ? 5 : 30;
  double sum_pack = 0, sum_k8s = 0, sum_opt = 0, worst_pack = 1e9, worst_k8s = 1e9;
  double sum_ff = 0, worst_ff = 1e9;
  int solved = 0;
  std::mt19937_64 rng(42);
  const Mix& mix = Mixes()[1];
  std::discrete_distribution<int> pick(mix.weights.begin(), mix.weights.end());
  for (int i = 0; i < instances; ++i) {
    std::vector<int> requests;
    std::uniform_int_distribution<int> n(6, 12);
    for (int k = n(rng); k > 0; --k) requests.push_back(pick(rng));
    double got[3] = {0, 0, 0};
    for (int s = 0; s < 3; ++s) {
      AllocatorPlacer placer(
          cluster, s == 1 ? Strategy::kKubernetes : Strategy::kPack, RequestStyle::kExactProfile,
          s == 2 ? PackPlacement::kRightSizeOnly : PackPlacement::kLeastBlocking);
      for (size_t r = 0; r < requests.size(); ++r) {
        if (placer.Place(static_cast<int>(r), requests[r])) {
          got[s] += Profiles()[requests[r]].compute;
        }
      }
    }
    double opt = Optimum(requests, 2);
    if (opt <= 0) continue;
    ++solved;
    sum_ff += got[2];
    worst_ff = std::min(worst_ff, got[2] / opt);
    sum_pack += got[0];
    sum_k8s += got[1];
    sum_opt += opt;
    worst_pack = std::min(worst_pack, got[0] / opt);
    worst_k8s = std::min(worst_k8s, got[1] / opt);
  }
  if (solved == 0) {
    std::printf("cbc did not solve any instance (is coinor-cbc installed?)\n");
    return;
  }
  std::printf(
      "%d instances solved; GPU-slices placed: optimum %.0f; pack least-blocking %.0f (%.1f%%, "
      "worst %.1f%%); pack fullest-GPU-first %.0f (%.1f%%, worst %.1f%%); kubernetes %.0f "
      "(%.1f%%, worst %.1f%%); target pack >= 97%%\n",
      solved, sum_opt, sum_pack, 100 * sum_pack / sum_opt, 100 * worst_pack, sum_ff,
      100 * sum_ff / sum_opt, 100 * worst_ff, sum_k8s, 100 * sum_k8s / sum_opt, 100 * worst_k8s);
}

}  // namespace
}  // namespace migdra::alloc

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
  }
  std::printf("migdra allocator benchmarks%s (one core, this process; times are thread CPU time)\n",
              quick ? " (--quick: reduced sizes)" : "");
  migdra::alloc::RunThroughput(quick);
  migdra::alloc::RunHopeless();
  migdra::alloc::RunRightSizing();
  migdra::alloc::RunPacking(quick);
  migdra::alloc::RunOptimum(quick);
  return 0;
}
