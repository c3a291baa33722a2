// Prepare/unprepare latency of the driver's state machine on nvmlsim (p50, p99), beside the
// baseline of the bare NVML lifecycle calls it makes (create GI + CI, destroy CI + GI) on the
// same simulated GPU in the same process. The difference is the cost of crash safety: two
// checkpoint writes with fsync per operation, the CDI spec, and the checks.
//
// Run: build/bench/driver_prepare_bench [iterations]   (nvmlsim from the build tree)
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "driver/device_state.h"
#include "driver/nvml_mig_backend.h"
#include "gpu/nvml.h"

namespace {

using Clock = std::chrono::steady_clock;
using migdra::driver::ClaimInfo;

class StaticClaims : public migdra::driver::ClaimSource {
 public:
  migdra::Result<ClaimInfo> Get(const std::string& ns, const std::string& name) override {
    auto it = claims.find(name);
    if (it == claims.end()) return migdra::MakeError("no claim " + name);
    return it->second;
  }
  migdra::Result<std::vector<ClaimInfo>> List() override { return std::vector<ClaimInfo>{}; }
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

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 200;
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("migdra-bench-" + std::to_string(getpid()));
  fs::create_directories(root);
  setenv("MIGDRA_NVMLSIM_MODELS", "a100-80gb:1", 1);
  setenv("MIGDRA_NVMLSIM_STATE", (root / "nvmlsim.json").c_str(), 1);
  std::string lib = std::string(MIGDRA_BINARY_DIR) + "/src/nvmlsim/libnvidia-ml.so.1";
  auto nvml = migdra::gpu::Nvml::Open({lib, ""});
  if (!nvml.ok()) {
    std::fprintf(stderr, "cannot open nvmlsim: %s\n", nvml.error().message.c_str());
    return 1;
  }
  migdra::driver::NvmlMigBackend backend(nvml->get());
  auto gpus = backend.ListGpus();
  if (!gpus.ok() || gpus->empty()) return 1;
  const int minor = (*gpus)[0].minor;
  const int profile = 19;  // 1g.10gb on A100-80GB
  const int start = 0;

  // Baseline: the bare NVML calls.
  std::vector<double> base_create, base_destroy;
  for (int i = 0; i < iterations; ++i) {
    int gi = 0, ci = 0;
    std::string uuid;
    auto t0 = Clock::now();
    backend.CreateGpuInstance(minor, profile, start, &gi);
    backend.CreateComputeInstance(minor, gi, &ci, &uuid);
    auto t1 = Clock::now();
    backend.DestroyComputeInstance(minor, gi, ci);
    backend.DestroyGpuInstance(minor, gi);
    auto t2 = Clock::now();
    base_create.push_back(Micros(t0, t1));
    base_destroy.push_back(Micros(t1, t2));
  }

  StaticClaims claims;
  migdra::driver::DeviceStateOptions options;
  options.pool_name = "bench-node";
  options.state_dir = (root / "state").string();
  options.cdi_root = (root / "cdi").string();
  auto state = migdra::driver::DeviceState::Create(options, &backend, &claims);
  if (!state.ok()) {
    std::fprintf(stderr, "%s\n", state.error().message.c_str());
    return 1;
  }
  const std::string device = "gpu-" + std::to_string(minor) + "-mig-1g10gb-19-0";
  std::vector<double> prepare, unprepare;
  for (int i = 0; i < iterations; ++i) {
    ClaimInfo c;
    c.ref = {"default", "c" + std::to_string(i), "uid-" + std::to_string(i)};
    c.allocated = true;
    c.results.push_back({"r", "gpu.nvidia.com", "bench-node", device, false});
    claims.claims[c.ref.name] = c;
    auto t0 = Clock::now();
    auto r = (*state)->Prepare(c.ref);
    auto t1 = Clock::now();
    auto u = (*state)->Unprepare(c.ref);
    auto t2 = Clock::now();
    if (!r.ok() || !u.ok()) {
      std::fprintf(stderr, "failed: %s\n",
                   r.ok() ? u.error().message.c_str() : r.error().message.c_str());
      return 1;
    }
    prepare.push_back(Micros(t0, t1));
    unprepare.push_back(Micros(t1, t2));
  }
  Stats bc = Percentiles(base_create), bd = Percentiles(base_destroy);
  Stats p = Percentiles(prepare), u = Percentiles(unprepare);
  std::printf("driver prepare/unprepare on nvmlsim (a100-80gb, 1g.10gb), %d iterations\n",
              iterations);
  std::printf("%-34s %10s %10s\n", "", "p50 (us)", "p99 (us)");
  std::printf("%-34s %10.0f %10.0f\n", "baseline NVML create GI+CI", bc.p50_us, bc.p99_us);
  std::printf("%-34s %10.0f %10.0f\n", "Prepare (claim -> CDI)", p.p50_us, p.p99_us);
  std::printf("%-34s %10.0f %10.0f\n", "baseline NVML destroy CI+GI", bd.p50_us, bd.p99_us);
  std::printf("%-34s %10.0f %10.0f\n", "Unprepare", u.p50_us, u.p99_us);
  std::printf("ratio prepare/baseline p50: %.2f, unprepare/baseline p50: %.2f\n",
              p.p50_us / bc.p50_us, u.p50_us / bd.p50_us);
  fs::remove_all(root);
  return 0;
}
