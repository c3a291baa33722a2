#include "driver/cdi.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

namespace migdra::driver {
namespace {

// The device-file minor in a /proc/driver/nvidia/capabilities/.../access file, or -1.
int CapabilityMinor(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const std::string key = "DeviceFileMinor:";
    if (line.rfind(key, 0) == 0) {
      try {
        return std::stoi(line.substr(key.size()));
      } catch (const std::exception&) {
        return -1;
      }
    }
  }
  return -1;
}

}  // namespace

bool IsValidClaimUid(const std::string& uid) {
  if (uid.empty() || uid.size() > 128) return false;
  for (char c : uid) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
  }
  return true;
}

std::string CdiDeviceName(const std::string& claim_uid, const std::string& device) {
  return claim_uid + "-" + device;
}

std::string CdiDeviceId(const std::string& claim_uid, const std::string& device) {
  return std::string(kCdiVendorClass) + "=" + CdiDeviceName(claim_uid, device);
}

namespace {

using nlohmann::json;

const std::vector<std::string> kReadOnlyMount = {"ro", "nosuid", "nodev", "rbind", "rprivate"};
const std::vector<std::string> kIpcMount = {"nosuid", "nodev", "rbind", "rprivate", "noexec"};

// A device node: its path in the container under /dev, and the host's node when that differs.
json DeviceNode(const std::string& dev_root, const std::string& name) {
  json node = {{"path", "/dev/" + name}};
  if (dev_root != "/dev") node["hostPath"] = dev_root + "/" + name;
  return node;
}

json Mount(const DriverFile& file, const std::vector<std::string>& options) {
  return json{
      {"hostPath", file.host_path}, {"containerPath", file.container_path}, {"options", options}};
}

std::vector<std::string> MigCapabilityNodes(const PreparedDevice& d, const std::string& proc_root) {
  std::vector<std::string> nodes;
  const std::string gi_dir = proc_root + "/driver/nvidia/capabilities/gpu" +
                             std::to_string(d.gpu_minor) + "/mig/gi" + std::to_string(d.gi_id);
  for (const std::string& file :
       {gi_dir + "/access", gi_dir + "/ci" + std::to_string(d.ci_id) + "/access"}) {
    int minor = CapabilityMinor(file);
    if (minor >= 0) nodes.push_back("nvidia-caps/nvidia-cap" + std::to_string(minor));
  }
  return nodes;
}

}  // namespace

json CommonEdits(const DriverInstallation& driver) {
  json nodes = json::array();
  for (const auto& n : driver.control_nodes) {
    json node = {{"path", n.container_path}};
    if (n.host_path != n.container_path) node["hostPath"] = n.host_path;
    nodes.push_back(node);
  }
  json mounts = json::array();
  for (const auto* files : {&driver.libraries, &driver.binaries, &driver.firmware}) {
    for (const auto& f : *files) mounts.push_back(Mount(f, kReadOnlyMount));
  }
  for (const auto& f : driver.ipc) mounts.push_back(Mount(f, kIpcMount));
  std::string folders;
  for (const auto& f : driver.library_folders) folders += (folders.empty() ? "" : ":") + f;
  json edits = {{"deviceNodes", nodes},
                {"env", json::array({"NVIDIA_CTK_LIBCUDA_DIR=" + folders})},
                {"mounts", mounts}};
  if (driver.hook_path.empty()) {
    for (const auto& link : driver.library_links) {
      edits["mounts"].push_back(
          Mount(DriverFile{link.host_path, link.container_path}, kReadOnlyMount));
    }
    return edits;
  }
  const std::string hook_name = std::filesystem::path(driver.hook_path).filename().string();
  auto hook = [&](std::vector<std::string> args) {
    args.insert(args.begin(), hook_name);
    return json{{"hookName", "createContainer"},
                {"path", driver.hook_path},
                {"args", args},
                {"env", json::array({"NVIDIA_CTK_DEBUG=false"})}};
  };
  std::vector<std::string> links = {"create-symlinks"};
  for (const auto& link : driver.library_links) {
    links.push_back("--link");
    links.push_back(link.target + "::" + link.container_path);
  }
  std::vector<std::string> ldcache = {"update-ldcache"};
  for (const auto& folder : driver.library_folders) {
    ldcache.push_back("--folder");
    ldcache.push_back(folder);
  }
  edits["hooks"] = json::array();
  if (links.size() > 1) edits["hooks"].push_back(hook(links));
  edits["hooks"].push_back(hook(ldcache));
  return edits;
}

json BasicCommonEdits(const std::string& dev_root) {
  return json{{"deviceNodes",
               json::array({DeviceNode(dev_root, "nvidiactl"), DeviceNode(dev_root, "nvidia-uvm"),
                            DeviceNode(dev_root, "nvidia-uvm-tools")})}};
}

std::string MinimumCdiVersion(const json& spec) {
  std::vector<const json*> edits;
  if (spec.contains("containerEdits")) edits.push_back(&spec["containerEdits"]);
  bool digit_name = false;
  static const json kNone = json::array();
  for (const auto& d : spec.contains("devices") ? spec["devices"] : kNone) {
    const std::string name = d.value("name", "");
    digit_name = digit_name || (!name.empty() && name[0] >= '0' && name[0] <= '9');
    if (d.contains("containerEdits")) edits.push_back(&d["containerEdits"]);
  }
  bool host_path = false, mount_type = false;
  for (const json* e : edits) {
    for (const auto& n : e->value("deviceNodes", json::array())) {
      host_path = host_path || n.contains("hostPath");
    }
    for (const auto& m : e->value("mounts", json::array())) {
      mount_type = mount_type || m.contains("type");
    }
  }
  if (digit_name || host_path) return "0.5.0";
  if (mount_type) return "0.4.0";
  return "0.3.0";
}

json DeviceEdits(const PreparedDevice& d, const std::string& proc_root,
                 const std::string& dev_root) {
  json nodes = json::array({DeviceNode(dev_root, "nvidia" + std::to_string(d.gpu_minor))});
  if (d.kind != DeviceKind::kGpu) {
    for (const auto& n : MigCapabilityNodes(d, proc_root)) nodes.push_back(DeviceNode(dev_root, n));
  }
  return json{{"deviceNodes", nodes}};
}

json NodeSpec(const json& common_edits, const std::vector<PreparedDevice>& gpus,
              const std::string& dev_root) {
  json devices = json::array();
  for (const auto& g : gpus) {
    devices.push_back(json{{"name", g.device}, {"containerEdits", DeviceEdits(g, "", dev_root)}});
  }
  json spec = {{"kind", kCdiVendorClass}, {"devices", devices}, {"containerEdits", common_edits}};
  spec["cdiVersion"] = MinimumCdiVersion(spec);
  return spec;
}

CdiWriter::CdiWriter(std::string cdi_root, std::string proc_root, std::string dev_root,
                     std::optional<nlohmann::json> common_edits)
    : cdi_root_(std::move(cdi_root)),
      proc_root_(std::move(proc_root)),
      dev_root_(std::move(dev_root)),
      common_edits_(common_edits ? std::move(*common_edits) : BasicCommonEdits(dev_root_)) {}

std::string CdiWriter::SpecPath(const std::string& claim_uid) const {
  return cdi_root_ + "/k8s.gpu.nvidia.com-claim_" + claim_uid + ".json";
}

std::string CdiWriter::RenderSpec(const std::string& claim_uid,
                                  const std::vector<PreparedDevice>& devices) const {
  json cdi_devices = json::array();
  std::string uuids;
  for (const auto& d : devices) {
    cdi_devices.push_back(json{{"name", CdiDeviceName(claim_uid, d.device)},
                               {"containerEdits", DeviceEdits(d, proc_root_, dev_root_)}});
    if (!uuids.empty()) uuids += ",";
    uuids += d.uuid;
  }
  json edits = common_edits_;
  if (!edits.contains("env")) edits["env"] = json::array();
  edits["env"].push_back("NVIDIA_VISIBLE_DEVICES=" + uuids);
  edits["env"].push_back("CUDA_VISIBLE_DEVICES=" + uuids);
  json spec = {{"kind", kCdiVendorClass}, {"devices", cdi_devices}, {"containerEdits", edits}};
  spec["cdiVersion"] = MinimumCdiVersion(spec);
  return spec.dump(2) + "\n";
}

Status CdiWriter::Write(const std::string& claim_uid,
                        const std::vector<PreparedDevice>& devices) const {
  if (!IsValidClaimUid(claim_uid)) return MakeError("invalid claim UID \"" + claim_uid + "\"");
  std::error_code ec;
  std::filesystem::create_directories(cdi_root_, ec);
  if (ec) return MakeError("cannot create CDI folder " + cdi_root_ + ": " + ec.message());
  // Atomic but not fsync'ed: only a power loss or kernel crash loses page-cache data, and after
  // that reboot the checkpoint (boot ID) forgets every claim anyway. A plain process crash keeps
  // it. This saves one of the three durable writes of a prepare.
  return WriteFileAtomic(SpecPath(claim_uid), RenderSpec(claim_uid, devices), 0644,
                         /*durable=*/false);
}

Status CdiWriter::Delete(const std::string& claim_uid) const {
  if (!IsValidClaimUid(claim_uid)) return MakeError("invalid claim UID \"" + claim_uid + "\"");
  const std::string path = SpecPath(claim_uid);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return MakeError("cannot remove CDI spec " + path + ": " + std::strerror(errno));
  }
  return OkStatus();
}

}  // namespace migdra::driver
