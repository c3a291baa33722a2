// "The published counters allow this set of MIG devices" == "nvmlsim can create this set", for
// every catalog model.
//
// 1. Exhaustively: for every set L nvmlsim's hardware rule accepts and every further device d,
//    the counters accept L+d exactly when the hardware rule does. (A set on which the two
//    disagree has a smallest such subset, which is of this form, so nothing is missed.)
// 2. Through nvmlsim itself (rapidcheck): random create/destroy sequences, where each create's
//    outcome in nvmlsim must equal the counters' verdict.
// Any model where they disagree is printed with an example.
#include <dlfcn.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <set>

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include "driver/slice_builder.h"
#include "gpu/geometry.h"
#include "gpu/inventory.h"
#include "gpu/nvml.h"

namespace migdra {
namespace {

struct PublishedDevice {
  std::string name;
  gpu::Instance instance;
  std::map<std::string, int64_t> consumes;
};

struct Published {
  std::map<std::string, int64_t> capacity;
  std::vector<PublishedDevice> mig_devices;
};

Published Publish(const gpu::GpuModel& model) {
  Published out;
  auto inventory = gpu::SimulatedInventory(model.key, 1, "node");
  EXPECT_TRUE(inventory.ok());
  auto slices = driver::BuildSlices(*inventory, {});
  EXPECT_TRUE(slices.ok());
  for (const api::ResourceSlice& s : *slices) {
    for (const api::CounterSet& set : s.spec.shared_counters) {
      for (const auto& [name, counter] : set.counters) out.capacity[name] = counter.value.Value();
    }
    for (const api::Device& d : s.spec.devices) {
      auto ref = driver::ParseMigDeviceName(d.name);
      if (!ref) continue;
      PublishedDevice pd{d.name, {ref->profile_id, ref->placement_start}, {}};
      for (const auto& c : d.consumes_counters) {
        for (const auto& [name, counter] : c.counters) pd.consumes[name] += counter.value.Value();
      }
      out.mig_devices.push_back(std::move(pd));
    }
  }
  return out;
}

bool CountersAllow(const Published& pub, const std::vector<const PublishedDevice*>& set) {
  std::map<std::string, int64_t> used;
  for (const PublishedDevice* d : set) {
    for (const auto& [name, v] : d->consumes) used[name] += v;
  }
  for (const auto& [name, v] : used) {
    auto it = pub.capacity.find(name);
    if (it == pub.capacity.end() || v > it->second) return false;
  }
  return true;
}

std::string Describe(const std::vector<const PublishedDevice*>& set) {
  std::string out;
  for (const PublishedDevice* d : set) out += (out.empty() ? "" : " + ") + d->name;
  return out.empty() ? "(empty)" : out;
}

struct Disagreement {
  size_t count = 0;
  std::string example;
};

void Explore(const gpu::Geometry& geometry, const Published& pub, size_t next,
             std::vector<const PublishedDevice*>& current, std::vector<gpu::Instance>& layout,
             size_t& checked, Disagreement& found) {
  for (const PublishedDevice& d : pub.mig_devices) {
    if (std::find(layout.begin(), layout.end(), d.instance) != layout.end()) continue;
    const bool hardware = gpu::CheckAddInstance(geometry, layout, d.instance).ok();
    current.push_back(&d);
    const bool counters = CountersAllow(pub, current);
    current.pop_back();
    ++checked;
    if (hardware != counters) {
      if (found.count++ == 0) {
        found.example = Describe(current) + " + " + d.name + ": hardware " +
                        (hardware ? "allows" : "forbids") + ", counters " +
                        (counters ? "allow" : "forbid");
      }
    }
  }
  for (size_t i = next; i < pub.mig_devices.size(); ++i) {
    const PublishedDevice& d = pub.mig_devices[i];
    if (!gpu::CheckAddInstance(geometry, layout, d.instance).ok()) continue;
    current.push_back(&d);
    layout.push_back(d.instance);
    Explore(geometry, pub, i + 1, current, layout, checked, found);
    layout.pop_back();
    current.pop_back();
  }
}

TEST(CountersVsNvmlsimTest, ExhaustivelyAgreeOnEveryCatalogModel) {
  std::vector<std::string> disagreeing;
  for (const gpu::GpuModel& model : gpu::Catalog()) {
    Published pub = Publish(model);
    ASSERT_FALSE(pub.mig_devices.empty()) << model.key;
    std::vector<const PublishedDevice*> current;
    std::vector<gpu::Instance> layout;
    size_t checked = 0;
    Disagreement found;
    Explore(model.geometry, pub, 0, current, layout, checked, found);
    std::cout << "[counters vs hardware] " << model.key << ": " << pub.mig_devices.size()
              << " MIG devices, " << checked << " extensions checked, " << found.count
              << " disagreements" << (found.count ? " e.g. " + found.example : "") << "\n";
    if (found.count > 0) disagreeing.push_back(model.key + ": " + found.example);
  }
  EXPECT_TRUE(disagreeing.empty()) << ::testing::PrintToString(disagreeing);
}

TEST(CountersVsNvmlsimTest, RandomSequencesThroughNvmlsimAgree) {
  const char* binary_dir = std::getenv("MIGDRA_BINARY_DIR");
  const std::string nvmlsim = binary_dir != nullptr
                                  ? std::string(binary_dir) + "/src/nvmlsim/libnvidia-ml.so.1"
                                  : std::string(MIGDRA_TEST_NVMLSIM);
  unsetenv("MIGDRA_NVMLSIM_CONFIG");
  unsetenv("MIGDRA_NVMLSIM_STATE");
  unsetenv("MIGDRA_NVMLSIM_FAULTS");
  for (const gpu::GpuModel& model : gpu::Catalog()) {
    const Published pub = Publish(model);
    const std::string spec = model.key + ":1";
    setenv("MIGDRA_NVMLSIM_MODELS", spec.c_str(), 1);
    std::string first_mismatch;
    const bool ok = rc::check(model.key, [&] {
      auto nvml = gpu::Nvml::Open({nvmlsim, ""});
      RC_ASSERT(nvml.ok());
      gpu::Nvml& n = **nvml;
      if (!n.GetMigMode(0)->current) RC_ASSERT(n.SetMigMode(0, true).ok());
      struct Live {
        const PublishedDevice* device;
        uint32_t gi;
        uint32_t ci;
      };
      std::vector<Live> live;
      const auto steps = *rc::gen::inRange<int>(1, 24);
      for (int step = 0; step < steps; ++step) {
        const bool destroy = !live.empty() && *rc::gen::inRange<int>(0, 3) == 0;
        if (destroy) {
          const size_t k = *rc::gen::inRange<size_t>(0, live.size());
          RC_ASSERT(n.DestroyComputeInstance(0, live[k].gi, live[k].ci).ok());
          RC_ASSERT(n.DestroyGpuInstance(0, live[k].gi).ok());
          live.erase(live.begin() + static_cast<long>(k));
          continue;
        }
        const PublishedDevice& d =
            pub.mig_devices[*rc::gen::inRange<size_t>(0, pub.mig_devices.size())];
        bool already = false;
        std::vector<const PublishedDevice*> set;
        for (const Live& l : live) {
          already |= l.device == &d;
          set.push_back(l.device);
        }
        if (already) continue;  // the scheduler never allocates one device twice
        set.push_back(&d);
        const bool counters = CountersAllow(pub, set);
        auto gi = n.CreateGpuInstance(0, d.instance.profile_id, d.instance.start);
        if (gi.ok() != counters && first_mismatch.empty()) {
          set.pop_back();
          first_mismatch = Describe(set) + " + " + d.name + ": nvmlsim " +
                           (gi.ok() ? "creates it" : gi.error().message) + ", counters " +
                           (counters ? "allow" : "forbid");
        }
        RC_ASSERT(gi.ok() == counters);
        if (gi.ok()) {
          auto ci = n.CreateComputeInstance(0, gi->id);
          RC_ASSERT(ci.ok());
          live.push_back({&d, gi->id, ci->id});
        }
      }
    });
    if (!ok) std::cout << "[counters vs nvmlsim] " << model.key << ": " << first_mismatch << "\n";
    EXPECT_TRUE(ok) << model.key << ": " << first_mismatch;
  }
}

}  // namespace
}  // namespace migdra
