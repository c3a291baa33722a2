#include "node/local_node.h"

#include <sys/utsname.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <thread>

#include "api/codec.h"
#include "driver/device_state.h"
#include "driver/node_labels.h"
#include "driver/slice_builder.h"
#include "gpu/geometry.h"
#include "gpu/nvml.h"

namespace migdra::node {

using control::ApiError;
using control::ApiResult;
using control::json;
using control::NewUid;
using control::NowRfc3339;
using control::Store;
namespace {

constexpr const char* kNodeVersion = "v1.34.0+migdra";

std::string OsImage() {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      std::string v = line.substr(12);
      if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  return "Linux";
}

std::string Kernel() {
  struct utsname u;
  return uname(&u) == 0 ? u.release : "";
}

ApiError Failure(const std::string& what) { return ApiError{500, "InternalError", what}; }

}  // namespace

ApiResult<std::vector<std::pair<std::string, int>>> ParseSimulateSpec(const std::string& spec) {
  using R = ApiResult<std::vector<std::pair<std::string, int>>>;
  std::vector<std::pair<std::string, int>> out;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    std::string item =
        spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty())
      return R::Fail(ApiError{400, "BadRequest", "--simulate: empty model in \"" + spec + "\""});
    int count = 1;
    size_t colon = item.find(':');
    if (colon != std::string::npos) {
      std::string n = item.substr(colon + 1);
      if (n.empty() || n.size() > 3 || !std::all_of(n.begin(), n.end(), ::isdigit) ||
          std::stoi(n) < 1) {
        return R::Fail(
            ApiError{400, "BadRequest", "--simulate: bad GPU count \"" + n + "\" (want 1..999)"});
      }
      count = std::stoi(n);
      item = item.substr(0, colon);
    }
    Result<const gpu::GpuModel*> model = gpu::FindModel(item);
    if (!model.ok())
      return R::Fail(ApiError{400, "BadRequest", "--simulate: " + model.error().ToString()});
    out.emplace_back((*model)->key, count);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return R::Ok(out);
}

std::map<std::string, std::string> GpuNodeLabels(const gpu::NodeInventory& inventory) {
  std::map<std::string, std::string> labels = driver::NodeLabels(inventory);
  if (inventory.gpus.empty()) return labels;
  // The GPU Operator's switch for the DRA driver: serve runs it in-process.
  labels["nvidia.com/gpu.deploy.dra-driver"] = "true";
  if (inventory.simulated) labels["migdra.io/simulated"] = "true";
  return labels;
}

ApiResult<LocalNode> BuildLocalNode(const LocalNodeOptions& options) {
  using R = ApiResult<LocalNode>;
  LocalNode local;
  const std::string node_name =
      options.node_name.empty() ? gpu::LocalNodeName() : options.node_name;
  std::string simulate = options.simulate;
  std::string fallback_note;
  if (simulate.empty()) {
    Result<std::unique_ptr<gpu::Nvml>> nvml = gpu::Nvml::Open();
    if (nvml.ok()) {
      Result<gpu::NodeInventory> inv = gpu::ReadInventory(**nvml, node_name);
      if (!inv.ok())
        return R::Fail(Failure("reading the GPU inventory: " + inv.error().ToString()));
      local.inventory = std::move(*inv);
      local.inventory.simulated = local.inventory.simulated || (*nvml)->simulated();
    } else {
      simulate = "a100-80gb:8";
      fallback_note = " (no NVML: " + nvml.error().ToString() + ")";
    }
  }
  if (!simulate.empty()) {
    auto parsed = ParseSimulateSpec(simulate);
    if (!parsed.ok()) return R::Fail(parsed.error);
    local.inventory = gpu::NodeInventory{};
    for (const auto& [model, count] : *parsed.value) {
      Result<gpu::NodeInventory> inv = gpu::SimulatedInventory(model, count, node_name);
      if (!inv.ok()) return R::Fail(Failure("simulating " + model + ": " + inv.error().ToString()));
      if (local.inventory.gpus.empty()) {
        local.inventory = std::move(*inv);
        continue;
      }
      for (gpu::GpuInfo g : inv->gpus) {
        const uint32_t index = static_cast<uint32_t>(local.inventory.gpus.size());
        g.index = index;
        g.minor = index;
        g.uuid = gpu::SimulatedGpuUuid(model, index);
        g.pci_bus_id = gpu::SimulatedPciBusId(index);
        local.inventory.gpus.push_back(std::move(g));
      }
    }
    local.inventory.simulated = true;
  }
  local.inventory.node_name = node_name;

  driver::SliceOptions slice_options;
  slice_options.driver = options.driver;
  slice_options.layout = driver::SliceLayout::kCombined;
  Result<std::vector<api::ResourceSlice>> slices =
      driver::BuildSlicesForPolicy(local.inventory, kServeDynamicMig, slice_options);
  if (!slices.ok())
    return R::Fail(Failure("building ResourceSlices: " + slices.error().ToString()));
  for (const api::ResourceSlice& s : *slices) {
    json slice = api::ToJson(s);
    slice["apiVersion"] = "resource.k8s.io/v1";
    slice["kind"] = "ResourceSlice";
    local.slices.push_back(std::move(slice));
  }

  json labels = {{"kubernetes.io/hostname", node_name},
                 {"kubernetes.io/os", "linux"},
                 {"kubernetes.io/arch", "amd64"},
                 {"beta.kubernetes.io/os", "linux"},
                 {"beta.kubernetes.io/arch", "amd64"}};
  for (const auto& [k, v] : GpuNodeLabels(local.inventory)) labels[k] = v;
  const std::string cpus = std::to_string(std::max(1u, std::thread::hardware_concurrency()));
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGE_SIZE);
  const std::string memory =
      std::to_string(static_cast<long long>(pages) * page_size / 1024) + "Ki";
  json resources = {{"cpu", cpus}, {"memory", memory}, {"pods", "110"}, {"ephemeral-storage", "0"}};
  const std::string now = NowRfc3339();
  auto condition = [&](const char* type, const char* status, const char* reason,
                       const char* message) {
    return json{{"type", type},       {"status", status},         {"reason", reason},
                {"message", message}, {"lastHeartbeatTime", now}, {"lastTransitionTime", now}};
  };
  local.node = {{"apiVersion", "v1"},
                {"kind", "Node"},
                {"metadata",
                 {{"name", node_name},
                  {"labels", labels},
                  {"annotations", {{"node.alpha.kubernetes.io/ttl", "0"}}}}},
                {"spec", json::object()},
                {"status",
                 {{"capacity", resources},
                  {"allocatable", resources},
                  {"conditions",
                   json::array({condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                                          "kubelet has sufficient memory available"),
                                condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                                          "kubelet has no disk pressure"),
                                condition("PIDPressure", "False", "KubeletHasSufficientPID",
                                          "kubelet has sufficient PID available"),
                                condition("Ready", "True", "KubeletReady",
                                          "migdra serve is posting ready status")})},
                  {"addresses", json::array({{{"type", "InternalIP"}, {"address", "127.0.0.1"}},
                                             {{"type", "Hostname"}, {"address", node_name}}})},
                  {"nodeInfo",
                   {{"machineID", ""},
                    {"systemUUID", ""},
                    {"bootID", ""},
                    {"kernelVersion", Kernel()},
                    {"osImage", OsImage()},
                    {"containerRuntimeVersion", options.container_runtime_version},
                    {"kubeletVersion", kNodeVersion},
                    {"kubeProxyVersion", ""},
                    {"operatingSystem", "linux"},
                    {"architecture", "amd64"}}}}}};
  const gpu::NodeInventory& inv = local.inventory;
  local.description = std::to_string(inv.gpus.size()) + " x " +
                      (inv.gpus.empty() ? std::string("no GPU") : inv.gpus.front().product_name) +
                      (inv.simulated ? " (simulated" + fallback_note + ")" : "");
  return R::Ok(std::move(local));
}

ApiResult<bool> RegisterLocalNode(Store& store, const LocalNode& local) {
  using R = ApiResult<bool>;
  const std::string node_name = local.node["metadata"]["name"];
  json node = local.node;
  std::optional<json> existing = store.Get("nodes", "", node_name);
  if (existing) {
    json merged = *existing;
    for (const auto& [k, v] : node["metadata"]["labels"].items())
      merged["metadata"]["labels"][k] = v;
    if (!node["metadata"]["labels"].contains("migdra.io/simulated")) {
      merged["metadata"]["labels"].erase("migdra.io/simulated");
    }
    merged["status"] = node["status"];
    if (merged != *existing) {
      ApiResult<json> updated = store.Update("nodes", merged, std::nullopt);
      if (!updated.ok()) return R::Fail(updated.error);
    }
  } else {
    node["metadata"]["uid"] = NewUid();
    node["metadata"]["creationTimestamp"] = NowRfc3339();
    ApiResult<json> created = store.Create("nodes", node);
    if (!created.ok()) return R::Fail(created.error);
  }
  const std::string key = "resourceslices.resource.k8s.io";
  std::map<std::string, json> wanted;
  for (const json& s : local.slices) wanted[s["metadata"]["name"]] = s;
  for (const json& s : store.List(key, "")) {
    const json& spec = s["spec"];
    if (spec.value("driver", "") != local.slices.front()["spec"].value("driver", "") ||
        spec.value("nodeName", "") != node_name) {
      continue;
    }
    const std::string name = s["metadata"]["name"];
    auto it = wanted.find(name);
    if (it == wanted.end()) {
      (void)store.Delete(key, "", name, std::nullopt);
      continue;
    }
    if (s["spec"] != it->second["spec"]) {
      json updated = s;
      updated["spec"] = it->second["spec"];
      ApiResult<json> r = store.Update(key, updated, std::nullopt);
      if (!r.ok()) return R::Fail(r.error);
    }
    wanted.erase(it);
  }
  for (auto& [name, s] : wanted) {
    json slice = s;
    slice["metadata"]["uid"] = NewUid();
    slice["metadata"]["creationTimestamp"] = NowRfc3339();
    slice["metadata"]["generation"] = 1;
    slice["metadata"]["ownerReferences"] = json::array(
        {{{"apiVersion", "v1"},
          {"kind", "Node"},
          {"name", node_name},
          {"uid",
           store.Get("nodes", "", node_name).value_or(json::object())["metadata"].value("uid", "")},
          {"controller", true}}});
    ApiResult<json> r = store.Create(key, slice);
    if (!r.ok()) return R::Fail(r.error);
  }
  return R::Ok(true);
}

}  // namespace migdra::node
