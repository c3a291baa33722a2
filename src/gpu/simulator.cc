#include "gpu/simulator.h"

#include <cstdlib>
#include <filesystem>
#include <vector>

namespace migdra::gpu {

Result<std::unique_ptr<Nvml>> OpenSimulator(const std::string& models,
                                            const std::string& state_file) {
  std::vector<std::string> candidates;
  if (const char* p = std::getenv("MIGDRA_NVMLSIM_LIBRARY"); p != nullptr && *p != '\0') {
    candidates.push_back(p);
  }
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  if (!ec) {
    candidates.push_back((dir / "libnvidia-ml.so.1").string());
    candidates.push_back((dir / ".." / "nvmlsim" / "libnvidia-ml.so.1").string());
    candidates.push_back((dir / ".." / ".." / "src" / "nvmlsim" / "libnvidia-ml.so.1").string());
    candidates.push_back((dir / ".." / "lib" / "migdra" / "libnvidia-ml.so.1").string());
  }
  std::string tried;
  for (const std::string& path : candidates) {
    if (!std::filesystem::exists(path)) {
      tried += "\n  " + path + ": not found";
      continue;
    }
    auto nvml = Nvml::OpenSimulated(path, models, state_file);
    if (nvml.ok() && (*nvml)->simulated()) return nvml;
    tried += "\n  " + path + ": " + (nvml.ok() ? "not nvmlsim" : nvml.error().message);
  }
  return MakeError("cannot load nvmlsim (set MIGDRA_NVMLSIM_LIBRARY):" + tried);
}

}  // namespace migdra::gpu
