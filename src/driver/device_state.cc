#include "driver/device_state.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <functional>
#include <thread>

#include "driver/device_name.h"
#include "driver/opaque_config.h"

namespace migdra::driver {
namespace {

void Log(const std::string& message) {
  std::fprintf(stderr, "migdra plugin: %s\n", message.c_str());
}

std::string ClaimName(const ClaimRef& c) { return c.namespace_ + "/" + c.name; }

std::string Describe(const MigStatus& s) {
  switch (s.code) {
    case MigCode::kOk:
      return "ok";
    case MigCode::kNotFound:
      return "not found: " + s.message;
    case MigCode::kInUse:
      return "in use: " + s.message;
    case MigCode::kInsufficientResources:
      return "insufficient resources: " + s.message;
    case MigCode::kFailed:
      return s.message;
  }
  return s.message;
}

// The live instances of GPU `minor` at a device's placement.
std::vector<MigInstance> AtPlacement(const std::vector<MigInstance>& live,
                                     const PreparedDevice& d) {
  std::vector<MigInstance> out;
  for (const auto& m : live) {
    if (m.gi_profile_id == d.gi_profile_id && m.placement_start == d.placement_start) {
      out.push_back(m);
    }
  }
  return out;
}

}  // namespace

Result<DynamicMigPolicy> ParseDynamicMigPolicy(const std::string& text) {
  if (text == "enabled-gpus") return DynamicMigPolicy::kEnabledGpus;
  if (text == "all") return DynamicMigPolicy::kAll;
  if (text == "none") return DynamicMigPolicy::kNone;
  return MakeError("--dynamic-mig must be enabled-gpus, all or none, not \"" + text + "\"");
}

bool PartitionsDynamically(DynamicMigPolicy policy, bool mig_capable, bool mig_enabled,
                           bool mig_mode_toggle_supported) {
  if (!mig_capable || policy == DynamicMigPolicy::kNone) return false;
  return mig_enabled || (policy == DynamicMigPolicy::kAll && mig_mode_toggle_supported);
}

Result<std::vector<api::ResourceSlice>> BuildSlicesForPolicy(gpu::NodeInventory inventory,
                                                             DynamicMigPolicy policy,
                                                             SliceOptions options) {
  if (policy == DynamicMigPolicy::kNone) {
    options.mig = MigStrategy::kStatic;  // the MIG devices that exist, never new partitions
  } else {
    options.mig = MigStrategy::kDynamic;
    for (gpu::GpuInfo& g : inventory.gpus) {
      if (!PartitionsDynamically(policy, g.mig.capable, g.mig.current,
                                 g.mig_mode_toggle_without_reset)) {
        g.mig.capable = false;
      }
    }
  }
  return BuildSlices(inventory, options);
}

class DeviceState::ClaimGuard {
 public:
  ClaimGuard(DeviceState* s, std::string uid) : s_(s), uid_(std::move(uid)) {
    std::unique_lock<std::mutex> lock(s_->busy_mu_);
    s_->busy_cv_.wait(lock, [&] { return s_->busy_claims_.count(uid_) == 0; });
    s_->busy_claims_.insert(uid_);
  }
  ~ClaimGuard() {
    {
      std::lock_guard<std::mutex> lock(s_->busy_mu_);
      s_->busy_claims_.erase(uid_);
    }
    s_->busy_cv_.notify_all();
  }
  ClaimGuard(const ClaimGuard&) = delete;
  ClaimGuard& operator=(const ClaimGuard&) = delete;

 private:
  DeviceState* s_;
  std::string uid_;
};

DeviceState::DeviceState(DeviceStateOptions options, MigBackend* backend, ClaimSource* claims)
    : options_(std::move(options)),
      backend_(backend),
      claims_(claims),
      cdi_(options_.cdi_root, options_.proc_root, options_.dev_root, options_.cdi_common_edits),
      checkpoint_path_(options_.state_dir + "/checkpoint.json"),
      journal_(checkpoint_path_) {}

Result<std::unique_ptr<DeviceState>> DeviceState::Create(DeviceStateOptions options,
                                                         MigBackend* backend, ClaimSource* claims) {
  std::error_code ec;
  std::filesystem::create_directories(options.state_dir, ec);
  if (ec) return MakeError("cannot create state folder " + options.state_dir + ": " + ec.message());
  std::unique_ptr<DeviceState> s(new DeviceState(std::move(options), backend, claims));
  MIGDRA_ASSIGN_OR_RETURN(s->gpus_, backend->ListGpus());
  for (const auto& g : s->gpus_) {
    s->gpu_mu_[g.minor] = std::make_unique<std::mutex>();
    if (PartitionsDynamically(s->options_.dynamic_mig, g.mig_capable, g.mig_enabled,
                              g.mig_mode_toggle_supported)) {
      s->dynamic_gpus_.insert(g.minor);
    }
  }
  MIGDRA_RETURN_IF_ERROR(s->Recover());
  return s;
}

void DeviceState::MaybeCrash(const char* step) const {
  if (!options_.crash_at.empty() && options_.crash_at == step) {
    std::fprintf(stderr, "migdra plugin: MIGDRA_CRASH_AT=%s: exiting\n", step);
    std::fflush(stderr);
    ::_exit(137);
  }
}

Result<uint64_t> DeviceState::Record(const std::string& uid, const ClaimRecord* record) {
  std::optional<ClaimRecord> before;
  if (auto it = checkpoint_.claims.find(uid); it != checkpoint_.claims.end()) before = it->second;
  if (record) {
    checkpoint_.claims[uid] = *record;
  } else {
    checkpoint_.claims.erase(uid);
  }
  auto seq = journal_.Append(uid, record, checkpoint_);
  if (!seq.ok()) {  // what is in memory stays what is on disk
    if (before) {
      checkpoint_.claims[uid] = *before;
    } else {
      checkpoint_.claims.erase(uid);
    }
  }
  return seq;
}

Checkpoint DeviceState::Snapshot() const {
  std::lock_guard<std::mutex> lock(cp_mu_);
  return checkpoint_;
}

Status DeviceState::Recover() {
  const std::string boot_id = ReadBootId(options_.proc_root);
  auto loaded = LoadCheckpoint(checkpoint_path_);
  bool lost = false;
  if (!loaded.ok()) {
    // Copied, not moved: if this recovery is cut short, the next one finds it corrupt again.
    const std::string aside = checkpoint_path_ + ".corrupt-" + std::to_string(std::time(nullptr));
    std::error_code ec;
    std::filesystem::copy_file(checkpoint_path_, aside,
                               std::filesystem::copy_options::overwrite_existing, ec);
    std::filesystem::copy_file(JournalPath(checkpoint_path_), JournalPath(aside),
                               std::filesystem::copy_options::overwrite_existing, ec);
    Log(loaded.error().message + "; copied it to " + aside + " and rebuilding from NVML and the " +
        "API server");
    checkpoint_ = Checkpoint{boot_id, {}};
    lost = Rebuild();
  } else if (loaded->has_value()) {
    checkpoint_ = std::move(**loaded);
    if (checkpoint_.boot_id != boot_id) {
      Log("checkpoint was written under boot " + checkpoint_.boot_id + ", this is boot " + boot_id +
          ": forgetting " + std::to_string(checkpoint_.claims.size()) +
          " prepared claims (MIG instances do not survive a reboot)");
      for (const auto& [uid, rec] : checkpoint_.claims) (void)cdi_.Delete(uid);
      checkpoint_ = Checkpoint{boot_id, {}};
    }
  } else {
    checkpoint_ = Checkpoint{boot_id, {}};
  }
  // Before the corrupt checkpoint is replaced, so that a crash here repeats it.
  if (lost) DestroyUnaccounted();
  std::vector<std::pair<std::string, ClaimRecord>> unfinished;
  for (const auto& [uid, rec] : checkpoint_.claims) {
    if (rec.state != ClaimState::kPrepareCompleted) unfinished.emplace_back(uid, rec);
  }
  {
    std::lock_guard<std::mutex> lock(cp_mu_);
    MIGDRA_RETURN_IF_ERROR(journal_.Reset(checkpoint_));
  }
  for (const auto& [uid, rec] : unfinished) {
    Log(std::string("recovering claim ") + uid + " left " + ClaimStateName(rec.state));
    Status s = TearDown(uid, rec);
    if (!s.ok()) Log("recovery of claim " + uid + " is incomplete: " + s.error().message);
  }
  return OkStatus();
}

bool DeviceState::Rebuild() {
  if (claims_ == nullptr) return false;
  auto list = claims_->List();
  if (!list.ok()) {
    Log("cannot list claims to rebuild the checkpoint: " + list.error().message +
        "; starting empty (no MIG instance will be destroyed)");
    return false;
  }
  for (const auto& info : *list) {
    if (!info.allocated || !info.reserved || !IsValidClaimUid(info.ref.uid)) continue;
    auto plan = Plan(info);
    if (!plan.ok() || plan->empty()) continue;
    bool complete = true;
    for (auto& d : *plan) {
      if (d.kind == DeviceKind::kGpu) continue;
      auto live = backend_->ListMigInstancesOfProfile(d.gpu_minor, d.gi_profile_id);
      if (!live.ok()) {
        complete = false;
        break;
      }
      auto at = AtPlacement(*live, d);
      if (at.empty() || at[0].ci_id < 0) {
        complete = false;
        break;
      }
      d.gi_id = at[0].gi_id;
      d.ci_id = at[0].ci_id;
      d.uuid = at[0].uuid;
    }
    if (!complete) continue;
    if (!cdi_.Write(info.ref.uid, *plan).ok()) continue;
    checkpoint_.claims[info.ref.uid] =
        ClaimRecord{ClaimState::kPrepareCompleted, info.ref.namespace_, info.ref.name, *plan};
    Log("rebuilt claim " + ClaimName(info.ref) + " (" + info.ref.uid + ") from the API server");
  }
  return true;
}

void DeviceState::DestroyUnaccounted() {
  for (int minor : dynamic_gpus_) {
    auto live = backend_->ListMigInstances(minor);
    if (!live.ok()) {
      Log("cannot list the MIG instances of GPU " + std::to_string(minor) + ": " +
          live.error().message + "; leaving them alone");
      continue;
    }
    std::set<std::pair<int, int>> placements;  // (GI profile, start) of unaccounted instances
    for (const auto& m : *live) placements.insert({m.gi_profile_id, m.placement_start});
    for (const auto& [uid, rec] : checkpoint_.claims) {
      for (const auto& d : rec.devices) {
        if (d.gpu_minor == minor) placements.erase({d.gi_profile_id, d.placement_start});
      }
    }
    for (const auto& [profile, start] : placements) {
      PreparedDevice orphan;  // no UUID: whatever is at the placement goes
      orphan.kind = DeviceKind::kMigDynamic;
      orphan.gpu_minor = minor;
      orphan.gi_profile_id = profile;
      orphan.placement_start = start;
      orphan.device = "GPU " + std::to_string(minor) + " GI profile " + std::to_string(profile) +
                      " at placement " + std::to_string(start);
      Log("destroying the MIG instance of " + orphan.device +
          ", which no claim accounts for after the checkpoint was lost");
      Status s = DestroyRecorded(orphan);
      if (!s.ok()) Log("leaving it: " + s.error().message);
    }
  }
}

Result<std::vector<PreparedDevice>> DeviceState::Plan(const ClaimInfo& info) {
  std::vector<PreparedDevice> plan;
  for (size_t i = 0; i < info.results.size(); ++i) {
    const AllocatedResult& r = info.results[i];
    if (r.driver != options_.driver_name || r.pool != options_.pool_name) continue;
    auto existing = std::find_if(plan.begin(), plan.end(),
                                 [&](const PreparedDevice& d) { return d.device == r.device; });
    if (existing != plan.end()) {
      existing->requests.push_back(r.request);
      continue;
    }
    auto name = ParseDeviceName(r.device);
    if (!name.ok())
      return MakeError(name.error().message,
                       "status.allocation.devices.results[" + std::to_string(i) + "].device");
    auto gpu = std::find_if(gpus_.begin(), gpus_.end(),
                            [&](const GpuInfo& g) { return g.minor == name->gpu_minor; });
    if (gpu == gpus_.end()) {
      return MakeError("device " + r.device + ": this node has no GPU with minor " +
                       std::to_string(name->gpu_minor));
    }
    MIGDRA_ASSIGN_OR_RETURN(auto configs,
                            ConfigsForRequest(info.configs, options_.driver_name, r.request));
    for (const auto& c : configs)
      MIGDRA_RETURN_IF_ERROR(CheckApplicable(c, name->is_mig, r.device));
    PreparedDevice d;
    d.requests = {r.request};
    d.pool = r.pool;
    d.device = r.device;
    d.cdi_device_ids = {CdiDeviceId(info.ref.uid, r.device)};
    d.gpu_minor = gpu->minor;
    d.parent_uuid = gpu->uuid;
    if (!name->is_mig) {
      d.kind = DeviceKind::kGpu;
      d.uuid = gpu->uuid;
    } else {
      d.kind = IsDynamic(gpu->minor) ? DeviceKind::kMigDynamic : DeviceKind::kMigStatic;
      d.gi_profile_id = name->gi_profile_id;
      d.placement_start = name->placement_start;
    }
    plan.push_back(std::move(d));
  }
  return plan;
}

Status DeviceState::CheckConflicts(const std::string& uid,
                                   const std::vector<PreparedDevice>& devices) const {
  for (const auto& [other_uid, rec] : checkpoint_.claims) {
    if (other_uid == uid) continue;
    for (const auto& held : rec.devices) {
      for (const auto& want : devices) {
        const bool same_gpu = held.gpu_minor == want.gpu_minor;
        if (held.device == want.device ||
            (same_gpu && (held.kind == DeviceKind::kGpu || want.kind == DeviceKind::kGpu))) {
          return MakeError("device " + want.device + " conflicts with " + held.device +
                           ", which is prepared for claim " + rec.namespace_ + "/" + rec.name +
                           " (" + other_uid + ")");
        }
      }
    }
  }
  return OkStatus();
}

std::vector<std::unique_lock<std::mutex>> DeviceState::LockGpus(
    const std::vector<PreparedDevice>& devices) {
  std::set<int> minors;  // sorted: every caller locks in the same order
  for (const auto& d : devices) minors.insert(d.gpu_minor);
  std::vector<std::unique_lock<std::mutex>> locks;
  for (int m : minors) {
    auto it = gpu_mu_.find(m);
    if (it != gpu_mu_.end()) locks.emplace_back(*it->second);
  }
  return locks;
}

MigStatus DeviceState::RetryInUse(const std::function<MigStatus()>& op) {
  auto wait = options_.in_use_backoff;
  MigStatus s;
  for (int attempt = 1; attempt <= std::max(1, options_.in_use_attempts); ++attempt) {
    s = op();
    if (s.code != MigCode::kInUse) return s;
    if (attempt < options_.in_use_attempts) {
      std::this_thread::sleep_for(wait);
      wait *= 2;
    }
  }
  return s;
}

Status DeviceState::DestroyRecorded(const PreparedDevice& d) {
  MIGDRA_ASSIGN_OR_RETURN(auto live,
                          backend_->ListMigInstancesOfProfile(d.gpu_minor, d.gi_profile_id));
  auto at = AtPlacement(live, d);
  if (at.empty()) return OkStatus();  // already gone
  // GI ids are reused; a UUID never is. A GI whose CI is gone (crash between the two destroys)
  // is recognised by its GI id.
  bool ours = d.uuid.empty();
  for (const auto& m : at) {
    ours = ours || m.uuid == d.uuid || (m.ci_id < 0 && m.gi_id == d.gi_id);
  }
  if (!ours) {
    Log("the MIG instance at " + d.device + " is not the one migdra created (" + d.uuid +
        "); leaving it alone");
    return OkStatus();
  }
  for (const auto& m : at) {
    if (m.ci_id < 0) continue;
    MigStatus s =
        RetryInUse([&] { return backend_->DestroyComputeInstance(d.gpu_minor, m.gi_id, m.ci_id); });
    if (s.code == MigCode::kInUse) {
      return MakeError("MIG device " + m.uuid + " (" + d.device +
                       ") is still in use by another process after " +
                       std::to_string(options_.in_use_attempts) + " attempts; will retry");
    }
    if (!s.ok() && s.code != MigCode::kNotFound) {
      return MakeError("destroying compute instance of " + d.device + ": " + Describe(s));
    }
    MaybeCrash("ci-destroyed");
  }
  MigStatus s = RetryInUse([&] { return backend_->DestroyGpuInstance(d.gpu_minor, at[0].gi_id); });
  if (s.code == MigCode::kInUse) {
    return MakeError("GPU instance of " + d.device + " is still in use after " +
                     std::to_string(options_.in_use_attempts) + " attempts; will retry");
  }
  if (!s.ok() && s.code != MigCode::kNotFound) {
    return MakeError("destroying GPU instance of " + d.device + ": " + Describe(s));
  }
  MaybeCrash("gi-destroyed");
  return OkStatus();
}

Status DeviceState::TearDown(const std::string& uid, const ClaimRecord& record) {
  {
    auto locks = LockGpus(record.devices);
    for (const auto& d : record.devices) {
      if (d.kind != DeviceKind::kMigDynamic) continue;
      MIGDRA_RETURN_IF_ERROR(DestroyRecorded(d));
    }
  }
  MIGDRA_RETURN_IF_ERROR(cdi_.Delete(uid));
  MaybeCrash("cdi-deleted");
  std::lock_guard<std::mutex> lock(cp_mu_);
  auto forgotten = Record(uid, nullptr);
  if (!forgotten.ok()) return std::move(forgotten).error();
  return OkStatus();
}

Result<std::vector<PreparedDevice>> DeviceState::Prepare(const ClaimRef& claim) {
  if (!IsValidClaimUid(claim.uid)) return MakeError("invalid claim UID \"" + claim.uid + "\"");
  ClaimGuard guard(this, claim.uid);
  std::optional<ClaimRecord> leftover;
  {
    std::lock_guard<std::mutex> lock(cp_mu_);
    auto it = checkpoint_.claims.find(claim.uid);
    if (it != checkpoint_.claims.end()) {
      if (it->second.state == ClaimState::kPrepareCompleted) return it->second.devices;
      leftover = it->second;
    }
  }
  if (leftover) MIGDRA_RETURN_IF_ERROR(TearDown(claim.uid, *leftover));

  if (claims_ == nullptr) return MakeError("no API server to read claim " + ClaimName(claim));
  MIGDRA_ASSIGN_OR_RETURN(ClaimInfo info, claims_->Get(claim.namespace_, claim.name));
  if (info.ref.uid != claim.uid) {
    return MakeError("ResourceClaim " + ClaimName(claim) + " has UID " + info.ref.uid + ", not " +
                     claim.uid + " (it was deleted and re-created)");
  }
  if (!info.allocated) return MakeError("ResourceClaim " + ClaimName(claim) + " is not allocated");
  MIGDRA_ASSIGN_OR_RETURN(std::vector<PreparedDevice> devices, Plan(info));
  if (devices.empty()) return devices;

  auto gpu_locks = LockGpus(devices);
  // Check what is on the GPUs now: a dynamic placement must be free, a static MIG device must
  // exist. Under the GPU locks nothing of migdra's changes them until the intent is recorded.
  for (auto& d : devices) {
    if (d.kind == DeviceKind::kGpu) continue;
    MIGDRA_ASSIGN_OR_RETURN(auto live,
                            backend_->ListMigInstancesOfProfile(d.gpu_minor, d.gi_profile_id));
    auto at = AtPlacement(live, d);
    if (d.kind == DeviceKind::kMigStatic) {
      if (at.empty() || at[0].ci_id < 0) {
        return MakeError("MIG device " + d.device + " does not exist on GPU " +
                         std::to_string(d.gpu_minor) + " (dynamic MIG is off for this GPU)");
      }
      d.gi_id = at[0].gi_id;
      d.ci_id = at[0].ci_id;
      d.uuid = at[0].uuid;
    } else if (!at.empty()) {
      std::lock_guard<std::mutex> lock(cp_mu_);
      MIGDRA_RETURN_IF_ERROR(CheckConflicts(claim.uid, {d}));
      return MakeError("the placement of " + d.device + " is occupied by a MIG instance (" +
                       at[0].uuid + ") that migdra did not create");
    }
  }
  uint64_t intent = 0;
  {
    std::lock_guard<std::mutex> lock(cp_mu_);
    MIGDRA_RETURN_IF_ERROR(CheckConflicts(claim.uid, devices));
    const ClaimRecord started{ClaimState::kPrepareStarted, claim.namespace_, claim.name, devices};
    MIGDRA_ASSIGN_OR_RETURN(intent, Record(claim.uid, &started));
  }
  auto fail = [&](Error error) -> Error {
    gpu_locks.clear();
    ClaimRecord started{ClaimState::kPrepareStarted, claim.namespace_, claim.name, devices};
    Status rollback = TearDown(claim.uid, started);
    if (!rollback.ok()) error.message += "; rollback incomplete: " + rollback.error().message;
    return error;
  };
  // The one durable write of a prepare, shared with the prepares beside it, runs while the GPU
  // is partitioned: the intent is already in the kernel, and a crash of the machine before it
  // reaches the disk leaves no MIG instance behind.
  journal_.Flush(intent);
  MaybeCrash("intent-written");

  for (auto& d : devices) {
    if (d.kind != DeviceKind::kMigDynamic) continue;
    auto gpu = std::find_if(gpus_.begin(), gpus_.end(),
                            [&](const GpuInfo& g) { return g.minor == d.gpu_minor; });
    if (!gpu->mig_enabled) {
      MigStatus s = backend_->SetMigMode(d.gpu_minor, true);
      if (!s.ok()) {
        return fail(MakeError("enabling MIG mode on GPU " + std::to_string(d.gpu_minor) + ": " +
                              Describe(s)));
      }
      gpu->mig_enabled = true;
    }
    MigStatus s =
        backend_->CreateGpuInstance(d.gpu_minor, d.gi_profile_id, d.placement_start, &d.gi_id);
    if (!s.ok())
      return fail(MakeError("creating GPU instance for " + d.device + ": " + Describe(s)));
    MaybeCrash("gi-created");
    s = backend_->CreateComputeInstance(d.gpu_minor, d.gi_id, &d.ci_id, &d.uuid);
    if (!s.ok()) {
      return fail(MakeError("creating compute instance for " + d.device + ": " + Describe(s)));
    }
    MaybeCrash("ci-created");
  }
  if (Status s = cdi_.Write(claim.uid, devices); !s.ok()) return fail(std::move(s).error());
  MaybeCrash("cdi-written");
  gpu_locks.clear();  // the GPUs are done with: the next prepare on them need not wait for the disk
  if (Status s = journal_.Sync(intent); !s.ok()) return fail(std::move(s).error());
  {
    std::lock_guard<std::mutex> lock(cp_mu_);
    const ClaimRecord done{ClaimState::kPrepareCompleted, claim.namespace_, claim.name, devices};
    if (auto recorded = Record(claim.uid, &done); !recorded.ok()) {
      return fail(std::move(recorded).error());
    }
  }
  MaybeCrash("completed");
  return devices;
}

Status DeviceState::Unprepare(const ClaimRef& claim) {
  if (!IsValidClaimUid(claim.uid)) return MakeError("invalid claim UID \"" + claim.uid + "\"");
  ClaimGuard guard(this, claim.uid);
  ClaimRecord record;
  std::optional<uint64_t> started;
  {
    std::lock_guard<std::mutex> lock(cp_mu_);
    auto it = checkpoint_.claims.find(claim.uid);
    if (it == checkpoint_.claims.end()) return cdi_.Delete(claim.uid);
    record = it->second;
    if (record.state == ClaimState::kPrepareCompleted) {
      record.state = ClaimState::kUnprepareStarted;
      MIGDRA_ASSIGN_OR_RETURN(started, Record(claim.uid, &record));
    }
  }
  if (started) journal_.Flush(*started);  // as in Prepare, beside the destroying
  MaybeCrash("unprepare-started");
  MIGDRA_RETURN_IF_ERROR(TearDown(claim.uid, record));
  MaybeCrash("unprepare-completed");
  if (started) return journal_.Sync(*started);
  return OkStatus();
}

}  // namespace migdra::driver
