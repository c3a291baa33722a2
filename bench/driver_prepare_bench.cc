// Prepare/unprepare latency of the driver's state machine on nvmlsim beside the NVML work it wraps
// (create GI + CI, destroy CI + GI on the same simulated GPUs, in the same run), as ratios, and
// the checkpoint's durable writes (flushes) per prepare.
//
// Sequential: one claim at a time on one GPU, p50/p99 of each call.
// Concurrent: one thread per GPU, each preparing a claim per 1g placement of its GPU (7), then
// unpreparing them; the baseline runs the same NVML calls from the same threads. Reported as
// prepares per second against NVML work per second, and durable writes per prepare (flushes of
// concurrent prepares are shared).
//
// Run: build/bench/driver_prepare_bench [iterations] [gpus]   (nvmlsim from the build tree)
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "driver/device_state.h"
#include "driver/nvml_mig_backend.h"
#include "gpu/nvml.h"

namespace {

using Clock = std::chrono::steady_clock;
using migdra::driver::ClaimInfo;
using migdra::driver::DeviceState;
using migdra::driver::NvmlMigBackend;

constexpr int kProfile = 19;    // 1g.10gb on A100-80GB
constexpr int kPlacements = 7;  // its placements 0..6

class StaticClaims : public migdra::driver::ClaimSource {
 public:
  migdra::Result<ClaimInfo> Get(const std::string& ns, const std::string& name) override {
    std::lock_guard<std::mutex> lock(mu);
    auto it = claims.find(name);
    if (it == claims.end()) return migdra::MakeError("no claim " + name);
    return it->second;
  }
  migdra::Result<std::vector<ClaimInfo>> List() override { return std::vector<ClaimInfo>{}; }
  ClaimInfo Add(const std::string& name, int minor, int start) {
    ClaimInfo c;
    c.ref = {"default", name, "uid-" + name};
    c.allocated = true;
    c.results.push_back({"r", "gpu.nvidia.com", "bench-node",
                         "gpu-" + std::to_string(minor) + "-mig-1g10gb-19-" + std::to_string(start),
                         false});
    std::lock_guard<std::mutex> lock(mu);
    return claims[name] = c;
  }
  std::mutex mu;
  std::map<std::string, ClaimInfo> claims;
};

struct Stats {
  double p50_us, p99_us;
};

Stats Percentiles(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 99 / 100)]};
}

double Micros(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

bool Check(bool ok, const std::string& what) {
  if (!ok) std::fprintf(stderr, "failed: %s\n", what.c_str());
  return ok;
}

// Bare NVML work of one claim: create GI + CI (returns the time taken), then destroy them.
bool NvmlCreate(NvmlMigBackend& backend, int minor, int start, int* gi, int* ci) {
  std::string uuid;
  return backend.CreateGpuInstance(minor, kProfile, start, gi).ok() &&
         backend.CreateComputeInstance(minor, *gi, ci, &uuid).ok();
}
bool NvmlDestroy(NvmlMigBackend& backend, int minor, int gi, int ci) {
  return backend.DestroyComputeInstance(minor, gi, ci).ok() &&
         backend.DestroyGpuInstance(minor, gi).ok();
}

// Runs `body(thread)` on `threads` threads at once; returns the seconds until all finished.
double OnThreads(int threads, const std::function<void(int)>& body) {
  auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(body, t);
  for (auto& th : pool) th.join();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 200;
  const int gpu_count = argc > 2 ? std::atoi(argv[2]) : 4;
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("migdra-bench-" + std::to_string(getpid()));
  fs::create_directories(root);
  setenv("MIGDRA_NVMLSIM_MODELS", ("a100-80gb:" + std::to_string(gpu_count)).c_str(), 1);
  setenv("MIGDRA_NVMLSIM_STATE", (root / "nvmlsim.json").c_str(), 1);
  std::string lib = std::string(MIGDRA_BINARY_DIR) + "/src/nvmlsim/libnvidia-ml.so.1";
  auto nvml = migdra::gpu::Nvml::Open({lib, ""});
  if (!nvml.ok()) {
    std::fprintf(stderr, "cannot open nvmlsim: %s\n", nvml.error().message.c_str());
    return 1;
  }
  NvmlMigBackend backend(nvml->get());
  auto gpus = backend.ListGpus();
  if (!gpus.ok() || static_cast<int>(gpus->size()) < gpu_count) return 1;
  std::vector<int> minors;
  for (const auto& g : *gpus) minors.push_back(g.minor);

  StaticClaims claims;
  migdra::driver::DeviceStateOptions options;
  options.pool_name = "bench-node";
  options.state_dir = (root / "state").string();
  options.cdi_root = (root / "cdi").string();
  auto created = DeviceState::Create(options, &backend, &claims);
  if (!created.ok()) {
    std::fprintf(stderr, "%s\n", created.error().message.c_str());
    return 1;
  }
  DeviceState& state = **created;

  // Sequential, one GPU. Baseline and prepare alternate so that both see the same machine.
  std::vector<double> base_create, base_destroy, prepare, unprepare;
  uint64_t prepare_writes = 0, unprepare_writes = 0;
  for (int i = 0; i < iterations; ++i) {
    int gi = 0, ci = 0;
    auto t0 = Clock::now();
    bool made = NvmlCreate(backend, minors[0], 0, &gi, &ci);
    auto t1 = Clock::now();
    bool gone = made && NvmlDestroy(backend, minors[0], gi, ci);
    auto t2 = Clock::now();
    if (!Check(made && gone, "bare NVML create/destroy")) return 1;
    base_create.push_back(Micros(t0, t1));
    base_destroy.push_back(Micros(t1, t2));

    ClaimInfo c = claims.Add("s" + std::to_string(i), minors[0], 0);
    const uint64_t w0 = state.DurableWrites();
    auto t3 = Clock::now();
    auto r = state.Prepare(c.ref);
    auto t4 = Clock::now();
    const uint64_t w1 = state.DurableWrites();
    auto u = state.Unprepare(c.ref);
    auto t5 = Clock::now();
    if (!Check(r.ok(), r.ok() ? "" : r.error().message) ||
        !Check(u.ok(), u.ok() ? "" : u.error().message)) {
      return 1;
    }
    prepare_writes += w1 - w0;
    unprepare_writes += state.DurableWrites() - w1;
    prepare.push_back(Micros(t3, t4));
    unprepare.push_back(Micros(t4, t5));
  }

  // Concurrent: one thread per GPU, kPlacements claims each, rounds until `iterations` prepares.
  const int rounds = std::max(1, iterations / (gpu_count * kPlacements));
  double base_seconds = 0, prepare_seconds = 0;
  uint64_t concurrent_writes = 0;
  std::atomic<int> failures{0};
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::vector<std::pair<int, int>>> made(static_cast<size_t>(gpu_count));
    base_seconds += OnThreads(gpu_count, [&](int t) {
      for (int p = 0; p < kPlacements; ++p) {
        int gi = 0, ci = 0;
        if (!NvmlCreate(backend, minors[t], p, &gi, &ci)) ++failures;
        made[t].push_back({gi, ci});
      }
    });
    OnThreads(gpu_count, [&](int t) {
      for (auto [gi, ci] : made[t]) {
        if (!NvmlDestroy(backend, minors[t], gi, ci)) ++failures;
      }
    });
    std::vector<std::vector<ClaimInfo>> mine(static_cast<size_t>(gpu_count));
    for (int t = 0; t < gpu_count; ++t) {
      for (int p = 0; p < kPlacements; ++p) {
        mine[t].push_back(claims.Add(
            "r" + std::to_string(round) + "-" + std::to_string(t) + "-" + std::to_string(p),
            minors[t], p));
      }
    }
    const uint64_t w0 = state.DurableWrites();
    prepare_seconds += OnThreads(gpu_count, [&](int t) {
      for (const auto& c : mine[t]) {
        if (!state.Prepare(c.ref).ok()) ++failures;
      }
    });
    concurrent_writes += state.DurableWrites() - w0;
    OnThreads(gpu_count, [&](int t) {
      for (const auto& c : mine[t]) {
        if (!state.Unprepare(c.ref).ok()) ++failures;
      }
    });
  }
  if (!Check(failures == 0, std::to_string(failures.load()) + " concurrent operations")) return 1;
  const double concurrent_prepares = rounds * gpu_count * kPlacements;

  Stats bc = Percentiles(base_create), bd = Percentiles(base_destroy);
  Stats p = Percentiles(prepare), u = Percentiles(unprepare);
  std::printf("driver prepare/unprepare on nvmlsim (a100-80gb, 1g.10gb)\n");
  std::printf("sequential, one GPU, %d claims:\n", iterations);
  std::printf("  %-32s %10s %10s\n", "", "p50 (us)", "p99 (us)");
  std::printf("  %-32s %10.0f %10.0f\n", "baseline NVML create GI+CI", bc.p50_us, bc.p99_us);
  std::printf("  %-32s %10.0f %10.0f\n", "Prepare (claim -> CDI)", p.p50_us, p.p99_us);
  std::printf("  %-32s %10.0f %10.0f\n", "baseline NVML destroy CI+GI", bd.p50_us, bd.p99_us);
  std::printf("  %-32s %10.0f %10.0f\n", "Unprepare", u.p50_us, u.p99_us);
  std::printf("  ratio prepare/baseline p50 %.2f, p99 %.2f; unprepare/baseline p50 %.2f\n",
              p.p50_us / bc.p50_us, p.p99_us / bc.p99_us, u.p50_us / bd.p50_us);
  std::printf("  durable writes per prepare %.2f, per unprepare %.2f\n",
              static_cast<double>(prepare_writes) / iterations,
              static_cast<double>(unprepare_writes) / iterations);
  std::printf("concurrent, %d GPUs x %d claims, one thread per GPU, %d rounds:\n", gpu_count,
              kPlacements, rounds);
  std::printf("  baseline NVML create GI+CI %.0f/s, Prepare %.0f/s: ratio baseline/prepare %.2f\n",
              concurrent_prepares / base_seconds, concurrent_prepares / prepare_seconds,
              prepare_seconds / base_seconds);
  std::printf("  durable writes per prepare %.2f\n",
              static_cast<double>(concurrent_writes) / concurrent_prepares);
  fs::remove_all(root);
  return 0;
}
