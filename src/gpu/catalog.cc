// The built-in GPU catalog, parsed once from the compiled-in catalog.json.
#include <algorithm>
#include <cctype>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "gpu/geometry.h"

namespace migdra::gpu {

extern const char kCatalogJson[];

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

Architecture ParseArchitecture(const std::string& name) {
  if (name == "Ampere") return Architecture::kAmpere;
  if (name == "Hopper") return Architecture::kHopper;
  if (name == "Blackwell") return Architecture::kBlackwell;
  return Architecture::kUnknown;
}

GpuModel ParseModel(const nlohmann::json& m) {
  GpuModel model;
  model.key = m.at("key").get<std::string>();
  model.aliases = m.at("aliases").get<std::vector<std::string>>();
  model.product_name = m.at("product_name").get<std::string>();
  model.architecture = ParseArchitecture(m.at("architecture").get<std::string>());
  model.brand = m.at("brand").get<uint32_t>();
  const std::string cc = m.at("compute_capability").get<std::string>();
  model.cc_major = std::stoi(cc.substr(0, cc.find('.')));
  model.cc_minor = std::stoi(cc.substr(cc.find('.') + 1));
  model.memory_bytes = m.at("memory_mib").get<uint64_t>() * 1024 * 1024;
  model.pci_device_id =
      static_cast<uint32_t>(std::stoul(m.at("pci_device_id").get<std::string>(), nullptr, 16));
  model.geometry.grid_units = m.at("grid_units").get<uint32_t>();
  model.geometry.compute_slices = m.at("compute_slices").get<uint32_t>();
  model.geometry.memory_slices = m.at("memory_slices").get<uint32_t>();
  for (const auto& p : m.at("profiles")) {
    Profile profile;
    profile.name = p.at("name").get<std::string>();
    profile.id = p.at("id").get<uint32_t>();
    profile.nvml_index = p.at("index").get<uint32_t>();
    profile.compute_slices = p.at("compute_slices").get<uint32_t>();
    profile.memory_slices = p.at("memory_slices").get<uint32_t>();
    profile.multiprocessors = p.at("sms").get<uint32_t>();
    profile.memory_mib = p.at("memory_mib").get<uint64_t>();
    profile.copy_engines = p.at("ce").get<uint32_t>();
    profile.decoders = p.at("dec").get<uint32_t>();
    profile.encoders = p.at("enc").get<uint32_t>();
    profile.jpeg_engines = p.at("jpg").get<uint32_t>();
    profile.ofa_engines = p.at("ofa").get<uint32_t>();
    profile.instance_cap = p.at("instances").get<uint32_t>();
    for (const auto& pl : p.at("placements")) {
      profile.placements.push_back({pl.at(0).get<uint32_t>(), pl.at(1).get<uint32_t>()});
    }
    model.geometry.profiles.push_back(std::move(profile));
  }
  // In NVML index order, the order in which NVML (and so the inventory) lists them.
  std::stable_sort(model.geometry.profiles.begin(), model.geometry.profiles.end(),
                   [](const Profile& a, const Profile& b) { return a.nvml_index < b.nvml_index; });
  return model;
}

struct LoadedCatalog {
  std::vector<GpuModel> models;
  std::string error;  // non-empty when the compiled-in data did not parse
};

const LoadedCatalog& Loaded() {
  static const LoadedCatalog* catalog = [] {
    auto* loaded = new LoadedCatalog;
    try {
      nlohmann::json doc = nlohmann::json::parse(kCatalogJson);
      for (const auto& m : doc.at("models")) loaded->models.push_back(ParseModel(m));
    } catch (const std::exception& e) {
      loaded->models.clear();
      loaded->error = std::string("built-in GPU catalog is malformed: ") + e.what();
    }
    return loaded;
  }();
  return *catalog;
}

}  // namespace

const std::vector<GpuModel>& Catalog() { return Loaded().models; }

Result<const GpuModel*> FindModel(std::string_view name) {
  const LoadedCatalog& catalog = Loaded();
  if (!catalog.error.empty()) return MakeError(catalog.error);
  const std::string wanted = Lower(name);
  for (const GpuModel& model : catalog.models) {
    if (model.key == wanted) return &model;
    for (const std::string& alias : model.aliases) {
      if (alias == wanted) return &model;
    }
  }
  std::string known;
  for (const GpuModel& model : catalog.models) {
    if (!known.empty()) known += ", ";
    known += model.key;
  }
  return MakeError("unknown GPU model \"" + std::string(name) + "\" (known: " + known + ")");
}

}  // namespace migdra::gpu
