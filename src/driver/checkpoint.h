// The driver's crash-safe record of what it prepared: the single source of truth for which MIG
// instances migdra created (and so may destroy).
//
// Protocol (DeviceState): before touching a GPU for a claim, the claim is recorded as
// PrepareStarted together with the exact instances about to be created (GPU, GI profile,
// placement); after the CDI spec is written it becomes PrepareCompleted with the instances' ids
// and UUIDs. Unprepare records UnprepareStarted before destroying anything. After a crash, the
// record says what to roll back or finish.
//
// File format: JSON {"checksum": "sha256:<hex of data.dump()>", "data": {...}}; `data` holds the
// boot ID (/proc/sys/kernel/random/boot_id) it was written under and the claims by UID. Writes
// are atomic: temporary file, fsync, rename, fsync of the folder.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace migdra::driver {

enum class ClaimState { kPrepareStarted, kPrepareCompleted, kUnprepareStarted };
const char* ClaimStateName(ClaimState state);

enum class DeviceKind {
  kGpu,         // a whole GPU: nothing to create
  kMigStatic,   // a MIG device that existed before (created by the operator): nothing to create
  kMigDynamic,  // a MIG device migdra creates at prepare and destroys at unprepare
};

struct PreparedDevice {
  std::vector<std::string> requests;
  std::string pool;
  std::string device;
  std::vector<std::string> cdi_device_ids;
  DeviceKind kind = DeviceKind::kGpu;
  int gpu_minor = 0;
  std::string parent_uuid;
  // MIG devices: the placement (known at PrepareStarted) and, once created, the ids and UUID.
  int gi_profile_id = -1;
  int placement_start = -1;
  int gi_id = -1;
  int ci_id = -1;
  std::string uuid;  // the GPU's UUID for kGpu, the MIG device's for MIG kinds
};

struct ClaimRecord {
  ClaimState state = ClaimState::kPrepareStarted;
  std::string namespace_;
  std::string name;
  std::vector<PreparedDevice> devices;
};

struct Checkpoint {
  std::string boot_id;
  std::map<std::string, ClaimRecord> claims;  // by claim UID
};

std::string SerializeCheckpoint(const Checkpoint& checkpoint);
// Fails when the text is not a checkpoint or its checksum does not match.
Result<Checkpoint> ParseCheckpoint(const std::string& text);

// Reads `path`: nullopt when the file does not exist, an error when it is corrupt.
Result<std::optional<Checkpoint>> LoadCheckpoint(const std::string& path);
// Atomically replaces `path` with the serialised checkpoint.
Status SaveCheckpoint(const std::string& path, const Checkpoint& checkpoint);

// Replaces `path` with `content` atomically (tmp + rename) and, when `durable`, so that it
// survives a power loss (fsync of the file before the rename, fsync of the folder after).
Status WriteFileAtomic(const std::string& path, const std::string& content, int mode = 0600,
                       bool durable = true);

// The kernel's boot ID under `proc_root` ("/proc"); empty when unreadable.
std::string ReadBootId(const std::string& proc_root);

}  // namespace migdra::driver
