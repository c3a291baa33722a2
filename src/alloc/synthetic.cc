#include "alloc/synthetic.h"

#include <algorithm>
#include <cstdio>

namespace migdra::alloc::synthetic {
namespace {

api::Quantity Q(int64_t v) { return api::Quantity::FromInt(v); }

api::DeviceAttribute Str(std::string v) {
  api::DeviceAttribute a;
  a.string_value = std::move(v);
  return a;
}

}  // namespace

const std::vector<Profile>& H100Profiles() {
  static const std::vector<Profile> profiles = {
      {"1g.10gb", 19, 1, 16, 10, {0, 1, 2, 3, 4, 5, 6}},
      {"1g.20gb", 15, 2, 26, 20, {0, 2, 4, 6}},
      {"2g.20gb", 14, 2, 32, 20, {0, 2, 4}},
      {"3g.40gb", 9, 4, 60, 40, {0, 4}},
      {"4g.40gb", 5, 4, 64, 40, {0}},
      {"7g.80gb", 0, 8, 132, 80, {0}},
  };
  return profiles;
}

std::string MigName(int minor, const Profile& profile, int start) {
  std::string p;
  for (const char* c = profile.name; *c; ++c) {
    if (*c != '.') p += *c;
  }
  return "gpu-" + std::to_string(minor) + "-mig-" + p + "-" + std::to_string(profile.profile_id) +
         "-" + std::to_string(start);
}

std::vector<api::ResourceSlice> H100Node(const std::string& node, int gpus) {
  std::vector<api::ResourceSlice> slices;
  auto base = [&](int index) {
    api::ResourceSlice s;
    char suffix[16];
    std::snprintf(suffix, sizeof(suffix), "%03d", index);
    s.metadata.name = node + "-" + kDriver + "-" + suffix;
    s.spec.driver = kDriver;
    s.spec.pool.name = node;
    s.spec.pool.generation = 1;
    s.spec.pool.resource_slice_count = gpus + 1;
    s.spec.node_name = node;
    return s;
  };
  api::ResourceSlice counters = base(0);
  for (int g = 0; g < gpus; ++g) {
    api::CounterSet set;
    set.name = "gpu-" + std::to_string(g) + "-counter-set";
    set.counters["multiprocessors"].value = Q(132);
    for (int i = 0; i < 8; ++i) set.counters["memory-slice-" + std::to_string(i)].value = Q(1);
    counters.spec.shared_counters.push_back(std::move(set));
  }
  slices.push_back(std::move(counters));
  for (int g = 0; g < gpus; ++g) {
    api::ResourceSlice s = base(g + 1);
    std::string uuid = "GPU-" + node + "-" + std::to_string(g);
    std::string set = "gpu-" + std::to_string(g) + "-counter-set";
    api::Device full;
    full.name = "gpu-" + std::to_string(g);
    full.attributes["type"] = Str("gpu");
    full.attributes["uuid"] = Str(uuid);
    full.attributes["productName"] = Str("NVIDIA H100 80GB HBM3");
    full.capacity["memory"].value = Q(int64_t{80} << 30);
    api::DeviceCounterConsumption all;
    all.counter_set = set;
    all.counters["multiprocessors"].value = Q(132);
    for (int i = 0; i < 8; ++i) all.counters["memory-slice-" + std::to_string(i)].value = Q(1);
    full.consumes_counters.push_back(std::move(all));
    s.spec.devices.push_back(std::move(full));
    for (const Profile& p : H100Profiles()) {
      for (int start : p.starts) {
        api::Device d;
        d.name = MigName(g, p, start);
        d.attributes["type"] = Str("mig");
        d.attributes["parentUUID"] = Str(uuid);
        d.attributes["profile"] = Str(p.name);
        d.attributes["productName"] = Str("NVIDIA H100 80GB HBM3");
        d.capacity["memory"].value = Q(int64_t{p.memory_gib} << 30);
        d.capacity["multiprocessors"].value = Q(p.multiprocessors);
        api::DeviceCounterConsumption use;
        use.counter_set = set;
        use.counters["multiprocessors"].value = Q(p.multiprocessors);
        for (int i = start; i < start + p.size; ++i) {
          use.counters["memory-slice-" + std::to_string(i)].value = Q(1);
        }
        d.consumes_counters.push_back(std::move(use));
        s.spec.devices.push_back(std::move(d));
      }
    }
    std::sort(s.spec.devices.begin(), s.spec.devices.end(),
              [](const api::Device& a, const api::Device& b) { return a.name < b.name; });
    slices.push_back(std::move(s));
  }
  return slices;
}

}  // namespace migdra::alloc::synthetic
