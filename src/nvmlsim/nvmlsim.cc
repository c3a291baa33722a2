// nvmlsim: a stand-in for libnvidia-ml.so.1 on machines without a GPU. It exports the NVML
// functions migdra uses (gpu/nvml_abi.h) with NVML's ABI, backed by the GPU catalog
// (gpu/geometry.h) and the hardware rule of CheckAddInstance.
//
// Configuration (read at nvmlInitWithFlags):
// - MIGDRA_NVMLSIM_CONFIG: a JSON file
//     {"gpus": [{"model": "a100-80gb", "count": 8, "mig_enabled": true}],
//      "state_file": "/var/lib/migdra/nvmlsim-state.json",
//      "faults": [{"function": "nvmlDeviceCreateGpuInstanceWithPlacement", "call": 2,
//                  "code": 23}],
//      "latency_ms": {"nvmlGpuInstanceDestroy": 50}}
//   "call" is the 1-based number of the call (per process) that fails; 0 fails every call.
//   "mig_enabled" defaults to true on Ampere (which cannot switch without a reset, so a node is
//   simulated as configured by an operator) and false on Hopper and newer.
// - Without a file, the same from the environment: MIGDRA_NVMLSIM_MODELS="a100-80gb:8,h100:2",
//   MIGDRA_NVMLSIM_STATE=path, MIGDRA_NVMLSIM_FAULTS="function:call:code;...",
//   MIGDRA_NVMLSIM_LATENCY_MS="function:ms;...". With neither, one h100-80gb is simulated.
// - A host program sets models and state file with migdraNvmlsimConfigure(models, state_file)
//   before nvmlInit instead (no setenv while its threads run); that wins over both.
//
// MIG state (mode, GPU and compute instances) lives in the state file when one is configured,
// read and written under an exclusive flock of "<state>.lock" on every call, so separate
// processes and restarts see the same GPUs; otherwise it lives in the process. A call that finds
// the file as this process last read or wrote it (same inode, size and times) reuses the parsed
// copy instead of parsing it again.
//
// Hardware behaviour modelled: MIG-mode changes take effect at once on Hopper and newer, and stay
// pending on Ampere until migdraNvmlsimResetGpu (a GPU reset); disabling MIG mode with GPU
// instances present fails with IN_USE; creating on an occupied or conflicting placement fails
// with INSUFFICIENT_RESOURCES; destroying a GPU instance that still has compute instances fails
// with IN_USE; unknown GI/CI ids give NOT_FOUND.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "gpu/geometry.h"
#include "gpu/inventory.h"
#include "gpu/nvml_abi.h"

namespace {

using migdra::gpu::GpuModel;
using migdra::gpu::Instance;

constexpr nvmlReturn_t kSuccess = MIGDRA_NVML_SUCCESS;
constexpr nvmlReturn_t kUninitialized = MIGDRA_NVML_ERROR_UNINITIALIZED;
constexpr nvmlReturn_t kInvalidArgument = MIGDRA_NVML_ERROR_INVALID_ARGUMENT;
constexpr nvmlReturn_t kNotSupported = MIGDRA_NVML_ERROR_NOT_SUPPORTED;
constexpr nvmlReturn_t kNotFound = MIGDRA_NVML_ERROR_NOT_FOUND;
constexpr nvmlReturn_t kInsufficientSize = MIGDRA_NVML_ERROR_INSUFFICIENT_SIZE;
constexpr nvmlReturn_t kInUse = MIGDRA_NVML_ERROR_IN_USE;
constexpr nvmlReturn_t kInsufficientResources = MIGDRA_NVML_ERROR_INSUFFICIENT_RESOURCES;
constexpr nvmlReturn_t kUnknown = MIGDRA_NVML_ERROR_UNKNOWN;

// ---- configuration ---------------------------------------------------------------------------

struct SimGpu {
  const GpuModel* model = nullptr;
  bool mig_enabled_at_start = false;
};

struct Fault {
  std::string function;
  int call = 0;  // 1-based; 0 = every call
  nvmlReturn_t code = kUnknown;
};

struct Config {
  std::vector<SimGpu> gpus;
  std::string state_file;
  std::vector<Fault> faults;
  std::map<std::string, int> latency_ms;
  std::string description;
};

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, sep)) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

bool AddGpus(Config& config, const std::string& model_name, int count,
             std::optional<bool> mig_enabled, std::string& error) {
  auto model = migdra::gpu::FindModel(model_name);
  if (!model.ok()) {
    error = model.error().message;
    return false;
  }
  if (count < 1 || count > 64) {
    error = "GPU count must be 1..64, got " + std::to_string(count);
    return false;
  }
  const GpuModel* m = *model;
  for (int i = 0; i < count; ++i) {
    config.gpus.push_back({m, mig_enabled.value_or(!m->mig_mode_toggle_without_reset())});
  }
  if (!config.description.empty()) config.description += ", ";
  config.description += std::to_string(count) + " x " + m->key;
  return true;
}

// What the host program chose through migdraNvmlsimConfigure, read instead of
// MIGDRA_NVMLSIM_MODELS / MIGDRA_NVMLSIM_STATE (and overriding MIGDRA_NVMLSIM_CONFIG when models
// are set), so that a program with threads running never has to setenv. Guarded by Sim::mu,
// which every caller of LoadConfig holds.
struct HostChoice {
  std::string models;
  std::string state_file;
};
HostChoice& ChosenByHost() {
  static HostChoice choice;
  return choice;
}

bool LoadConfig(Config& config, std::string& error) {
  const HostChoice& host = ChosenByHost();
  const char* path = host.models.empty() ? std::getenv("MIGDRA_NVMLSIM_CONFIG") : nullptr;
  try {
    if (path != nullptr && *path != '\0') {
      std::ifstream in(path);
      if (!in) {
        error = std::string("cannot read MIGDRA_NVMLSIM_CONFIG file ") + path;
        return false;
      }
      nlohmann::json doc = nlohmann::json::parse(in);
      for (const auto& g : doc.at("gpus")) {
        std::optional<bool> mig;
        if (g.contains("mig_enabled")) mig = g.at("mig_enabled").get<bool>();
        if (!AddGpus(config, g.at("model").get<std::string>(), g.value("count", 1), mig, error)) {
          return false;
        }
      }
      config.state_file = doc.value("state_file", std::string());
      for (const auto& f : doc.value("faults", nlohmann::json::array())) {
        config.faults.push_back({f.at("function").get<std::string>(), f.value("call", 0),
                                 f.value("code", static_cast<int>(kUnknown))});
      }
      for (const auto& [fn, ms] : doc.value("latency_ms", nlohmann::json::object()).items()) {
        config.latency_ms[fn] = ms.get<int>();
      }
    } else {
      const char* models =
          host.models.empty() ? std::getenv("MIGDRA_NVMLSIM_MODELS") : host.models.c_str();
      std::string spec = models != nullptr && *models != '\0' ? models : "h100-80gb:1";
      for (const std::string& item : Split(spec, ',')) {
        size_t colon = item.find(':');
        int count = colon == std::string::npos ? 1 : std::stoi(item.substr(colon + 1));
        if (!AddGpus(config, item.substr(0, colon), count, std::nullopt, error)) return false;
      }
      if (!host.state_file.empty()) {
        config.state_file = host.state_file;
      } else if (const char* state = std::getenv("MIGDRA_NVMLSIM_STATE")) {
        config.state_file = state;
      }
      if (const char* faults = std::getenv("MIGDRA_NVMLSIM_FAULTS")) {
        for (const std::string& item : Split(faults, ';')) {
          std::vector<std::string> f = Split(item, ':');
          if (f.size() != 3) {
            error = "MIGDRA_NVMLSIM_FAULTS entries are function:call:code, got " + item;
            return false;
          }
          config.faults.push_back({f[0], std::stoi(f[1]), std::stoi(f[2])});
        }
      }
      if (const char* latency = std::getenv("MIGDRA_NVMLSIM_LATENCY_MS")) {
        for (const std::string& item : Split(latency, ';')) {
          size_t colon = item.find(':');
          if (colon == std::string::npos) {
            error = "MIGDRA_NVMLSIM_LATENCY_MS entries are function:ms, got " + item;
            return false;
          }
          config.latency_ms[item.substr(0, colon)] = std::stoi(item.substr(colon + 1));
        }
      }
    }
  } catch (const std::exception& e) {
    error = std::string("nvmlsim configuration: ") + e.what();
    return false;
  }
  if (config.gpus.empty()) {
    error = "nvmlsim configuration names no GPUs";
    return false;
  }
  config.description +=
      config.state_file.empty() ? " (state in process)" : " (state " + config.state_file + ")";
  return true;
}

// ---- MIG state -------------------------------------------------------------------------------

struct CiState {
  unsigned int id = 0;
  unsigned int profile_id = 0;  // CI profile id
  unsigned int slices = 0;
  std::string uuid;
};

struct GiState {
  unsigned int id = 0;
  unsigned int profile_id = 0;
  unsigned int start = 0;
  unsigned int size = 0;
  std::vector<CiState> cis;
};

struct GpuState {
  bool mig_current = false;
  bool mig_pending = false;
  std::vector<GiState> gis;
};

struct State {
  std::vector<GpuState> gpus;
  uint64_t next_uuid = 1;
};

nlohmann::json ToJson(const State& s) {
  nlohmann::json gpus = nlohmann::json::array();
  for (const GpuState& g : s.gpus) {
    nlohmann::json gis = nlohmann::json::array();
    for (const GiState& gi : g.gis) {
      nlohmann::json cis = nlohmann::json::array();
      for (const CiState& ci : gi.cis) {
        cis.push_back({{"id", ci.id},
                       {"profile_id", ci.profile_id},
                       {"slices", ci.slices},
                       {"uuid", ci.uuid}});
      }
      gis.push_back({{"id", gi.id},
                     {"profile_id", gi.profile_id},
                     {"start", gi.start},
                     {"size", gi.size},
                     {"cis", cis}});
    }
    gpus.push_back({{"mig_current", g.mig_current}, {"mig_pending", g.mig_pending}, {"gis", gis}});
  }
  return {{"gpus", gpus}, {"next_uuid", s.next_uuid}};
}

State FromJson(const nlohmann::json& j) {
  State s;
  s.next_uuid = j.at("next_uuid").get<uint64_t>();
  for (const auto& g : j.at("gpus")) {
    GpuState gs;
    gs.mig_current = g.at("mig_current").get<bool>();
    gs.mig_pending = g.at("mig_pending").get<bool>();
    for (const auto& gi : g.at("gis")) {
      GiState gis;
      gis.id = gi.at("id").get<unsigned int>();
      gis.profile_id = gi.at("profile_id").get<unsigned int>();
      gis.start = gi.at("start").get<unsigned int>();
      gis.size = gi.at("size").get<unsigned int>();
      for (const auto& ci : gi.at("cis")) {
        gis.cis.push_back({ci.at("id").get<unsigned int>(), ci.at("profile_id").get<unsigned int>(),
                           ci.at("slices").get<unsigned int>(), ci.at("uuid").get<std::string>()});
      }
      gs.gis.push_back(std::move(gis));
    }
    s.gpus.push_back(std::move(gs));
  }
  return s;
}

// Handles are small objects that live as long as the process; they name a GPU, a GI or a CI by
// ids and are resolved against the current state on every call.
enum class HandleKind { kGpu, kMigDevice, kGpuInstance, kComputeInstance };
struct Handle {
  HandleKind kind;
  unsigned int gpu;
  unsigned int gi;
  unsigned int ci;
};

// What identifies one version of the state file: every write replaces it by rename (a new inode,
// allocated while the old one still existed) and stamps size and times.
struct FileIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  long mtime_sec = 0, mtime_nsec = 0, ctime_sec = 0, ctime_nsec = 0;
  bool operator==(const FileIdentity&) const = default;
};

std::optional<FileIdentity> IdentityOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileIdentity{st.st_dev,          st.st_ino,         st.st_size,        st.st_mtim.tv_sec,
                      st.st_mtim.tv_nsec, st.st_ctim.tv_sec, st.st_ctim.tv_nsec};
}

struct Sim {
  std::mutex mu;
  bool initialized = false;
  int init_count = 0;
  Config config;
  std::string config_error;
  State memory_state;  // when no state file is configured
  // The state file as last read or written here, and that file's identity then: a transaction
  // that finds the same file (see FileIdentity) uses this copy instead of parsing it again.
  std::optional<State> file_state;
  std::optional<FileIdentity> file_identity;
  std::map<std::string, int> calls;
  std::map<std::tuple<int, unsigned, unsigned, unsigned>, std::unique_ptr<Handle>> handles;
  std::string description;
};

Sim& S() {
  static Sim* sim = new Sim;
  return *sim;
}

State InitialState(const Config& config) {
  State s;
  for (const SimGpu& g : config.gpus) {
    GpuState gs;
    gs.mig_current = gs.mig_pending = g.mig_enabled_at_start;
    s.gpus.push_back(gs);
  }
  return s;
}

Handle* GetHandle(HandleKind kind, unsigned gpu, unsigned gi = 0, unsigned ci = 0) {
  auto key = std::make_tuple(static_cast<int>(kind), gpu, gi, ci);
  auto& slot = S().handles[key];
  if (!slot) slot = std::make_unique<Handle>(Handle{kind, gpu, gi, ci});
  return slot.get();
}

// Locks, loads and (if changed) stores the state around one operation.
class StateTransaction {
 public:
  StateTransaction() {
    Sim& sim = S();
    path_ = sim.config.state_file;
    if (path_.empty()) {
      state_ = &sim.memory_state;
      return;
    }
    lock_fd_ = ::open((path_ + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ >= 0) ::flock(lock_fd_, LOCK_EX);
    loaded_ = InitialState(sim.config);
    std::optional<FileIdentity> identity = IdentityOf(path_);
    if (identity && sim.file_identity == identity && sim.file_state) {
      loaded_ = *sim.file_state;  // unchanged since this process last read or wrote it
      state_ = &loaded_;
      return;
    }
    sim.file_state.reset();
    std::ifstream in(path_);
    if (in) {
      try {
        State s = FromJson(nlohmann::json::parse(in));
        if (s.gpus.size() == sim.config.gpus.size()) {
          loaded_ = std::move(s);
          sim.file_state = loaded_;
          sim.file_identity = identity;
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "nvmlsim: ignoring unreadable state file %s: %s\n", path_.c_str(),
                     e.what());
      }
    }
    state_ = &loaded_;
  }
  ~StateTransaction() {
    if (!path_.empty()) {
      if (dirty_) {
        const std::string tmp = path_ + ".tmp";
        {
          std::ofstream out(tmp, std::ios::trunc);
          out << ToJson(loaded_).dump(1) << "\n";
        }
        Sim& sim = S();
        if (std::rename(tmp.c_str(), path_.c_str()) == 0) {
          sim.file_state = loaded_;
          sim.file_identity = IdentityOf(path_);
        } else {
          sim.file_state.reset();
        }
      }
      if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
    }
  }
  State& state() { return *state_; }
  void MarkDirty() { dirty_ = true; }

 private:
  std::string path_;
  int lock_fd_ = -1;
  State loaded_;
  State* state_ = nullptr;
  bool dirty_ = false;
};

// Fault injection and latency for `function`; returns the injected code or kSuccess.
nvmlReturn_t Enter(const char* function) {
  Sim& sim = S();
  int call = ++sim.calls[function];
  auto latency = sim.config.latency_ms.find(function);
  if (latency != sim.config.latency_ms.end() && latency->second > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(latency->second));
  }
  for (const Fault& f : sim.config.faults) {
    if (f.function == function && (f.call == 0 || f.call == call)) return f.code;
  }
  return kSuccess;
}

#define SIM_ENTER(name)                         \
  std::lock_guard<std::mutex> sim_lock(S().mu); \
  if (!S().initialized) return kUninitialized;  \
  if (nvmlReturn_t injected = Enter(name); injected != kSuccess) return injected

const GpuModel* ModelOf(unsigned gpu) { return S().config.gpus[gpu].model; }

bool ValidGpu(nvmlDevice_t device, unsigned* gpu) {
  auto* h = reinterpret_cast<Handle*>(device);
  if (h == nullptr || h->kind != HandleKind::kGpu || h->gpu >= S().config.gpus.size()) return false;
  *gpu = h->gpu;
  return true;
}

GiState* FindGi(GpuState& g, unsigned id) {
  for (GiState& gi : g.gis) {
    if (gi.id == id) return &gi;
  }
  return nullptr;
}

const migdra::gpu::Profile* ProfileByIndex(const GpuModel& m, unsigned index) {
  for (const auto& p : m.geometry.profiles) {
    if (p.nvml_index == index) return &p;
  }
  return nullptr;
}

void FillProfileInfo(const migdra::gpu::Profile& p, nvmlGpuInstanceProfileInfo_t* info) {
  *info = {};
  info->id = p.id;
  info->isP2pSupported = p.p2p ? 1 : 0;
  info->sliceCount = p.compute_slices;
  info->instanceCount = p.instance_cap;
  info->multiprocessorCount = p.multiprocessors;
  info->copyEngineCount = p.copy_engines;
  info->decoderCount = p.decoders;
  info->encoderCount = p.encoders;
  info->jpegCount = p.jpeg_engines;
  info->ofaCount = p.ofa_engines;
  info->memorySizeMB = p.memory_mib;
}

nvmlReturn_t CopyString(const std::string& value, char* out, unsigned int length) {
  if (out == nullptr) return kInvalidArgument;
  if (value.size() + 1 > length) return kInsufficientSize;
  std::memcpy(out, value.c_str(), value.size() + 1);
  return kSuccess;
}

// CI profile index -> compute slices (the full-size CI profiles only, plus 1 slice).
unsigned CiSlicesOfIndex(unsigned index) {
  switch (index) {
    case MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE:
      return 1;
    case MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE:
      return 2;
    case MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE:
      return 3;
    case MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_4_SLICE:
      return 4;
    case MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE:
      return 7;
    case MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_8_SLICE:
      return 8;
    case MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_6_SLICE:
      return 6;
    default:
      return 0;
  }
}

// CI profile ids: as on A100/H100, the id equals the index for the base CI profiles.
unsigned CiProfileId(unsigned index) { return index; }

}  // namespace

extern "C" {

// The models ("a100-80gb:8,h100-80gb") and state file to simulate, in place of the environment
// variables; null or empty leaves that one to the environment. Takes effect at the next
// initialisation (not while initialised).
__attribute__((visibility("default"))) void migdraNvmlsimConfigure(const char* models,
                                                                   const char* state_file) {
  Sim& sim = S();
  std::lock_guard<std::mutex> lock(sim.mu);
  ChosenByHost() = {models != nullptr ? models : "", state_file != nullptr ? state_file : ""};
}

__attribute__((visibility("default"))) const char* migdraNvmlsimDescribe(void) {
  Sim& sim = S();
  std::lock_guard<std::mutex> lock(sim.mu);
  if (!sim.initialized) {
    Config config;
    std::string error;
    sim.description = LoadConfig(config, error) ? config.description : "config error: " + error;
  }
  return sim.description.c_str();
}

// Test hook: a GPU reset applies the pending MIG mode (Ampere) — what a reboot would do.
__attribute__((visibility("default"))) nvmlReturn_t migdraNvmlsimResetGpu(unsigned int index) {
  std::lock_guard<std::mutex> lock(S().mu);
  if (!S().initialized) return kUninitialized;
  if (index >= S().config.gpus.size()) return kInvalidArgument;
  StateTransaction tx;
  GpuState& g = tx.state().gpus[index];
  if (!g.gis.empty()) return kInUse;
  g.mig_current = g.mig_pending;
  tx.MarkDirty();
  return kSuccess;
}

__attribute__((visibility("default"))) const char* nvmlErrorString(nvmlReturn_t result) {
  switch (result) {
    case 0:
      return "Success";
    case 1:
      return "Uninitialized";
    case 2:
      return "Invalid Argument";
    case 3:
      return "Not Supported";
    case 4:
      return "Insufficient Permissions";
    case 5:
      return "Already Initialized";
    case 6:
      return "Not Found";
    case 7:
      return "Insufficient Size";
    case 8:
      return "Insufficient External Power";
    case 9:
      return "Driver Not Loaded";
    case 10:
      return "Timeout";
    case 11:
      return "Interrupt request issue";
    case 12:
      return "NVML Shared Library Not Found";
    case 13:
      return "Function Not Found";
    case 14:
      return "Corrupted infoROM";
    case 15:
      return "GPU is lost";
    case 16:
      return "GPU requires reset";
    case 17:
      return "GPU access blocked by the operating system";
    case 18:
      return "RM has detected an NVML/RM version mismatch.";
    case 19:
      return "In use by another client";
    case 20:
      return "Insufficient Memory";
    case 21:
      return "No data";
    case 23:
      return "Insufficient Resources";
    default:
      return "Unknown Error";
  }
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
  Sim& sim = S();
  std::lock_guard<std::mutex> lock(sim.mu);
  if (sim.initialized) {
    ++sim.init_count;
    return kSuccess;
  }
  Config config;
  std::string error;
  if (!LoadConfig(config, error)) {
    std::fprintf(stderr, "nvmlsim: %s\n", error.c_str());
    return kUnknown;
  }
  sim.config = std::move(config);
  sim.description = sim.config.description;
  sim.memory_state = InitialState(sim.config);
  sim.calls.clear();
  sim.initialized = true;
  sim.init_count = 1;
  if (nvmlReturn_t injected = Enter("nvmlInitWithFlags"); injected != kSuccess) {
    sim.initialized = false;
    return injected;
  }
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlShutdown(void) {
  Sim& sim = S();
  std::lock_guard<std::mutex> lock(sim.mu);
  if (!sim.initialized) return kUninitialized;
  if (--sim.init_count == 0) sim.initialized = false;
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlSystemGetDriverVersion(
    char* version, unsigned int length) {
  SIM_ENTER("nvmlSystemGetDriverVersion");
  return CopyString(migdra::gpu::kSimulatedDriverVersion, version, length);
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(
    int* version) {
  SIM_ENTER("nvmlSystemGetCudaDriverVersion_v2");
  if (version == nullptr) return kInvalidArgument;
  *version = migdra::gpu::kSimulatedCudaDriverVersion;
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* count) {
  SIM_ENTER("nvmlDeviceGetCount_v2");
  if (count == nullptr) return kInvalidArgument;
  *count = static_cast<unsigned int>(S().config.gpus.size());
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(
    unsigned int index, nvmlDevice_t* device) {
  SIM_ENTER("nvmlDeviceGetHandleByIndex_v2");
  if (device == nullptr || index >= S().config.gpus.size()) return kInvalidArgument;
  *device = reinterpret_cast<nvmlDevice_t>(GetHandle(HandleKind::kGpu, index));
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device,
                                                                      char* uuid,
                                                                      unsigned int length) {
  SIM_ENTER("nvmlDeviceGetUUID");
  auto* h = reinterpret_cast<Handle*>(device);
  if (h == nullptr || h->gpu >= S().config.gpus.size()) return kInvalidArgument;
  if (h->kind == HandleKind::kGpu) {
    return CopyString(migdra::gpu::SimulatedGpuUuid(ModelOf(h->gpu)->key, h->gpu), uuid, length);
  }
  if (h->kind != HandleKind::kMigDevice) return kInvalidArgument;
  StateTransaction tx;
  GiState* gi = FindGi(tx.state().gpus[h->gpu], h->gi);
  if (gi == nullptr) return kNotFound;
  for (const CiState& ci : gi->cis) {
    if (ci.id == h->ci) return CopyString(ci.uuid, uuid, length);
  }
  return kNotFound;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device,
                                                                      char* name,
                                                                      unsigned int length) {
  SIM_ENTER("nvmlDeviceGetName");
  unsigned gpu;
  if (!ValidGpu(device, &gpu)) return kInvalidArgument;
  return CopyString(ModelOf(gpu)->product_name, name, length);
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device,
                                                                             unsigned int* minor) {
  SIM_ENTER("nvmlDeviceGetMinorNumber");
  unsigned gpu;
  if (!ValidGpu(device, &gpu) || minor == nullptr) return kInvalidArgument;
  *minor = gpu;
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device,
                                                                            nvmlPciInfo_t* pci) {
  SIM_ENTER("nvmlDeviceGetPciInfo_v3");
  unsigned gpu;
  if (!ValidGpu(device, &gpu) || pci == nullptr) return kInvalidArgument;
  *pci = {};
  const std::string bus = migdra::gpu::SimulatedPciBusId(gpu);
  std::snprintf(pci->busId, sizeof(pci->busId), "%s", bus.c_str());
  std::snprintf(pci->busIdLegacy, sizeof(pci->busIdLegacy), "%s", bus.substr(4).c_str());
  pci->domain = 0;
  pci->bus = static_cast<unsigned int>(std::stoul(bus.substr(9, 2), nullptr, 16));
  pci->device = 0;
  pci->pciDeviceId = ModelOf(gpu)->pci_device_id;
  pci->pciSubSystemId = 0x16A110DE;
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device,
                                                                            nvmlMemory_t* memory) {
  SIM_ENTER("nvmlDeviceGetMemoryInfo");
  unsigned gpu;
  if (!ValidGpu(device, &gpu) || memory == nullptr) return kInvalidArgument;
  memory->total = ModelOf(gpu)->memory_bytes;
  memory->used = 0;
  memory->free = memory->total;
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetArchitecture(
    nvmlDevice_t device, nvmlDeviceArchitecture_t* arch) {
  SIM_ENTER("nvmlDeviceGetArchitecture");
  unsigned gpu;
  if (!ValidGpu(device, &gpu) || arch == nullptr) return kInvalidArgument;
  *arch = migdra::gpu::NvmlArchitectureValue(ModelOf(gpu)->architecture);
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetBrand(nvmlDevice_t device,
                                                                       nvmlBrandType_t* type) {
  SIM_ENTER("nvmlDeviceGetBrand");
  unsigned gpu;
  if (!ValidGpu(device, &gpu) || type == nullptr) return kInvalidArgument;
  *type = static_cast<nvmlBrandType_t>(ModelOf(gpu)->brand);
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetCudaComputeCapability(
    nvmlDevice_t device, int* major, int* minor) {
  SIM_ENTER("nvmlDeviceGetCudaComputeCapability");
  unsigned gpu;
  if (!ValidGpu(device, &gpu) || major == nullptr || minor == nullptr) return kInvalidArgument;
  *major = ModelOf(gpu)->cc_major;
  *minor = ModelOf(gpu)->cc_minor;
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device,
                                                                         unsigned int* current,
                                                                         unsigned int* pending) {
  SIM_ENTER("nvmlDeviceGetMigMode");
  unsigned gpu;
  if (!ValidGpu(device, &gpu) || current == nullptr || pending == nullptr) return kInvalidArgument;
  StateTransaction tx;
  const GpuState& g = tx.state().gpus[gpu];
  *current = g.mig_current ? MIGDRA_NVML_DEVICE_MIG_ENABLE : MIGDRA_NVML_DEVICE_MIG_DISABLE;
  *pending = g.mig_pending ? MIGDRA_NVML_DEVICE_MIG_ENABLE : MIGDRA_NVML_DEVICE_MIG_DISABLE;
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceSetMigMode(
    nvmlDevice_t device, unsigned int mode, nvmlReturn_t* activation_status) {
  SIM_ENTER("nvmlDeviceSetMigMode");
  unsigned gpu;
  if (!ValidGpu(device, &gpu) || activation_status == nullptr) return kInvalidArgument;
  if (mode != MIGDRA_NVML_DEVICE_MIG_ENABLE && mode != MIGDRA_NVML_DEVICE_MIG_DISABLE) {
    return kInvalidArgument;
  }
  StateTransaction tx;
  GpuState& g = tx.state().gpus[gpu];
  const bool enable = mode == MIGDRA_NVML_DEVICE_MIG_ENABLE;
  if (!enable && !g.gis.empty()) {
    *activation_status = kInUse;
    return kInUse;
  }
  g.mig_pending = enable;
  if (ModelOf(gpu)->mig_mode_toggle_without_reset()) {
    g.mig_current = enable;
    *activation_status = kSuccess;
  } else {
    // Ampere: the change waits for a GPU reset.
    *activation_status = g.mig_current == enable ? kSuccess : MIGDRA_NVML_ERROR_RESET_REQUIRED;
  }
  tx.MarkDirty();
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfo(
    nvmlDevice_t device, unsigned int profile, nvmlGpuInstanceProfileInfo_t* info) {
  SIM_ENTER("nvmlDeviceGetGpuInstanceProfileInfo");
  unsigned gpu;
  if (!ValidGpu(device, &gpu) || info == nullptr) return kInvalidArgument;
  // As the real H200 reading shows: indexes 0..16 the GPU lacks are NOT_SUPPORTED, later ones
  // (3_SLICE_GFX and beyond) INVALID_ARGUMENT.
  const auto* p = ProfileByIndex(*ModelOf(gpu), profile);
  if (p == nullptr) {
    return profile >= MIGDRA_NVML_GPU_INSTANCE_PROFILE_COUNT - 1 ? kInvalidArgument : kNotSupported;
  }
  FillProfileInfo(*p, info);
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetGpuInstancePossiblePlacements_v2(
    nvmlDevice_t device, unsigned int profile_id, nvmlGpuInstancePlacement_t* placements,
    unsigned int* count) {
  SIM_ENTER("nvmlDeviceGetGpuInstancePossiblePlacements_v2");
  unsigned gpu;
  if (!ValidGpu(device, &gpu) || count == nullptr) return kInvalidArgument;
  const auto* p = ModelOf(gpu)->geometry.FindProfileById(profile_id);
  if (p == nullptr) return kInvalidArgument;
  const unsigned n = static_cast<unsigned>(p->placements.size());
  if (placements == nullptr) {
    *count = n;
    return kSuccess;
  }
  if (*count < n) {
    *count = n;
    return kInsufficientSize;
  }
  for (unsigned i = 0; i < n; ++i) placements[i] = {p->placements[i].start, p->placements[i].size};
  *count = n;
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetGpuInstances(
    nvmlDevice_t device, unsigned int profile_id, nvmlGpuInstance_t* instances,
    unsigned int* count) {
  SIM_ENTER("nvmlDeviceGetGpuInstances");
  unsigned gpu;
  if (!ValidGpu(device, &gpu) || instances == nullptr || count == nullptr) return kInvalidArgument;
  const auto* p = ModelOf(gpu)->geometry.FindProfileById(profile_id);
  if (p == nullptr) return kInvalidArgument;
  StateTransaction tx;
  const GpuState& g = tx.state().gpus[gpu];
  if (!g.mig_current) return kNotSupported;
  unsigned n = 0;
  for (const GiState& gi : g.gis) {
    if (gi.profile_id != profile_id) continue;
    if (n >= *count) return kInsufficientSize;
    instances[n++] =
        reinterpret_cast<nvmlGpuInstance_t>(GetHandle(HandleKind::kGpuInstance, gpu, gi.id));
  }
  *count = n;
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceGetGpuInstanceById(
    nvmlDevice_t device, unsigned int id, nvmlGpuInstance_t* instance) {
  SIM_ENTER("nvmlDeviceGetGpuInstanceById");
  unsigned gpu;
  if (!ValidGpu(device, &gpu) || instance == nullptr) return kInvalidArgument;
  StateTransaction tx;
  const GpuState& g = tx.state().gpus[gpu];
  if (!g.mig_current) return kNotSupported;
  if (FindGi(tx.state().gpus[gpu], id) == nullptr) return kNotFound;
  *instance = reinterpret_cast<nvmlGpuInstance_t>(GetHandle(HandleKind::kGpuInstance, gpu, id));
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlDeviceCreateGpuInstanceWithPlacement(
    nvmlDevice_t device, unsigned int profile_id, const nvmlGpuInstancePlacement_t* placement,
    nvmlGpuInstance_t* instance) {
  SIM_ENTER("nvmlDeviceCreateGpuInstanceWithPlacement");
  unsigned gpu;
  if (!ValidGpu(device, &gpu) || placement == nullptr || instance == nullptr) {
    return kInvalidArgument;
  }
  const GpuModel& model = *ModelOf(gpu);
  const auto* p = model.geometry.FindProfileById(profile_id);
  if (p == nullptr) return kInvalidArgument;
  bool possible = false;
  for (const auto& pl : p->placements) {
    possible |= pl.start == placement->start && pl.size == placement->size;
  }
  if (!possible) return kInvalidArgument;
  StateTransaction tx;
  GpuState& g = tx.state().gpus[gpu];
  if (!g.mig_current) return kNotSupported;
  std::vector<Instance> existing;
  for (const GiState& gi : g.gis) existing.push_back({gi.profile_id, gi.start});
  if (!migdra::gpu::CheckAddInstance(model.geometry, existing, {profile_id, placement->start})
           .ok()) {
    return kInsufficientResources;
  }
  unsigned id = 1;
  while (FindGi(g, id) != nullptr) ++id;
  g.gis.push_back({id, profile_id, placement->start, placement->size, {}});
  tx.MarkDirty();
  *instance = reinterpret_cast<nvmlGpuInstance_t>(GetHandle(HandleKind::kGpuInstance, gpu, id));
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlGpuInstanceDestroy(
    nvmlGpuInstance_t instance) {
  SIM_ENTER("nvmlGpuInstanceDestroy");
  auto* h = reinterpret_cast<Handle*>(instance);
  if (h == nullptr || h->kind != HandleKind::kGpuInstance) return kInvalidArgument;
  StateTransaction tx;
  GpuState& g = tx.state().gpus[h->gpu];
  for (auto it = g.gis.begin(); it != g.gis.end(); ++it) {
    if (it->id != h->gi) continue;
    if (!it->cis.empty()) return kInUse;
    g.gis.erase(it);
    tx.MarkDirty();
    return kSuccess;
  }
  return kNotFound;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlGpuInstanceGetInfo(
    nvmlGpuInstance_t instance, nvmlGpuInstanceInfo_t* info) {
  SIM_ENTER("nvmlGpuInstanceGetInfo");
  auto* h = reinterpret_cast<Handle*>(instance);
  if (h == nullptr || h->kind != HandleKind::kGpuInstance || info == nullptr) {
    return kInvalidArgument;
  }
  StateTransaction tx;
  GiState* gi = FindGi(tx.state().gpus[h->gpu], h->gi);
  if (gi == nullptr) return kNotFound;
  info->device = reinterpret_cast<nvmlDevice_t>(GetHandle(HandleKind::kGpu, h->gpu));
  info->id = gi->id;
  info->profileId = gi->profile_id;
  info->placement = {gi->start, gi->size};
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlGpuInstanceGetComputeInstanceProfileInfo(
    nvmlGpuInstance_t instance, unsigned int profile, unsigned int eng_profile,
    nvmlComputeInstanceProfileInfo_t* info) {
  SIM_ENTER("nvmlGpuInstanceGetComputeInstanceProfileInfo");
  auto* h = reinterpret_cast<Handle*>(instance);
  if (h == nullptr || h->kind != HandleKind::kGpuInstance || info == nullptr ||
      eng_profile != MIGDRA_NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED) {
    return kInvalidArgument;
  }
  const unsigned slices = CiSlicesOfIndex(profile);
  if (slices == 0) return kInvalidArgument;
  StateTransaction tx;
  GiState* gi = FindGi(tx.state().gpus[h->gpu], h->gi);
  if (gi == nullptr) return kNotFound;
  const auto* p = ModelOf(h->gpu)->geometry.FindProfileById(gi->profile_id);
  if (p == nullptr || slices > p->compute_slices) return kNotSupported;
  *info = {};
  info->id = CiProfileId(profile);
  info->sliceCount = slices;
  info->instanceCount = p->compute_slices / slices;
  info->multiprocessorCount = p->multiprocessors * slices / p->compute_slices;
  info->sharedCopyEngineCount = p->copy_engines;
  info->sharedDecoderCount = p->decoders;
  info->sharedEncoderCount = p->encoders;
  info->sharedJpegCount = p->jpeg_engines;
  info->sharedOfaCount = p->ofa_engines;
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlGpuInstanceCreateComputeInstance(
    nvmlGpuInstance_t instance, unsigned int profile_id, nvmlComputeInstance_t* ci_out) {
  SIM_ENTER("nvmlGpuInstanceCreateComputeInstance");
  auto* h = reinterpret_cast<Handle*>(instance);
  if (h == nullptr || h->kind != HandleKind::kGpuInstance || ci_out == nullptr) {
    return kInvalidArgument;
  }
  const unsigned slices = CiSlicesOfIndex(profile_id);
  if (slices == 0) return kInvalidArgument;
  StateTransaction tx;
  State& state = tx.state();
  GiState* gi = FindGi(state.gpus[h->gpu], h->gi);
  if (gi == nullptr) return kNotFound;
  const auto* p = ModelOf(h->gpu)->geometry.FindProfileById(gi->profile_id);
  if (p == nullptr || slices > p->compute_slices) return kNotSupported;
  unsigned used = 0;
  for (const CiState& ci : gi->cis) used += ci.slices;
  if (used + slices > p->compute_slices) return kInsufficientResources;
  unsigned id = 0;
  auto taken = [&](unsigned candidate) {
    for (const CiState& ci : gi->cis) {
      if (ci.id == candidate) return true;
    }
    return false;
  };
  while (taken(id)) ++id;
  char uuid[64];
  const uint64_t serial = state.next_uuid++;
  std::snprintf(uuid, sizeof(uuid), "MIG-%08x-%04x-%04x-%04x-%012llx",
                static_cast<unsigned>(0x51a00000u + h->gpu), h->gi & 0xffff, id & 0xffff, 0x5157,
                static_cast<unsigned long long>(serial));
  gi->cis.push_back({id, profile_id, slices, uuid});
  tx.MarkDirty();
  *ci_out = reinterpret_cast<nvmlComputeInstance_t>(
      GetHandle(HandleKind::kComputeInstance, h->gpu, h->gi, id));
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlGpuInstanceGetComputeInstances(
    nvmlGpuInstance_t instance, unsigned int profile_id, nvmlComputeInstance_t* cis,
    unsigned int* count) {
  SIM_ENTER("nvmlGpuInstanceGetComputeInstances");
  auto* h = reinterpret_cast<Handle*>(instance);
  if (h == nullptr || h->kind != HandleKind::kGpuInstance || cis == nullptr || count == nullptr) {
    return kInvalidArgument;
  }
  StateTransaction tx;
  GiState* gi = FindGi(tx.state().gpus[h->gpu], h->gi);
  if (gi == nullptr) return kNotFound;
  unsigned n = 0;
  for (const CiState& ci : gi->cis) {
    if (ci.profile_id != profile_id) continue;
    if (n >= *count) return kInsufficientSize;
    cis[n++] = reinterpret_cast<nvmlComputeInstance_t>(
        GetHandle(HandleKind::kComputeInstance, h->gpu, h->gi, ci.id));
  }
  *count = n;
  return kSuccess;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlGpuInstanceGetComputeInstanceById(
    nvmlGpuInstance_t instance, unsigned int id, nvmlComputeInstance_t* ci_out) {
  SIM_ENTER("nvmlGpuInstanceGetComputeInstanceById");
  auto* h = reinterpret_cast<Handle*>(instance);
  if (h == nullptr || h->kind != HandleKind::kGpuInstance || ci_out == nullptr) {
    return kInvalidArgument;
  }
  StateTransaction tx;
  GiState* gi = FindGi(tx.state().gpus[h->gpu], h->gi);
  if (gi == nullptr) return kNotFound;
  for (const CiState& ci : gi->cis) {
    if (ci.id == id) {
      *ci_out = reinterpret_cast<nvmlComputeInstance_t>(
          GetHandle(HandleKind::kComputeInstance, h->gpu, h->gi, id));
      return kSuccess;
    }
  }
  return kNotFound;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlComputeInstanceDestroy(
    nvmlComputeInstance_t instance) {
  SIM_ENTER("nvmlComputeInstanceDestroy");
  auto* h = reinterpret_cast<Handle*>(instance);
  if (h == nullptr || h->kind != HandleKind::kComputeInstance) return kInvalidArgument;
  StateTransaction tx;
  GiState* gi = FindGi(tx.state().gpus[h->gpu], h->gi);
  if (gi == nullptr) return kNotFound;
  for (auto it = gi->cis.begin(); it != gi->cis.end(); ++it) {
    if (it->id == h->ci) {
      gi->cis.erase(it);
      tx.MarkDirty();
      return kSuccess;
    }
  }
  return kNotFound;
}

__attribute__((visibility("default"))) nvmlReturn_t nvmlComputeInstanceGetInfo_v2(
    nvmlComputeInstance_t instance, nvmlComputeInstanceInfo_t* info) {
  SIM_ENTER("nvmlComputeInstanceGetInfo_v2");
  auto* h = reinterpret_cast<Handle*>(instance);
  if (h == nullptr || h->kind != HandleKind::kComputeInstance || info == nullptr) {
    return kInvalidArgument;
  }
  StateTransaction tx;
  GiState* gi = FindGi(tx.state().gpus[h->gpu], h->gi);
  if (gi == nullptr) return kNotFound;
  for (const CiState& ci : gi->cis) {
    if (ci.id != h->ci) continue;
    info->device =
        reinterpret_cast<nvmlDevice_t>(GetHandle(HandleKind::kMigDevice, h->gpu, h->gi, ci.id));
    info->gpuInstance =
        reinterpret_cast<nvmlGpuInstance_t>(GetHandle(HandleKind::kGpuInstance, h->gpu, h->gi));
    info->id = ci.id;
    info->profileId = ci.profile_id;
    info->placement = {0, ci.slices};
    return kSuccess;
  }
  return kNotFound;
}

}  // extern "C"
