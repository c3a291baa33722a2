#include "control/partition_map.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <vector>

#include "api/quantity.h"
#include "control/json_access.h"
#include "control/resources.h"

namespace migdra::control {
namespace {

using json = nlohmann::json;
using Counters = std::map<std::string, int64_t>;  // counter name -> milli-units

const std::string kMemorySlicePrefix = "memory-slice-";
const std::string kCounterSetSuffix = "-counter-set";

std::string StoreKeyOf(const std::string& plural) {
  for (const ResourceInfo& r : AllResources()) {
    if (r.plural == plural) return r.StoreKey();
  }
  return plural;
}

int64_t Milli(const json& counter) {
  const std::string text = Str(counter, "value");
  Result<api::Quantity> q = api::Quantity::Parse(text);
  return q.ok() ? q->MilliValue() : 0;
}

Counters ReadCounters(const json& counters) {
  Counters out;
  if (!counters.is_object()) return out;
  for (const auto& [name, c] : counters.items()) out[name] = Milli(c);
  return out;
}

std::string Attribute(const json& device, const char* name) {
  return Str(Field(device, {"attributes", name}), "string");
}

// "3g.40gb" -> 3; 0 when the profile does not start with "<N>g".
int ComputeSlicesOf(const std::string& profile) {
  size_t i = 0;
  int n = 0;
  while (i < profile.size() && std::isdigit(static_cast<unsigned char>(profile[i]))) {
    n = n * 10 + (profile[i++] - '0');
  }
  return i < profile.size() && profile[i] == 'g' ? n : 0;
}

struct DeviceInfo {
  json device;
  std::string counter_set;  // the GPU it partitions; "" when it consumes no counter set
  std::vector<std::pair<std::string, Counters>> consumes;
  std::vector<int> memory_slices;
  std::string profile;  // "gpu" for a whole GPU
};

struct Gpu {
  std::string counter_set;
  std::string name;
  int index = 0;
  Counters capacity;
  int memory_slices = 0;
  int compute_slices = 0;
  std::string uuid, product;
};

struct Pool {
  std::string node;
  std::map<std::string, Gpu> gpus;  // by counter set
  std::vector<DeviceInfo> devices;  // in slice order
};

struct Holder {
  std::string claim_namespace, claim_name, pod, started;
};

bool Fits(const DeviceInfo& d, const std::map<std::string, Gpu>& gpus,
          const std::map<std::string, Counters>& used) {
  if (d.consumes.empty()) return false;
  for (const auto& [set, counters] : d.consumes) {
    auto gpu = gpus.find(set);
    if (gpu == gpus.end()) return false;
    auto u = used.find(set);
    for (const auto& [name, value] : counters) {
      auto cap = gpu->second.capacity.find(name);
      if (cap == gpu->second.capacity.end()) return false;
      int64_t already = 0;
      if (u != used.end()) {
        auto it = u->second.find(name);
        if (it != u->second.end()) already = it->second;
      }
      if (already + value > cap->second) return false;
    }
  }
  return true;
}

void Consume(const DeviceInfo& d, std::map<std::string, Counters>& used) {
  for (const auto& [set, counters] : d.consumes) {
    for (const auto& [name, value] : counters) used[set][name] += value;
  }
}

std::map<std::string, Pool> ReadPools(const Store& store) {
  std::map<std::string, Pool> pools;  // by driver/pool
  for (const json& slice : store.List(StoreKeyOf("resourceslices"), "")) {
    const json& spec = Field(slice, {"spec"});
    const std::string key = Str(spec, "driver") + "/" + Str(Field(spec, {"pool"}), "name");
    Pool& pool = pools[key];
    if (!Str(spec, "nodeName").empty()) pool.node = Str(spec, "nodeName");
    if (pool.node.empty()) pool.node = Str(Field(spec, {"pool"}), "name");
    for (const json& set : spec.value("sharedCounters", json::array())) {
      Gpu gpu;
      gpu.counter_set = Str(set, "name");
      gpu.name = gpu.counter_set;
      if (gpu.name.size() > kCounterSetSuffix.size() &&
          gpu.name.compare(gpu.name.size() - kCounterSetSuffix.size(), std::string::npos,
                           kCounterSetSuffix) == 0) {
        gpu.name.resize(gpu.name.size() - kCounterSetSuffix.size());
      }
      if (gpu.name.rfind("gpu-", 0) == 0) gpu.index = std::atoi(gpu.name.c_str() + 4);
      gpu.capacity = ReadCounters(set.value("counters", json::object()));
      for (const auto& [name, value] : gpu.capacity) {
        if (name.rfind(kMemorySlicePrefix, 0) == 0) ++gpu.memory_slices;
      }
      pool.gpus[gpu.counter_set] = gpu;
    }
    for (const json& device : spec.value("devices", json::array())) {
      DeviceInfo d;
      d.device = device;
      d.profile = Attribute(device, "type") == "gpu" ? "gpu" : Attribute(device, "profile");
      for (const json& c : device.value("consumesCounters", json::array())) {
        Counters counters = ReadCounters(c.value("counters", json::object()));
        if (d.counter_set.empty()) d.counter_set = Str(c, "counterSet");
        for (const auto& [name, value] : counters) {
          if (name.rfind(kMemorySlicePrefix, 0) == 0 && value > 0) {
            d.memory_slices.push_back(std::atoi(name.c_str() + kMemorySlicePrefix.size()));
          }
        }
        d.consumes.emplace_back(Str(c, "counterSet"), std::move(counters));
      }
      std::sort(d.memory_slices.begin(), d.memory_slices.end());
      pool.devices.push_back(std::move(d));
    }
  }
  for (auto& [key, pool] : pools) {
    for (const DeviceInfo& d : pool.devices) {
      auto gpu = pool.gpus.find(d.counter_set);
      if (gpu == pool.gpus.end()) continue;
      Gpu& g = gpu->second;
      g.compute_slices = std::max(g.compute_slices, ComputeSlicesOf(d.profile));
      if (g.product.empty()) g.product = Attribute(d.device, "productName");
      if (d.profile == "gpu" && !Attribute(d.device, "uuid").empty()) {
        g.uuid = Attribute(d.device, "uuid");
      } else if (g.uuid.empty()) {
        g.uuid = Attribute(d.device, "parentUUID");
      }
    }
  }
  return pools;
}

// The pods that use each claim ("ns/claim" -> pods), from the pods' claim references.
std::map<std::string, std::vector<const json*>> PodsByClaim(const std::vector<json>& pods) {
  std::map<std::string, std::vector<const json*>> out;
  for (const json& pod : pods) {
    const std::string ns = Str(pod["metadata"], "namespace");
    std::set<std::string> names;
    for (const json& pc : Field(pod, {"spec"}).value("resourceClaims", json::array())) {
      if (!Str(pc, "resourceClaimName").empty()) names.insert(Str(pc, "resourceClaimName"));
    }
    for (const json& s : Field(pod, {"status"}).value("resourceClaimStatuses", json::array())) {
      if (!Str(s, "resourceClaimName").empty()) names.insert(Str(s, "resourceClaimName"));
    }
    for (const std::string& n : names) out[ns + "/" + n].push_back(&pod);
  }
  return out;
}

std::string WhyPending(const std::vector<const json*>& pods) {
  for (const json* pod : pods) {
    for (const json& c : Field(*pod, {"status"}).value("conditions", json::array())) {
      if (Str(c, "type") == "PodScheduled" && Str(c, "status") == "False") {
        std::string why = Str(c, "message");
        return why.empty() ? Str(c, "reason") : why;
      }
    }
  }
  return "not yet scheduled";
}

}  // namespace

json BuildPartitionMap(const Store& store) {
  std::map<std::string, Pool> pools = ReadPools(store);
  std::vector<json> pods = store.List(StoreKeyOf("pods"), "");
  std::map<std::string, std::vector<const json*>> pods_by_claim = PodsByClaim(pods);

  std::map<std::string, Holder> holders;  // driver/pool/device -> who holds it
  json pending = json::array();
  for (const json& claim : store.List(StoreKeyOf("resourceclaims"), "")) {
    const std::string ns = Str(claim["metadata"], "namespace");
    const std::string name = Str(claim["metadata"], "name");
    const auto users = pods_by_claim.find(ns + "/" + name);
    const json& results = Field(claim, {"status", "allocation", "devices", "results"});
    if (!results.is_array()) {
      json entry = {{"namespace", ns},
                    {"claim", name},
                    {"pod", ""},
                    {"waitingSeconds",
                     std::max(0LL, SecondsSince(Str(claim["metadata"], "creationTimestamp")))},
                    {"reason", "not yet scheduled"}};
      if (users != pods_by_claim.end()) {
        entry["pod"] = Str((*users->second.front())["metadata"], "name");
        entry["reason"] = WhyPending(users->second);
      }
      pending.push_back(entry);
      continue;
    }
    Holder holder{ns, name, "", Str(claim["metadata"], "creationTimestamp")};
    if (users != pods_by_claim.end()) {
      const json& pod = *users->second.front();
      holder.pod = Str(pod["metadata"], "name");
      if (!Str(Field(pod, {"status"}), "startTime").empty()) {
        holder.started = Str(pod["status"], "startTime");
      }
    }
    for (const json& r : results) {
      holders[Str(r, "driver") + "/" + Str(r, "pool") + "/" + Str(r, "device")] = holder;
    }
  }

  std::map<std::string, json> nodes;  // by node name
  for (const auto& [key, pool] : pools) {
    if (pool.gpus.empty()) continue;
    std::map<std::string, Counters> used;
    std::set<std::string> allocated_devices;
    std::map<std::string, json> partitions;  // by counter set
    std::map<std::string, int> compute_used;
    std::map<std::string, std::set<int>> occupied;
    for (const DeviceInfo& d : pool.devices) {
      const std::string name = Str(d.device, "name");
      auto holder = holders.find(key + "/" + name);
      if (holder == holders.end() || d.counter_set.empty()) continue;
      allocated_devices.insert(name);
      Consume(d, used);
      const Gpu& gpu = pool.gpus.count(d.counter_set) ? pool.gpus.at(d.counter_set) : Gpu{};
      const int compute = d.profile == "gpu" ? gpu.compute_slices : ComputeSlicesOf(d.profile);
      compute_used[d.counter_set] += compute;
      occupied[d.counter_set].insert(d.memory_slices.begin(), d.memory_slices.end());
      const Holder& h = holder->second;
      partitions[d.counter_set].push_back(
          {{"device", name},
           {"profile", d.profile},
           {"start", d.memory_slices.empty() ? 0 : d.memory_slices.front()},
           {"size", d.memory_slices.size()},
           {"computeSlices", compute},
           {"claim", h.claim_name},
           {"namespace", h.claim_namespace},
           {"pod", h.pod},
           {"ageSeconds", std::max(0LL, SecondsSince(h.started))}});
    }
    // Memory slices some placeable device could still use.
    std::map<std::string, std::set<int>> usable;
    for (const DeviceInfo& d : pool.devices) {
      if (allocated_devices.count(Str(d.device, "name")) || !Fits(d, pool.gpus, used)) continue;
      usable[d.counter_set].insert(d.memory_slices.begin(), d.memory_slices.end());
    }
    // How many more of each profile fit, placing them one after another.
    json fits = json::object();
    std::set<std::string> profiles;
    for (const DeviceInfo& d : pool.devices) {
      if (!d.counter_set.empty() && !d.profile.empty()) profiles.insert(d.profile);
    }
    for (const std::string& profile : profiles) {
      std::map<std::string, Counters> trial = used;
      int n = 0;
      for (const DeviceInfo& d : pool.devices) {
        if (d.profile != profile || allocated_devices.count(Str(d.device, "name"))) continue;
        if (!Fits(d, pool.gpus, trial)) continue;
        Consume(d, trial);
        ++n;
      }
      fits[profile] = n;
    }

    json& node = nodes[pool.node];
    if (node.is_null())
      node = {{"name", pool.node}, {"gpus", json::array()}, {"fits", json::object()}};
    std::vector<const Gpu*> gpus;
    for (const auto& [set, gpu] : pool.gpus) gpus.push_back(&gpu);
    std::sort(gpus.begin(), gpus.end(),
              [](const Gpu* a, const Gpu* b) { return a->index < b->index; });
    for (const Gpu* gpu : gpus) {
      json slices = json::array();
      for (int i = 0; i < gpu->memory_slices; ++i) {
        if (occupied[gpu->counter_set].count(i)) {
          slices.push_back("allocated");
        } else {
          slices.push_back(usable[gpu->counter_set].count(i) ? "free" : "stranded");
        }
      }
      json parts =
          partitions.count(gpu->counter_set) ? partitions[gpu->counter_set] : json::array();
      std::sort(parts.begin(), parts.end(),
                [](const json& a, const json& b) { return a["start"] < b["start"]; });
      node["gpus"].push_back({{"name", gpu->name},
                              {"index", gpu->index},
                              {"uuid", gpu->uuid},
                              {"product", gpu->product},
                              {"memorySlices", gpu->memory_slices},
                              {"computeSlices", gpu->compute_slices},
                              {"computeSlicesAllocated", compute_used[gpu->counter_set]},
                              {"slices", slices},
                              {"partitions", parts}});
    }
    for (const auto& [profile, n] : fits.items()) {
      node["fits"][profile] = node["fits"].value(profile, 0) + n.get<int>();
    }
  }
  json out = {{"nodes", json::array()}, {"pending", pending}};
  for (auto& [name, node] : nodes) out["nodes"].push_back(std::move(node));
  return out;
}

}  // namespace migdra::control
