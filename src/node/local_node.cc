#include "node/local_node.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "api/kubernetes_version.h"
#include "common/clock.h"

namespace migdra::node {
namespace {

using json = nlohmann::json;

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

}  // namespace

json BuildNodeObject(const std::string& node_name,
                     const std::map<std::string, std::string>& extra_labels,
                     const std::string& container_runtime_version) {
  json labels = {{"kubernetes.io/hostname", node_name},
                 {"kubernetes.io/os", "linux"},
                 {"kubernetes.io/arch", "amd64"},
                 {"beta.kubernetes.io/os", "linux"},
                 {"beta.kubernetes.io/arch", "amd64"}};
  for (const auto& [k, v] : extra_labels) labels[k] = v;
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
  return {{"apiVersion", "v1"},
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
              {"containerRuntimeVersion", container_runtime_version},
              {"kubeletVersion", api::kKubernetesGitVersion},
              {"kubeProxyVersion", ""},
              {"operatingSystem", "linux"},
              {"architecture", "amd64"}}}}}};
}

Status RegisterNode(kube::Client& client, const json& node) {
  const std::string name = node["metadata"].value("name", "");
  const std::string path = "/api/v1/nodes/" + name;
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto got = client.Get(path);
    if (!got.ok()) return got.error();
    if (got->status == 404) {
      auto created = client.Create("/api/v1/nodes", node.dump());
      if (!created.ok()) return created.error();
      // Then once more through the update below: the status goes through its subresource.
      if (created->ok() || created->status == 409) continue;
      return MakeError("registering node " + name + ": HTTP " + std::to_string(created->status) +
                       ": " + created->body);
    }
    if (!got->ok()) {
      return MakeError("reading node " + name + ": HTTP " + std::to_string(got->status));
    }
    json merged = json::parse(got->body, nullptr, false);
    if (!merged.is_object()) return MakeError("reading node " + name + ": not JSON");
    for (const auto& [k, v] : node["metadata"]["labels"].items()) {
      merged["metadata"]["labels"][k] = v;
    }
    if (!node["metadata"]["labels"].contains("migdra.io/simulated")) {
      merged["metadata"]["labels"].erase("migdra.io/simulated");
    }
    auto updated = client.Update(path, merged.dump());
    if (!updated.ok()) return updated.error();
    if (updated->status == 409) continue;
    if (!updated->ok()) {
      return MakeError("updating node " + name + ": HTTP " + std::to_string(updated->status) +
                       ": " + updated->body);
    }
    // The status (conditions, capacity, node info) through its subresource, as a kubelet does.
    json status_update = json::parse(updated->body, nullptr, false);
    if (!status_update.is_object()) return MakeError("updating node " + name + ": not JSON");
    status_update["status"] = node["status"];
    auto status = client.Update(path + "/status", status_update.dump());
    if (!status.ok()) return status.error();
    if (status->status == 409) continue;
    if (!status->ok()) {
      return MakeError("updating the status of node " + name + ": HTTP " +
                       std::to_string(status->status) + ": " + status->body);
    }
    return OkStatus();
  }
  return MakeError("node " + name + " kept changing while it was registered; gave up");
}

}  // namespace migdra::node
