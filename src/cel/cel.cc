// The DRA selector environment: the `device` variable resolved lazily against an api::Device.
#include "cel/cel.h"

#include <algorithm>
#include <optional>

#include "cel/cost.h"
#include "cel/interpreter.h"

namespace migdra::cel {
namespace {

constexpr int kMaxCachedDomains = 4;

// The entry for `id` of `domain` in a device's attribute or capacity map: the bare key (only in
// the driver's own domain), else "domain/id".
template <typename M>
const typename M::mapped_type* FindEntry(const M& map, std::string_view driver,
                                         std::string_view domain, std::string_view id) {
  thread_local std::string key;
  if (domain == driver) {
    key.assign(id.data(), id.size());
    auto it = map.find(key);
    if (it != map.end()) return &it->second;
  }
  key.assign(domain.data(), domain.size());
  key.push_back('/');
  key.append(id.data(), id.size());
  auto it = map.find(key);
  return it == map.end() ? nullptr : &it->second;
}

Value ConvertVersion(const std::string& text, std::string_view id) {
  auto v = api::Semver::Parse(text);
  if (!v.ok())
    return Value::Error("attribute " + std::string(id) + ": invalid version: " + v.error().message);
  return Value::Semver(std::move(*v));
}

// An attribute's value: a scalar, or a CEL list for the list forms (bools, ints, strings,
// versions), as Kubernetes 1.36 presents them with DRAListTypeAttributes.
Value ConvertAttribute(const api::DeviceAttribute& a, std::string_view id) {
  if (a.int_value) return Value::Int(*a.int_value);
  if (a.bool_value) return Value::Bool(*a.bool_value);
  if (a.string_value) return Value::StringView(*a.string_value);
  if (a.version_value) return ConvertVersion(*a.version_value, id);
  std::vector<Value> list;
  if (a.int_values) {
    for (int64_t v : *a.int_values) list.push_back(Value::Int(v));
  } else if (a.bool_values) {
    for (bool v : *a.bool_values) list.push_back(Value::Bool(v));
  } else if (a.string_values) {
    for (const std::string& v : *a.string_values) list.push_back(Value::StringView(v));
  } else if (a.version_values) {
    for (const std::string& v : *a.version_values) {
      list.push_back(ConvertVersion(v, id));
      if (list.back().is_error()) return list.back();
    }
  } else {
    return Value::Error("attribute " + std::string(id) + " has no value");
  }
  return Value::List(std::move(list));
}

// device.attributes[domain] or device.capacity[domain]: the entries of one domain. Keys of the
// api::Device maps are "id" (the driver's own domain) or "domain/id".
class DomainMap : public MapValue {
 public:
  DomainMap() = default;
  // `domain` is copied (DNS subdomains of up to 63 characters stay inline).
  void Reset(const api::Device* device, std::string_view driver, std::string_view domain,
             bool capacity) {
    device_ = device;
    driver_ = driver;
    capacity_ = capacity;
    if (domain.size() <= sizeof(inline_domain_)) {
      std::copy(domain.begin(), domain.end(), inline_domain_);
      domain_ = std::string_view(inline_domain_, domain.size());
    } else {
      long_domain_ = std::string(domain);
      domain_ = long_domain_;
    }
  }
  std::string_view domain() const { return domain_; }

  size_t Size() const override {
    size_t n = 0;
    ForEach([&](std::string_view) { ++n; });
    return n;
  }

  bool Find(const Value& key, Value* out) const override {
    if (key.kind() != Kind::kString) return false;
    if (capacity_) {
      const api::DeviceCapacity* c = FindEntry(device_->capacity, driver_, domain_, key.str());
      if (!c) return false;
      *out = Value::QuantityRef(&c->value);
      return true;
    }
    const api::DeviceAttribute* a = FindEntry(device_->attributes, driver_, domain_, key.str());
    if (!a) return false;
    *out = ConvertAttribute(*a, key.str());
    return true;
  }

  void Keys(std::vector<Value>* out) const override {
    out->clear();
    ForEach([&](std::string_view id) { out->push_back(Value::StringView(id)); });
  }

 private:
  template <typename F>
  void ForEach(F&& f) const {
    auto visit = [&](const std::string& key) {
      size_t slash = key.find('/');
      std::string_view domain =
          slash == std::string::npos ? driver_ : std::string_view(key).substr(0, slash);
      std::string_view id = slash == std::string::npos ? std::string_view(key)
                                                       : std::string_view(key).substr(slash + 1);
      if (domain == domain_) f(id);
    };
    if (capacity_) {
      for (const auto& [key, unused] : device_->capacity) visit(key);
    } else {
      for (const auto& [key, unused] : device_->attributes) visit(key);
    }
  }

  const api::Device* device_ = nullptr;
  std::string_view driver_;
  std::string_view domain_;
  bool capacity_ = false;
  char inline_domain_[64];
  std::string long_domain_;
};

// device.attributes / device.capacity: domain -> DomainMap. Every domain is present (an unknown
// domain is an empty map), as in Kubernetes.
class DomainsMap : public MapValue {
 public:
  DomainsMap(const api::Device& device, std::string_view driver, bool capacity)
      : device_(device), driver_(driver), capacity_(capacity) {}

  size_t Size() const override {
    std::vector<Value> keys;
    Keys(&keys);
    return keys.size();
  }

  bool Find(const Value& key, Value* out) const override {
    if (key.kind() != Kind::kString) return false;
    *out = Value::Map(DomainFor(key.str()));
    return true;
  }

  // Only the domains the device has (Kubernetes' map answers lookups of others with an empty
  // map, but `in` sees its real keys).
  bool Contains(const Value& key) const override {
    if (key.kind() != Kind::kString) return false;
    std::vector<Value> keys;
    Keys(&keys);
    for (const Value& k : keys) {
      if (k.str() == key.str()) return true;
    }
    return false;
  }

  void Keys(std::vector<Value>* out) const override {
    out->clear();
    auto add = [&](std::string_view domain) {
      for (const Value& v : *out) {
        if (v.str() == domain) return;
      }
      out->push_back(Value::StringView(domain));
    };
    auto visit = [&](const std::string& key) {
      size_t slash = key.find('/');
      add(slash == std::string::npos ? driver_ : std::string_view(key).substr(0, slash));
    };
    if (capacity_) {
      for (const auto& [key, unused] : device_.capacity) visit(key);
    } else {
      for (const auto& [key, unused] : device_.attributes) visit(key);
    }
  }

 private:
  // A non-owning map value: the DomainMap lives in this object, which outlives the evaluation.
  std::shared_ptr<const MapValue> DomainFor(std::string_view domain) const {
    for (int i = 0; i < used_; ++i) {
      if (cache_[i].domain() == domain)
        return std::shared_ptr<const MapValue>(std::shared_ptr<void>(), &cache_[i]);
    }
    if (used_ < kMaxCachedDomains) {
      DomainMap* slot = &cache_[used_++];
      slot->Reset(&device_, driver_, domain, capacity_);
      return std::shared_ptr<const MapValue>(std::shared_ptr<void>(), slot);
    }
    auto owned = std::make_shared<DomainMap>();
    owned->Reset(&device_, driver_, domain, capacity_);
    return owned;
  }

  const api::Device& device_;
  std::string_view driver_;
  bool capacity_;
  mutable DomainMap cache_[kMaxCachedDomains];
  mutable int used_ = 0;
};

// The `device` object.
class DeviceMap : public MapValue {
 public:
  DeviceMap(const api::Device& device, std::string_view driver)
      : device_(device),
        driver_(driver),
        attributes_(device, driver, false),
        capacity_(device, driver, true) {}

  size_t Size() const override { return 4; }

  bool Find(const Value& key, Value* out) const override {
    if (key.kind() != Kind::kString) return false;
    std::string_view k = key.str();
    if (k == "driver") {
      *out = Value::StringView(driver_);
    } else if (k == "attributes") {
      *out = Value::Map(std::shared_ptr<const MapValue>(std::shared_ptr<void>(), &attributes_));
    } else if (k == "capacity") {
      *out = Value::Map(std::shared_ptr<const MapValue>(std::shared_ptr<void>(), &capacity_));
    } else if (k == "allowMultipleAllocations") {
      *out = Value::Bool(device_.allow_multiple_allocations.value_or(false));
    } else {
      return false;
    }
    return true;
  }

  void Keys(std::vector<Value>* out) const override {
    *out = {Value::StringView("driver"), Value::StringView("attributes"),
            Value::StringView("capacity"), Value::StringView("allowMultipleAllocations")};
  }

 private:
  const api::Device& device_;
  std::string_view driver_;
  DomainsMap attributes_;
  DomainsMap capacity_;
};

class DeviceActivation : public Activation {
 public:
  DeviceActivation(const api::Device& device, std::string_view driver)
      : device_(device), driver_(driver) {}

  bool Get(int index, Value* out) const override {
    if (index != 0) return false;
    if (!map_) map_.emplace(device_, driver_);
    *out = Value::Map(std::shared_ptr<const MapValue>(std::shared_ptr<void>(), &*map_));
    return true;
  }

  // device.driver, device.allowMultipleAllocations, device.attributes[d].id and
  // device.capacity[d].id without building any map; anything else (including a missing
  // attribute, whose error the general path reports) is left to the evaluator.
  bool ResolvePath(int index, const std::vector<std::string_view>& path,
                   Value* out) const override {
    if (index != 0) return false;
    if (path.size() == 1) {
      if (path[0] == "driver") {
        *out = Value::StringView(driver_);
        return true;
      }
      if (path[0] == "allowMultipleAllocations") {
        *out = Value::Bool(device_.allow_multiple_allocations.value_or(false));
        return true;
      }
      return false;
    }
    if (path.size() != 3) return false;
    const bool capacity = path[0] == "capacity";
    if (!capacity && path[0] != "attributes") return false;
    if (capacity) {
      const api::DeviceCapacity* c = FindEntry(device_.capacity, driver_, path[1], path[2]);
      if (!c) return false;
      *out = Value::QuantityRef(&c->value);
      return true;
    }
    const api::DeviceAttribute* a = FindEntry(device_.attributes, driver_, path[1], path[2]);
    if (!a) return false;
    *out = ConvertAttribute(*a, path[2]);
    return true;
  }

 private:
  const api::Device& device_;
  std::string_view driver_;
  mutable std::optional<DeviceMap> map_;
};

}  // namespace

struct CompiledSelector::Impl {
  std::string expression;
  std::shared_ptr<const Program> program;
  // Set when the whole selector is `device.driver == '<literal>'` (either operand order), the
  // DeviceClass selector of NVIDIA's classes and of the walkthrough: it cannot fail or cost more
  // than one comparison, so Matches answers it without the evaluator.
  std::optional<std::string> driver_equals;
  uint64_t max_cost = 0;
};

namespace {

bool IsDeviceDriver(const Expr& e) {
  if (e.kind == Expr::Kind::kPath) {
    return e.global == 0 && e.path.size() == 1 && e.path[0] == "driver";
  }
  return e.kind == Expr::Kind::kSelect && !e.test_only && e.name == "driver" && e.target &&
         e.target->kind == Expr::Kind::kIdent && e.target->global == 0;
}

std::optional<std::string> DriverEqualsLiteral(const Expr& root) {
  if (root.kind != Expr::Kind::kCall || root.builtin != Builtin::kEqual || root.target ||
      root.args.size() != 2) {
    return std::nullopt;
  }
  for (int i = 0; i < 2; ++i) {
    const Expr& driver = *root.args[i];
    const Expr& literal = *root.args[1 - i];
    if (IsDeviceDriver(driver) && literal.kind == Expr::Kind::kConst &&
        literal.constant.kind() == Kind::kString) {
      return std::string(literal.constant.str());
    }
  }
  return std::nullopt;
}

}  // namespace

namespace {

// Kubernetes' DRA selector environment: the base environment with the `device` variable of
// object type kubernetes.DRADevice. Attribute values are dyn, as with the DRAListTypeAttributes
// gate on (an attribute may hold a scalar or a list).
const Env& SelectorEnv() {
  static const Env* env = [] {
    auto* e = new Env();
    e->variables = {"device"};
    e->variable_types = {Type::Object("kubernetes.DRADevice")};
    e->declarations = Declarations::kKubernetes;
    e->homogeneous_aggregate_literals = true;
    const Type string = Type::Simple(Type::Kind::kString);
    e->object_fields["kubernetes.DRADevice"] = {
        {"driver", string},
        {"attributes", Type::Map(string, Type::Map(string, Type::Dyn()))},
        {"capacity", Type::Map(string, Type::Map(string, Type::Object("kubernetes.Quantity")))},
        {"allowMultipleAllocations", Type::Bool()},
    };
    return e;
  }();
  return *env;
}

// Kubernetes' declared maxima for what `device` holds (the DRA size estimator): driver names of
// 63 characters, 32 attributes or capacities per device, domains of 63 and ids of 32
// characters, attribute values of 64 characters (or up to 48 list entries).
std::optional<SizeEstimate> DeviceSizes(const std::vector<std::string>& path) {
  if (path.empty() || path[0] != "device") return std::nullopt;
  constexpr uint64_t kMaxDriver = 63, kMaxEntries = 32, kMaxDomain = 63, kMaxId = 32,
                     kMaxValue = 64;
  if (path.size() == 2) {
    if (path[1] == "driver") return SizeEstimate{0, kMaxDriver};
    if (path[1] == "allowMultipleAllocations") return SizeEstimate{0, 1};
    if (path[1] == "attributes" || path[1] == "capacity") return SizeEstimate{0, kMaxEntries};
    return std::nullopt;
  }
  if (path[1] != "attributes" && path[1] != "capacity") return std::nullopt;
  if (path.size() == 3) {
    return SizeEstimate{0, path[2] == "@keys" ? kMaxDomain : kMaxEntries};
  }
  if (path.size() == 4 && path[2] != "@keys") {
    if (path[3] == "@keys") return SizeEstimate{0, kMaxId};
    if (path[1] == "attributes") return SizeEstimate{0, kMaxValue};
  }
  return std::nullopt;
}

}  // namespace

Result<CompiledSelector> CompiledSelector::Compile(std::string_view expression) {
  auto program = Program::Compile(expression, SelectorEnv());
  if (!program.ok()) return MakeError("compilation failed: " + program.error().message);
  const Expr& root = (*program)->root();
  const Type& type = (*program)->type();
  if (type.kind != Type::Kind::kBool && type.kind != Type::Kind::kDyn) {
    return MakeError("must evaluate to bool or the unknown type, not " + type.ToString());
  }
  const CostEstimate cost = EstimateCost(**program, DeviceSizes);
  if (cost.max > kSelectorCostLimit) return MakeError("too complex, exceeds cost limit");
  auto impl = std::make_shared<Impl>();
  impl->expression = std::string(expression);
  impl->max_cost = cost.max;
  impl->driver_equals = DriverEqualsLiteral(root);
  impl->program = std::move(*program);
  return CompiledSelector(std::move(impl));
}

Result<bool> CompiledSelector::Matches(const api::Device& device, std::string_view driver) const {
  if (impl_->driver_equals) return driver == *impl_->driver_equals;
  DeviceActivation activation(device, driver);
  EvalOptions options;
  options.cost_limit = kSelectorCostLimit;
  Value result = impl_->program->Evaluate(activation, options);
  if (result.is_error())
    return MakeError("CEL runtime error: " + ErrorMessage(*impl_->program, result));
  if (result.kind() != Kind::kBool) {
    return MakeError("CEL runtime error: expression must evaluate to bool, got " +
                     std::string(result.TypeName()));
  }
  return result.bool_value();
}

const std::string& CompiledSelector::expression() const { return impl_->expression; }
uint64_t CompiledSelector::max_cost() const { return impl_->max_cost; }

CompiledSelector::CompiledSelector(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
CompiledSelector::CompiledSelector(CompiledSelector&&) noexcept = default;
CompiledSelector& CompiledSelector::operator=(CompiledSelector&&) noexcept = default;
CompiledSelector::CompiledSelector(const CompiledSelector&) = default;
CompiledSelector& CompiledSelector::operator=(const CompiledSelector&) = default;
CompiledSelector::~CompiledSelector() = default;

}  // namespace migdra::cel
