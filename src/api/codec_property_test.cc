// Property: any ResourceSlice, ResourceClaim or DeviceClass survives
// object -> JSON -> YAML text -> JSON -> object unchanged (compared through ToJson), and its JSON
// text form round-trips as well.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "api/codec.h"

namespace migdra::api {
namespace {

using json = nlohmann::json;

// Pieces strings are built from: plain text plus everything that forces YAML quoting or escapes.
rc::Gen<std::string> GenString() {
  static const std::vector<std::string> kAtoms = {
      "a",    "b",    "Z", "gpu", "0",    "7",   "1.5", "-",    ".",   "/", "_", " ",
      ":",    ": ",   "#", " #",  "'",    "\"",  "\\",  "\n",   "\t",  "{", "}", "[",
      "]",    ",",    "*", "&",   "!",    "|",   ">",   "%",    "@",   "`", "µ", "ü",
      "true", "null", "~", "yes", "0x1F", "1e3", "---", "\x01", "\x7f"};
  return rc::gen::map(rc::gen::container<std::vector<std::string>>(rc::gen::elementOf(kAtoms)),
                      [](const std::vector<std::string>& parts) {
                        std::string out;
                        for (const auto& p : parts) out += p;
                        return out;
                      });
}

template <class T>
rc::Gen<std::optional<T>> GenOptional(rc::Gen<T> gen) {
  return rc::gen::exec([gen]() -> std::optional<T> {
    if (*rc::gen::arbitrary<bool>()) return *gen;
    return std::nullopt;
  });
}

rc::Gen<Quantity> GenQuantity() {
  static const std::vector<std::string> kSuffixes = {"",   "m",  "k",  "M",  "G", "Ki",
                                                     "Mi", "Gi", "Ti", "e3", "n"};
  return rc::gen::exec([] {
    int64_t mantissa = *rc::gen::inRange<int64_t>(-1'000'000, 1'000'000);
    std::string suffix = *rc::gen::elementOf(kSuffixes);
    Result<Quantity> q = Quantity::Parse(std::to_string(mantissa) + suffix);
    RC_ASSERT(q.ok());
    return *q;
  });
}

template <class T>
rc::Gen<std::vector<T>> Small(rc::Gen<T> gen) {
  return rc::gen::resize(4, rc::gen::container<std::vector<T>>(std::move(gen)));
}

template <class T>
rc::Gen<std::map<std::string, T>> SmallMap(rc::Gen<T> gen) {
  return rc::gen::resize(4,
                         rc::gen::container<std::map<std::string, T>>(GenString(), std::move(gen)));
}

rc::Gen<ObjectMeta> GenMeta() {
  return rc::gen::exec([] {
    ObjectMeta m;
    m.name = *GenString();
    m.generate_name = *GenString();
    m.namespace_ = *GenString();
    m.uid = *GenString();
    m.resource_version = *GenString();
    m.generation = *rc::gen::arbitrary<int64_t>();
    m.creation_timestamp = *GenString();
    m.labels = *SmallMap(GenString());
    m.annotations = *SmallMap(GenString());
    m.finalizers = *Small(GenString());
    m.owner_references = *Small(rc::gen::exec([] {
      OwnerReference r;
      r.api_version = *GenString();
      r.kind = *GenString();
      r.name = *GenString();
      r.uid = *GenString();
      r.controller = *GenOptional(rc::gen::arbitrary<bool>());
      return r;
    }));
    return m;
  });
}

rc::Gen<std::vector<DeviceSelector>> GenSelectors() {
  return Small(rc::gen::exec([] {
    DeviceSelector s;
    if (*rc::gen::arbitrary<bool>()) s.cel = CELDeviceSelector{*GenString()};
    return s;
  }));
}

rc::Gen<std::optional<OpaqueDeviceConfiguration>> GenOpaque() {
  return GenOptional(rc::gen::exec([] {
    OpaqueDeviceConfiguration o;
    o.driver = *GenString();
    json params = json::object();
    for (const auto& [k, v] : *SmallMap(rc::gen::arbitrary<int64_t>())) params[k] = v;
    if (*rc::gen::arbitrary<bool>()) params["nested"] = {{"s", *GenString()}, {"b", true}};
    o.parameters_json = params.dump();
    return o;
  }));
}

rc::Gen<NodeSelector> GenNodeSelector() {
  auto requirement = rc::gen::exec([] {
    return NodeSelectorRequirement{*GenString(), *GenString(), *Small(GenString())};
  });
  return rc::gen::exec([requirement] {
    NodeSelector s;
    s.node_selector_terms = *Small(rc::gen::exec([requirement] {
      return NodeSelectorTerm{*Small(requirement), *Small(requirement)};
    }));
    return s;
  });
}

rc::Gen<DeviceClass> GenDeviceClass() {
  return rc::gen::exec([] {
    DeviceClass c;
    c.metadata = *GenMeta();
    c.spec.selectors = *GenSelectors();
    c.spec.config = *Small(rc::gen::exec([] { return DeviceClassConfiguration{*GenOpaque()}; }));
    c.spec.extended_resource_name = *GenString();
    return c;
  });
}

rc::Gen<Device> GenDevice() {
  return rc::gen::exec([] {
    Device d;
    d.name = *GenString();
    d.attributes = *SmallMap(rc::gen::exec([] {
      DeviceAttribute a;
      a.int_value = *GenOptional(rc::gen::arbitrary<int64_t>());
      a.bool_value = *GenOptional(rc::gen::arbitrary<bool>());
      a.string_value = *GenOptional(GenString());
      a.version_value = *GenOptional(GenString());
      a.bool_values = *GenOptional(rc::gen::nonEmpty(Small(rc::gen::arbitrary<bool>())));
      a.int_values = *GenOptional(rc::gen::nonEmpty(Small(rc::gen::arbitrary<int64_t>())));
      a.string_values = *GenOptional(rc::gen::nonEmpty(Small(GenString())));
      a.version_values = *GenOptional(rc::gen::nonEmpty(Small(GenString())));
      return a;
    }));
    d.capacity = *SmallMap(rc::gen::exec([] {
      DeviceCapacity c;
      c.value = *GenQuantity();
      c.request_policy = *GenOptional(rc::gen::exec([] {
        CapacityRequestPolicy p;
        p.default_value = *GenOptional(GenQuantity());
        p.valid_values = *Small(GenQuantity());
        p.valid_range = *GenOptional(rc::gen::exec([] {
          return CapacityRequestPolicyRange{*GenQuantity(), *GenOptional(GenQuantity()),
                                            *GenOptional(GenQuantity())};
        }));
        return p;
      }));
      return c;
    }));
    d.consumes_counters = *Small(rc::gen::exec([] {
      return DeviceCounterConsumption{
          *GenString(), *SmallMap(rc::gen::exec([] { return Counter{*GenQuantity()}; }))};
    }));
    d.node_name = *GenOptional(GenString());
    d.node_selector = *GenOptional(GenNodeSelector());
    d.all_nodes = *GenOptional(rc::gen::arbitrary<bool>());
    d.taints = *Small(rc::gen::exec([] {
      return DeviceTaint{*GenString(), *GenString(), *GenString(), *GenString()};
    }));
    d.binds_to_node = *GenOptional(rc::gen::arbitrary<bool>());
    d.binding_conditions = *Small(GenString());
    d.binding_failure_conditions = *Small(GenString());
    d.allow_multiple_allocations = *GenOptional(rc::gen::arbitrary<bool>());
    return d;
  });
}

rc::Gen<ResourceSlice> GenResourceSlice() {
  return rc::gen::exec([] {
    ResourceSlice s;
    s.metadata = *GenMeta();
    s.spec.driver = *GenString();
    s.spec.pool =
        ResourcePool{*GenString(), *rc::gen::arbitrary<int64_t>(), *rc::gen::arbitrary<int64_t>()};
    s.spec.node_name = *GenOptional(GenString());
    s.spec.node_selector = *GenOptional(GenNodeSelector());
    s.spec.all_nodes = *GenOptional(rc::gen::arbitrary<bool>());
    s.spec.per_device_node_selection = *GenOptional(rc::gen::arbitrary<bool>());
    s.spec.devices = *Small(GenDevice());
    s.spec.shared_counters = *Small(rc::gen::exec([] {
      return CounterSet{*GenString(),
                        *SmallMap(rc::gen::exec([] { return Counter{*GenQuantity()}; }))};
    }));
    return s;
  });
}

rc::Gen<std::vector<DeviceToleration>> GenTolerations() {
  return Small(rc::gen::exec([] {
    return DeviceToleration{*GenString(), *GenString(), *GenString(), *GenString(),
                            *GenOptional(rc::gen::arbitrary<int64_t>())};
  }));
}

rc::Gen<std::optional<CapacityRequirements>> GenCapacityRequirements() {
  return GenOptional(rc::gen::exec([] { return CapacityRequirements{*SmallMap(GenQuantity())}; }));
}

rc::Gen<ResourceClaim> GenResourceClaim() {
  return rc::gen::exec([] {
    ResourceClaim c;
    c.metadata = *GenMeta();
    c.spec.devices.requests = *Small(rc::gen::exec([] {
      DeviceRequest r;
      r.name = *GenString();
      r.exactly = *GenOptional(rc::gen::exec([] {
        ExactDeviceRequest x;
        x.device_class_name = *GenString();
        x.selectors = *GenSelectors();
        x.allocation_mode = *GenString();
        x.count = *GenOptional(rc::gen::arbitrary<int64_t>());
        x.admin_access = *GenOptional(rc::gen::arbitrary<bool>());
        x.tolerations = *GenTolerations();
        x.capacity = *GenCapacityRequirements();
        return x;
      }));
      r.first_available = *Small(rc::gen::exec([] {
        DeviceSubRequest s;
        s.name = *GenString();
        s.device_class_name = *GenString();
        s.selectors = *GenSelectors();
        s.allocation_mode = *GenString();
        s.count = *GenOptional(rc::gen::arbitrary<int64_t>());
        s.tolerations = *GenTolerations();
        s.capacity = *GenCapacityRequirements();
        return s;
      }));
      return r;
    }));
    c.spec.devices.constraints = *Small(rc::gen::exec([] {
      return DeviceConstraint{*Small(GenString()), *GenOptional(GenString()),
                              *GenOptional(GenString())};
    }));
    c.spec.devices.config = *Small(rc::gen::exec([] {
      return DeviceClaimConfiguration{*Small(GenString()), *GenOpaque()};
    }));
    c.status.allocation = *GenOptional(rc::gen::exec([] {
      AllocationResult a;
      a.devices.results = *Small(rc::gen::exec([] {
        DeviceRequestAllocationResult r;
        r.request = *GenString();
        r.driver = *GenString();
        r.pool = *GenString();
        r.device = *GenString();
        r.admin_access = *GenOptional(rc::gen::arbitrary<bool>());
        r.tolerations = *GenTolerations();
        r.share_id = *GenOptional(GenString());
        r.consumed_capacity = *SmallMap(GenQuantity());
        return r;
      }));
      a.devices.config = *Small(rc::gen::exec([] {
        return DeviceAllocationConfiguration{*GenString(), *Small(GenString()), *GenOpaque()};
      }));
      a.node_selector = *GenOptional(GenNodeSelector());
      a.allocation_timestamp = *GenString();
      return a;
    }));
    c.status.reserved_for = *Small(rc::gen::exec([] {
      return ResourceClaimConsumerReference{*GenString(), *GenString(), *GenString(), *GenString()};
    }));
    return c;
  });
}

template <class T>
void CheckRoundTrip(const T& object) {
  const json encoded = ToJson(object);
  const std::string yaml = ToYaml(encoded);
  Result<std::vector<json>> documents = ParseDocuments(yaml);
  RC_ASSERT(documents.ok());
  RC_ASSERT(documents->size() == 1u);
  RC_ASSERT(documents->front() == encoded);
  Result<T> decoded = FromJson<T>(documents->front());
  RC_ASSERT(decoded.ok());
  RC_ASSERT(ToJson(*decoded) == encoded);

  Result<std::vector<json>> from_json_text = ParseDocuments(ToJsonText(encoded));
  RC_ASSERT(from_json_text.ok());
  RC_ASSERT(from_json_text->front() == encoded);
}

RC_GTEST_PROP(CodecRoundTrip, ResourceSlice, ()) { CheckRoundTrip(*GenResourceSlice()); }
RC_GTEST_PROP(CodecRoundTrip, ResourceClaim, ()) { CheckRoundTrip(*GenResourceClaim()); }
RC_GTEST_PROP(CodecRoundTrip, DeviceClass, ()) { CheckRoundTrip(*GenDeviceClass()); }

}  // namespace
}  // namespace migdra::api
