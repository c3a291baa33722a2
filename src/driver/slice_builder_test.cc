#include "driver/slice_builder.h"

#include <set>

#include <gtest/gtest.h>

#include "api/validation.h"
#include "driver/node_labels.h"
#include "gpu/inventory.h"

namespace migdra::driver {
namespace {

gpu::NodeInventory Inventory(const std::string& model, int count) {
  auto inventory = gpu::SimulatedInventory(model, count, "node-1");
  EXPECT_TRUE(inventory.ok()) << (inventory.ok() ? "" : inventory.error().message);
  return *inventory;
}

std::vector<api::ResourceSlice> Build(const gpu::NodeInventory& inventory,
                                      const SliceOptions& options = {}) {
  auto slices = BuildSlices(inventory, options);
  EXPECT_TRUE(slices.ok()) << (slices.ok() ? "" : slices.error().message);
  return slices.ok() ? *slices : std::vector<api::ResourceSlice>{};
}

std::vector<const api::Device*> Devices(const std::vector<api::ResourceSlice>& slices) {
  std::vector<const api::Device*> out;
  for (const auto& s : slices) {
    for (const auto& d : s.spec.devices) out.push_back(&d);
  }
  return out;
}

const api::Device* FindDevice(const std::vector<api::ResourceSlice>& slices,
                              const std::string& name) {
  for (const api::Device* d : Devices(slices)) {
    if (d->name == name) return d;
  }
  return nullptr;
}

std::string Str(const api::Device& d, const std::string& attr) {
  auto it = d.attributes.find(attr);
  if (it == d.attributes.end()) return "<absent>";
  return it->second.string_value ? *it->second.string_value : *it->second.version_value;
}

TEST(SliceBuilderTest, NamesFollowNvidiasDriver) {
  EXPECT_EQ(GpuDeviceName(3), "gpu-3");
  EXPECT_EQ(CounterSetName(3), "gpu-3-counter-set");
  EXPECT_EQ(MigDeviceName(0, "1g.10gb", 19, 4), "gpu-0-mig-1g10gb-19-4");
  EXPECT_EQ(MigDeviceName(1, "1g.18gb+me", 20, 6), "gpu-1-mig-1g18gb-me-20-6");
  EXPECT_EQ(MigDeviceName(0, "1g.24gb+me.all", 65, 9), "gpu-0-mig-1g24gb-meall-65-9");
  auto ref = ParseMigDeviceName("gpu-12-mig-1g18gb-me-20-6");
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(ref->minor, 12u);
  EXPECT_EQ(ref->profile, "1g18gb-me");
  EXPECT_EQ(ref->profile_id, 20u);
  EXPECT_EQ(ref->placement_start, 6u);
  for (const char* bad : {"gpu-0", "gpu-x-mig-1g10gb-19-0", "gpu-0-mig-19-0", "gpu-0-mig-a-b-0",
                          "gpu-0-mig--19-", "node-0-mig-1g10gb-19-0"}) {
    EXPECT_FALSE(ParseMigDeviceName(bad).has_value()) << bad;
  }
}

TEST(SliceBuilderTest, HopperPublishesTheGpuAndEveryPartitionWithCounters) {
  auto slices = Build(Inventory("h100-80gb", 1));
  ASSERT_EQ(slices.size(), 2u);  // counters, devices
  EXPECT_EQ(slices[0].metadata.name, "node-1-gpu.nvidia.com-000");
  EXPECT_EQ(slices[1].metadata.name, "node-1-gpu.nvidia.com-001");
  for (const auto& s : slices) {
    EXPECT_EQ(s.spec.driver, "gpu.nvidia.com");
    EXPECT_EQ(s.spec.pool.name, "node-1");
    EXPECT_EQ(s.spec.pool.resource_slice_count, 2);
    EXPECT_EQ(s.spec.node_name, "node-1");
  }
  ASSERT_EQ(slices[0].spec.shared_counters.size(), 1u);
  EXPECT_TRUE(slices[0].spec.devices.empty());
  const api::CounterSet& set = slices[0].spec.shared_counters[0];
  EXPECT_EQ(set.name, "gpu-0-counter-set");
  EXPECT_EQ(set.counters.size(), 15u);  // 7 capacities + 8 memory slices
  EXPECT_EQ(set.counters.at("multiprocessors").value.Value(), 132);
  EXPECT_EQ(set.counters.at("copy-engines").value.Value(), 8);
  EXPECT_EQ(set.counters.at("ofa-engines").value.Value(), 1);
  EXPECT_EQ(set.counters.at("memory").value.ToString(), "81152Mi");
  EXPECT_EQ(set.counters.at("memory-slice-7").value.Value(), 1);

  const auto& devices = slices[1].spec.devices;
  EXPECT_EQ(devices.size(), 26u);  // 1 + 7 + 7 (+me) + 4 + 3 + 2 + 1 + 1
  // First fit over this order places well: smallest first, each profile's least-blocking
  // placements first, the whole GPU last.
  std::string order;
  for (const auto& d : devices) order += d.name + " ";
  EXPECT_EQ(order,
            "gpu-0-mig-1g10gb-19-6 gpu-0-mig-1g10gb-19-4 gpu-0-mig-1g10gb-19-5 "
            "gpu-0-mig-1g10gb-19-0 gpu-0-mig-1g10gb-19-1 gpu-0-mig-1g10gb-19-2 "
            "gpu-0-mig-1g10gb-19-3 gpu-0-mig-1g10gb-me-20-6 gpu-0-mig-1g10gb-me-20-4 "
            "gpu-0-mig-1g10gb-me-20-5 gpu-0-mig-1g10gb-me-20-0 gpu-0-mig-1g10gb-me-20-1 "
            "gpu-0-mig-1g10gb-me-20-2 gpu-0-mig-1g10gb-me-20-3 gpu-0-mig-1g20gb-15-6 "
            "gpu-0-mig-1g20gb-15-4 gpu-0-mig-1g20gb-15-0 gpu-0-mig-1g20gb-15-2 "
            "gpu-0-mig-2g20gb-14-4 gpu-0-mig-2g20gb-14-0 gpu-0-mig-2g20gb-14-2 "
            "gpu-0-mig-3g40gb-9-4 gpu-0-mig-3g40gb-9-0 gpu-0-mig-4g40gb-5-0 gpu-0-mig-7g80gb-0-0 "
            "gpu-0 ");
  const api::Device* full = FindDevice(slices, "gpu-0");
  ASSERT_NE(full, nullptr);
  EXPECT_EQ(Str(*full, "type"), "gpu");
  EXPECT_EQ(Str(*full, "productName"), "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(Str(*full, "architecture"), "Hopper");
  EXPECT_EQ(Str(*full, "brand"), "Nvidia");
  EXPECT_EQ(Str(*full, "cudaComputeCapability"), "9.0.0");
  EXPECT_EQ(Str(*full, "driverVersion"), "580.159.4");
  EXPECT_EQ(Str(*full, "cudaDriverVersion"), "13.0.0");
  EXPECT_EQ(Str(*full, "resource.kubernetes.io/pciBusID"), "0000:18:00.0");
  ASSERT_EQ(full->consumes_counters.size(), 1u);
  EXPECT_EQ(full->consumes_counters[0].counters.size(), 15u);

  const api::Device* small = FindDevice(slices, "gpu-0-mig-1g10gb-19-3");
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(Str(*small, "type"), "mig");
  EXPECT_EQ(Str(*small, "profile"), "1g.10gb");
  EXPECT_EQ(Str(*small, "parentUUID"), Str(*full, "uuid"));
  EXPECT_EQ(Str(*small, "uuid"), "<absent>");
  EXPECT_EQ(small->capacity.at("multiprocessors").value.Value(), 16);
  EXPECT_EQ(small->capacity.at("memory").value.ToString(), "9984Mi");
  const auto& consumed = small->consumes_counters.at(0).counters;
  EXPECT_TRUE(consumed.count("memory-slice-3"));
  EXPECT_FALSE(consumed.count("memory-slice-2"));
  EXPECT_FALSE(consumed.count("memory-slice-4"));
  EXPECT_NE(FindDevice(slices, "gpu-0-mig-1g10gb-me-20-6"), nullptr);
  EXPECT_NE(FindDevice(slices, "gpu-0-mig-7g80gb-0-0"), nullptr);
  EXPECT_EQ(FindDevice(slices, "gpu-0-mig-1g10gb-19-7"), nullptr);
}

TEST(SliceBuilderTest, AmpereOffersPartitionsOnlyWithMigOnAndTheGpuOnlyWithMigOff) {
  gpu::NodeInventory inventory = Inventory("a100-80gb", 1);
  auto on = Build(inventory);
  EXPECT_EQ(FindDevice(on, "gpu-0"), nullptr);
  EXPECT_EQ(Devices(on).size(), 25u);  // 7 + 7 (+me) + 4 + 3 + 2 + 1 + 1
  inventory.gpus[0].mig.current = false;
  auto off = Build(inventory);
  ASSERT_EQ(off.size(), 1u);
  EXPECT_TRUE(off[0].spec.shared_counters.empty());
  ASSERT_EQ(off[0].spec.devices.size(), 1u);
  EXPECT_EQ(off[0].spec.devices[0].capacity.at("memory").value.ToString(), "80Gi");
  EXPECT_TRUE(off[0].spec.devices[0].consumes_counters.empty());
}

TEST(SliceBuilderTest, SplitLayoutHandlesMoreThanEightGpus) {
  auto slices = Build(Inventory("h100-80gb", 10));
  ASSERT_EQ(slices.size(), 12u);  // 2 counter slices (8 + 2 sets) + 10 device slices
  EXPECT_EQ(slices[0].spec.shared_counters.size(), 8u);
  EXPECT_EQ(slices[1].spec.shared_counters.size(), 2u);
  EXPECT_EQ(slices[1].spec.shared_counters[1].name, "gpu-9-counter-set");
  for (size_t i = 0; i < slices.size(); ++i) {
    EXPECT_EQ(slices[i].spec.pool.resource_slice_count, 12);
    if (i > 0) {
      EXPECT_LT(slices[i - 1].metadata.name, slices[i].metadata.name);
    }
  }
  EXPECT_EQ(slices[11].spec.devices.back().name, "gpu-9");
  // A small device limit splits a GPU's devices over several slices.
  SliceOptions options;
  options.max_devices_per_slice = 10;
  auto small = Build(Inventory("h100-80gb", 1), options);
  ASSERT_EQ(small.size(), 4u);  // counters + 10 + 10 + 6
  EXPECT_EQ(small[3].spec.devices.size(), 6u);
}

TEST(SliceBuilderTest, CombinedLayoutPutsCountersBesideTheirDevices) {
  SliceOptions options;
  options.layout = SliceLayout::kCombined;
  auto slices = Build(Inventory("h200", 9), options);
  ASSERT_EQ(slices.size(), 9u);
  for (size_t i = 0; i < slices.size(); ++i) {
    ASSERT_EQ(slices[i].spec.shared_counters.size(), 1u);
    EXPECT_EQ(slices[i].spec.shared_counters[0].name, CounterSetName(static_cast<uint32_t>(i)));
    EXPECT_EQ(slices[i].spec.devices.size(), 26u);
    for (const auto& d : slices[i].spec.devices) {
      EXPECT_EQ(d.consumes_counters.at(0).counter_set, CounterSetName(static_cast<uint32_t>(i)));
    }
  }
  options.max_devices_per_slice = 20;
  EXPECT_FALSE(BuildSlices(Inventory("h200", 1), options).ok());
}

TEST(SliceBuilderTest, StaticMigPublishesExistingInstancesWithUuids) {
  gpu::NodeInventory inventory = Inventory("h100-80gb", 1);
  inventory.gpus[0].mig.current = true;
  inventory.gpus[0].instances.push_back({7, 0, 9, {4, 4}, "MIG-1234"});
  SliceOptions options;
  options.mig = MigStrategy::kStatic;
  auto slices = Build(inventory, options);
  ASSERT_EQ(Devices(slices).size(), 1u);
  const api::Device& d = *Devices(slices)[0];
  EXPECT_EQ(d.name, "gpu-0-mig-3g40gb-9-4");
  EXPECT_EQ(Str(d, "uuid"), "MIG-1234");
  EXPECT_TRUE(d.capacity.count("memorySlice4"));
  EXPECT_TRUE(d.capacity.count("memorySlice7"));
  EXPECT_FALSE(d.capacity.count("memorySlice3"));
  EXPECT_TRUE(d.consumes_counters.empty());
}

TEST(SliceBuilderTest, EverySliceOfEveryModelValidates) {
  for (const gpu::GpuModel& model : gpu::Catalog()) {
    for (SliceLayout layout : {SliceLayout::kSplit, SliceLayout::kCombined}) {
      SliceOptions options;
      options.layout = layout;
      for (const auto& slice : Build(Inventory(model.key, 9), options)) {
        for (const Error& e : api::Validate(slice)) {
          // api::Validate has 1.36's rules; the combined layout is for 1.34 API servers, whose
          // rules are the same but for 1.35's "counter sets or devices, not both".
          if (layout == SliceLayout::kCombined && e.field == "spec" &&
              e.message.find("only one of `sharedCounters` or `devices`") != std::string::npos)
            continue;
          ADD_FAILURE() << model.key << " " << slice.metadata.name << ": " << e.ToString();
        }
      }
    }
  }
}

TEST(SliceBuilderTest, WalkthroughNodeIsEightA100s) {
  gpu::NodeInventory inventory = Inventory("a100-80gb", 8);
  auto slices = Build(inventory);
  std::set<std::string> products, counter_sets;
  size_t one_g = 0;
  for (const api::Device* d : Devices(slices)) {
    products.insert(Str(*d, "productName"));
    if (Str(*d, "profile") == "1g.10gb") ++one_g;
  }
  for (const auto& s : slices) {
    for (const auto& c : s.spec.shared_counters) counter_sets.insert(c.name);
  }
  EXPECT_EQ(products, std::set<std::string>{"NVIDIA A100-SXM4-80GB"});
  EXPECT_EQ(counter_sets.size(), 8u);
  EXPECT_EQ(one_g, 56u);  // 7 per GPU: what right-sizing hands out
  EXPECT_NE(FindDevice(slices, "gpu-7-mig-1g10gb-19-6"), nullptr);
  auto labels = NodeLabels(inventory);
  EXPECT_EQ(labels["nvidia.com/gpu.count"], "8");
  EXPECT_EQ(labels["nvidia.com/gpu.product"], "NVIDIA-A100-SXM4-80GB");
  EXPECT_EQ(labels["nvidia.com/gpu.memory"], "81920");
  EXPECT_EQ(labels["nvidia.com/gpu.compute.major"], "8");
  EXPECT_EQ(labels["nvidia.com/gpu.compute.minor"], "0");
  EXPECT_EQ(labels["nvidia.com/mig.capable"], "true");
  EXPECT_EQ(labels["nvidia.com/mig.strategy"], "single");
  EXPECT_EQ(labels["nvidia.com/cuda.driver.major"], "580");
  for (const auto& [key, value] : labels) {
    EXPECT_TRUE(api::IsQualifiedName(key).empty()) << key;
    EXPECT_TRUE(api::IsValidLabelValue(value).empty()) << key << "=" << value;
  }
}

}  // namespace
}  // namespace migdra::driver
