// Property tests: on random nodes of partitionable GPUs with random prior allocations and random
// claims, (1) every allocation either strategy returns satisfies selectors, counters, exclusivity,
// constraints, counts and node selection, checked independently of the allocator; (2) `pack` and
// `kubernetes` always agree on whether the claims fit.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <set>

#include "alloc/allocator.h"
#include "alloc/synthetic.h"

namespace migdra::alloc {
namespace {

// A class and the predicate its selector expresses, so results can be checked without CEL.
struct ClassSpec {
  std::string name;
  std::string expression;  // empty: no selector
  std::string type;        // "" any, "gpu", "mig"
  std::string profile;     // "" any
};

const std::vector<ClassSpec>& Classes() {
  static const std::vector<ClassSpec> classes = {
      {"any", "", "", ""},
      {"gpu", "device.attributes['gpu.nvidia.com'].type == 'gpu'", "gpu", ""},
      {"mig", "device.attributes['gpu.nvidia.com'].type == 'mig'", "mig", ""},
      {"mig-1g",
       "device.attributes['gpu.nvidia.com'].type == 'mig' && "
       "device.attributes['gpu.nvidia.com'].profile == '1g.10gb'",
       "mig", "1g.10gb"},
      {"mig-2g",
       "device.attributes['gpu.nvidia.com'].type == 'mig' && "
       "device.attributes['gpu.nvidia.com'].profile == '2g.20gb'",
       "mig", "2g.20gb"},
      {"mig-3g",
       "device.attributes['gpu.nvidia.com'].type == 'mig' && "
       "device.attributes['gpu.nvidia.com'].profile == '3g.40gb'",
       "mig", "3g.40gb"},
  };
  return classes;
}

std::string AttrString(const api::Device& d, const std::string& id) {
  auto it = d.attributes.find(id);
  if (it == d.attributes.end() || !it->second.string_value) return {};
  return *it->second.string_value;
}

struct Scenario {
  std::vector<api::ResourceSlice> slices;
  std::vector<api::DeviceClass> classes;
  std::vector<api::ResourceClaim> allocated;
  std::vector<api::ResourceClaim> claims;
};

Scenario Generate() {
  Scenario s;
  const int gpus = *rc::gen::inRange(1, 4);
  s.slices = synthetic::H100Node("node-a", gpus);
  for (const auto& c : Classes()) {
    api::DeviceClass cls;
    cls.metadata.name = c.name;
    if (!c.expression.empty()) cls.spec.selectors.push_back({api::CELDeviceSelector{c.expression}});
    s.classes.push_back(cls);
  }
  // Prior allocations: random devices, kept only if they fit the counters (as a real cluster).
  std::vector<const api::Device*> all;
  for (const auto& slice : s.slices) {
    for (const auto& d : slice.spec.devices) all.push_back(&d);
  }
  const int prior = *rc::gen::inRange(0, 6);
  std::map<std::string, int64_t> used;
  std::set<std::string> taken;
  for (int i = 0; i < prior; ++i) {
    const api::Device* d = all[*rc::gen::inRange<size_t>(0, all.size())];
    if (taken.count(d->name)) continue;
    bool fits = true;
    std::map<std::string, int64_t> add;
    for (const auto& use : d->consumes_counters) {
      for (const auto& [name, c] : use.counters)
        add[use.counter_set + "/" + name] += c.value.Value();
    }
    for (const auto& [key, v] : add) {
      int64_t total = key.find("memory-slice") != std::string::npos ? 1 : 132;
      if (used[key] + v > total) fits = false;
    }
    if (!fits) continue;
    for (const auto& [key, v] : add) used[key] += v;
    taken.insert(d->name);
    api::ResourceClaim c;
    c.metadata.name = "prior-" + std::to_string(i);
    c.metadata.namespace_ = "default";
    c.status.allocation.emplace();
    c.status.allocation->devices.results.push_back(
        {"r", synthetic::kDriver, "node-a", d->name, {}, {}, {}, {}, {}, {}});
    s.allocated.push_back(c);
  }
  const int claims = *rc::gen::inRange(1, 3);
  for (int ci = 0; ci < claims; ++ci) {
    api::ResourceClaim c;
    c.metadata.name = "c" + std::to_string(ci);
    c.metadata.namespace_ = "default";
    const int requests = *rc::gen::inRange(1, 3);
    for (int ri = 0; ri < requests; ++ri) {
      api::DeviceRequest r;
      r.name = "r" + std::to_string(ri);
      const auto& cls = Classes()[*rc::gen::inRange<size_t>(0, Classes().size())];
      if (*rc::gen::inRange(0, 4) == 0) {
        const auto& other = Classes()[*rc::gen::inRange<size_t>(0, Classes().size())];
        r.first_available.push_back({"a", cls.name, {}, "", *rc::gen::inRange(1, 4), {}, {}});
        r.first_available.push_back({"b", other.name, {}, "", *rc::gen::inRange(1, 3), {}, {}});
      } else {
        r.exactly.emplace();
        r.exactly->device_class_name = cls.name;
        r.exactly->count = *rc::gen::inRange(1, 5);
      }
      c.spec.devices.requests.push_back(r);
    }
    switch (*rc::gen::inRange(0, 4)) {
      case 1:  // all devices of the claim on one GPU (MIG devices only carry parentUUID)
        c.spec.devices.constraints.push_back({{}, "gpu.nvidia.com/parentUUID", std::nullopt});
        break;
      case 2:  // each on a different GPU / profile
        c.spec.devices.constraints.push_back({{}, std::nullopt, "gpu.nvidia.com/parentUUID"});
        break;
      case 3:
        c.spec.devices.constraints.push_back({{"r0"}, std::nullopt, "gpu.nvidia.com/profile"});
        break;
      default:
        break;
    }
    s.claims.push_back(c);
  }
  return s;
}

// Checks `outcome` against the scenario without using the allocator; reports via RC_ASSERT.
void CheckValid(const Scenario& s, const Outcome& outcome) {
  std::map<std::string, const api::Device*> by_name;
  std::map<std::string, std::map<std::string, int64_t>> totals;  // set -> counter -> value
  for (const auto& slice : s.slices) {
    for (const auto& d : slice.spec.devices) by_name[d.name] = &d;
    for (const auto& set : slice.spec.shared_counters) {
      for (const auto& [n, c] : set.counters) totals[set.name][n] = c.value.Value();
    }
  }
  std::set<std::string> in_use;
  std::map<std::string, std::map<std::string, int64_t>> used;
  auto consume = [&](const api::Device& d) {
    for (const auto& use : d.consumes_counters) {
      for (const auto& [n, c] : use.counters) used[use.counter_set][n] += c.value.Value();
    }
  };
  for (const auto& c : s.allocated) {
    for (const auto& r : c.status.allocation->devices.results) {
      in_use.insert(r.device);
      consume(*by_name.at(r.device));
    }
  }
  RC_ASSERT(outcome.allocations.size() == s.claims.size());
  for (size_t ci = 0; ci < s.claims.size(); ++ci) {
    const auto& claim = s.claims[ci];
    const auto& alloc = outcome.allocations[ci];
    std::map<std::string, int64_t> per_request;
    for (const auto& r : alloc.devices.results) {
      RC_ASSERT(r.driver == std::string(synthetic::kDriver));
      RC_ASSERT(r.pool == "node-a");
      RC_ASSERT(by_name.count(r.device) == 1u);
      const api::Device& d = *by_name.at(r.device);
      RC_ASSERT(in_use.insert(r.device).second);  // exclusive
      consume(d);
      // Selector of the (sub)request's class.
      std::string parent = r.request.substr(0, r.request.find('/'));
      std::string class_name;
      for (const auto& req : claim.spec.devices.requests) {
        if (req.name != parent) continue;
        if (req.exactly) class_name = req.exactly->device_class_name;
        for (const auto& sub : req.first_available) {
          if (parent + "/" + sub.name == r.request) class_name = sub.device_class_name;
        }
      }
      RC_ASSERT(!class_name.empty());
      for (const auto& cls : Classes()) {
        if (cls.name != class_name) continue;
        if (!cls.type.empty()) RC_ASSERT(AttrString(d, "type") == cls.type);
        if (!cls.profile.empty()) RC_ASSERT(AttrString(d, "profile") == cls.profile);
      }
      per_request[r.request]++;
    }
    // Counts: every request got exactly its (sub)request's count.
    for (const auto& req : claim.spec.devices.requests) {
      if (req.exactly) {
        RC_ASSERT(per_request[req.name] == req.exactly->count.value_or(1));
      } else {
        int chosen = 0;
        for (const auto& sub : req.first_available) {
          int64_t n = per_request[req.name + "/" + sub.name];
          if (n > 0) {
            ++chosen;
            RC_ASSERT(n == sub.count.value_or(1));
          }
        }
        RC_ASSERT(chosen == 1);
      }
    }
    // Constraints.
    for (const auto& con : claim.spec.devices.constraints) {
      std::string attribute = con.match_attribute ? *con.match_attribute : *con.distinct_attribute;
      std::string id = attribute.substr(attribute.find('/') + 1);
      std::vector<std::string> values;
      for (const auto& r : alloc.devices.results) {
        std::string parent = r.request.substr(0, r.request.find('/'));
        if (!con.requests.empty() &&
            std::find(con.requests.begin(), con.requests.end(), parent) == con.requests.end()) {
          continue;
        }
        const api::Device& d = *by_name.at(r.device);
        RC_ASSERT(d.attributes.count(id) == 1u);
        values.push_back(AttrString(d, id));
      }
      if (con.match_attribute) {
        for (const auto& v : values) RC_ASSERT(v == values.front());
      } else {
        std::set<std::string> distinct(values.begin(), values.end());
        RC_ASSERT(distinct.size() == values.size());
      }
    }
    // Node selection: every device is on node-a's slices, so the result is bound to node-a.
    RC_ASSERT(alloc.node_selector.has_value());
    RC_ASSERT(alloc.node_selector->node_selector_terms.at(0).match_fields.at(0).values ==
              std::vector<std::string>{"node-a"});
  }
  for (const auto& [set, counters] : used) {
    for (const auto& [n, v] : counters) RC_ASSERT(v <= totals[set][n]);
  }
}

// A one-line description of the scenario, for failure reports.
std::string Describe(const Scenario& s) {
  std::string out = std::to_string(s.slices.size() - 1) + " GPUs; in use:";
  for (const auto& c : s.allocated) out += " " + c.status.allocation->devices.results[0].device;
  for (const auto& c : s.claims) {
    out += "; claim " + c.metadata.name + ":";
    for (const auto& r : c.spec.devices.requests) {
      if (r.exactly) {
        out += " " + r.name + "=" + std::to_string(*r.exactly->count) + "x" +
               r.exactly->device_class_name;
      }
      for (const auto& sub : r.first_available) {
        out += " " + r.name + "/" + sub.name + "=" + std::to_string(*sub.count) + "x" +
               sub.device_class_name;
      }
    }
    for (const auto& con : c.spec.devices.constraints) {
      out += con.match_attribute ? " match " + *con.match_attribute
                                 : " distinct " + *con.distinct_attribute;
      for (const auto& r : con.requests) out += " on " + r;
    }
  }
  return out;
}

Result<Outcome> RunScenario(const Scenario& s, Strategy strategy) {
  AllocatorInput in;
  for (const auto& x : s.slices) in.slices.push_back(&x);
  for (const auto& x : s.classes) in.classes.push_back(&x);
  for (const auto& x : s.allocated) in.allocated_claims.push_back(&x);
  std::vector<const api::ResourceClaim*> claims;
  for (const auto& c : s.claims) claims.push_back(&c);
  api::Node node;
  node.metadata.name = "node-a";
  Options options;
  options.strategy = strategy;
  options.share_id_seed = 1;
  return Allocate(in, node, claims, options);
}

RC_GTEST_PROP(AllocatorProperty, EveryResultSatisfiesSelectorsCountersConstraintsAndNodes, ()) {
  Scenario s = Generate();
  for (Strategy strategy : {Strategy::kKubernetes, Strategy::kPack}) {
    auto r = RunScenario(s, strategy);
    if (!r.ok()) RC_FAIL(r.error().ToString() + " in " + Describe(s));
    if (r->fits) CheckValid(s, *r);
  }
}

RC_GTEST_PROP(AllocatorProperty, PackAndKubernetesAgreeOnWhetherClaimsFit, ()) {
  Scenario s = Generate();
  auto k = RunScenario(s, Strategy::kKubernetes);
  auto p = RunScenario(s, Strategy::kPack);
  if (!k.ok()) RC_FAIL(k.error().ToString() + " in " + Describe(s));
  if (!p.ok()) RC_FAIL(p.error().ToString() + " in " + Describe(s));
  RC_ASSERT(k->fits == p->fits);
}

}  // namespace
}  // namespace migdra::alloc
