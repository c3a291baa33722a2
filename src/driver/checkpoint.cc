#include "driver/checkpoint.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <algorithm>
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

json ClaimToJson(const ClaimRecord& rec) {
  json devices = json::array();
  for (const auto& d : rec.devices) devices.push_back(DeviceToJson(d));
  return json{{"state", ClaimStateName(rec.state)},
              {"namespace", rec.namespace_},
              {"name", rec.name},
              {"devices", devices}};
}

ClaimRecord ClaimFromJson(const json& c) {
  ClaimRecord rec;
  rec.state = StateFromName(c.at("state").get<std::string>());
  rec.namespace_ = c.at("namespace").get<std::string>();
  rec.name = c.at("name").get<std::string>();
  for (const auto& d : c.at("devices")) rec.devices.push_back(DeviceFromJson(d));
  return rec;
}

// The journal's size: room for a thousand or so records between snapshots.
constexpr size_t kJournalBytes = 1 << 20;

std::string JournalLine(const std::string& uid, const ClaimRecord* record) {
  const std::string text =
      json{{"uid", uid}, {"claim", record ? ClaimToJson(*record) : json(nullptr)}}.dump();
  return Sha256Hex(text) + " " + text + "\n";
}

bool OnlyZeros(const std::string& text, size_t from) {
  return text.find_first_not_of('\0', from) == std::string::npos;
}

// Replays the journal `text` over `cp`; see the header for what ends it and what is corrupt.
Status ReplayJournal(const std::string& text, Checkpoint& cp) {
  size_t pos = 0;
  while (pos < text.size() && text[pos] != '\0') {
    const size_t end = text.find('\n', pos);
    const size_t next = end == std::string::npos ? text.size() : end + 1;
    std::optional<json> entry;
    if (end != std::string::npos && end - pos > 65 && text[pos + 64] == ' ') {
      const std::string body = text.substr(pos + 65, end - pos - 65);
      if (Sha256Hex(body) == text.substr(pos, 64)) {
        json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
        if (!parsed.is_discarded()) entry = std::move(parsed);
      }
    }
    if (!entry) {
      if (OnlyZeros(text, next)) return OkStatus();  // an append cut short by a crash
      return MakeError("checkpoint journal is corrupt at byte " + std::to_string(pos));
    }
    try {
      const std::string uid = entry->at("uid").get<std::string>();
      if (entry->at("claim").is_null()) {
        cp.claims.erase(uid);
      } else {
        cp.claims[uid] = ClaimFromJson(entry->at("claim"));
      }
    } catch (const std::exception& e) {
      return MakeError(std::string("checkpoint journal is corrupt: ") + e.what());
    }
    pos = next;
  }
  return OkStatus();
}

Result<std::optional<std::string>> ReadIfExists(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!std::filesystem::exists(path)) return std::optional<std::string>();
    return MakeError("cannot read " + path);
  }
  std::ostringstream text;
  text << in.rdbuf();
  return std::optional<std::string>(text.str());
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
  for (const auto& [uid, rec] : checkpoint.claims) claims[uid] = ClaimToJson(rec);
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
    for (const auto& [uid, c] : data.at("claims").items()) cp.claims[uid] = ClaimFromJson(c);
    return cp;
  } catch (const std::exception& e) {
    return MakeError(std::string("checkpoint is corrupt: ") + e.what());
  }
}

std::string JournalPath(const std::string& path) { return path + ".journal"; }

Result<std::optional<Checkpoint>> LoadCheckpoint(const std::string& path) {
  MIGDRA_ASSIGN_OR_RETURN(std::optional<std::string> snapshot, ReadIfExists(path));
  if (!snapshot) return std::optional<Checkpoint>();
  MIGDRA_ASSIGN_OR_RETURN(Checkpoint cp, ParseCheckpoint(*snapshot));
  MIGDRA_ASSIGN_OR_RETURN(std::optional<std::string> journal, ReadIfExists(JournalPath(path)));
  if (journal) MIGDRA_RETURN_IF_ERROR(ReplayJournal(*journal, cp));
  return std::optional<Checkpoint>(std::move(cp));
}

Status SaveCheckpoint(const std::string& path, const Checkpoint& checkpoint) {
  // The snapshot first: a crash between the two leaves the old journal, whose records the new
  // snapshot already holds, and replaying them changes nothing.
  MIGDRA_RETURN_IF_ERROR(WriteFileAtomic(path, SerializeCheckpoint(checkpoint)));
  return WriteFileAtomic(JournalPath(path), std::string(kJournalBytes, '\0'));
}

CheckpointJournal::CheckpointJournal(std::string path)
    : path_(std::move(path)), flusher_([this] { FlushLoop(); }) {}

CheckpointJournal::~CheckpointJournal() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wanted_cv_.notify_all();
  flusher_.join();
  if (fd_ >= 0) ::close(fd_);
}

void CheckpointJournal::FlushLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    wanted_cv_.wait(lock, [&] {
      return stopping_ || (wanted_seq_ > durable_seq_ && failure_.empty() && fd_ >= 0);
    });
    if (stopping_) return;
    flushing_ = true;
    const uint64_t target = appended_seq_;
    const int fd = fd_;
    lock.unlock();
    const int rc = ::fdatasync(fd);
    const int err = errno;
    lock.lock();
    flushing_ = false;
    ++durable_writes_;
    if (rc != 0) {
      failure_ = "cannot flush " + JournalPath(path_) + ": " + std::strerror(err);
    } else {
      durable_seq_ = std::max(durable_seq_, target);
    }
    flushed_cv_.notify_all();
  }
}

Status CheckpointJournal::Reset(const Checkpoint& checkpoint) {
  std::unique_lock<std::mutex> lock(mu_);
  return ResetLocked(checkpoint, lock);
}

Status CheckpointJournal::ResetLocked(const Checkpoint& checkpoint,
                                      std::unique_lock<std::mutex>& lock) {
  flushed_cv_.wait(lock, [&] { return !flushing_; });  // a flush may be using fd_
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  Status saved = SaveCheckpoint(path_, checkpoint);
  if (saved.ok()) {
    const std::string journal = JournalPath(path_);
    fd_ = ::open(journal.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) saved = MakeError("cannot open " + journal + ": " + std::strerror(errno));
  }
  durable_writes_ += 2;
  offset_ = 0;
  if (!saved.ok()) {
    failure_ = saved.error().message;
    flushed_cv_.notify_all();
    return saved;
  }
  failure_.clear();
  durable_seq_ = appended_seq_;
  flushed_cv_.notify_all();
  return OkStatus();
}

Result<uint64_t> CheckpointJournal::Append(const std::string& uid, const ClaimRecord* record,
                                           const Checkpoint& checkpoint) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!failure_.empty()) return MakeError("checkpoint journal unusable: " + failure_);
  const std::string line = JournalLine(uid, record);
  const uint64_t seq = ++appended_seq_;
  if (offset_ + line.size() >= kJournalBytes) {
    MIGDRA_RETURN_IF_ERROR(ResetLocked(checkpoint, lock));
    return seq;
  }
  size_t written = 0;
  while (written < line.size()) {
    ssize_t n = ::pwrite(fd_, line.data() + written, line.size() - written,
                         static_cast<off_t>(offset_ + written));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      failure_ = std::string("cannot append to ") + JournalPath(path_) + ": " +
                 std::strerror(n < 0 ? errno : EIO);
      flushed_cv_.notify_all();
      return MakeError(failure_);
    }
    written += static_cast<size_t>(n);
  }
  offset_ += line.size();
  return seq;
}

void CheckpointJournal::Flush(uint64_t seq) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wanted_seq_ = std::max(wanted_seq_, seq);
  }
  wanted_cv_.notify_one();
}

Status CheckpointJournal::Sync(uint64_t seq) {
  Flush(seq);
  std::unique_lock<std::mutex> lock(mu_);
  flushed_cv_.wait(lock, [&] { return durable_seq_ >= seq || !failure_.empty(); });
  if (durable_seq_ >= seq) return OkStatus();
  return MakeError("checkpoint journal unusable: " + failure_);
}

uint64_t CheckpointJournal::durable_writes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return durable_writes_;
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
