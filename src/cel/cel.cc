// The DRA selector environment: the `device` variable resolved lazily against an api::Device.
#include "cel/cel.h"

#include <deque>

#include "cel/interpreter.h"

namespace migdra::cel {
namespace {

constexpr int kMaxCachedDomains = 4;

// device.attributes[domain] or device.capacity[domain]: the entries of one domain. Keys of the
// api::Device maps are "id" (the driver's own domain) or "domain/id".
class DomainMap : public MapValue {
 public:
  DomainMap() = default;
  void Reset(const api::Device* device, std::string_view driver, std::string_view domain,
             bool capacity) {
    device_ = device;
    driver_ = driver;
    domain_ = domain;
    capacity_ = capacity;
  }
  std::string_view domain() const { return domain_; }

  size_t Size() const override {
    size_t n = 0;
    ForEach([&](std::string_view, const std::string&) { ++n; });
    return n;
  }

  bool Find(const Value& key, Value* out) const override {
    if (key.kind() != Kind::kString) return false;
    const std::string* full = FindKey(key.str());
    if (!full) return false;
    *out = Convert(*full);
    return true;
  }

  void Keys(std::vector<Value>* out) const override {
    out->clear();
    ForEach(
        [&](std::string_view id, const std::string&) { out->push_back(Value::StringView(id)); });
  }

 private:
  // The api::Device key for `id` in this domain, or nullptr.
  const std::string* FindKey(std::string_view id) const {
    if (domain_ == driver_) {
      thread_local std::string bare;
      bare.assign(id.data(), id.size());
      if (const std::string* k = Lookup(bare)) return k;
    }
    thread_local std::string qualified;
    qualified.assign(domain_.data(), domain_.size());
    qualified.push_back('/');
    qualified.append(id.data(), id.size());
    return Lookup(qualified);
  }

  const std::string* Lookup(const std::string& key) const {
    if (capacity_) {
      auto it = device_->capacity.find(key);
      return it == device_->capacity.end() ? nullptr : &it->first;
    }
    auto it = device_->attributes.find(key);
    return it == device_->attributes.end() ? nullptr : &it->first;
  }

  template <typename F>
  void ForEach(F&& f) const {
    auto visit = [&](const std::string& key) {
      size_t slash = key.find('/');
      std::string_view domain =
          slash == std::string::npos ? driver_ : std::string_view(key).substr(0, slash);
      std::string_view id = slash == std::string::npos ? std::string_view(key)
                                                       : std::string_view(key).substr(slash + 1);
      if (domain == domain_) f(id, key);
    };
    if (capacity_) {
      for (const auto& [key, unused] : device_->capacity) visit(key);
    } else {
      for (const auto& [key, unused] : device_->attributes) visit(key);
    }
  }

  Value Convert(const std::string& key) const {
    if (capacity_) return Value::QuantityRef(&device_->capacity.at(key).value);
    const api::DeviceAttribute& a = device_->attributes.at(key);
    if (a.int_value) return Value::Int(*a.int_value);
    if (a.bool_value) return Value::Bool(*a.bool_value);
    if (a.string_value) return Value::StringView(*a.string_value);
    if (a.version_value) {
      auto v = api::Semver::Parse(*a.version_value);
      if (!v.ok())
        return Value::Error("attribute " + key + ": invalid version: " + v.error().message);
      return Value::Semver(std::move(*v));
    }
    return Value::Error("attribute " + key + " has no value");
  }

  const api::Device* device_ = nullptr;
  std::string_view driver_;
  std::string_view domain_;
  bool capacity_ = false;
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
    DomainMap* slot = nullptr;
    for (int i = 0; i < used_; ++i) {
      if (cache_[i].domain() == domain)
        return std::shared_ptr<const MapValue>(std::shared_ptr<void>(), &cache_[i]);
    }
    if (used_ < kMaxCachedDomains) {
      slot = &cache_[used_++];
      // The domain text must outlive the evaluation: keep a copy when it is not the driver's.
      std::string_view stable = domain == driver_ ? driver_ : Keep(domain);
      slot->Reset(&device_, driver_, stable, capacity_);
      return std::shared_ptr<const MapValue>(std::shared_ptr<void>(), slot);
    }
    auto owned = std::make_shared<DomainMap>();
    owned->Reset(&device_, driver_, Keep(domain), capacity_);
    return owned;
  }

  std::string_view Keep(std::string_view s) const {
    kept_.emplace_back(s);
    return kept_.back();
  }

  const api::Device& device_;
  std::string_view driver_;
  bool capacity_;
  mutable DomainMap cache_[kMaxCachedDomains];
  mutable int used_ = 0;
  mutable std::deque<std::string> kept_;
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
  explicit DeviceActivation(const DeviceMap& device)
      : device_(Value::Map(std::shared_ptr<const MapValue>(std::shared_ptr<void>(), &device))) {}
  bool Get(int index, Value* out) const override {
    if (index != 0) return false;
    *out = device_;
    return true;
  }

 private:
  Value device_;
};

// Rejects selections of fields the DRA device type does not have (`device.foo`), as the
// Kubernetes type checker does.
Status CheckDeviceFields(const Program& program, const Expr& e) {
  if (e.kind == Expr::Kind::kSelect && e.target && e.target->kind == Expr::Kind::kIdent &&
      e.target->global == 0) {
    if (e.name != "driver" && e.name != "attributes" && e.name != "capacity" &&
        e.name != "allowMultipleAllocations") {
      return MakeError(program.Position(e.position) + ": undefined field '" + e.name + "'");
    }
  }
  for (const Expr* child : {e.target.get(), e.iter_range.get(), e.accu_init.get(),
                            e.loop_condition.get(), e.loop_step.get(), e.result.get()}) {
    if (child) MIGDRA_RETURN_IF_ERROR(CheckDeviceFields(program, *child));
  }
  for (const auto& a : e.args) MIGDRA_RETURN_IF_ERROR(CheckDeviceFields(program, *a));
  return OkStatus();
}

}  // namespace

struct CompiledSelector::Impl {
  std::string expression;
  std::shared_ptr<const Program> program;
};

Result<CompiledSelector> CompiledSelector::Compile(std::string_view expression) {
  Env env;
  env.variables = {"device"};
  auto program = Program::Compile(expression, env);
  if (!program.ok()) return MakeError("compilation failed: " + program.error().message);
  const Expr& root = (*program)->root();
  MIGDRA_RETURN_IF_ERROR(CheckDeviceFields(**program, root));
  if ((root.kind == Expr::Kind::kConst && root.constant.kind() != Kind::kBool) ||
      root.kind == Expr::Kind::kList || root.kind == Expr::Kind::kMap) {
    return MakeError("compilation failed: 1:1: must evaluate to bool");
  }
  auto impl = std::make_shared<Impl>();
  impl->expression = std::string(expression);
  impl->program = std::move(*program);
  return CompiledSelector(std::move(impl));
}

Result<bool> CompiledSelector::Matches(const api::Device& device, std::string_view driver) const {
  DeviceMap device_map(device, driver);
  DeviceActivation activation(device_map);
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

CompiledSelector::CompiledSelector(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
CompiledSelector::CompiledSelector(CompiledSelector&&) noexcept = default;
CompiledSelector& CompiledSelector::operator=(CompiledSelector&&) noexcept = default;
CompiledSelector::CompiledSelector(const CompiledSelector&) = default;
CompiledSelector& CompiledSelector::operator=(const CompiledSelector&) = default;
CompiledSelector::~CompiledSelector() = default;

}  // namespace migdra::cel
