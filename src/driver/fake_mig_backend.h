// An in-memory MigBackend for tests and benchmarks: GPUs with a simple slice grid (GI profile id
// -> placement size), overlap checks as NVML does them, and scripted faults.
//
// Thread safety: all calls take one mutex.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "driver/mig_backend.h"

namespace migdra::driver {

class FakeMigBackend : public MigBackend {
 public:
  // A100-like sizes: 1g (19) -> 1, 2g (14) -> 2, 3g (9) -> 4, 4g (5) -> 4, 7g (0) -> 8 slices.
  explicit FakeMigBackend(
      std::vector<GpuInfo> gpus,
      std::map<int, int> profile_sizes = {{19, 1}, {14, 2}, {9, 4}, {5, 4}, {0, 8}}, int grid = 8)
      : gpus_(std::move(gpus)), sizes_(std::move(profile_sizes)), grid_(grid) {}

  Result<std::vector<GpuInfo>> ListGpus() override {
    std::lock_guard<std::mutex> l(mu_);
    return gpus_;
  }
  Result<std::vector<MigInstance>> ListMigInstances(int minor) override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<MigInstance> out;
    for (const auto& [key, gi] : gis_) {
      if (key.first != minor) continue;
      MigInstance m{minor, gi.id, -1, gi.profile, gi.start, ""};
      if (gi.ci_id < 0) {
        out.push_back(m);
      } else {
        m.ci_id = gi.ci_id;
        m.uuid = gi.uuid;
        out.push_back(m);
      }
    }
    return out;
  }
  Result<std::vector<MigInstance>> ListMigInstancesOfProfile(int minor, int profile) override {
    MIGDRA_ASSIGN_OR_RETURN(auto all, ListMigInstances(minor));
    std::vector<MigInstance> out;
    for (const auto& m : all) {
      if (m.gi_profile_id == profile) out.push_back(m);
    }
    return out;
  }
  MigStatus SetMigMode(int minor, bool enabled) override {
    std::lock_guard<std::mutex> l(mu_);
    ops.push_back("mode " + std::to_string(minor));
    for (auto& g : gpus_) {
      if (g.minor == minor) g.mig_enabled = enabled;
    }
    return {};
  }
  MigStatus CreateGpuInstance(int minor, int profile, int start, int* gi_id) override {
    std::lock_guard<std::mutex> l(mu_);
    if (MigStatus f = Fault("create-gi"); !f.ok()) return f;
    auto size = sizes_.find(profile);
    if (size == sizes_.end() || start < 0 || start + size->second > grid_) {
      return {MigCode::kFailed, "invalid profile or placement"};
    }
    for (const auto& [key, gi] : gis_) {
      if (key.first == minor && start < gi.start + gi.size && gi.start < start + size->second) {
        return {MigCode::kInsufficientResources, "placement occupied"};
      }
    }
    int id = next_gi_id_[minor]++ + 1;
    gis_[{minor, id}] = Gi{id, profile, start, size->second, -1, ""};
    *gi_id = id;
    ops.push_back("create-gi " + std::to_string(minor) + ":" + std::to_string(id));
    return {};
  }
  MigStatus CreateComputeInstance(int minor, int gi_id, int* ci_id, std::string* uuid) override {
    std::lock_guard<std::mutex> l(mu_);
    if (MigStatus f = Fault("create-ci"); !f.ok()) return f;
    auto it = gis_.find({minor, gi_id});
    if (it == gis_.end()) return {MigCode::kNotFound, "no such GI"};
    if (it->second.ci_id >= 0) return {MigCode::kInsufficientResources, "GI already has a CI"};
    it->second.ci_id = 0;
    it->second.uuid = "MIG-fake-" + std::to_string(++uuid_counter_);
    *ci_id = 0;
    *uuid = it->second.uuid;
    ops.push_back("create-ci " + it->second.uuid);
    return {};
  }
  MigStatus DestroyComputeInstance(int minor, int gi_id, int ci_id) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = gis_.find({minor, gi_id});
    if (it == gis_.end() || it->second.ci_id != ci_id) return {MigCode::kNotFound, "no such CI"};
    if (in_use.count(it->second.uuid) > 0) return {MigCode::kInUse, "in use"};
    if (MigStatus f = Fault("destroy-ci"); !f.ok()) return f;
    ops.push_back("destroy-ci " + it->second.uuid);
    it->second.ci_id = -1;
    it->second.uuid.clear();
    return {};
  }
  MigStatus DestroyGpuInstance(int minor, int gi_id) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = gis_.find({minor, gi_id});
    if (it == gis_.end()) return {MigCode::kNotFound, "no such GI"};
    if (it->second.ci_id >= 0) return {MigCode::kInUse, "GI has a CI"};
    if (MigStatus f = Fault("destroy-gi"); !f.ok()) return f;
    ops.push_back("destroy-gi " + std::to_string(minor) + ":" + std::to_string(gi_id));
    gis_.erase(it);
    return {};
  }

  // Instances created outside migdra (e.g. by an operator), for static-MIG and safety tests.
  std::string AddForeignInstance(int minor, int profile, int start) {
    int gi = 0, ci = 0;
    std::string uuid;
    CreateGpuInstance(minor, profile, start, &gi);
    CreateComputeInstance(minor, gi, &ci, &uuid);
    return uuid;
  }
  size_t InstanceCount() {
    std::lock_guard<std::mutex> l(mu_);
    return gis_.size();
  }
  // The next call of `op` (create-gi, create-ci, destroy-ci, destroy-gi) fails with `code`.
  void FailNext(const std::string& op, MigCode code) {
    std::lock_guard<std::mutex> l(mu_);
    faults_[op] = code;
  }

  std::set<std::string> in_use;  // MIG UUIDs a process still uses
  std::vector<std::string> ops;  // log of changes

 private:
  struct Gi {
    int id;
    int profile;
    int start;
    int size;
    int ci_id;
    std::string uuid;
  };
  MigStatus Fault(const std::string& op) {
    auto it = faults_.find(op);
    if (it == faults_.end()) return {};
    MigStatus s{it->second, "injected fault in " + op};
    faults_.erase(it);
    return s;
  }

  std::mutex mu_;
  std::vector<GpuInfo> gpus_;
  std::map<int, int> sizes_;
  int grid_;
  std::map<std::pair<int, int>, Gi> gis_;
  std::map<int, int> next_gi_id_;
  std::map<std::string, MigCode> faults_;
  int uuid_counter_ = 0;
};

}  // namespace migdra::driver
