#include "gpu/nvml.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "gpu/nvml_abi.h"

namespace migdra::gpu {

namespace {

struct CodeName {
  NvmlReturn code;
  const char* name;
};

constexpr CodeName kCodeNames[] = {
    {NvmlReturn::kSuccess, "NVML_SUCCESS"},
    {NvmlReturn::kUninitialized, "NVML_ERROR_UNINITIALIZED"},
    {NvmlReturn::kInvalidArgument, "NVML_ERROR_INVALID_ARGUMENT"},
    {NvmlReturn::kNotSupported, "NVML_ERROR_NOT_SUPPORTED"},
    {NvmlReturn::kNoPermission, "NVML_ERROR_NO_PERMISSION"},
    {NvmlReturn::kAlreadyInitialized, "NVML_ERROR_ALREADY_INITIALIZED"},
    {NvmlReturn::kNotFound, "NVML_ERROR_NOT_FOUND"},
    {NvmlReturn::kInsufficientSize, "NVML_ERROR_INSUFFICIENT_SIZE"},
    {NvmlReturn::kInsufficientPower, "NVML_ERROR_INSUFFICIENT_POWER"},
    {NvmlReturn::kDriverNotLoaded, "NVML_ERROR_DRIVER_NOT_LOADED"},
    {NvmlReturn::kTimeout, "NVML_ERROR_TIMEOUT"},
    {NvmlReturn::kIrqIssue, "NVML_ERROR_IRQ_ISSUE"},
    {NvmlReturn::kLibraryNotFound, "NVML_ERROR_LIBRARY_NOT_FOUND"},
    {NvmlReturn::kFunctionNotFound, "NVML_ERROR_FUNCTION_NOT_FOUND"},
    {NvmlReturn::kCorruptedInforom, "NVML_ERROR_CORRUPTED_INFOROM"},
    {NvmlReturn::kGpuIsLost, "NVML_ERROR_GPU_IS_LOST"},
    {NvmlReturn::kResetRequired, "NVML_ERROR_RESET_REQUIRED"},
    {NvmlReturn::kOperatingSystem, "NVML_ERROR_OPERATING_SYSTEM"},
    {NvmlReturn::kLibRmVersionMismatch, "NVML_ERROR_LIB_RM_VERSION_MISMATCH"},
    {NvmlReturn::kInUse, "NVML_ERROR_IN_USE"},
    {NvmlReturn::kMemory, "NVML_ERROR_MEMORY"},
    {NvmlReturn::kNoData, "NVML_ERROR_NO_DATA"},
    {NvmlReturn::kVgpuEccNotSupported, "NVML_ERROR_VGPU_ECC_NOT_SUPPORTED"},
    {NvmlReturn::kInsufficientResources, "NVML_ERROR_INSUFFICIENT_RESOURCES"},
    {NvmlReturn::kFreqNotSupported, "NVML_ERROR_FREQ_NOT_SUPPORTED"},
    {NvmlReturn::kArgumentVersionMismatch, "NVML_ERROR_ARGUMENT_VERSION_MISMATCH"},
    {NvmlReturn::kDeprecated, "NVML_ERROR_DEPRECATED"},
    {NvmlReturn::kNotReady, "NVML_ERROR_NOT_READY"},
    {NvmlReturn::kGpuNotFound, "NVML_ERROR_GPU_NOT_FOUND"},
    {NvmlReturn::kInvalidState, "NVML_ERROR_INVALID_STATE"},
    {NvmlReturn::kUnknown, "NVML_ERROR_UNKNOWN"},
};

std::string CString(const char* buffer, size_t size) {
  return std::string(buffer, strnlen(buffer, size));
}

// go-nvlib's names for nvmlBrandType_t values.
std::string BrandName(uint32_t brand) {
  static const char* const kNames[] = {
      "Unknown",   "Quadro",      "Tesla",     "NVS",        "Grid",      "GeForce",
      "Titan",     "NvidiaVApps", "NvidiaVPC", "NvidiaVCS",  "NvidiaVWS", "NvidiaCloudGaming",
      "QuadroRTX", "NvidiaRTX",   "Nvidia",    "GeForceRTX", "TitanRTX"};
  if (brand < sizeof(kNames) / sizeof(kNames[0])) return kNames[brand];
  return "Unknown";
}

// go-nvlib's names for nvmlDeviceArchitecture_t values.
std::string ArchitectureNameOf(uint32_t arch) {
  switch (arch) {
    case 2:
      return "Kepler";
    case 3:
      return "Maxwell";
    case 4:
      return "Pascal";
    case 5:
      return "Volta";
    case 6:
      return "Turing";
    case 7:
      return "Ampere";
    case 8:
      return "Ada Lovelace";
    case 9:
      return "Hopper";
    case 10:
      return "Blackwell";
    case 11:
      return "Orin";
    default:
      return "Unknown";
  }
}

// go-nvlib's GetPCIBusID: lower case, and the 8-digit domain shortened to 4 digits.
std::string GoNvlibBusId(const std::string& nvml_bus_id) {
  std::string id = nvml_bus_id;
  std::transform(id.begin(), id.end(), id.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (id != "0000" && id.rfind("0000", 0) == 0) id = id.substr(4);
  return id;
}

// Compute slices of an NVML GI profile index (go-nvlib NewMigProfile).
uint32_t ComputeSlicesOfIndex(uint32_t index, uint32_t slice_count) {
  switch (index) {
    case kProfile1Slice:
    case kProfile1SliceRev1:
    case kProfile1SliceRev2:
    case kProfile1SliceGfx:
    case kProfile1SliceNoMe:
    case kProfile1SliceAllMe:
      return 1;
    case kProfile2Slice:
    case kProfile2SliceRev1:
    case kProfile2SliceGfx:
    case kProfile2SliceNoMe:
    case kProfile2SliceAllMe:
      return 2;
    case kProfile3Slice:
    case kProfile3SliceGfx:
      return 3;
    case kProfile4Slice:
    case kProfile4SliceGfx:
      return 4;
    case kProfile6Slice:
      return 6;
    case kProfile7Slice:
      return 7;
    case kProfile8Slice:
      return 8;
    default:
      return slice_count;
  }
}

// The CI profile index whose slice count equals a GI's (the full-size CI).
Result<uint32_t> FullComputeInstanceProfile(uint32_t compute_slices) {
  switch (compute_slices) {
    case 1:
      return uint32_t{MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE};
    case 2:
      return uint32_t{MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE};
    case 3:
      return uint32_t{MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE};
    case 4:
      return uint32_t{MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_4_SLICE};
    case 6:
      return uint32_t{MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_6_SLICE};
    case 7:
      return uint32_t{MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE};
    case 8:
      return uint32_t{MIGDRA_NVML_COMPUTE_INSTANCE_PROFILE_8_SLICE};
    default:
      return MakeError("no compute-instance profile spans " + std::to_string(compute_slices) +
                       " slices");
  }
}

constexpr uint32_t kComputeInstanceProfileCount = 9;

}  // namespace

const char* NvmlReturnName(NvmlReturn code) {
  for (const CodeName& c : kCodeNames) {
    if (c.code == code) return c.name;
  }
  return "NVML_ERROR_UNKNOWN";
}

NvmlReturn NvmlCode(const Error& error) {
  // The name is the last parenthesised token of the message (see nvml.h).
  const std::string& m = error.message;
  size_t open = m.rfind("(NVML_");
  if (open == std::string::npos || m.back() != ')') return NvmlReturn::kUnknown;
  std::string name = m.substr(open + 1, m.size() - open - 2);
  for (const CodeName& c : kCodeNames) {
    if (name == c.name) return c.code;
  }
  return NvmlReturn::kUnknown;
}

struct Nvml::Impl {
  void* handle = nullptr;
  std::string path;
  std::string simulation;
  bool simulated = false;
  std::mutex mu;
  std::vector<nvmlDevice_t> devices;  // cached handles, by index
  bool devices_loaded = false;

#define MIGDRA_NVML_POINTER(name, params) nvmlReturn_t(*name##_fn) params = nullptr;
  MIGDRA_NVML_FUNCTIONS(MIGDRA_NVML_POINTER)
#undef MIGDRA_NVML_POINTER
  const char* (*error_string_fn)(nvmlReturn_t) = nullptr;

  Error Fail(const std::string& call, nvmlReturn_t rc) const {
    const char* text = error_string_fn != nullptr ? error_string_fn(rc) : "unknown error";
    return MakeError(call + ": " + (text != nullptr ? text : "unknown error") + " (" +
                     NvmlReturnName(static_cast<NvmlReturn>(rc)) + ")");
  }

  // Caller holds mu.
  Status LoadDevices() {
    if (devices_loaded) return OkStatus();
    unsigned int count = 0;
    nvmlReturn_t rc = nvmlDeviceGetCount_v2_fn(&count);
    if (rc != MIGDRA_NVML_SUCCESS) return Fail("nvmlDeviceGetCount_v2()", rc);
    devices.assign(count, nullptr);
    for (unsigned int i = 0; i < count; ++i) {
      rc = nvmlDeviceGetHandleByIndex_v2_fn(i, &devices[i]);
      if (rc != MIGDRA_NVML_SUCCESS) {
        devices.clear();
        return Fail("nvmlDeviceGetHandleByIndex_v2(" + std::to_string(i) + ")", rc);
      }
    }
    devices_loaded = true;
    return OkStatus();
  }

  Result<nvmlDevice_t> Device(uint32_t index) {
    MIGDRA_RETURN_IF_ERROR(LoadDevices());
    if (index >= devices.size()) {
      return MakeError("GPU index " + std::to_string(index) + " out of range (" +
                       std::to_string(devices.size()) + " GPUs)");
    }
    return devices[index];
  }

  Result<nvmlGpuInstance_t> GpuInstance(uint32_t index, uint32_t gi_id) {
    MIGDRA_ASSIGN_OR_RETURN(nvmlDevice_t dev, Device(index));
    nvmlGpuInstance_t gi = nullptr;
    nvmlReturn_t rc = nvmlDeviceGetGpuInstanceById_fn(dev, gi_id, &gi);
    if (rc != MIGDRA_NVML_SUCCESS) {
      return Fail("nvmlDeviceGetGpuInstanceById(gpu " + std::to_string(index) + ", gi " +
                      std::to_string(gi_id) + ")",
                  rc);
    }
    return gi;
  }
};

Nvml::Nvml(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Nvml::~Nvml() {
  if (impl_ && impl_->handle != nullptr) {
    if (impl_->nvmlShutdown_fn != nullptr) impl_->nvmlShutdown_fn();
    dlclose(impl_->handle);
  }
}

Result<std::unique_ptr<Nvml>> Nvml::Open(const NvmlOptions& options) {
  return OpenWith(options, [](void*) {});
}

Result<std::unique_ptr<Nvml>> Nvml::OpenSimulated(const std::string& library_path,
                                                  const std::string& models,
                                                  const std::string& state_file) {
  return OpenWith({library_path, ""}, [&](void* handle) {
    using Configure = void (*)(const char*, const char*);
    if (auto configure = reinterpret_cast<Configure>(dlsym(handle, "migdraNvmlsimConfigure"))) {
      configure(models.c_str(), state_file.c_str());
    }
  });
}

Result<std::unique_ptr<Nvml>> Nvml::OpenWith(const NvmlOptions& options,
                                             const std::function<void(void*)>& before_init) {
  std::vector<std::string> candidates;
  if (!options.library_path.empty()) {
    candidates.push_back(options.library_path);
  } else if (!options.driver_root.empty()) {
    for (const char* dir :
         {"/usr/lib64", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64",
          "/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib", "/lib"}) {
      candidates.push_back(options.driver_root + dir + "/libnvidia-ml.so.1");
    }
  } else {
    candidates.push_back("libnvidia-ml.so.1");
  }
  auto impl = std::make_unique<Impl>();
  std::string tried;
  for (const std::string& candidate : candidates) {
    dlerror();
    impl->handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (impl->handle != nullptr) {
      impl->path = candidate;
      break;
    }
    const char* why = dlerror();
    tried += "\n  " + candidate + ": " + (why != nullptr ? why : "not loadable");
  }
  if (impl->handle == nullptr) return MakeError("cannot load NVML:" + tried);

  // Resolve the real file name for reporting.
  Dl_info info{};
  auto* probe = dlsym(impl->handle, "nvmlInitWithFlags");
  if (probe != nullptr && dladdr(probe, &info) != 0 && info.dli_fname != nullptr) {
    impl->path = info.dli_fname;
  }
  std::string missing;
#define MIGDRA_NVML_RESOLVE(name, params)                                                    \
  impl->name##_fn = reinterpret_cast<decltype(impl->name##_fn)>(dlsym(impl->handle, #name)); \
  if (impl->name##_fn == nullptr) missing += std::string(missing.empty() ? "" : ", ") + #name;
  MIGDRA_NVML_FUNCTIONS(MIGDRA_NVML_RESOLVE)
#undef MIGDRA_NVML_RESOLVE
  impl->error_string_fn =
      reinterpret_cast<const char* (*)(nvmlReturn_t)>(dlsym(impl->handle, "nvmlErrorString"));
  if (impl->error_string_fn == nullptr) {
    missing += std::string(missing.empty() ? "" : ", ") + "nvmlErrorString";
  }
  if (!missing.empty()) {
    std::string path = impl->path;
    dlclose(impl->handle);
    return MakeError(path + " lacks NVML functions: " + missing);
  }
  before_init(impl->handle);
  nvmlReturn_t rc = impl->nvmlInitWithFlags_fn(MIGDRA_NVML_INIT_FLAG_NO_GPUS);
  if (rc != MIGDRA_NVML_SUCCESS) {
    Error error = impl->Fail("nvmlInitWithFlags(NVML_INIT_FLAG_NO_GPUS) [" + impl->path + "]", rc);
    dlclose(impl->handle);
    return error;
  }
  auto describe = reinterpret_cast<const char* (*)()>(dlsym(impl->handle, "migdraNvmlsimDescribe"));
  if (describe != nullptr) {
    impl->simulated = true;
    const char* text = describe();
    impl->simulation = text != nullptr ? text : "";
  }
  return std::unique_ptr<Nvml>(new Nvml(std::move(impl)));
}

const std::string& Nvml::library_path() const { return impl_->path; }
bool Nvml::simulated() const { return impl_->simulated; }
std::string Nvml::simulation_description() const { return impl_->simulation; }

Result<std::string> Nvml::DriverVersion() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  char buffer[MIGDRA_NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE] = {};
  nvmlReturn_t rc = impl_->nvmlSystemGetDriverVersion_fn(buffer, sizeof(buffer));
  if (rc != MIGDRA_NVML_SUCCESS) return impl_->Fail("nvmlSystemGetDriverVersion()", rc);
  return CString(buffer, sizeof(buffer));
}

Result<std::string> Nvml::CudaDriverVersion() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  int version = 0;
  nvmlReturn_t rc = impl_->nvmlSystemGetCudaDriverVersion_v2_fn(&version);
  if (rc != MIGDRA_NVML_SUCCESS) return impl_->Fail("nvmlSystemGetCudaDriverVersion_v2()", rc);
  // As NVIDIA's DRA driver formats it: major.minor from e.g. 13000.
  return std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
}

Result<uint32_t> Nvml::DeviceCount() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  MIGDRA_RETURN_IF_ERROR(impl_->LoadDevices());
  return static_cast<uint32_t>(impl_->devices.size());
}

Result<DeviceIdentity> Nvml::Identity(uint32_t index) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& n = *impl_;
  MIGDRA_ASSIGN_OR_RETURN(nvmlDevice_t dev, n.Device(index));
  const std::string at = "(gpu " + std::to_string(index) + ")";
  DeviceIdentity id;
  id.index = index;
  char text[MIGDRA_NVML_DEVICE_NAME_V2_BUFFER_SIZE] = {};
  nvmlReturn_t rc = n.nvmlDeviceGetUUID_fn(dev, text, sizeof(text));
  if (rc != MIGDRA_NVML_SUCCESS) return n.Fail("nvmlDeviceGetUUID" + at, rc);
  id.uuid = CString(text, sizeof(text));
  std::memset(text, 0, sizeof(text));
  rc = n.nvmlDeviceGetName_fn(dev, text, sizeof(text));
  if (rc != MIGDRA_NVML_SUCCESS) return n.Fail("nvmlDeviceGetName" + at, rc);
  id.name = CString(text, sizeof(text));
  unsigned int minor = 0;
  rc = n.nvmlDeviceGetMinorNumber_fn(dev, &minor);
  if (rc != MIGDRA_NVML_SUCCESS) return n.Fail("nvmlDeviceGetMinorNumber" + at, rc);
  id.minor = minor;
  nvmlPciInfo_t pci{};
  rc = n.nvmlDeviceGetPciInfo_v3_fn(dev, &pci);
  if (rc != MIGDRA_NVML_SUCCESS) return n.Fail("nvmlDeviceGetPciInfo_v3" + at, rc);
  id.pci_bus_id = GoNvlibBusId(CString(pci.busId, sizeof(pci.busId)));
  id.pci_device_id = pci.pciDeviceId;
  nvmlMemory_t memory{};
  rc = n.nvmlDeviceGetMemoryInfo_fn(dev, &memory);
  if (rc == MIGDRA_NVML_SUCCESS) {
    id.memory_bytes = memory.total;
  } else if (rc != MIGDRA_NVML_ERROR_NOT_SUPPORTED) {
    return n.Fail("nvmlDeviceGetMemoryInfo" + at, rc);
  }
  nvmlDeviceArchitecture_t arch = 0;
  rc = n.nvmlDeviceGetArchitecture_fn(dev, &arch);
  if (rc != MIGDRA_NVML_SUCCESS) return n.Fail("nvmlDeviceGetArchitecture" + at, rc);
  id.architecture = arch;
  id.architecture_name = ArchitectureNameOf(arch);
  nvmlBrandType_t brand = 0;
  rc = n.nvmlDeviceGetBrand_fn(dev, &brand);
  if (rc != MIGDRA_NVML_SUCCESS) return n.Fail("nvmlDeviceGetBrand" + at, rc);
  id.brand = static_cast<uint32_t>(brand);
  id.brand_name = BrandName(id.brand);
  rc = n.nvmlDeviceGetCudaComputeCapability_fn(dev, &id.cc_major, &id.cc_minor);
  if (rc != MIGDRA_NVML_SUCCESS) return n.Fail("nvmlDeviceGetCudaComputeCapability" + at, rc);
  return id;
}

Result<uint32_t> Nvml::IndexOfMinor(uint32_t minor) {
  MIGDRA_ASSIGN_OR_RETURN(uint32_t count, DeviceCount());
  for (uint32_t i = 0; i < count; ++i) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    unsigned int m = 0;
    nvmlReturn_t rc = impl_->nvmlDeviceGetMinorNumber_fn(impl_->devices[i], &m);
    if (rc != MIGDRA_NVML_SUCCESS) {
      return impl_->Fail("nvmlDeviceGetMinorNumber(gpu " + std::to_string(i) + ")", rc);
    }
    if (m == minor) return i;
  }
  return MakeError("no GPU with minor number " + std::to_string(minor));
}

Result<uint32_t> Nvml::IndexOfUuid(const std::string& uuid) {
  MIGDRA_ASSIGN_OR_RETURN(uint32_t count, DeviceCount());
  for (uint32_t i = 0; i < count; ++i) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    char text[MIGDRA_NVML_DEVICE_UUID_V2_BUFFER_SIZE] = {};
    nvmlReturn_t rc = impl_->nvmlDeviceGetUUID_fn(impl_->devices[i], text, sizeof(text));
    if (rc != MIGDRA_NVML_SUCCESS) {
      return impl_->Fail("nvmlDeviceGetUUID(gpu " + std::to_string(i) + ")", rc);
    }
    if (CString(text, sizeof(text)) == uuid) return i;
  }
  return MakeError("no GPU with UUID " + uuid);
}

Result<MigMode> Nvml::GetMigMode(uint32_t index) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  MIGDRA_ASSIGN_OR_RETURN(nvmlDevice_t dev, impl_->Device(index));
  unsigned int current = 0, pending = 0;
  nvmlReturn_t rc = impl_->nvmlDeviceGetMigMode_fn(dev, &current, &pending);
  if (rc == MIGDRA_NVML_ERROR_NOT_SUPPORTED) return MigMode{};
  if (rc != MIGDRA_NVML_SUCCESS) {
    return impl_->Fail("nvmlDeviceGetMigMode(gpu " + std::to_string(index) + ")", rc);
  }
  return MigMode{true, current == MIGDRA_NVML_DEVICE_MIG_ENABLE,
                 pending == MIGDRA_NVML_DEVICE_MIG_ENABLE};
}

Result<std::vector<Profile>> Nvml::GpuInstanceProfiles(uint32_t index) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& n = *impl_;
  MIGDRA_ASSIGN_OR_RETURN(nvmlDevice_t dev, n.Device(index));
  const std::string gpu = "gpu " + std::to_string(index);
  nvmlMemory_t memory{};
  nvmlReturn_t rc = n.nvmlDeviceGetMemoryInfo_fn(dev, &memory);
  if (rc != MIGDRA_NVML_SUCCESS) return n.Fail("nvmlDeviceGetMemoryInfo(" + gpu + ")", rc);
  std::vector<Profile> profiles;
  for (uint32_t i = 0; i < kProfileIndexCount; ++i) {
    nvmlGpuInstanceProfileInfo_t info{};
    rc = n.nvmlDeviceGetGpuInstanceProfileInfo_fn(dev, i, &info);
    if (rc == MIGDRA_NVML_ERROR_NOT_SUPPORTED || rc == MIGDRA_NVML_ERROR_INVALID_ARGUMENT) continue;
    if (rc != MIGDRA_NVML_SUCCESS) {
      return n.Fail(
          "nvmlDeviceGetGpuInstanceProfileInfo(" + gpu + ", index " + std::to_string(i) + ")", rc);
    }
    const std::string call = "nvmlDeviceGetGpuInstancePossiblePlacements_v2(" + gpu + ", profile " +
                             std::to_string(info.id) + ")";
    unsigned int count = 0;
    rc = n.nvmlDeviceGetGpuInstancePossiblePlacements_v2_fn(dev, info.id, nullptr, &count);
    if (rc == MIGDRA_NVML_ERROR_NOT_SUPPORTED || rc == MIGDRA_NVML_ERROR_INVALID_ARGUMENT) continue;
    if (rc != MIGDRA_NVML_SUCCESS) return n.Fail(call, rc);
    std::vector<nvmlGpuInstancePlacement_t> placements(count);
    if (count > 0) {
      rc = n.nvmlDeviceGetGpuInstancePossiblePlacements_v2_fn(dev, info.id, placements.data(),
                                                              &count);
      if (rc != MIGDRA_NVML_SUCCESS) return n.Fail(call, rc);
      placements.resize(count);
    }
    Profile p;
    p.id = info.id;
    p.nvml_index = i;
    p.compute_slices = ComputeSlicesOfIndex(i, info.sliceCount);
    p.multiprocessors = info.multiprocessorCount;
    p.memory_mib = info.memorySizeMB;
    p.copy_engines = info.copyEngineCount;
    p.decoders = info.decoderCount;
    p.encoders = info.encoderCount;
    p.jpeg_engines = info.jpegCount;
    p.ofa_engines = info.ofaCount;
    p.instance_cap = info.instanceCount;
    p.p2p = info.isP2pSupported != 0;
    p.name = MigProfileName(p.compute_slices, i, p.memory_mib, memory.total);
    for (const auto& pl : placements) p.placements.push_back({pl.start, pl.size});
    std::sort(p.placements.begin(), p.placements.end(),
              [](const Placement& a, const Placement& b) { return a.start < b.start; });
    profiles.push_back(std::move(p));
  }
  // Memory slices of each profile, from its placement size on the grid (see GeometryFromNvml).
  uint32_t grid = 0;
  for (const Profile& p : profiles) {
    for (const Placement& pl : p.placements) grid = std::max(grid, pl.end());
  }
  const uint32_t units_per_slice = grid == 12 ? 3 : 1;
  for (Profile& p : profiles) {
    if (!p.placements.empty()) p.memory_slices = p.placements.front().size / units_per_slice;
  }
  return profiles;
}

Result<std::vector<GpuInstanceInfo>> Nvml::GpuInstances(uint32_t index) {
  MIGDRA_ASSIGN_OR_RETURN(std::vector<Profile> profiles, GpuInstanceProfiles(index));
  std::vector<GpuInstanceInfo> out;
  for (const Profile& p : profiles) {
    MIGDRA_ASSIGN_OR_RETURN(auto of_profile, GpuInstancesOfProfile(index, p.id));
    out.insert(out.end(), of_profile.begin(), of_profile.end());
  }
  std::sort(out.begin(), out.end(),
            [](const GpuInstanceInfo& a, const GpuInstanceInfo& b) { return a.id < b.id; });
  return out;
}

Result<std::vector<GpuInstanceInfo>> Nvml::GpuInstancesOfProfile(uint32_t index,
                                                                 uint32_t profile_id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& n = *impl_;
  MIGDRA_ASSIGN_OR_RETURN(nvmlDevice_t dev, n.Device(index));
  // More handles than any GPU has GIs (at most 7 on today's GPUs).
  std::vector<nvmlGpuInstance_t> handles(32);
  unsigned int count = static_cast<unsigned int>(handles.size());
  nvmlReturn_t rc = n.nvmlDeviceGetGpuInstances_fn(dev, profile_id, handles.data(), &count);
  std::vector<GpuInstanceInfo> out;
  if (rc == MIGDRA_NVML_ERROR_NOT_SUPPORTED) return out;  // MIG mode off
  if (rc != MIGDRA_NVML_SUCCESS) {
    return n.Fail("nvmlDeviceGetGpuInstances(gpu " + std::to_string(index) + ", profile " +
                      std::to_string(profile_id) + ")",
                  rc);
  }
  for (unsigned int i = 0; i < count; ++i) {
    nvmlGpuInstanceInfo_t info{};
    rc = n.nvmlGpuInstanceGetInfo_fn(handles[i], &info);
    if (rc != MIGDRA_NVML_SUCCESS) {
      return n.Fail("nvmlGpuInstanceGetInfo(gpu " + std::to_string(index) + ")", rc);
    }
    out.push_back({info.id, info.profileId, {info.placement.start, info.placement.size}});
  }
  std::sort(out.begin(), out.end(),
            [](const GpuInstanceInfo& a, const GpuInstanceInfo& b) { return a.id < b.id; });
  return out;
}

Result<std::vector<ComputeInstanceInfo>> Nvml::ComputeInstances(uint32_t index, uint32_t gi_id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& n = *impl_;
  MIGDRA_ASSIGN_OR_RETURN(nvmlGpuInstance_t gi, n.GpuInstance(index, gi_id));
  const std::string at = "(gpu " + std::to_string(index) + ", gi " + std::to_string(gi_id);
  std::vector<ComputeInstanceInfo> out;
  for (uint32_t p = 0; p < kComputeInstanceProfileCount; ++p) {
    nvmlComputeInstanceProfileInfo_t profile{};
    nvmlReturn_t rc = n.nvmlGpuInstanceGetComputeInstanceProfileInfo_fn(
        gi, p, MIGDRA_NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED, &profile);
    if (rc == MIGDRA_NVML_ERROR_NOT_SUPPORTED || rc == MIGDRA_NVML_ERROR_INVALID_ARGUMENT) continue;
    if (rc != MIGDRA_NVML_SUCCESS) {
      return n.Fail("nvmlGpuInstanceGetComputeInstanceProfileInfo" + at + ", profile " +
                        std::to_string(p) + ")",
                    rc);
    }
    std::vector<nvmlComputeInstance_t> handles(std::max<uint32_t>(profile.instanceCount, 1) + 8);
    unsigned int count = static_cast<unsigned int>(handles.size());
    rc = n.nvmlGpuInstanceGetComputeInstances_fn(gi, profile.id, handles.data(), &count);
    if (rc != MIGDRA_NVML_SUCCESS) {
      return n.Fail("nvmlGpuInstanceGetComputeInstances" + at + ", profile " +
                        std::to_string(profile.id) + ")",
                    rc);
    }
    for (unsigned int i = 0; i < count; ++i) {
      nvmlComputeInstanceInfo_t info{};
      rc = n.nvmlComputeInstanceGetInfo_v2_fn(handles[i], &info);
      if (rc != MIGDRA_NVML_SUCCESS) return n.Fail("nvmlComputeInstanceGetInfo_v2" + at + ")", rc);
      char uuid[MIGDRA_NVML_DEVICE_UUID_V2_BUFFER_SIZE] = {};
      rc = n.nvmlDeviceGetUUID_fn(info.device, uuid, sizeof(uuid));
      if (rc != MIGDRA_NVML_SUCCESS) {
        return n.Fail("nvmlDeviceGetUUID" + at + ", ci " + std::to_string(info.id) + ")", rc);
      }
      out.push_back({info.id, gi_id, info.profileId, CString(uuid, sizeof(uuid))});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const ComputeInstanceInfo& a, const ComputeInstanceInfo& b) { return a.id < b.id; });
  return out;
}

Result<MigModeChange> Nvml::SetMigMode(uint32_t index, bool enabled) {
  nvmlReturn_t activation = MIGDRA_NVML_SUCCESS;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    MIGDRA_ASSIGN_OR_RETURN(nvmlDevice_t dev, impl_->Device(index));
    nvmlReturn_t rc = impl_->nvmlDeviceSetMigMode_fn(
        dev, enabled ? MIGDRA_NVML_DEVICE_MIG_ENABLE : MIGDRA_NVML_DEVICE_MIG_DISABLE, &activation);
    if (rc != MIGDRA_NVML_SUCCESS) {
      return impl_->Fail("nvmlDeviceSetMigMode(gpu " + std::to_string(index) + ", " +
                             (enabled ? "NVML_DEVICE_MIG_ENABLE" : "NVML_DEVICE_MIG_DISABLE") + ")",
                         rc);
    }
  }
  MIGDRA_ASSIGN_OR_RETURN(MigMode mode, GetMigMode(index));
  MigModeChange change;
  change.activation_status = static_cast<NvmlReturn>(activation);
  change.mode = mode;
  return change;
}

Result<GpuInstanceInfo> Nvml::CreateGpuInstance(uint32_t index, uint32_t profile_id,
                                                uint32_t start) {
  MIGDRA_ASSIGN_OR_RETURN(std::vector<Profile> profiles, GpuInstanceProfiles(index));
  const std::string call = "nvmlDeviceCreateGpuInstanceWithPlacement(gpu " + std::to_string(index) +
                           ", profile " + std::to_string(profile_id) + ", start " +
                           std::to_string(start) + ")";
  const Profile* profile = nullptr;
  for (const Profile& p : profiles) {
    if (p.id == profile_id) profile = &p;
  }
  if (profile == nullptr) return MakeError(call + ": the GPU has no such profile");
  const Placement* placement = nullptr;
  for (const Placement& pl : profile->placements) {
    if (pl.start == start) placement = &pl;
  }
  if (placement == nullptr)
    return MakeError(call + ": not a possible placement of " + profile->name);
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& n = *impl_;
  MIGDRA_ASSIGN_OR_RETURN(nvmlDevice_t dev, n.Device(index));
  nvmlGpuInstancePlacement_t want{placement->start, placement->size};
  nvmlGpuInstance_t gi = nullptr;
  nvmlReturn_t rc = n.nvmlDeviceCreateGpuInstanceWithPlacement_fn(dev, profile_id, &want, &gi);
  if (rc != MIGDRA_NVML_SUCCESS) return n.Fail(call, rc);
  nvmlGpuInstanceInfo_t info{};
  rc = n.nvmlGpuInstanceGetInfo_fn(gi, &info);
  if (rc != MIGDRA_NVML_SUCCESS)
    return n.Fail("nvmlGpuInstanceGetInfo(new GI of " + call + ")", rc);
  return GpuInstanceInfo{info.id, info.profileId, {info.placement.start, info.placement.size}};
}

Result<ComputeInstanceInfo> Nvml::CreateComputeInstance(uint32_t index, uint32_t gi_id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& n = *impl_;
  MIGDRA_ASSIGN_OR_RETURN(nvmlGpuInstance_t gi, n.GpuInstance(index, gi_id));
  MIGDRA_ASSIGN_OR_RETURN(nvmlDevice_t dev, n.Device(index));
  const std::string at = "(gpu " + std::to_string(index) + ", gi " + std::to_string(gi_id);
  nvmlGpuInstanceInfo_t gi_info{};
  nvmlReturn_t rc = n.nvmlGpuInstanceGetInfo_fn(gi, &gi_info);
  if (rc != MIGDRA_NVML_SUCCESS) return n.Fail("nvmlGpuInstanceGetInfo" + at + ")", rc);
  // The GI profile's compute slices, found by its id.
  uint32_t slices = 0;
  for (uint32_t i = 0; i < kProfileIndexCount && slices == 0; ++i) {
    nvmlGpuInstanceProfileInfo_t info{};
    if (n.nvmlDeviceGetGpuInstanceProfileInfo_fn(dev, i, &info) == MIGDRA_NVML_SUCCESS &&
        info.id == gi_info.profileId) {
      slices = info.sliceCount;
    }
  }
  MIGDRA_ASSIGN_OR_RETURN(uint32_t ci_profile, FullComputeInstanceProfile(slices));
  nvmlComputeInstanceProfileInfo_t profile{};
  rc = n.nvmlGpuInstanceGetComputeInstanceProfileInfo_fn(
      gi, ci_profile, MIGDRA_NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED, &profile);
  if (rc != MIGDRA_NVML_SUCCESS) {
    return n.Fail("nvmlGpuInstanceGetComputeInstanceProfileInfo" + at + ", profile " +
                      std::to_string(ci_profile) + ")",
                  rc);
  }
  nvmlComputeInstance_t ci = nullptr;
  rc = n.nvmlGpuInstanceCreateComputeInstance_fn(gi, profile.id, &ci);
  if (rc != MIGDRA_NVML_SUCCESS) {
    return n.Fail("nvmlGpuInstanceCreateComputeInstance" + at + ", profile " +
                      std::to_string(profile.id) + ")",
                  rc);
  }
  nvmlComputeInstanceInfo_t info{};
  rc = n.nvmlComputeInstanceGetInfo_v2_fn(ci, &info);
  if (rc != MIGDRA_NVML_SUCCESS) return n.Fail("nvmlComputeInstanceGetInfo_v2" + at + ")", rc);
  char uuid[MIGDRA_NVML_DEVICE_UUID_V2_BUFFER_SIZE] = {};
  rc = n.nvmlDeviceGetUUID_fn(info.device, uuid, sizeof(uuid));
  if (rc != MIGDRA_NVML_SUCCESS) return n.Fail("nvmlDeviceGetUUID(MIG device" + at + "))", rc);
  return ComputeInstanceInfo{info.id, gi_id, info.profileId, CString(uuid, sizeof(uuid))};
}

Status Nvml::DestroyComputeInstance(uint32_t index, uint32_t gi_id, uint32_t ci_id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& n = *impl_;
  MIGDRA_ASSIGN_OR_RETURN(nvmlGpuInstance_t gi, n.GpuInstance(index, gi_id));
  const std::string at = "(gpu " + std::to_string(index) + ", gi " + std::to_string(gi_id) +
                         ", ci " + std::to_string(ci_id) + ")";
  nvmlComputeInstance_t ci = nullptr;
  nvmlReturn_t rc = n.nvmlGpuInstanceGetComputeInstanceById_fn(gi, ci_id, &ci);
  if (rc != MIGDRA_NVML_SUCCESS) return n.Fail("nvmlGpuInstanceGetComputeInstanceById" + at, rc);
  rc = n.nvmlComputeInstanceDestroy_fn(ci);
  if (rc != MIGDRA_NVML_SUCCESS) return n.Fail("nvmlComputeInstanceDestroy" + at, rc);
  return OkStatus();
}

Status Nvml::DestroyGpuInstance(uint32_t index, uint32_t gi_id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& n = *impl_;
  MIGDRA_ASSIGN_OR_RETURN(nvmlGpuInstance_t gi, n.GpuInstance(index, gi_id));
  nvmlReturn_t rc = n.nvmlGpuInstanceDestroy_fn(gi);
  if (rc != MIGDRA_NVML_SUCCESS) {
    return n.Fail("nvmlGpuInstanceDestroy(gpu " + std::to_string(index) + ", gi " +
                      std::to_string(gi_id) + ")",
                  rc);
  }
  return OkStatus();
}

}  // namespace migdra::gpu
