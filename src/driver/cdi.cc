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

CdiWriter::CdiWriter(std::string cdi_root, std::string proc_root, std::string dev_root)
    : cdi_root_(std::move(cdi_root)),
      proc_root_(std::move(proc_root)),
      dev_root_(std::move(dev_root)) {}

std::string CdiWriter::SpecPath(const std::string& claim_uid) const {
  return cdi_root_ + "/k8s.gpu.nvidia.com-claim_" + claim_uid + ".json";
}

std::vector<std::string> CdiWriter::MigCapabilityNodes(const PreparedDevice& d) const {
  std::vector<std::string> nodes;
  const std::string gi_dir = proc_root_ + "/driver/nvidia/capabilities/gpu" +
                             std::to_string(d.gpu_minor) + "/mig/gi" + std::to_string(d.gi_id);
  for (const std::string& file :
       {gi_dir + "/access", gi_dir + "/ci" + std::to_string(d.ci_id) + "/access"}) {
    int minor = CapabilityMinor(file);
    if (minor >= 0) nodes.push_back(dev_root_ + "/nvidia-caps/nvidia-cap" + std::to_string(minor));
  }
  return nodes;
}

std::string CdiWriter::RenderSpec(const std::string& claim_uid,
                                  const std::vector<PreparedDevice>& devices) const {
  using nlohmann::json;
  json cdi_devices = json::array();
  std::string uuids;
  for (const auto& d : devices) {
    json nodes = json::array({json{{"path", dev_root_ + "/nvidia" + std::to_string(d.gpu_minor)}}});
    if (d.kind != DeviceKind::kGpu) {
      for (const auto& n : MigCapabilityNodes(d)) nodes.push_back(json{{"path", n}});
    }
    cdi_devices.push_back(json{{"name", CdiDeviceName(claim_uid, d.device)},
                               {"containerEdits", json{{"deviceNodes", nodes}}}});
    if (!uuids.empty()) uuids += ",";
    uuids += d.uuid;
  }
  json spec = {
      {"cdiVersion", "0.6.0"},
      {"kind", kCdiVendorClass},
      {"devices", cdi_devices},
      {"containerEdits",
       json{{"env",
             json::array({"NVIDIA_VISIBLE_DEVICES=" + uuids, "CUDA_VISIBLE_DEVICES=" + uuids})},
            {"deviceNodes", json::array({json{{"path", dev_root_ + "/nvidiactl"}},
                                         json{{"path", dev_root_ + "/nvidia-uvm"}},
                                         json{{"path", dev_root_ + "/nvidia-uvm-tools"}}})}}}};
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
