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

// Offered load: compute slices asked per hour x mean duration, over the 16 x 7 slices there are.
std::vector<Request> Stream(const Mix& mix, double load, double horizon_h, uint32_t seed) {
  std::mt19937_64 rng(seed);
  double mean_g = 0;
  for (size_t i = 0; i < Profiles().size(); ++i) mean_g += mix.weights[i] * Profiles()[i].compute;
  const double rate = load * kGpus * 7 / (mean_g * kMeanDurationH);  // arrivals per hour
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
  // BatchOrder of one claim set per request (each of the given profile).
  std::vector<int> BatchOrderOf(const std::vector<int>& profiles) {
    std::vector<std::vector<const api::ResourceClaim*>> sets;
    for (int p : profiles) sets.push_back({&claims_[static_cast<size_t>(p)]});
    auto order = Must(allocator_->BatchOrder(nodes_, sets), "batch order");
    return std::vector<int>(order.begin(), order.end());
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

// MIG without geometry: a GPU takes any mix whose compute slices add up to at most 7 and memory
// slices to at most 8, first fit. No placement rule can undo more fragmentation than this
// removes, so it shows how much placement could gain at all.
class NoGeometryPlacer : public Placer {
 public:
  bool Place(int id, int profile) override {
    const ProfileInfo& p = Profiles()[profile];
    for (int g = 0; g < kGpus; ++g) {
      if (compute_[g] + p.compute <= 7 && memory_[g] + p.size <= 8) {
        compute_[g] += p.compute;
        memory_[g] += p.size;
        held_[id] = {g, profile};
        return true;
      }
    }
    return false;
  }
  void Free(int id) override {
    auto [g, profile] = held_[id];
    compute_[g] -= Profiles()[profile].compute;
    memory_[g] -= Profiles()[profile].size;
    held_.erase(id);
  }

 private:
  int compute_[kGpus] = {};
  int memory_[kGpus] = {};
  std::map<int, std::pair<int, int>> held_;
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
  double offered = 0;            // GPU-slice-hours offered
  double accepted = 0;           // loss: accepted GPU-slice-hours; queue: run within the horizon
  double mean_wait_h = 0;        // per request
  double slice_mean_wait_h = 0;  // per compute slice asked: a 7g weighs 7 times a 1g
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

// Queue model: a request waits and is retried at every arrival and departure until partitions
// free up; what ran before the horizon counts. Waiting requests are retried oldest first (pack
// reorders only claims that arrive together, and here they arrive one at a time); once a request
// fails in an event, the later ones of its profile are not tried in that event (they would fail
// too).
SimResult Queue(Placer& placer, const std::vector<Request>& stream, double horizon_h) {
  SimResult r;
  using Event = std::pair<double, int>;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> departures;
  const int profiles = static_cast<int>(Profiles().size());
  std::vector<std::deque<int>> waiting(profiles);  // per profile, in arrival order
  double wait_sum = 0;
  double slice_wait_sum = 0;
  double slices = 0;
  int started = 0;
  size_t next = 0;
  auto try_waiting = [&](double now) {
    std::vector<bool> failed(profiles, false);
    while (true) {  // the oldest waiting request of a profile that has not failed yet
      int oldest = -1;
      for (int p = 0; p < profiles; ++p) {
        if (!failed[p] && !waiting[p].empty() &&
            (oldest < 0 || waiting[p].front() < waiting[oldest].front())) {
          oldest = p;
        }
      }
      if (oldest < 0) return;
      const int id = waiting[oldest].front();
      if (!placer.Place(id, oldest)) {
        failed[oldest] = true;
        continue;
      }
      const Request& q = stream[id];
      departures.push({now + q.duration, id});
      r.accepted += Profiles()[q.profile].compute * (std::min(now + q.duration, horizon_h) - now);
      wait_sum += now - q.arrival;
      slice_wait_sum += Profiles()[q.profile].compute * (now - q.arrival);
      slices += Profiles()[q.profile].compute;
      ++started;
      waiting[oldest].pop_front();
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
      waiting[stream[next].profile].push_back(static_cast<int>(next));
      ++next;
    }
    try_waiting(now);
  }
  // Requests still waiting at the horizon count with the wait they have had so far: leaving them
  // out would favour a rule that starts fewer of the long-waiting ones.
  int waited = started;
  for (const auto& queue : waiting) {
    for (int id : queue) {
      const Request& q = stream[static_cast<size_t>(id)];
      wait_sum += horizon_h - q.arrival;
      slice_wait_sum += Profiles()[q.profile].compute * (horizon_h - q.arrival);
      slices += Profiles()[q.profile].compute;
      ++waited;
    }
  }
  r.mean_wait_h = waited ? wait_sum / waited : 0;
  r.slice_mean_wait_h = slices > 0 ? slice_wait_sum / slices : 0;
  return r;
}

// Ratios of a value to a baseline over seeds: the ratio of the sums, and the smallest and largest
// per-seed ratio (the same streams are replayed under every placer, so per-seed ratios pair up).
struct Ratio {
  std::vector<double> value, base;
  void Add(double v, double b) {
    value.push_back(v);
    base.push_back(b);
  }
  std::string Format() const {
    double sv = 0, sb = 0, lo = 1e18, hi = -1e18;
    for (size_t i = 0; i < value.size(); ++i) {
      sv += value[i];
      sb += base[i];
      double q = base[i] > 0 ? value[i] / base[i] : 1;
      lo = std::min(lo, q);
      hi = std::max(hi, q);
    }
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.3f [%.3f-%.3f]", sb > 0 ? sv / sb : 1, lo, hi);
    return buf;
  }
};

enum PlacerKind {
  kPackPlacer,
  kRightSizePlacer,
  kKubernetesPlacer,
  kStatic1g,
  kStaticBalanced,
  kNoGeometry,
  kPlacerKinds
};

std::unique_ptr<Placer> MakePlacer(PlacerKind kind, const Cluster& cluster, RequestStyle style) {
  switch (kind) {
    case kPackPlacer:
      return std::make_unique<AllocatorPlacer>(cluster, Strategy::kPack, style);
    case kRightSizePlacer:
      return std::make_unique<AllocatorPlacer>(cluster, Strategy::kPack, style,
                                               PackPlacement::kRightSizeOnly);
    case kKubernetesPlacer:
      return std::make_unique<AllocatorPlacer>(cluster, Strategy::kKubernetes, style);
    case kStatic1g:
      return std::make_unique<StaticPlacer>(AllOneG());
    case kStaticBalanced:
      return std::make_unique<StaticPlacer>(Balanced());
    default:
      return std::make_unique<NoGeometryPlacer>();
  }
}

struct Model {
  const char* name;
  bool queue;
  double load;
};

void RunMixes(const Cluster& cluster, RequestStyle style, const std::vector<PlacerKind>& kinds,
              double horizon, int seeds) {
  const Model models[] = {{"loss", false, 1.2}, {"queue", true, 1.2}, {"queue", true, 0.9}};
  for (const auto& mix : Mixes()) {
    for (const Model& model : models) {
      double offered = 0;
      double accepted[kPlacerKinds] = {};
      double wait[kPlacerKinds] = {};
      Ratio work_vs_k8s[kPlacerKinds], wait_vs_k8s[kPlacerKinds], slice_wait_vs_k8s[kPlacerKinds];
      for (int seed = 1; seed <= seeds; ++seed) {
        auto stream = Stream(mix, model.load, horizon, static_cast<uint32_t>(seed));
        SimResult results[kPlacerKinds];
        for (PlacerKind kind : kinds) {
          auto placer = MakePlacer(kind, cluster, style);
          results[kind] = model.queue ? Queue(*placer, stream, horizon) : Loss(*placer, stream);
          accepted[kind] += results[kind].accepted;
          wait[kind] += results[kind].mean_wait_h / seeds;
        }
        offered += results[kinds[0]].offered;
        for (PlacerKind kind : kinds) {
          work_vs_k8s[kind].Add(results[kind].accepted, results[kKubernetesPlacer].accepted);
          wait_vs_k8s[kind].Add(results[kind].mean_wait_h, results[kKubernetesPlacer].mean_wait_h);
          slice_wait_vs_k8s[kind].Add(results[kind].slice_mean_wait_h,
                                      results[kKubernetesPlacer].slice_mean_wait_h);
        }
      }
      std::printf("%-12s %-5s %4.0f%% %8.0f", mix.name.c_str(), model.name, model.load * 100,
                  offered / seeds);
      for (PlacerKind kind : kinds) std::printf(" %8.0f", accepted[kind] / seeds);
      std::printf("  %s", work_vs_k8s[kPackPlacer].Format().c_str());
      if (style == RequestStyle::kExactProfile) {
        std::printf("  %s", work_vs_k8s[kRightSizePlacer].Format().c_str());
        std::printf("  %s", work_vs_k8s[kNoGeometry].Format().c_str());
      }
      if (model.queue) {
        std::printf("  wait h %.2f/%.2f  %s  per slice %s", wait[kPackPlacer],
                    wait[kKubernetesPlacer], wait_vs_k8s[kPackPlacer].Format().c_str(),
                    slice_wait_vs_k8s[kPackPlacer].Format().c_str());
      }
      std::printf("\n");
    }
  }
}

void RunPacking(bool quick, int seeds) {
  if (seeds <= 0) seeds = quick ? 2 : 10;
  const double horizon = quick ? 100 : 400;
  std::printf(
      "\n== 3. Packing: 16 H100-80GB (2 nodes x 8), MIG claims arriving and leaving, exponential "
      "durations (mean %.0f h), %d seeds x %.0f h ==\n",
      kMeanDurationH, seeds, horizon);
  std::printf("mixes (weights of 1g.10gb/1g.20gb/2g.20gb/3g.40gb/4g.40gb/7g.80gb):");
  for (const auto& m : Mixes()) {
    std::printf(" %s=", m.name.c_str());
    for (size_t i = 0; i < m.weights.size(); ++i) {
      std::printf("%s%.2f", i ? "/" : "", m.weights[i]);
    }
  }
  std::printf(
      "\nloss: a request that does not fit is dropped; queue: it waits and is retried "
      "(at 120%% load the queue grows without bound, at 90%% it is steady)\n"
      "columns: GPU-slice-hours (compute slices x hours) per seed, offered and accepted "
      "(queue: run before the horizon);\n"
      "  pack = the default (right-size, least-blocking placement, best node); pack-rs = "
      "right-sizing only;\n"
      "  k8s = kubernetes first fit; static1g = 16x[7x1g]; static-b = 4x[7g] 4x[4g+3g] "
      "2x[2g+1g.20gb+3g] 3x[3x2g+1g] 3x[7x1g];\n"
      "  no-geom = MIG without geometry (a GPU takes any mix of <= 7 compute and <= 8 memory "
      "slices): about the most placement could gain;\n"
      "  ratios to k8s: of the sums, [smallest-largest over seeds]; wait: mean hours from "
      "arrival to start (to the horizon for those still waiting), pack/k8s, per request and "
      "per compute slice asked\n");
  Cluster cluster = MakeCluster(2, 8);
  std::printf("\nrequests name the exact profile (placement only)\n");
  std::printf("%-12s %-5s %5s %8s %8s %8s %8s %8s %8s %8s  %-21s  %-21s  %-21s  %s\n", "mix",
              "model", "load", "offered", "pack", "pack-rs", "k8s", "static1g", "static-b",
              "no-geom", "pack/k8s", "pack-rs/k8s", "no-geom/k8s", "queue wait");
  RunMixes(
      cluster, RequestStyle::kExactProfile,
      {kPackPlacer, kRightSizePlacer, kKubernetesPlacer, kStatic1g, kStaticBalanced, kNoGeometry},
      horizon, seeds);
  std::printf(
      "\nrequests ask for a minimum memory/SM size through the walkthrough's class "
      "(right-sizing + placement)\n");
  std::printf("%-12s %-5s %5s %8s %8s %8s  %-21s  %s\n", "mix", "model", "load", "offered", "pack",
              "k8s", "pack/k8s", "queue wait");
  RunMixes(cluster, RequestStyle::kMinimumSize, {kPackPlacer, kKubernetesPlacer}, horizon, seeds);
  std::printf("(target: pack >= 1.10 x kubernetes)\n");
}

// ---- 3b. publication order ----------------------------------------------------------------

// The cluster with every slice's devices in name order, as NVIDIA's driver publishes them.
Cluster InNvidiaOrder(Cluster cluster) {
  for (auto& slice : cluster.slices) {
    std::sort(slice.spec.devices.begin(), slice.spec.devices.end(),
              [](const api::Device& a, const api::Device& b) { return a.name < b.name; });
  }
  return cluster;
}

// kube-scheduler's first fit over migdra's published order (driver::BuildSlices) against first fit
// over NVIDIA's name order, with pack (over migdra's order) as the reference: accepted work, waits,
// and the share of pack's gain over first-fit-in-NVIDIA-order that the order alone recovers.
void RunPublicationOrder(bool quick, int seeds) {
  if (seeds <= 0) seeds = quick ? 2 : 10;
  const double horizon = quick ? 100 : 400;
  const Cluster ours = MakeCluster(2, 8);
  const Cluster nvidia = InNvidiaOrder(ours);
  std::printf(
      "\n== 3b. Publication order: kubernetes first fit over migdra's device order (k8s-mo) vs "
      "NVIDIA's name order (k8s-nv); pack for reference; 16 H100-80GB, %d seeds x %.0f h ==\n"
      "columns: GPU-slice-hours accepted (queue: run before the horizon) per seed; mo/nv = "
      "k8s-mo/k8s-nv of the sums [smallest-largest over seeds]; recovered = (k8s-mo - k8s-nv) / "
      "(pack - k8s-nv); waits: mean hours per request, mo/nv ratio (lower is better)\n",
      seeds, horizon);
  const Model models[] = {{"loss", false, 1.2}, {"queue", true, 1.2}, {"queue", true, 0.9}};
  for (RequestStyle style : {RequestStyle::kExactProfile, RequestStyle::kMinimumSize}) {
    std::printf("\n%s\n", style == RequestStyle::kExactProfile
                              ? "requests name the exact profile"
                              : "requests ask for a minimum size through the walkthrough's class");
    std::printf("%-12s %-5s %5s %8s %8s %8s  %-21s %9s  %s\n", "mix", "model", "load", "pack",
                "k8s-mo", "k8s-nv", "mo/nv", "recovered", "queue wait pack/mo/nv, mo/nv");
    for (const auto& mix : Mixes()) {
      for (const Model& model : models) {
        double pack = 0, mo = 0, nv = 0, wait_pack = 0, wait_mo = 0, wait_nv = 0;
        Ratio work, wait;
        for (int seed = 1; seed <= seeds; ++seed) {
          auto stream = Stream(mix, model.load, horizon, static_cast<uint32_t>(seed));
          auto simulate = [&](const Cluster& cluster, Strategy strategy) {
            AllocatorPlacer placer(cluster, strategy, style);
            return model.queue ? Queue(placer, stream, horizon) : Loss(placer, stream);
          };
          SimResult p = simulate(ours, Strategy::kPack);
          SimResult m = simulate(ours, Strategy::kKubernetes);
          SimResult n = simulate(nvidia, Strategy::kKubernetes);
          pack += p.accepted / seeds;
          mo += m.accepted / seeds;
          nv += n.accepted / seeds;
          wait_pack += p.mean_wait_h / seeds;
          wait_mo += m.mean_wait_h / seeds;
          wait_nv += n.mean_wait_h / seeds;
          work.Add(m.accepted, n.accepted);
          wait.Add(m.mean_wait_h, n.mean_wait_h);
        }
        char recovered[32] = "-";
        if (pack - nv > 1e-9)
          std::snprintf(recovered, sizeof recovered, "%.0f%%", 100 * (mo - nv) / (pack - nv));
        std::printf("%-12s %-5s %4.0f%% %8.0f %8.0f %8.0f  %-21s %9s", mix.name.c_str(), model.name,
                    model.load * 100, pack, mo, nv, work.Format().c_str(), recovered);
        if (model.queue) {
          std::printf("  %.2f/%.2f/%.2f h, %s", wait_pack, wait_mo, wait_nv, wait.Format().c_str());
        }
        std::printf("\n");
      }
    }
  }
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

// The most GPU-slices any placement rule can reach when `requests` arrive one by one in order on
// `gpus` H100s and each is taken if it fits somewhere (no look-ahead, no refusing): every
// placement choice is tried, with memoisation on the GPUs' state.
double BestInArrivalOrder(const std::vector<int>& requests, int gpus) {
  struct Gpu {
    int mask = 0;  // memory slices taken
    int multiprocessors = 0;
    auto operator<=>(const Gpu&) const = default;
  };
  std::map<std::pair<size_t, std::vector<Gpu>>, double> memo;
  std::function<double(size_t, std::vector<Gpu>&)> best = [&](size_t i,
                                                              std::vector<Gpu>& state) -> double {
    if (i == requests.size()) return 0;
    auto key = std::make_pair(i, state);
    auto hit = memo.find(key);
    if (hit != memo.end()) return hit->second;
    const ProfileInfo& p = Profiles()[requests[i]];
    double value = -1;
    for (int g = 0; g < gpus; ++g) {
      for (int start : p.starts) {
        int mask = ((1 << p.size) - 1) << start;
        if ((state[g].mask & mask) != 0 || state[g].multiprocessors + p.multiprocessors > 132) {
          continue;
        }
        Gpu before = state[g];
        state[g].mask |= mask;
        state[g].multiprocessors += p.multiprocessors;
        value = std::max(value, p.compute + best(i + 1, state));
        state[g] = before;
      }
    }
    if (value < 0) value = best(i + 1, state);
    memo[key] = value;
    return value;
  };
  std::vector<Gpu> state(static_cast<size_t>(gpus));
  return best(0, state);
}

void RunOptimum(bool quick) {
  std::printf(
      "\n== Pack against the exact optimum (integer program, CBC) on small static "
      "instances: 2 H100-80GB, a batch of 6-12 random MIG requests (mixed weights, exact "
      "profiles) ==\n");
  Cluster cluster = MakeCluster(1, 2);
  const int instances = quick ? 10 : 100;
  double optimum = 0, arrival_bound = 0;
  // pack as a batch (BatchOrder: largest first), pack and kubernetes in arrival order
  double got[3] = {0, 0, 0}, worst[3] = {1e9, 1e9, 1e9};
  int solved = 0;
  std::mt19937_64 rng(42);
  const Mix& mix = Mixes()[1];
  std::discrete_distribution<int> pick(mix.weights.begin(), mix.weights.end());
  for (int i = 0; i < instances; ++i) {
    std::vector<int> requests;
    std::uniform_int_distribution<int> n(6, 12);
    for (int k = n(rng); k > 0; --k) requests.push_back(pick(rng));
    double opt = Optimum(requests, 2);
    if (opt <= 0) continue;
    ++solved;
    optimum += opt;
    arrival_bound += BestInArrivalOrder(requests, 2);
    for (int s = 0; s < 3; ++s) {
      AllocatorPlacer placer(cluster, s == 2 ? Strategy::kKubernetes : Strategy::kPack);
      std::vector<int> order(requests.size());
      for (size_t r = 0; r < order.size(); ++r) order[r] = static_cast<int>(r);
      if (s == 0) order = placer.BatchOrderOf(requests);
      double placed = 0;
      for (int r : order) {
        if (placer.Place(r, requests[static_cast<size_t>(r)])) {
          placed += Profiles()[requests[static_cast<size_t>(r)]].compute;
        }
      }
      got[s] += placed;
      worst[s] = std::min(worst[s], placed / opt);
    }
  }
  if (solved == 0) {
    std::printf("cbc did not solve any instance (is coinor-cbc installed?)\n");
    return;
  }
  std::printf("%d instances solved; GPU-slices placed, %% of the optimum (worst instance):\n",
              solved);
  std::printf("  optimum (CBC)                                  %5.0f\n", optimum);
  const char* names[3] = {"pack, the batch as a whole (largest first)  ",
                          "pack, one by one in arrival order          ",
                          "kubernetes, one by one in arrival order    "};
  for (int s = 0; s < 3; ++s) {
    std::printf("  %s   %5.0f  %5.1f%%  (worst %.1f%%)\n", names[s], got[s], 100 * got[s] / optimum,
                100 * worst[s] * 1.0);
  }
  std::printf(
      "  best any placement rule reaches in arrival order %5.0f  %5.1f%%  (every placement "
      "tried)\n",
      arrival_bound, 100 * arrival_bound / optimum);
  std::printf("(target: pack >= 97%% of the optimum)\n");
}

}  // namespace
}  // namespace migdra::alloc

int main(int argc, char** argv) {
  bool quick = false;
  int seeds = 0;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
      seeds = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else {
      const bool help = std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0;
      std::fprintf(help ? stdout : stderr,
                   "usage: alloc_bench [--quick] [--seeds N] [--only "
                   "throughput|hopeless|rightsizing|packing|order|optimum]\n"
                   "  --quick  reduced sizes (a smoke run)\n"
                   "  --seeds  streams per mix in the packing tables (default 10; 2 with --quick)\n"
                   "  --only   run one section\n");
      return help ? 0 : 2;
    }
  }
  std::printf("migdra allocator benchmarks%s (one core, this process; times are thread CPU time)\n",
              quick ? " (--quick: reduced sizes)" : "");
  auto run = [&](const char* section) { return only.empty() || only == section; };
  if (run("throughput")) migdra::alloc::RunThroughput(quick);
  if (run("hopeless")) migdra::alloc::RunHopeless();
  if (run("rightsizing")) migdra::alloc::RunRightSizing();
  if (run("packing")) migdra::alloc::RunPacking(quick, seeds);
  if (run("order")) migdra::alloc::RunPublicationOrder(quick, seeds);
  if (run("optimum")) migdra::alloc::RunOptimum(quick);
  return 0;
}
