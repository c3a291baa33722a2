#include "driver/node_labels.h"

#include <algorithm>
#include <cctype>
#include <vector>

namespace migdra::driver {

namespace {

std::vector<std::string> SplitVersion(const std::string& version) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = version.find('.', start);
    parts.push_back(
        version.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  while (parts.size() < 3) parts.push_back("0");
  return parts;
}

// A label value: GFD replaces spaces in the product name with '-'; anything else outside
// [A-Za-z0-9._-] is dropped, and the value is cut to 63 characters.
std::string LabelValue(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == ' ') {
      out += '-';
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') {
      out += c;
    }
  }
  if (out.size() > 63) out.resize(63);
  while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.back()))) out.pop_back();
  return out;
}

}  // namespace

std::map<std::string, std::string> NodeLabels(const gpu::NodeInventory& inventory,
                                              const LabelOptions& options) {
  std::map<std::string, std::string> labels;
  if (inventory.gpus.empty()) {
    labels["nvidia.com/gpu.present"] = "false";
    return labels;
  }
  const gpu::GpuInfo& first = inventory.gpus.front();
  std::string family = first.architecture;
  std::transform(family.begin(), family.end(), family.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  labels["nvidia.com/gpu.present"] = "true";
  labels["nvidia.com/gpu.count"] = std::to_string(inventory.gpus.size());
  labels["nvidia.com/gpu.product"] = LabelValue(first.product_name);
  labels["nvidia.com/gpu.memory"] = std::to_string(first.memory_bytes / (1024 * 1024));
  labels["nvidia.com/gpu.family"] = LabelValue(family);
  labels["nvidia.com/gpu.compute.major"] = std::to_string(first.cc_major);
  labels["nvidia.com/gpu.compute.minor"] = std::to_string(first.cc_minor);
  const std::vector<std::string> driver = SplitVersion(inventory.driver_version);
  labels["nvidia.com/cuda.driver.major"] = driver[0];
  labels["nvidia.com/cuda.driver.minor"] = driver[1];
  labels["nvidia.com/cuda.driver.rev"] = driver[2];
  labels["nvidia.com/cuda.driver-version.full"] = inventory.driver_version;
  labels["nvidia.com/cuda.driver-version.major"] = driver[0];
  labels["nvidia.com/cuda.driver-version.minor"] = driver[1];
  labels["nvidia.com/cuda.driver-version.revision"] = driver[2];
  const std::vector<std::string> cuda = SplitVersion(inventory.cuda_driver_version);
  labels["nvidia.com/cuda.runtime.major"] = cuda[0];
  labels["nvidia.com/cuda.runtime.minor"] = cuda[1];
  labels["nvidia.com/cuda.runtime-version.full"] = cuda[0] + "." + cuda[1];
  labels["nvidia.com/cuda.runtime-version.major"] = cuda[0];
  labels["nvidia.com/cuda.runtime-version.minor"] = cuda[1];
  const bool mig_capable = std::any_of(inventory.gpus.begin(), inventory.gpus.end(),
                                       [](const gpu::GpuInfo& g) { return g.mig.capable; });
  labels["nvidia.com/mig.capable"] = mig_capable ? "true" : "false";
  labels["nvidia.com/mig.strategy"] = options.mig_strategy;
  if (mig_capable) labels["nvidia.com/mig.config.state"] = "success";
  return labels;
}

}  // namespace migdra::driver
