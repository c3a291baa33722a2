// The prepare/unprepare state machine of the kubelet plugin: reads the claim, decides what each
// allocated device needs (nothing for a whole GPU or a static MIG device; a GI + CI at the named
// placement for a dynamic MIG device), records intent in the checkpoint before touching a GPU,
// creates the MIG instances, writes the claim's CDI spec and records completion.
//
// Guarantees:
//  - Prepare is idempotent: a completed claim returns its recorded devices without touching a
//    GPU; Unprepare of an unknown claim succeeds.
//  - A device is never prepared for two claims at once (checked and recorded under one lock).
//  - Only instances the checkpoint proves migdra created are ever destroyed, except after the
//    checkpoint was lost (below); MIG mode is changed only under --dynamic-mig=all, only to turn
//    it on for an idle Hopper-or-newer GPU.
//  - Crash safety: every record reaches the checkpoint before the step it guards (named crash
//    points: DeviceStateOptions::crash_at). Create() rolls back claims left PrepareStarted,
//    finishes claims left UnprepareStarted, keeps PrepareCompleted ones, forgets everything
//    recorded under another boot ID (MIG instances do not survive a reboot), and copies a corrupt
//    checkpoint aside and rebuilds it from NVML and the API server instead of failing. After such
//    a rebuild it destroys the instances on GPUs under dynamic MIG that no rebuilt claim accounts
//    for (what a prepare or unprepare cut short left behind, whose record was lost) unless a
//    process uses them; instances on GPUs under static MIG are never touched. If the API server
//    cannot be asked, nothing is destroyed.
//  - Durability: every record is in the kernel before the step it guards, so it survives the
//    plugin's crash or kill -9. One durable write per prepare and per unprepare: the flush of the
//    intent (PrepareStarted, UnprepareStarted) starts before a GPU is touched, runs beside the
//    NVML work and ends before the kubelet is answered; concurrent prepares share it (group
//    commit, CheckpointJournal). The other records (completed, rolled back, forgotten) reach the
//    disk with the next flush. Nothing more is needed: a crash of the machine takes every MIG
//    instance with it, and the new boot ID makes recovery forget every claim.
//
// Thread safety: all public methods may be called concurrently. Work on one claim is serialised;
// work on different claims runs in parallel except where they share a GPU (per-GPU locks).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "driver/cdi.h"
#include "driver/checkpoint.h"
#include "driver/claim_source.h"
#include "driver/mig_backend.h"
#include "driver/slice_builder.h"
#include "gpu/inventory.h"

namespace migdra::driver {

enum class DynamicMigPolicy {
  kEnabledGpus,  // partition GPUs whose MIG mode is already on (default)
  kAll,          // also turn MIG on for idle Hopper-or-newer GPUs
  kNone,         // never create or destroy MIG instances (static MIG only)
};
Result<DynamicMigPolicy> ParseDynamicMigPolicy(const std::string& text);

// The driver's one decision per GPU: whether, under `policy`, it creates and destroys MIG
// instances on a GPU with these properties. DeviceState partitions exactly these GPUs and
// BuildSlicesForPolicy offers partitions of exactly these GPUs.
bool PartitionsDynamically(DynamicMigPolicy policy, bool mig_capable, bool mig_enabled,
                           bool mig_mode_toggle_supported);

// The ResourceSlices of `inventory` for a driver whose DeviceState runs under `policy`: exactly
// the devices it will prepare — every GPU, the MIG devices that exist (policy none: static MIG),
// and the partitions of the GPUs it partitions dynamically (none on a Hopper GPU whose MIG mode
// is off under enabled-gpus). `options.mig` is set from `policy`.
Result<std::vector<api::ResourceSlice>> BuildSlicesForPolicy(gpu::NodeInventory inventory,
                                                             DynamicMigPolicy policy,
                                                             SliceOptions options);

struct DeviceStateOptions {
  std::string driver_name = "gpu.nvidia.com";
  std::string pool_name;  // the node name
  std::string state_dir;  // holds checkpoint.json
  std::string cdi_root = "/var/run/cdi";
  std::string proc_root = "/proc";
  std::string dev_root = "/dev";
  // The edits every claim's CDI spec shares (driver::CommonEdits, computed once per node);
  // none: BasicCommonEdits.
  std::optional<nlohmann::json> cdi_common_edits;
  DynamicMigPolicy dynamic_mig = DynamicMigPolicy::kEnabledGpus;
  // Destroying an instance that a process still uses is retried this often, doubling the wait.
  int in_use_attempts = 5;
  std::chrono::milliseconds in_use_backoff{50};
  // Test hook (MIGDRA_CRASH_AT): the process _exit(137)s right after this step. Steps:
  // intent-written, gi-created, ci-created, cdi-written, completed, unprepare-started,
  // ci-destroyed, gi-destroyed, cdi-deleted, unprepare-completed.
  std::string crash_at;
};

class DeviceState {
 public:
  // Loads and recovers the checkpoint. `backend` and `claims` must outlive the DeviceState;
  // `claims` may be null (then a lost checkpoint is rebuilt from NVML alone).
  static Result<std::unique_ptr<DeviceState>> Create(DeviceStateOptions options,
                                                     MigBackend* backend, ClaimSource* claims);

  // Prepares the claim's devices of this driver and pool; returns them with their CDI ids.
  Result<std::vector<PreparedDevice>> Prepare(const ClaimRef& claim);
  Status Unprepare(const ClaimRef& claim);

  // A copy of the current checkpoint (for tests and diagnostics).
  Checkpoint Snapshot() const;
  const std::vector<GpuInfo>& gpus() const { return gpus_; }
  // Whether MIG devices on this GPU are created on demand.
  bool IsDynamic(int gpu_minor) const { return dynamic_gpus_.count(gpu_minor) > 0; }
  // Flushes and snapshot writes of the checkpoint so far (benchmarks, diagnostics).
  uint64_t DurableWrites() const { return journal_.durable_writes(); }

 private:
  class ClaimGuard;
  DeviceState(DeviceStateOptions options, MigBackend* backend, ClaimSource* claims);

  Status Recover();
  // Rebuilds checkpoint_ from NVML and the API server; returns whether the server answered.
  bool Rebuild();
  // Destroys the instances on dynamic GPUs that checkpoint_ does not account for.
  void DestroyUnaccounted();
  // Sets (null: forgets) the record of claim `uid` in checkpoint_ and the journal; returns the
  // journal sequence number to Sync for durability. cp_mu_ held.
  Result<uint64_t> Record(const std::string& uid, const ClaimRecord* record);
  void MaybeCrash(const char* step) const;

  Result<std::vector<PreparedDevice>> Plan(const ClaimInfo& info);
  Status CheckConflicts(const std::string& uid, const std::vector<PreparedDevice>& devices) const;
  std::vector<std::unique_lock<std::mutex>> LockGpus(const std::vector<PreparedDevice>& devices);
  // Destroys the instances of a claim record (rolling back a prepare or finishing an
  // unprepare), deletes its CDI spec and forgets the claim. GPU locks must not be held.
  Status TearDown(const std::string& uid, const ClaimRecord& record);
  Status DestroyRecorded(const PreparedDevice& device);
  MigStatus RetryInUse(const std::function<MigStatus()>& op);

  DeviceStateOptions options_;
  MigBackend* backend_;
  ClaimSource* claims_;
  CdiWriter cdi_;
  std::string checkpoint_path_;
  std::vector<GpuInfo> gpus_;
  std::set<int> dynamic_gpus_;
  std::map<int, std::unique_ptr<std::mutex>> gpu_mu_;

  mutable std::mutex cp_mu_;
  Checkpoint checkpoint_;
  CheckpointJournal journal_;

  std::mutex busy_mu_;
  std::condition_variable busy_cv_;
  std::set<std::string> busy_claims_;
};

}  // namespace migdra::driver
