// The driver's crash-safe record of what it prepared: the single source of truth for which MIG
// instances migdra created (and so may destroy).
//
// Protocol (DeviceState): before touching a GPU for a claim, the claim is recorded as
// PrepareStarted together with the exact instances about to be created (GPU, GI profile,
// placement); after the CDI spec is written it becomes PrepareCompleted with the instances' ids
// and UUIDs. Unprepare records UnprepareStarted before destroying anything. After a crash, the
// record says what to roll back or finish.
//
// On disk the checkpoint is a snapshot (`path`, normally checkpoint.json) and a journal beside it
// (`path` + ".journal") of the claim records written since the snapshot; loading replays the
// journal over the snapshot. Every journal record is a claim's whole record (or its removal), so
// replaying a record twice changes nothing.
//
// Snapshot format: JSON {"checksum": "sha256:<hex of data.dump()>", "data": {...}}; `data` holds
// the boot ID (/proc/sys/kernel/random/boot_id) it was written under and the claims by UID. It is
// replaced atomically and durably: temporary file, fsync, rename, fsync of the folder.
// Journal format: a file preallocated with zero bytes (so that an append changes no file
// metadata and fdatasync flushes only the data); records are lines "<sha256 hex of JSON> <JSON>\n"
// with JSON {"uid": ..., "claim": {...} or null}, written one pwrite each. A damaged last record
// followed only by zero bytes is an append cut short by a crash and ends the journal; any other
// damage makes the checkpoint corrupt.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
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

// Reads the snapshot at `path` and replays its journal: nullopt when the snapshot does not
// exist, an error when the snapshot or the journal is corrupt.
Result<std::optional<Checkpoint>> LoadCheckpoint(const std::string& path);
// Durably makes `checkpoint` the snapshot at `path` and starts its journal empty.
Status SaveCheckpoint(const std::string& path, const Checkpoint& checkpoint);
// The journal of the snapshot at `path`.
std::string JournalPath(const std::string& path);

// Appends claim records to the journal of the snapshot at `path` and makes them durable.
//
// Durability: Append returns once the record is in the kernel (it survives a crash or kill -9 of
// the process); Sync returns once it is on disk (it survives a power loss). One flusher thread
// fdatasyncs everything appended so far whenever a record is asked for (Flush or Sync) that is not
// yet on disk, so records appended while a flush runs share the next one (group commit). After a
// failed flush every later call fails (the kernel may have dropped the unwritten pages); Reset
// starts afresh.
//
// Thread safety: every method may be called from any thread; callers serialise Append with the
// changes to the checkpoint they pass it.
class CheckpointJournal {
 public:
  explicit CheckpointJournal(std::string path);
  ~CheckpointJournal();  // stops the flusher; records not yet flushed stay in the kernel
  CheckpointJournal(const CheckpointJournal&) = delete;
  CheckpointJournal& operator=(const CheckpointJournal&) = delete;

  // Durably makes `checkpoint` the snapshot and starts an empty journal (SaveCheckpoint);
  // everything appended before counts as durable.
  Status Reset(const Checkpoint& checkpoint);
  // Appends the record of claim `uid` (null: the claim is forgotten) and returns its sequence
  // number for Flush and Sync. `checkpoint` is the whole checkpoint with this change already
  // made: when the journal is full it becomes the new snapshot instead (Reset).
  Result<uint64_t> Append(const std::string& uid, const ClaimRecord* record,
                          const Checkpoint& checkpoint);
  // Asks for every record up to `seq` to be flushed, without waiting.
  void Flush(uint64_t seq);
  // Returns once every record up to `seq` is on disk (asking for it first).
  Status Sync(uint64_t seq);
  // Durable writes so far: journal flushes, and two per Reset (snapshot and fresh journal).
  uint64_t durable_writes() const;

 private:
  Status ResetLocked(const Checkpoint& checkpoint, std::unique_lock<std::mutex>& lock);
  void FlushLoop();

  const std::string path_;
  mutable std::mutex mu_;
  std::condition_variable wanted_cv_;   // the flusher waits for requests
  std::condition_variable flushed_cv_;  // Sync and Reset wait for flushes
  int fd_ = -1;                         // the journal, open for writing once Reset ran
  uint64_t offset_ = 0;
  uint64_t appended_seq_ = 0;
  uint64_t wanted_seq_ = 0;
  uint64_t durable_seq_ = 0;
  bool flushing_ = false;
  bool stopping_ = false;
  std::string failure_;  // set by a failed write or flush
  uint64_t durable_writes_ = 0;
  std::thread flusher_;
};

// Replaces `path` with `content` atomically (tmp + rename) and, when `durable`, so that it
// survives a power loss (fsync of the file before the rename, fsync of the folder after).
Status WriteFileAtomic(const std::string& path, const std::string& content, int mode = 0600,
                       bool durable = true);

// The kernel's boot ID under `proc_root` ("/proc"); empty when unreadable.
std::string ReadBootId(const std::string& proc_root);

}  // namespace migdra::driver
