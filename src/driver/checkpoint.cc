#include "driver/checkpoint.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace migdra::driver {
namespace {

using nlohmann::json;

const char* KindName(DeviceKind k) {
  switch (k) {
    case DeviceKind::kGpu:
      return "gpu";
    case DeviceKind::kMigStatic:
      return "mig-static";
    case DeviceKind::kMigDynamic:
      return "mig-dynamic";
  }
  return "gpu";
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : digest) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
  }
  return out;
}

json DeviceToJson(const PreparedDevice& d) {
  return json{{"requests", d.requests},
              {"pool", d.pool},
              {"device", d.device},
              {"cdiDeviceIDs", d.cdi_device_ids},
              {"kind", KindName(d.kind)},
              {"gpuMinor", d.gpu_minor},
              {"parentUUID", d.parent_uuid},
              {"giProfileID", d.gi_profile_id},
              {"placementStart", d.placement_start},
              {"giID", d.gi_id},
              {"ciID", d.ci_id},
              {"uuid", d.uuid}};
}

PreparedDevice DeviceFromJson(const json& j) {
  PreparedDevice d;
  d.requests = j.at("requests").get<std::vector<std::string>>();
  d.pool = j.at("pool").get<std::string>();
  d.device = j.at("device").get<std::string>();
  d.cdi_device_ids = j.at("cdiDeviceIDs").get<std::vector<std::string>>();
  const std::string kind = j.at("kind").get<std::string>();
  if (kind == "gpu") {
    d.kind = DeviceKind::kGpu;
  } else if (kind == "mig-static") {
    d.kind = DeviceKind::kMigStatic;
  } else if (kind == "mig-dynamic") {
    d.kind = DeviceKind::kMigDynamic;
  } else {
    throw std::runtime_error("unknown device kind " + kind);
  }
  d.gpu_minor = j.at("gpuMinor").get<int>();
  d.parent_uuid = j.at("parentUUID").get<std::string>();
  d.gi_profile_id = j.at("giProfileID").get<int>();
  d.placement_start = j.at("placementStart").get<int>();
  d.gi_id = j.at("giID").get<int>();
  d.ci_id = j.at("ciID").get<int>();
  d.uuid = j.at("uuid").get<std::string>();
  return d;
}

ClaimState StateFromName(const std::string& s) {
  if (s == "PrepareStarted") return ClaimState::kPrepareStarted;
  if (s == "PrepareCompleted") return ClaimState::kPrepareCompleted;
  if (s == "UnprepareStarted") return ClaimState::kUnprepareStarted;
  throw std::runtime_error("unknown claim state " + s);
}

}  // namespace

const char* ClaimStateName(ClaimState state) {
  switch (state) {
    case ClaimState::kPrepareStarted:
      return "PrepareStarted";
    case ClaimState::kPrepareCompleted:
      return "PrepareCompleted";
    case ClaimState::kUnprepareStarted:
      return "UnprepareStarted";
  }
  return "PrepareStarted";
}

std::string SerializeCheckpoint(const Checkpoint& checkpoint) {
  json claims = json::object();
  for (const auto& [uid, rec] : checkpoint.claims) {
    json devices = json::array();
    for (const auto& d : rec.devices) devices.push_back(DeviceToJson(d));
    claims[uid] = json{{"state", ClaimStateName(rec.state)},
                       {"namespace", rec.namespace_},
                       {"name", rec.name},
                       {"devices", devices}};
  }
  json data = {{"version", 1}, {"bootID", checkpoint.boot_id}, {"claims", claims}};
  const std::string text = data.dump();
  json file = {{"checksum", "sha256:" + Sha256Hex(text)}, {"data", data}};
  return file.dump(1) + "\n";
}

Result<Checkpoint> ParseCheckpoint(const std::string& text) {
  try {
    json file = json::parse(text);
    const json& data = file.at("data");
    if ("sha256:" + Sha256Hex(data.dump()) != file.at("checksum").get<std::string>()) {
      return MakeError("checkpoint checksum does not match its content");
    }
    if (data.at("version").get<int>() != 1) return MakeError("unknown checkpoint version");
    Checkpoint cp;
    cp.boot_id = data.at("bootID").get<std::string>();
    for (const auto& [uid, c] : data.at("claims").items()) {
      ClaimRecord rec;
      rec.state = StateFromName(c.at("state").get<std::string>());
      rec.namespace_ = c.at("namespace").get<std::string>();
      rec.name = c.at("name").get<std::string>();
      for (const auto& d : c.at("devices")) rec.devices.push_back(DeviceFromJson(d));
      cp.claims[uid] = std::move(rec);
    }
    return cp;
  } catch (const std::exception& e) {
    return MakeError(std::string("checkpoint is corrupt: ") + e.what());
  }
}

Result<std::optional<Checkpoint>> LoadCheckpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!std::filesystem::exists(path)) return std::optional<Checkpoint>();
    return MakeError("cannot read checkpoint " + path);
  }
  std::ostringstream text;
  text << in.rdbuf();
  MIGDRA_ASSIGN_OR_RETURN(Checkpoint cp, ParseCheckpoint(text.str()));
  return std::optional<Checkpoint>(std::move(cp));
}

Status SaveCheckpoint(const std::string& path, const Checkpoint& checkpoint) {
  return WriteFileAtomic(path, SerializeCheckpoint(checkpoint));
}

Status WriteFileAtomic(const std::string& path, const std::string& content, int mode,
                       bool durable) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return MakeError("cannot create " + tmp + ": " + std::strerror(errno));
  size_t written = 0;
  while (written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return MakeError("cannot write " + tmp + ": " + std::strerror(err));
    }
    written += static_cast<size_t>(n);
  }
  if (durable && ::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    return MakeError("cannot fsync " + tmp + ": " + std::strerror(err));
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return MakeError("cannot rename " + tmp + ": " + std::strerror(errno));
  }
  if (!durable) return OkStatus();
  std::string dir = std::filesystem::path(path).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return OkStatus();
}

std::string ReadBootId(const std::string& proc_root) {
  std::ifstream in(proc_root + "/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

}  // namespace migdra::driver
