#include "node/cdi_edits.h"

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

namespace migdra::node {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string StringField(const json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

void SetEnv(std::vector<std::string>& env, const std::string& entry) {
  std::string prefix = entry.substr(0, entry.find('=') + 1);
  for (std::string& e : env) {
    if (e.compare(0, prefix.size(), prefix) == 0) {
      e = entry;
      return;
    }
  }
  env.push_back(entry);
}

void Apply(const json& edits, CdiEdits& out) {
  if (!edits.is_object()) return;
  for (const json& e : edits.value("env", json::array())) {
    if (e.is_string()) SetEnv(out.env, e.get<std::string>());
  }
  for (const json& n : edits.value("deviceNodes", json::array())) {
    CdiDeviceNode node{StringField(n, "path"), StringField(n, "hostPath"),
                       StringField(n, "permissions")};
    if (node.path.empty()) continue;
    if (node.host_path.empty()) node.host_path = node.path;
    if (node.permissions.empty()) node.permissions = "rwm";
    out.device_nodes.push_back(std::move(node));
  }
  for (const json& m : edits.value("mounts", json::array())) {
    CdiMount mount{StringField(m, "hostPath"), StringField(m, "containerPath")};
    for (const json& o : m.value("options", json::array())) {
      if (o == "ro") mount.read_only = true;
    }
    if (!mount.host_path.empty() && !mount.container_path.empty()) out.mounts.push_back(mount);
  }
  for (const json& h : edits.value("hooks", json::array())) {
    std::string hook = StringField(h, "hookName") + " " + StringField(h, "path");
    for (const json& a : h.value("args", json::array())) {
      if (a.is_string()) hook += " " + a.get<std::string>();
    }
    out.hooks.push_back(hook);
  }
}

}  // namespace

Result<CdiEdits> ResolveCdiEdits(const std::string& cdi_root,
                                 const std::vector<std::string>& device_ids) {
  CdiEdits out;
  std::set<std::string> wanted(device_ids.begin(), device_ids.end());
  std::set<std::string> found;
  std::error_code ec;
  std::vector<fs::path> specs;
  for (const auto& entry : fs::directory_iterator(cdi_root, ec)) {
    if (entry.path().extension() == ".json") specs.push_back(entry.path());
  }
  std::sort(specs.begin(), specs.end());  // the same edits in the same order every time
  for (const fs::path& path : specs) {
    std::ifstream in(path);
    json spec = json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!spec.is_object() || !spec.contains("devices") || !spec["devices"].is_array()) continue;
    std::string kind = StringField(spec, "kind");
    bool used = false;
    for (const json& device : spec["devices"]) {
      std::string id = kind + "=" + StringField(device, "name");
      if (!wanted.count(id) || found.count(id)) continue;
      used = true;
      found.insert(id);
      Apply(device.value("containerEdits", json::object()), out);
    }
    if (used) Apply(spec.value("containerEdits", json::object()), out);
  }
  for (const std::string& id : wanted) {
    if (!found.count(id)) return MakeError("CDI device " + id + " not found under " + cdi_root);
  }
  return out;
}

}  // namespace migdra::node
