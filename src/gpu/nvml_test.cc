// The NVML loader against nvmlsim: discovery reproduces the real H200 reading and every catalog
// model of reference/mig-profiles.json; the MIG lifecycle follows NVML's rules and error codes;
// state survives restarts and is shared between processes; faults are injected as configured.
#include "gpu/nvml.h"

#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "gpu/inventory.h"
#include "gpu/nvml_abi.h"

namespace migdra::gpu {
namespace {

// Built-in paths (set by CMake) unless the environment overrides them.
std::string SourceDir() {
  const char* dir = std::getenv("MIGDRA_SOURCE_DIR");
  return dir != nullptr ? dir : MIGDRA_TEST_SOURCE_DIR;
}
std::string NvmlsimPath() {
  const char* dir = std::getenv("MIGDRA_BINARY_DIR");
  return dir != nullptr ? std::string(dir) + "/src/nvmlsim/libnvidia-ml.so.1" : MIGDRA_TEST_NVMLSIM;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Configures nvmlsim through the environment for the next Open.
class NvmlsimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("MIGDRA_NVMLSIM_CONFIG");
    unsetenv("MIGDRA_NVMLSIM_STATE");
    unsetenv("MIGDRA_NVMLSIM_FAULTS");
    unsetenv("MIGDRA_NVMLSIM_LATENCY_MS");
  }
  std::unique_ptr<Nvml> Open(const std::string& models) {
    setenv("MIGDRA_NVMLSIM_MODELS", models.c_str(), 1);
    auto nvml = Nvml::Open({NvmlsimPath(), ""});
    EXPECT_TRUE(nvml.ok()) << (nvml.ok() ? "" : nvml.error().message);
    if (!nvml.ok()) return nullptr;
    EXPECT_TRUE((*nvml)->simulated());
    return std::move(*nvml);
  }
  std::string TempPath(const std::string& name) {
    auto dir =
        std::filesystem::temp_directory_path() / ("migdra-nvml-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    return (dir / name).string();
  }
};

TEST_F(NvmlsimTest, MissingLibraryNamesThePathTried) {
  auto nvml = Nvml::Open({"/nonexistent/libnvidia-ml.so.1", ""});
  ASSERT_FALSE(nvml.ok());
  EXPECT_NE(nvml.error().message.find("/nonexistent/libnvidia-ml.so.1"), std::string::npos);
  auto rooted = Nvml::Open({"", "/nonexistent-root"});
  ASSERT_FALSE(rooted.ok());
  EXPECT_NE(rooted.error().message.find("/nonexistent-root/usr/lib64/libnvidia-ml.so.1"),
            std::string::npos);
}

// ---- the real H200 reading -----------------------------------------------------------------

TEST_F(NvmlsimTest, ReproducesTheRealH200Reading) {
  const std::string text = ReadFile(SourceDir() + "/tests/gpu/data/h200-nvidia-smi-mig.txt");
  ASSERT_FALSE(text.empty());
  auto nvml = Open("h200:1");
  ASSERT_NE(nvml, nullptr);
  auto id = nvml->Identity(0);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->memory_bytes, 150754820096ull);
  auto mode = nvml->GetMigMode(0);
  ASSERT_TRUE(mode.ok());
  EXPECT_TRUE(mode->capable);
  EXPECT_FALSE(mode->current);  // "MIG mode Disabled/Disabled"
  EXPECT_FALSE(mode->pending);
  auto profiles = nvml->GpuInstanceProfiles(0);
  ASSERT_TRUE(profiles.ok());
  std::map<uint32_t, Profile> by_id;
  for (const Profile& p : *profiles) by_id[p.id] = p;

  // nvidia-smi mig -lgip: two lines per profile.
  std::regex row1(
      R"(\|\s+0\s+MIG (\S+)\s+(\d+)\s+(\d+)/(\d+)\s+([\d.]+)\s+No\s+(\d+)\s+(\d+)\s+(\d+)\s+\|)");
  std::regex row2(R"(^\|\s+(\d+)\s+(\d+)\s+(\d+)\s+\|$)");
  std::istringstream lines(text);
  std::string line;
  int rows = 0;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (!std::regex_search(line, m, row1)) continue;
    std::string second;
    std::getline(lines, second);
    std::smatch m2;
    ASSERT_TRUE(std::regex_search(second, m2, row2)) << second;
    const uint32_t pid = static_cast<uint32_t>(std::stoul(m[2]));
    ASSERT_TRUE(by_id.count(pid)) << line;
    const Profile& p = by_id[pid];
    EXPECT_EQ(p.name, m[1].str());
    EXPECT_EQ(p.instance_cap, std::stoul(m[4]));
    char gib[32];
    std::snprintf(gib, sizeof(gib), "%.2f", static_cast<double>(p.memory_mib) / 1024.0);
    EXPECT_EQ(gib, m[5].str()) << p.name;
    EXPECT_EQ(p.multiprocessors, std::stoul(m[6])) << p.name;
    EXPECT_EQ(p.decoders, std::stoul(m[7])) << p.name;
    EXPECT_EQ(p.encoders, std::stoul(m[8])) << p.name;
    EXPECT_EQ(p.copy_engines, std::stoul(m2[1])) << p.name;
    EXPECT_EQ(p.jpeg_engines, std::stoul(m2[2])) << p.name;
    EXPECT_EQ(p.ofa_engines, std::stoul(m2[3])) << p.name;
    ++rows;
  }
  EXPECT_EQ(rows, 7);
  EXPECT_EQ(by_id.size(), 7u);

  // nvidia-smi mig -lgipp.
  std::regex placements(R"(Profile ID\s+(\d+) Placements?\s*:\s*\{([\d,]+)\}:(\d+))");
  int lists = 0;
  for (std::sregex_iterator it(text.begin(), text.end(), placements), end; it != end; ++it) {
    const Profile& p = by_id[static_cast<uint32_t>(std::stoul((*it)[1]))];
    std::string starts;
    for (const Placement& pl : p.placements) {
      starts += (starts.empty() ? "" : ",") + std::to_string(pl.start);
      EXPECT_EQ(pl.size, std::stoul((*it)[3])) << p.name;
    }
    EXPECT_EQ(starts, (*it)[2].str()) << p.name;
    ++lists;
  }
  EXPECT_EQ(lists, 7);

  // nvmlDeviceGetGpuInstanceProfileInfo(index) for index 0..19, codes included.
  void* lib = dlopen(NvmlsimPath().c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(lib, nullptr);
  auto get_handle = reinterpret_cast<decltype(&nvmlDeviceGetHandleByIndex_v2)>(
      dlsym(lib, "nvmlDeviceGetHandleByIndex_v2"));
  auto get_info = reinterpret_cast<decltype(&nvmlDeviceGetGpuInstanceProfileInfo)>(
      dlsym(lib, "nvmlDeviceGetGpuInstanceProfileInfo"));
  nvmlDevice_t dev = nullptr;
  ASSERT_EQ(get_handle(0, &dev), 0);
  std::regex info_line(
      R"(index (\d+) \(\w+\):\s+id (\d+)\s+slices (\d+) inst (\d+) mem (\d+)\s+ce (\d+) dec (\d+) enc (\d+) jpg (\d+) ofa (\d+) sm (\d+))");
  std::map<unsigned, std::vector<unsigned>> expected;
  for (std::sregex_iterator it(text.begin(), text.end(), info_line), end; it != end; ++it) {
    std::vector<unsigned> v;
    for (size_t i = 2; i <= 11; ++i) v.push_back(static_cast<unsigned>(std::stoul((*it)[i])));
    expected[static_cast<unsigned>(std::stoul((*it)[1]))] = v;
  }
  ASSERT_EQ(expected.size(), 7u);
  for (unsigned index = 0; index < 20; ++index) {
    nvmlGpuInstanceProfileInfo_t info{};
    int rc = get_info(dev, index, &info);
    if (expected.count(index)) {
      ASSERT_EQ(rc, 0) << index;
      std::vector<unsigned> got = {info.id,
                                   info.sliceCount,
                                   info.instanceCount,
                                   static_cast<unsigned>(info.memorySizeMB),
                                   info.copyEngineCount,
                                   info.decoderCount,
                                   info.encoderCount,
                                   info.jpegCount,
                                   info.ofaCount,
                                   info.multiprocessorCount};
      EXPECT_EQ(got, expected[index]) << "index " << index;
    } else if (index >= 17) {
      EXPECT_EQ(rc, MIGDRA_NVML_ERROR_INVALID_ARGUMENT) << index;
    } else {
      EXPECT_EQ(rc, MIGDRA_NVML_ERROR_NOT_SUPPORTED) << index;
    }
  }
  dlclose(lib);
}

// ---- every catalog model against reference/mig-profiles.json ---------------------------------

TEST_F(NvmlsimTest, EveryCatalogModelMatchesTheReference) {
  nlohmann::json reference =
      nlohmann::json::parse(ReadFile(SourceDir() + "/tests/gpu/data/mig-profiles.json"));
  nlohmann::json catalog = nlohmann::json::parse(ReadFile(SourceDir() + "/src/gpu/catalog.json"));
  ASSERT_EQ(catalog["models"].size(), 12u);
  for (const auto& model : catalog["models"]) {
    const std::string key = model["key"];
    const nlohmann::json& ref = reference["gpus"][model["reference"].get<std::string>()];
    ASSERT_TRUE(ref.is_object()) << key;
    auto nvml = Open(key + ":1");
    ASSERT_NE(nvml, nullptr);
    auto profiles = nvml->GpuInstanceProfiles(0);
    ASSERT_TRUE(profiles.ok()) << key;
    ASSERT_EQ(profiles->size(), ref["profiles"].size()) << key;
    for (const auto& rp : ref["profiles"]) {
      const Profile* p = nullptr;
      for (const Profile& candidate : *profiles) {
        if (candidate.id == rp["id"].get<uint32_t>()) p = &candidate;
      }
      ASSERT_NE(p, nullptr) << key << " profile id " << rp["id"];
      const std::string what = key + " " + rp["name"].get<std::string>();
      EXPECT_EQ(p->name, rp["name"].get<std::string>()) << what;
      EXPECT_EQ(p->instance_cap, rp["instances"].get<uint32_t>()) << what;
      EXPECT_EQ(p->compute_slices, rp["compute_slices"].get<uint32_t>()) << what;
      EXPECT_EQ(p->memory_slices, rp["memory_slices"].get<uint32_t>()) << what;
      // The real H200 reading supersedes the reference's older H200 memory column.
      if (!rp["memory_mib"].is_null() && key != "h200") {
        EXPECT_EQ(p->memory_mib, rp["memory_mib"].get<uint64_t>()) << what;
      }
      if (!rp["sms"].is_null()) {
        EXPECT_EQ(p->multiprocessors, rp["sms"].get<uint32_t>()) << what;
      }
      const auto& e = rp["engines"];
      EXPECT_EQ(p->copy_engines, e["copy_engines"].get<uint32_t>()) << what;
      if (!e["nvdec"].is_null()) {
        EXPECT_EQ(p->decoders, e["nvdec"].get<uint32_t>()) << what;
      }
      EXPECT_EQ(p->encoders, e["nvenc"].get<uint32_t>()) << what;
      if (!e["nvjpg"].is_null()) {
        EXPECT_EQ(p->jpeg_engines, e["nvjpg"].get<uint32_t>()) << what;
      }
      EXPECT_EQ(p->ofa_engines, e["ofa"].get<uint32_t>()) << what;
      std::vector<std::pair<uint32_t, uint32_t>> got, want;
      for (const Placement& pl : p->placements) got.push_back({pl.start, pl.size});
      for (const auto& pl : rp["placements"]) want.push_back({pl[0], pl[1]});
      EXPECT_EQ(got, want) << what;
    }
  }
}

// ---- lifecycle -------------------------------------------------------------------------------

TEST_F(NvmlsimTest, LifecycleFollowsNvmlRules) {
  auto nvml = Open("h100-80gb:2");
  ASSERT_NE(nvml, nullptr);
  // MIG off: no instances can be created.
  auto off = nvml->CreateGpuInstance(0, 19, 0);
  ASSERT_FALSE(off.ok());
  EXPECT_EQ(NvmlCode(off.error()), NvmlReturn::kNotSupported);
  // Hopper switches at once.
  auto change = nvml->SetMigMode(0, true);
  ASSERT_TRUE(change.ok());
  EXPECT_TRUE(change->mode.current);
  auto gi = nvml->CreateGpuInstance(0, 14, 2);  // 2g.20gb at [2,4)
  ASSERT_TRUE(gi.ok()) << gi.error().message;
  EXPECT_EQ(gi->placement, (Placement{2, 2}));
  auto occupied = nvml->CreateGpuInstance(0, 19, 3);
  ASSERT_FALSE(occupied.ok());
  EXPECT_EQ(NvmlCode(occupied.error()), NvmlReturn::kInsufficientResources);
  EXPECT_NE(occupied.error().message.find(
                "nvmlDeviceCreateGpuInstanceWithPlacement(gpu 0, profile 19, start 3): "
                "Insufficient Resources"),
            std::string::npos)
      << occupied.error().message;
  auto ci = nvml->CreateComputeInstance(0, gi->id);
  ASSERT_TRUE(ci.ok()) << ci.error().message;
  EXPECT_EQ(ci->uuid.rfind("MIG-", 0), 0u);
  auto in_use = nvml->DestroyGpuInstance(0, gi->id);
  ASSERT_FALSE(in_use.ok());
  EXPECT_EQ(NvmlCode(in_use.error()), NvmlReturn::kInUse);
  auto cannot_disable = nvml->SetMigMode(0, false);
  ASSERT_FALSE(cannot_disable.ok());
  EXPECT_EQ(NvmlCode(cannot_disable.error()), NvmlReturn::kInUse);
  auto cis = nvml->ComputeInstances(0, gi->id);
  ASSERT_TRUE(cis.ok());
  ASSERT_EQ(cis->size(), 1u);
  EXPECT_EQ((*cis)[0].uuid, ci->uuid);
  auto inventory = ReadInventory(*nvml, "node-a");
  ASSERT_TRUE(inventory.ok());
  ASSERT_EQ(inventory->gpus[0].instances.size(), 1u);
  EXPECT_EQ(inventory->gpus[0].instances[0].uuid, ci->uuid);
  EXPECT_TRUE(inventory->gpus[1].instances.empty());
  ASSERT_TRUE(nvml->DestroyComputeInstance(0, gi->id, ci->id).ok());
  ASSERT_TRUE(nvml->DestroyGpuInstance(0, gi->id).ok());
  auto gone = nvml->DestroyGpuInstance(0, gi->id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(NvmlCode(gone.error()), NvmlReturn::kNotFound);
  EXPECT_TRUE(nvml->SetMigMode(0, false).ok());
}

TEST_F(NvmlsimTest, AmpereMigModeChangeWaitsForReset) {
  auto nvml = Open("a100-40gb:1");
  ASSERT_NE(nvml, nullptr);
  auto mode = nvml->GetMigMode(0);
  ASSERT_TRUE(mode.ok());
  EXPECT_TRUE(mode->current);  // simulated as configured by an operator
  auto change = nvml->SetMigMode(0, false);
  ASSERT_TRUE(change.ok());
  EXPECT_TRUE(change->mode.current);
  EXPECT_FALSE(change->mode.pending);
  EXPECT_EQ(change->activation_status, NvmlReturn::kResetRequired);
  void* lib = dlopen(NvmlsimPath().c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(lib, nullptr);
  auto reset = reinterpret_cast<int (*)(unsigned)>(dlsym(lib, "migdraNvmlsimResetGpu"));
  ASSERT_NE(reset, nullptr);
  EXPECT_EQ(reset(0), 0);
  dlclose(lib);
  mode = nvml->GetMigMode(0);
  ASSERT_TRUE(mode.ok());
  EXPECT_FALSE(mode->current);
}

TEST_F(NvmlsimTest, StateSurvivesRestartsAndIsSharedBetweenProcesses) {
  const std::string state = TempPath("state.json");
  std::filesystem::remove(state);
  setenv("MIGDRA_NVMLSIM_STATE", state.c_str(), 1);
  uint32_t gi_id = 0;
  {
    auto nvml = Open("h200:1");
    ASSERT_NE(nvml, nullptr);
    ASSERT_TRUE(nvml->SetMigMode(0, true).ok());
    auto gi = nvml->CreateGpuInstance(0, 9, 4);  // 3g.71gb at [4,8)
    ASSERT_TRUE(gi.ok()) << gi.error().message;
    gi_id = gi->id;
  }
  // A child process creates a second instance in the same state file.
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    setenv("MIGDRA_NVMLSIM_MODELS", "h200:1", 1);
    auto nvml = Nvml::Open({NvmlsimPath(), ""});
    bool ok = nvml.ok() && (*nvml)->CreateGpuInstance(0, 19, 0).ok();
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto nvml = Open("h200:1");  // a restart
  ASSERT_NE(nvml, nullptr);
  auto mode = nvml->GetMigMode(0);
  ASSERT_TRUE(mode.ok());
  EXPECT_TRUE(mode->current);
  auto gis = nvml->GpuInstances(0);
  ASSERT_TRUE(gis.ok());
  ASSERT_EQ(gis->size(), 2u);
  EXPECT_EQ((*gis)[0].id, gi_id);
  EXPECT_EQ((*gis)[1].profile_id, 19u);
  auto blocked = nvml->CreateGpuInstance(0, 9, 4);
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(NvmlCode(blocked.error()), NvmlReturn::kInsufficientResources);
  std::filesystem::remove_all(std::filesystem::path(state).parent_path());
}

TEST_F(NvmlsimTest, InjectsFaultsOnTheNthCall) {
  setenv("MIGDRA_NVMLSIM_FAULTS", "nvmlDeviceCreateGpuInstanceWithPlacement:2:23", 1);
  auto nvml = Open("h100-80gb:1");
  ASSERT_NE(nvml, nullptr);
  ASSERT_TRUE(nvml->SetMigMode(0, true).ok());
  EXPECT_TRUE(nvml->CreateGpuInstance(0, 19, 0).ok());
  auto second = nvml->CreateGpuInstance(0, 19, 1);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(NvmlCode(second.error()), NvmlReturn::kInsufficientResources);
  EXPECT_TRUE(nvml->CreateGpuInstance(0, 19, 1).ok());
}

TEST_F(NvmlsimTest, ConfigFileSelectsModelsAndStartMode) {
  const std::string config = TempPath("config.json");
  std::ofstream(config) << R"({"gpus": [{"model": "a30", "count": 2, "mig_enabled": false},
                                       {"model": "b200", "count": 1}]})";
  setenv("MIGDRA_NVMLSIM_CONFIG", config.c_str(), 1);
  auto nvml = Nvml::Open({NvmlsimPath(), ""});
  ASSERT_TRUE(nvml.ok()) << nvml.error().message;
  EXPECT_NE((*nvml)->simulation_description().find("2 x a30, 1 x b200"), std::string::npos);
  auto inventory = ReadInventory(**nvml, "node-b");
  ASSERT_TRUE(inventory.ok());
  ASSERT_EQ(inventory->gpus.size(), 3u);
  EXPECT_EQ(inventory->gpus[0].product_name, "NVIDIA A30");
  EXPECT_FALSE(inventory->gpus[0].mig.current);
  EXPECT_EQ(inventory->gpus[2].architecture, "Blackwell");
  EXPECT_EQ(inventory->gpus[2].geometry.grid_units, 8u);
  std::filesystem::remove_all(std::filesystem::path(config).parent_path());
}

TEST_F(NvmlsimTest, SimulatedInventoryMatchesWhatNvmlsimReports) {
  auto nvml = Open("a100-80gb:8");
  ASSERT_NE(nvml, nullptr);
  auto read = ReadInventory(*nvml, "node-c");
  auto synthesized = SimulatedInventory("a100-80gb", 8, "node-c");
  ASSERT_TRUE(read.ok());
  ASSERT_TRUE(synthesized.ok());
  ASSERT_EQ(read->gpus.size(), synthesized->gpus.size());
  EXPECT_EQ(read->driver_version, synthesized->driver_version);
  EXPECT_EQ(read->cuda_driver_version, synthesized->cuda_driver_version);
  for (size_t i = 0; i < read->gpus.size(); ++i) {
    const GpuInfo& a = read->gpus[i];
    const GpuInfo& b = synthesized->gpus[i];
    EXPECT_EQ(a.uuid, b.uuid);
    EXPECT_EQ(a.minor, b.minor);
    EXPECT_EQ(a.pci_bus_id, b.pci_bus_id);
    EXPECT_EQ(a.product_name, "NVIDIA A100-SXM4-80GB");
    EXPECT_EQ(a.product_name, b.product_name);
    EXPECT_EQ(a.brand, b.brand);
    EXPECT_EQ(a.architecture, b.architecture);
    EXPECT_EQ(a.memory_bytes, b.memory_bytes);
    EXPECT_EQ(a.mig.current, b.mig.current);
    EXPECT_EQ(a.mig_mode_toggle_without_reset, b.mig_mode_toggle_without_reset);
    ASSERT_EQ(a.geometry.profiles.size(), b.geometry.profiles.size());
    for (size_t p = 0; p < a.geometry.profiles.size(); ++p) {
      EXPECT_EQ(a.geometry.profiles[p].name, b.geometry.profiles[p].name);
      EXPECT_EQ(a.geometry.profiles[p].placements, b.geometry.profiles[p].placements);
    }
    EXPECT_EQ(a.geometry.grid_units, b.geometry.grid_units);
  }
}

// serve opens nvmlsim while its threads run: the models and state file reach the library
// without setenv, and win over what the environment says.
TEST_F(NvmlsimTest, ConfiguredByTheHostWithoutTouchingTheEnvironment) {
  setenv("MIGDRA_NVMLSIM_MODELS", "h100-80gb:1", 1);
  const std::string state = TempPath("host-choice.json");
  auto nvml = Nvml::OpenSimulated(NvmlsimPath(), "a100-80gb:3", state);
  ASSERT_TRUE(nvml.ok()) << nvml.error().message;
  auto count = (*nvml)->DeviceCount();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 3u);
  EXPECT_NE((*nvml)->simulation_description().find(state), std::string::npos)
      << (*nvml)->simulation_description();
  EXPECT_STREQ(std::getenv("MIGDRA_NVMLSIM_MODELS"), "h100-80gb:1");
  EXPECT_EQ(std::getenv("MIGDRA_NVMLSIM_STATE"), nullptr);
}

}  // namespace
}  // namespace migdra::gpu
