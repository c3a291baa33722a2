// The API server's validation rules; see validation.h for the scope and sources.
#include "api/validation.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "api/semver.h"

namespace migdra::api {
namespace {

using json = nlohmann::json;

// ---- limits (k8s.io/api/resource/v1 types.go) -------------------------------------------------
constexpr size_t kDeviceRequestsMaxSize = 32;  // also AllocationResultsMaxSize
constexpr size_t kDeviceSelectorsMaxSize = 32;
constexpr size_t kDeviceConstraintsMaxSize = 32;
constexpr size_t kDeviceConfigMaxSize = 32;
constexpr size_t kFirstAvailableMaxSize = 8;
constexpr size_t kDeviceTolerationsMaxLength = 16;
constexpr size_t kResourceSliceMaxDevices = 128;
constexpr size_t kResourceSliceMaxDevicesWithAdvancedFeatures = 64;
constexpr size_t kMaxAttributesAndCapacitiesPerDevice = 32;
constexpr size_t kMaxCounterSets = 8;
constexpr size_t kMaxCountersPerCounterSet = 32;
constexpr size_t kMaxConsumptionsPerDevice = 2;
constexpr size_t kMaxCountersPerConsumption = 32;
constexpr size_t kDeviceTaintsMaxLength = 16;
constexpr size_t kBindingConditionsMaxSize = 4;
constexpr size_t kDeviceAttributeMaxValueLength = 64;
constexpr size_t kDeviceMaxIDLength = 32;
constexpr size_t kDeviceMaxDomainLength = 63;
constexpr size_t kPoolNameMaxLength = 253;
constexpr size_t kCELSelectorExpressionMaxLength = 10 * 1024;
constexpr size_t kOpaqueParametersMaxLength = 10 * 1024;
constexpr size_t kCapacityRequestPolicyDiscreteMaxOptions = 10;
constexpr size_t kReservedForMaxSize = 256;
constexpr size_t kAllocatedDeviceStatusMaxConditions = 8;
constexpr size_t kAllocatedDeviceStatusDataMaxLength = 10 * 1024;
constexpr size_t kTotalAnnotationSizeLimit = 256 * 1024;

// ---- upstream messages (k8s.io/apimachinery/pkg/util/validation) ------------------------------

std::string RegexError(const std::string& msg, const std::string& fmt,
                       const std::vector<std::string>& examples) {
  std::string out = msg + " (e.g. ";
  for (size_t i = 0; i < examples.size(); ++i) {
    if (i > 0) out += ",  or ";
    out += "'" + examples[i] + "'";
  }
  return out + ", regex used for validation is '" + fmt + "')";
}

std::string MaxLenError(size_t length) {
  return "must be no more than " + std::to_string(length) + " characters";
}

const char kDNS1123LabelFmt[] = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const char kDNS1123SubdomainFmt[] =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const char kQualifiedNameFmt[] = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const char kQualifiedNameErrMsg[] =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character";
const char kLabelValueFmt[] = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const char kCIdentifierFmt[] = "[A-Za-z_][A-Za-z0-9_]*";

bool Matches(std::string_view value, const char* pattern) {
  // Patterns are compiled once per distinct pattern pointer.
  static thread_local std::map<const char*, std::regex> cache;
  auto it = cache.find(pattern);
  if (it == cache.end()) it = cache.emplace(pattern, std::regex(pattern)).first;
  return std::regex_match(value.begin(), value.end(), it->second);
}

// Quotes a string as Go's %q does (close enough: JSON escaping).
std::string Quote(std::string_view s) {
  return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

// ---- error builders (k8s.io/apimachinery/pkg/util/validation/field) ---------------------------

class Errors {
 public:
  explicit Errors(std::vector<Error>& out) : out_(out) {}

  void Required(const std::string& path, const std::string& detail = "") {
    Add(path, detail.empty() ? "Required value" : "Required value: " + detail);
  }
  // `value` is already rendered (quoted string, number, JSON).
  void Invalid(const std::string& path, const std::string& value, const std::string& detail) {
    Add(path, "Invalid value: " + value + ": " + detail);
  }
  void InvalidString(const std::string& path, std::string_view value, const std::string& detail) {
    Invalid(path, Quote(value), detail);
  }
  void NotSupported(const std::string& path, std::string_view value,
                    const std::vector<std::string>& supported) {
    std::string list;
    for (size_t i = 0; i < supported.size(); ++i) list += (i ? ", " : "") + Quote(supported[i]);
    Add(path, "Unsupported value: " + Quote(value) + ": supported values: " + list);
  }
  void TooLong(const std::string& path, size_t max) {
    Add(path, "Too long: may not be more than " + std::to_string(max) + " bytes");
  }
  void TooMany(const std::string& path, size_t actual, size_t max) {
    Add(path, "Too many: " + std::to_string(actual) + ": must have at most " + std::to_string(max) +
                  " items");
  }
  void Duplicate(const std::string& path, std::string_view value) {
    Add(path, "Duplicate value: " + Quote(value));
  }
  void Forbidden(const std::string& path, const std::string& detail) {
    Add(path, "Forbidden: " + detail);
  }
  void NotFound(const std::string& path, std::string_view value, const std::string& detail) {
    Add(path, "Not found: " + Quote(value) + ": " + detail);
  }
  // Every message of a name check as an Invalid error.
  void InvalidEach(const std::string& path, std::string_view value,
                   const std::vector<std::string>& messages) {
    for (const std::string& m : messages) InvalidString(path, value, m);
  }

 private:
  void Add(const std::string& path, std::string message) {
    out_.push_back(Error{std::move(message), path});
  }
  std::vector<Error>& out_;
};

std::string Child(const std::string& path, const std::string& name) {
  return path.empty() ? name : path + "." + name;
}
std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}
std::string Key(const std::string& path, const std::string& key) { return path + "[" + key + "]"; }

}  // namespace

// ---- name formats ----------------------------------------------------------------------------

std::vector<std::string> IsDNS1123Label(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back(MaxLenError(63));
  if (!Matches(value, kDNS1123LabelFmt)) {
    errs.push_back(RegexError(
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
        "must start and end with an alphanumeric character",
        kDNS1123LabelFmt, {"my-name", "123-abc"}));
  }
  return errs;
}

std::vector<std::string> IsDNS1123Subdomain(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 253) errs.push_back(MaxLenError(253));
  if (!Matches(value, kDNS1123SubdomainFmt)) {
    errs.push_back(RegexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
        "'.', and must start and end with an alphanumeric character",
        kDNS1123SubdomainFmt, {"example.com"}));
  }
  return errs;
}

std::vector<std::string> IsCIdentifier(std::string_view value) {
  if (Matches(value, kCIdentifierFmt)) return {};
  return {RegexError(
      "a valid C identifier must start with alphabetic character or '_', followed by a string of "
      "alphanumeric characters or '_'",
      kCIdentifierFmt, {"my_name", "MY_NAME", "MyName"})};
}

std::vector<std::string> IsQualifiedName(std::string_view value) {
  std::vector<std::string> errs;
  std::string_view name = value;
  size_t slash = value.find('/');
  if (slash != std::string_view::npos) {
    if (value.find('/', slash + 1) != std::string_view::npos) {
      return {
          "a qualified name " +
          RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}) +
          " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"};
    }
    std::string_view prefix = value.substr(0, slash);
    name = value.substr(slash + 1);
    if (prefix.empty()) {
      errs.push_back("prefix part must be non-empty");
    } else {
      for (const std::string& m : IsDNS1123Subdomain(prefix)) errs.push_back("prefix part " + m);
    }
  }
  if (name.empty()) {
    errs.push_back("name part must be non-empty");
  } else if (name.size() > 63) {
    errs.push_back("name part " + MaxLenError(63));
  }
  if (!name.empty() && !Matches(name, kQualifiedNameFmt)) {
    errs.push_back("name part " + RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt,
                                             {"MyName", "my.name", "123-abc"}));
  }
  return errs;
}

std::vector<std::string> IsValidLabelValue(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back(MaxLenError(63));
  if (!Matches(value, kLabelValueFmt)) {
    errs.push_back(RegexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
        "'.', and must start and end with an alphanumeric character",
        kLabelValueFmt, {"MyValue", "my_value", "12345"}));
  }
  return errs;
}

namespace {

// ---- shared validators -----------------------------------------------------------------------

using NameCheck = std::vector<std::string> (*)(std::string_view);

void ValidateDNSLabelField(Errors& e, const std::string& path, const std::string& value) {
  if (value.empty()) return e.Required(path);
  e.InvalidEach(path, value, IsDNS1123Label(value));
}

void ValidateSubdomainField(Errors& e, const std::string& path, const std::string& value) {
  if (value.empty()) return e.Required(path);
  e.InvalidEach(path, value, IsDNS1123Subdomain(value));
}

// corevalidation.ValidateCSIDriverName: a DNS subdomain of at most 63 characters, any case.
void ValidateDriverName(Errors& e, const std::string& path, const std::string& value) {
  if (value.empty()) return e.Required(path);
  if (value.size() > 63) e.TooLong(path, 63);
  std::string lower = value;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  e.InvalidEach(path, value, IsDNS1123Subdomain(lower));
}

void ValidatePoolName(Errors& e, const std::string& path, const std::string& name) {
  if (name.empty()) return e.Required(path);
  if (name.size() > kPoolNameMaxLength) e.TooLong(path, kPoolNameMaxLength);
  size_t start = 0;
  while (true) {
    size_t slash = name.find('/', start);
    std::string part =
        name.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    e.InvalidEach(path, part, IsDNS1123Subdomain(part));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
}

void ValidateLabelName(Errors& e, const std::string& path, const std::string& key) {
  e.InvalidEach(path, key, IsQualifiedName(key));
}

void ValidateLabelValue(Errors& e, const std::string& path, const std::string& value) {
  e.InvalidEach(path, value, IsValidLabelValue(value));
}

void ValidateCIdentifier(Errors& e, const std::string& path, const std::string& id) {
  if (id.size() > kDeviceMaxIDLength) e.TooLong(path, kDeviceMaxIDLength);
  e.InvalidEach(path, id, IsCIdentifier(id));
}

// QualifiedName: "id" or "domain/id" (attribute and capacity names, capacity requests).
void ValidateQualifiedName(Errors& e, const std::string& path, const std::string& name) {
  size_t slash = name.find('/');
  if (slash == std::string::npos) return ValidateCIdentifier(e, path, name);
  if (name.find('/', slash + 1) != std::string::npos) {
    return e.InvalidString(path, name, "must not contain more than one slash");
  }
  std::string domain = name.substr(0, slash);
  std::string id = name.substr(slash + 1);
  if (domain.empty()) {
    e.InvalidString(path, "", "the domain must not be empty");
  } else {
    ValidateDriverName(e, path, domain);
  }
  if (id.empty()) {
    e.InvalidString(path, "", "the name must not be empty");
  } else {
    ValidateCIdentifier(e, path, id);
  }
}

void ValidateFullyQualifiedName(Errors& e, const std::string& path, const std::string& name) {
  if (name.empty()) return e.Required(path, "name required");
  ValidateQualifiedName(e, path, name);
  if (name.find('/') == std::string::npos) e.InvalidString(path, name, "must include a domain");
}

enum class Scope { kNamespaced, kCluster };

void ValidateLabels(Errors& e, const std::string& path,
                    const std::map<std::string, std::string>& labels) {
  for (const auto& [key, value] : labels) {
    // Upstream reports label values on the map, not on the key.
    ValidateLabelName(e, path, key);
    ValidateLabelValue(e, path, value);
  }
}

void ValidateAnnotations(Errors& e, const std::string& path,
                         const std::map<std::string, std::string>& annotations) {
  size_t total = 0;
  for (const auto& [key, value] : annotations) {
    std::string lower = key;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    e.InvalidEach(path, key, IsQualifiedName(lower));
    total += key.size() + value.size();
  }
  if (total > kTotalAnnotationSizeLimit) e.TooLong(path, kTotalAnnotationSizeLimit);
}

// Label keys (qualified names: a name part of at most 63 characters and an optional DNS subdomain
// prefix of at most 253) and values (at most 63, the label-value format), annotation keys and
// their total size (256 KiB of keys and values), finalizers (qualified names).
void ValidateMetadataMaps(Errors& e, const std::string& path, const ObjectMeta& meta) {
  ValidateLabels(e, Child(path, "labels"), meta.labels);
  ValidateAnnotations(e, Child(path, "annotations"), meta.annotations);
  for (size_t i = 0; i < meta.finalizers.size(); ++i) {
    e.InvalidEach(Index(Child(path, "finalizers"), i), meta.finalizers[i],
                  IsQualifiedName(meta.finalizers[i]));
  }
}

// ValidateObjectMeta. `name_check` is the kind's name format.
void ValidateObjectMeta(Errors& e, const std::string& path, const ObjectMeta& meta, Scope scope,
                        NameCheck name_check) {
  const std::string name_path = Child(path, "name");
  if (meta.name.empty()) {
    if (meta.generate_name.empty()) {
      e.Required(name_path, "name or generateName is required");
    } else {
      // A prefix: validated as if a character were appended, like upstream's prefix mode.
      std::string probe = meta.generate_name;
      if (!probe.empty() && (probe.back() == '-' || probe.back() == '.')) probe += 'a';
      e.InvalidEach(Child(path, "generateName"), meta.generate_name, name_check(probe));
    }
  } else {
    e.InvalidEach(name_path, meta.name, name_check(meta.name));
  }
  if (scope == Scope::kCluster) {
    if (!meta.namespace_.empty()) e.Forbidden(Child(path, "namespace"), "not allowed on this type");
  } else if (!meta.namespace_.empty()) {
    e.InvalidEach(Child(path, "namespace"), meta.namespace_, IsDNS1123Label(meta.namespace_));
  }
  if (meta.generation < 0) {
    e.Invalid(Child(path, "generation"), std::to_string(meta.generation),
              "must be greater than or equal to 0");
  }
  ValidateMetadataMaps(e, path, meta);
}

void ValidateNodeSelector(Errors& e, const std::string& path, const NodeSelector& selector) {
  const std::string terms_path = Child(path, "nodeSelectorTerms");
  if (selector.node_selector_terms.empty())
    e.Required(terms_path, "must have at least one node selector term");
  for (size_t t = 0; t < selector.node_selector_terms.size(); ++t) {
    const NodeSelectorTerm& term = selector.node_selector_terms[t];
    const std::string term_path = Index(terms_path, t);
    for (size_t i = 0; i < term.match_expressions.size(); ++i) {
      const NodeSelectorRequirement& r = term.match_expressions[i];
      const std::string rp = Index(Child(term_path, "matchExpressions"), i);
      ValidateLabelName(e, Child(rp, "key"), r.key);
      if (r.op == "In" || r.op == "NotIn") {
        if (r.values.empty()) {
          e.Required(Child(rp, "values"), "must be specified when `operator` is 'In' or 'NotIn'");
        }
      } else if (r.op == "Exists" || r.op == "DoesNotExist") {
        if (!r.values.empty()) {
          e.Forbidden(Child(rp, "values"),
                      "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
        }
      } else if (r.op == "Gt" || r.op == "Lt") {
        if (r.values.size() != 1) {
          e.Required(Child(rp, "values"),
                     "must be specified single value when `operator` is 'Lt' or 'Gt'");
        }
      } else {
        e.NotSupported(Child(rp, "operator"), r.op,
                       {"DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn"});
      }
    }
    for (size_t i = 0; i < term.match_fields.size(); ++i) {
      const NodeSelectorRequirement& r = term.match_fields[i];
      const std::string rp = Index(Child(term_path, "matchFields"), i);
      if (r.key != "metadata.name") e.NotSupported(Child(rp, "key"), r.key, {"metadata.name"});
      if (r.op != "In" && r.op != "NotIn")
        e.NotSupported(Child(rp, "operator"), r.op, {"In", "NotIn"});
      if (r.values.size() != 1) {
        e.Required(
            Child(rp, "values"),
            "must be only one value when `operator` is 'In' or 'NotIn' for node field selector");
      }
    }
  }
}

std::string Json(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Checks a slice's size (short-circuiting like upstream's validateSlice) and returns whether the
// items should be validated.
bool CheckSize(Errors& e, const std::string& path, size_t size, size_t max) {
  if (size > max) {
    e.TooMany(path, size, max);
    return false;
  }
  return true;
}

// Duplicates are reported on the item, or on its key field when the items are objects (upstream's
// validateSet: `requests[1].name`, `reservedFor[2].uid`).
void CheckUniqueStrings(Errors& e, const std::string& path, const std::vector<std::string>& keys,
                        const std::string& key_field = "") {
  std::set<std::string> seen;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (seen.insert(keys[i]).second) continue;
    e.Duplicate(key_field.empty() ? Index(path, i) : Child(Index(path, i), key_field), keys[i]);
  }
}

// ---- resource.k8s.io/v1 ----------------------------------------------------------------------

void ValidateSelectors(Errors& e, const std::string& path,
                       const std::vector<DeviceSelector>& selectors,
                       const ValidationOptions& options) {
  if (!CheckSize(e, path, selectors.size(), kDeviceSelectorsMaxSize)) return;
  for (size_t i = 0; i < selectors.size(); ++i) {
    const std::string sp = Index(path, i);
    if (!selectors[i].cel.has_value()) {
      e.Required(Child(sp, "cel"));
      continue;
    }
    const std::string& expression = selectors[i].cel->expression;
    const std::string ep = Child(Child(sp, "cel"), "expression");
    if (expression.empty()) {
      e.Required(ep);
    } else if (expression.size() > kCELSelectorExpressionMaxLength) {
      e.TooLong(ep, kCELSelectorExpressionMaxLength);
    } else if (options.check_cel) {
      if (auto problem = options.check_cel(expression)) e.InvalidString(ep, expression, *problem);
    }
  }
}

void ValidateRawExtension(Errors& e, const std::string& path, const std::string& raw, size_t max) {
  if (raw.empty() || raw == "null") return e.Required(path);
  if (raw.size() > max) return e.TooLong(path, max);
  json value = json::parse(raw, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    e.Invalid(path, "\"<value omitted>\"", "error parsing data as JSON");
  } else if (!value.is_object()) {
    e.Invalid(path, "\"<value omitted>\"", "must be a valid JSON object");
  }
}

void ValidateOpaque(Errors& e, const std::string& path,
                    const std::optional<OpaqueDeviceConfiguration>& opaque) {
  const std::string op = Child(path, "opaque");
  if (!opaque.has_value()) return e.Required(op);
  ValidateDriverName(e, Child(op, "driver"), opaque->driver);
  ValidateRawExtension(e, Child(op, "parameters"), opaque->parameters_json,
                       kOpaqueParametersMaxLength);
}

// Request names of a claim: request -> its subrequest names (empty set for `exactly`).
using RequestNames = std::map<std::string, std::set<std::string>>;

RequestNames GatherRequestNames(const DeviceClaim& claim) {
  RequestNames names;
  for (const DeviceRequest& r : claim.requests) {
    auto& subs = names[r.name];
    for (const DeviceSubRequest& s : r.first_available) subs.insert(s.name);
  }
  return names;
}

bool HasRequest(const RequestNames& names, const std::string& ref) {
  size_t slash = ref.find('/');
  if (slash == std::string::npos) return names.count(ref) > 0;
  if (ref.find('/', slash + 1) != std::string::npos) return false;
  auto it = names.find(ref.substr(0, slash));
  return it != names.end() && it->second.count(ref.substr(slash + 1)) > 0;
}

constexpr char kRequestRefDetail[] =
    "must be the name of a request in the claim or the name of a request and a subrequest "
    "separated "
    "by '/'";

void ValidateRequestRef(Errors& e, const std::string& path, const std::string& ref,
                        const RequestNames& names) {
  size_t slashes = std::count(ref.begin(), ref.end(), '/');
  if (slashes > 1) return e.InvalidString(path, ref, kRequestRefDetail);
  size_t start = 0;
  while (true) {
    size_t slash = ref.find('/', start);
    std::string segment =
        ref.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    e.InvalidEach(path, segment, IsDNS1123Label(segment));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (!HasRequest(names, ref)) e.InvalidString(path, ref, kRequestRefDetail);
}

void ValidateRequestRefs(Errors& e, const std::string& path, const std::vector<std::string>& refs,
                         const RequestNames& names) {
  if (!CheckSize(e, path, refs.size(), kDeviceRequestsMaxSize)) return;
  for (size_t i = 0; i < refs.size(); ++i) ValidateRequestRef(e, Index(path, i), refs[i], names);
  CheckUniqueStrings(e, path, refs);
}

const std::vector<std::string> kTaintEffects = {"NoExecute", "NoSchedule", "None"};

bool IsTaintEffect(const std::string& effect) {
  return std::find(kTaintEffects.begin(), kTaintEffects.end(), effect) != kTaintEffects.end();
}

void ValidateDeviceToleration(Errors& e, const std::string& path, const DeviceToleration& t) {
  if (!t.key.empty()) ValidateLabelName(e, Child(path, "key"), t.key);
  if (t.op == "Exists") {
    if (!t.value.empty())
      e.InvalidString(Child(path, "value"), t.value, "must be empty for operator `Exists`");
  } else if (t.op == "Equal" || t.op.empty()) {
    ValidateLabelValue(e, Child(path, "value"), t.value);
  } else {
    e.NotSupported(Child(path, "operator"), t.op, {"Equal", "Exists"});
  }
  if (!t.effect.empty() && !IsTaintEffect(t.effect))
    e.NotSupported(Child(path, "effect"), t.effect, kTaintEffects);
}

void ValidateTolerations(Errors& e, const std::string& path,
                         const std::vector<DeviceToleration>& tolerations) {
  if (!CheckSize(e, path, tolerations.size(), kDeviceTolerationsMaxLength)) return;
  for (size_t i = 0; i < tolerations.size(); ++i)
    ValidateDeviceToleration(e, Index(path, i), tolerations[i]);
}

void ValidateCapacityRequirements(Errors& e, const std::string& path,
                                  const std::optional<CapacityRequirements>& capacity) {
  if (!capacity.has_value()) return;
  const std::string rp = Child(path, "requests");
  for (const auto& [name, quantity] : capacity->requests) {
    ValidateQualifiedName(e, rp, name);
    if (quantity.Sign() < 0) {
      e.InvalidString(Key(rp, name), quantity.ToString(), "must be greater than or equal to 0");
    }
  }
}

void ValidateAllocationMode(Errors& e, const std::string& path, const std::string& mode,
                            const std::optional<int64_t>& count) {
  if (mode == kAllocationModeAll) {
    if (count.value_or(0) != 0) {
      e.Invalid(Child(path, "count"), std::to_string(*count),
                "must not be specified when allocationMode is 'All'");
    }
  } else if (mode == kAllocationModeExactCount || mode.empty()) {
    int64_t n = count.value_or(1);
    if (n <= 0) e.Invalid(Child(path, "count"), std::to_string(n), "must be greater than zero");
  } else {
    e.NotSupported(Child(path, "allocationMode"), mode,
                   {kAllocationModeAll, kAllocationModeExactCount});
  }
}

void ValidateDeviceClassName(Errors& e, const std::string& path, const std::string& name) {
  ValidateSubdomainField(e, path, name);
}

void ValidateDeviceClaim(Errors& e, const std::string& path, const DeviceClaim& claim,
                         const ValidationOptions& options) {
  const RequestNames names = GatherRequestNames(claim);
  const std::string rp = Child(path, "requests");
  if (CheckSize(e, rp, claim.requests.size(), kDeviceRequestsMaxSize)) {
    std::vector<std::string> request_names;
    for (size_t i = 0; i < claim.requests.size(); ++i) {
      const DeviceRequest& request = claim.requests[i];
      const std::string p = Index(rp, i);
      request_names.push_back(request.name);
      ValidateDNSLabelField(e, Child(p, "name"), request.name);
      const bool has_exactly = request.exactly.has_value();
      const bool has_first = !request.first_available.empty();
      if (!has_exactly && !has_first) {
        e.Required(p, "exactly one of `exactly` or `firstAvailable` is required");
      } else if (has_exactly && has_first) {
        e.Invalid(p, "null",
                  "exactly one of `exactly` or `firstAvailable` is required, but multiple fields "
                  "are set");
      } else if (has_exactly) {
        const ExactDeviceRequest& x = *request.exactly;
        const std::string xp = Child(p, "exactly");
        ValidateDeviceClassName(e, Child(xp, "deviceClassName"), x.device_class_name);
        ValidateSelectors(e, Child(xp, "selectors"), x.selectors, options);
        ValidateAllocationMode(e, xp, x.allocation_mode, x.count);
        ValidateTolerations(e, Child(xp, "tolerations"), x.tolerations);
        ValidateCapacityRequirements(e, Child(xp, "capacity"), x.capacity);
      } else {
        const std::string fp = Child(p, "firstAvailable");
        if (CheckSize(e, fp, request.first_available.size(), kFirstAvailableMaxSize)) {
          std::vector<std::string> sub_names;
          for (size_t j = 0; j < request.first_available.size(); ++j) {
            const DeviceSubRequest& s = request.first_available[j];
            const std::string sp = Index(fp, j);
            sub_names.push_back(s.name);
            ValidateDNSLabelField(e, Child(sp, "name"), s.name);
            ValidateDeviceClassName(e, Child(sp, "deviceClassName"), s.device_class_name);
            ValidateSelectors(e, Child(sp, "selectors"), s.selectors, options);
            ValidateAllocationMode(e, sp, s.allocation_mode, s.count);
            ValidateTolerations(e, Child(sp, "tolerations"), s.tolerations);
            ValidateCapacityRequirements(e, Child(sp, "capacity"), s.capacity);
          }
          CheckUniqueStrings(e, fp, sub_names, "name");
        }
      }
    }
    CheckUniqueStrings(e, rp, request_names, "name");
  }

  const std::string cp = Child(path, "constraints");
  if (CheckSize(e, cp, claim.constraints.size(), kDeviceConstraintsMaxSize)) {
    for (size_t i = 0; i < claim.constraints.size(); ++i) {
      const DeviceConstraint& c = claim.constraints[i];
      const std::string p = Index(cp, i);
      ValidateRequestRefs(e, Child(p, "requests"), c.requests, names);
      if (c.match_attribute.has_value() && c.distinct_attribute.has_value()) {
        e.Invalid(p, "null",
                  "exactly one of `matchAttribute` or `distinctAttribute` is required, but "
                  "multiple fields are set");
      } else if (c.match_attribute.has_value()) {
        ValidateFullyQualifiedName(e, Child(p, "matchAttribute"), *c.match_attribute);
      } else if (c.distinct_attribute.has_value()) {
        ValidateFullyQualifiedName(e, Child(p, "distinctAttribute"), *c.distinct_attribute);
      } else {
        e.Required(Child(p, "matchAttribute"));
      }
    }
  }

  const std::string gp = Child(path, "config");
  if (CheckSize(e, gp, claim.config.size(), kDeviceConfigMaxSize)) {
    for (size_t i = 0; i < claim.config.size(); ++i) {
      const std::string p = Index(gp, i);
      ValidateRequestRefs(e, Child(p, "requests"), claim.config[i].requests, names);
      ValidateOpaque(e, p, claim.config[i].opaque);
    }
  }
}

// RFC 4122 normalized form: lowercase 8-4-4-4-12 hex.
void ValidateUID(Errors& e, const std::string& path, const std::string& uid) {
  static const char kUUID[] = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
  if (!Matches(uid, kUUID)) {
    e.InvalidString(
        path, uid,
        "uid must be in RFC 4122 normalized form, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` with "
        "lowercase hexadecimal characters");
  }
}

void ValidateBindingConditions(Errors& e, const std::string& path,
                               const std::vector<std::string>& conditions,
                               const std::vector<std::string>& failure_conditions) {
  const std::string bp = Child(path, "bindingConditions");
  const std::string fp = Child(path, "bindingFailureConditions");
  if (CheckSize(e, bp, conditions.size(), kBindingConditionsMaxSize)) {
    for (size_t i = 0; i < conditions.size(); ++i)
      ValidateLabelName(e, Index(bp, i), conditions[i]);
  }
  if (CheckSize(e, fp, failure_conditions.size(), kBindingConditionsMaxSize)) {
    for (size_t i = 0; i < failure_conditions.size(); ++i)
      ValidateLabelName(e, Index(fp, i), failure_conditions[i]);
  }
  CheckUniqueStrings(e, bp, conditions);
  CheckUniqueStrings(e, fp, failure_conditions);
  for (size_t i = 0; i < failure_conditions.size(); ++i) {
    if (std::find(conditions.begin(), conditions.end(), failure_conditions[i]) !=
        conditions.end()) {
      e.InvalidString(Index(fp, i), failure_conditions[i],
                      "bindingFailureConditions must not overlap with bindingConditions");
    }
  }
  if (conditions.empty() && !failure_conditions.empty()) {
    e.Invalid(bp, "[]", "bindingConditions are required to use bindingFailureConditions");
  }
  if (failure_conditions.empty() && !conditions.empty()) {
    e.Invalid(fp, "[]", "bindingFailureConditions are required to use bindingConditions");
  }
}

void ValidateAllocationResult(Errors& e, const std::string& path,
                              const AllocationResult& allocation, const RequestNames& names) {
  const std::string dp = Child(path, "devices");
  const std::string rp = Child(dp, "results");
  if (CheckSize(e, rp, allocation.devices.results.size(), kDeviceRequestsMaxSize)) {
    for (size_t i = 0; i < allocation.devices.results.size(); ++i) {
      const DeviceRequestAllocationResult& r = allocation.devices.results[i];
      const std::string p = Index(rp, i);
      ValidateRequestRef(e, Child(p, "request"), r.request, names);
      ValidateDriverName(e, Child(p, "driver"), r.driver);
      ValidatePoolName(e, Child(p, "pool"), r.pool);
      ValidateDNSLabelField(e, Child(p, "device"), r.device);
      ValidateBindingConditions(e, p, r.binding_conditions, r.binding_failure_conditions);
      for (size_t j = 0; j < r.tolerations.size(); ++j) {
        ValidateDeviceToleration(e, Index(Child(p, "tolerations"), j), r.tolerations[j]);
      }
      if (r.share_id.has_value()) ValidateUID(e, Child(p, "shareID"), *r.share_id);
    }
  }
  const std::string cp = Child(dp, "config");
  if (CheckSize(e, cp, allocation.devices.config.size(), 2 * kDeviceConfigMaxSize)) {
    for (size_t i = 0; i < allocation.devices.config.size(); ++i) {
      const DeviceAllocationConfiguration& c = allocation.devices.config[i];
      const std::string p = Index(cp, i);
      if (c.source.empty()) {
        e.Required(Child(p, "source"));
      } else if (c.source != kConfigSourceFromClaim && c.source != kConfigSourceFromClass) {
        e.NotSupported(Child(p, "source"), c.source,
                       {kConfigSourceFromClaim, kConfigSourceFromClass});
      }
      ValidateRequestRefs(e, Child(p, "requests"), c.requests, names);
      ValidateOpaque(e, p, c.opaque);
    }
  }
  if (allocation.node_selector.has_value()) {
    ValidateNodeSelector(e, Child(path, "nodeSelector"), *allocation.node_selector);
  }
}

void ValidateClaimStatus(Errors& e, const std::string& path, const ResourceClaimStatus& status,
                         const RequestNames& names) {
  const std::string rp = Child(path, "reservedFor");
  if (CheckSize(e, rp, status.reserved_for.size(), kReservedForMaxSize)) {
    std::vector<std::string> uids;
    for (size_t i = 0; i < status.reserved_for.size(); ++i) {
      const ResourceClaimConsumerReference& ref = status.reserved_for[i];
      const std::string p = Index(rp, i);
      if (ref.resource.empty()) e.Required(Child(p, "resource"));
      if (ref.name.empty()) e.Required(Child(p, "name"));
      if (ref.uid.empty()) e.Required(Child(p, "uid"));
      uids.push_back(ref.uid);
    }
    CheckUniqueStrings(e, rp, uids, "uid");
  }
  if (!status.reserved_for.empty() && !status.allocation.has_value()) {
    e.Forbidden(rp, "may not be specified when `allocated` is not set");
  }
  if (status.allocation.has_value())
    ValidateAllocationResult(e, Child(path, "allocation"), *status.allocation, names);
  const std::string dp = Child(path, "devices");
  for (size_t i = 0; i < status.devices.size(); ++i) {
    const AllocatedDeviceStatus& d = status.devices[i];
    const std::string p = Index(dp, i);
    ValidateDriverName(e, Child(p, "driver"), d.driver);
    ValidatePoolName(e, Child(p, "pool"), d.pool);
    ValidateDNSLabelField(e, Child(p, "device"), d.device);
    if (d.share_id.has_value()) ValidateUID(e, Child(p, "shareID"), *d.share_id);
    bool allocated = false;
    if (status.allocation.has_value()) {
      for (const auto& r : status.allocation->devices.results) {
        allocated |= r.driver == d.driver && r.pool == d.pool && r.device == d.device &&
                     r.share_id == d.share_id;
      }
    }
    if (!allocated) {
      e.InvalidString(p, d.driver + "/" + d.pool + "/" + d.device,
                      "must be an allocated device in the claim");
    }
    CheckSize(e, Child(p, "conditions"), d.conditions.size(), kAllocatedDeviceStatusMaxConditions);
    if (!d.data_json.empty())
      ValidateRawExtension(e, Child(p, "data"), d.data_json, kAllocatedDeviceStatusDataMaxLength);
  }
}

// ---- ResourceSlice ---------------------------------------------------------------------------

void ValidateRequestPolicy(Errors& e, const std::string& path, const Quantity& capacity,
                           const CapacityRequestPolicy& policy) {
  if (!policy.valid_values.empty() && policy.valid_range.has_value()) {
    return e.Forbidden(path,
                       "exactly one policy can be specified, cannot specify \"validValues\" and "
                       "\"validRange\" at the same time");
  }
  if (!policy.valid_values.empty()) {
    const std::string vp = Child(path, "validValues");
    if (!policy.default_value.has_value()) {
      return e.Required(Child(path, "default"), "required when validValues is defined");
    }
    const auto& values = policy.valid_values;
    for (size_t i = 0; i + 1 < values.size(); ++i) {
      if (values[i].Compare(values[i + 1]) > 0) {
        e.InvalidString(Index(vp, i + 1), values[i + 1].ToString(),
                        "values must be sorted in ascending order");
      }
    }
    if (!CheckSize(e, vp, values.size(), kCapacityRequestPolicyDiscreteMaxOptions)) return;
    bool found_default = false;
    std::set<int64_t> seen;
    for (size_t i = 0; i < values.size(); ++i) {
      if (values[i].Compare(capacity) > 0) {
        e.InvalidString(Index(vp, i), values[i].ToString(),
                        "option is larger than capacity value: " + capacity.ToString());
      }
      if (values[i].Compare(*policy.default_value) == 0) found_default = true;
      if (!seen.insert(values[i].Value()).second) e.Duplicate(Index(vp, i), values[i].ToString());
    }
    if (!found_default) {
      e.InvalidString(vp, policy.default_value->ToString(),
                      "default value is not valid according to the requestPolicy");
    }
    return;
  }
  if (!policy.valid_range.has_value()) return;
  const CapacityRequestPolicyRange& range = *policy.valid_range;
  const std::string rp = Child(path, "validRange");
  if (!policy.default_value.has_value()) {
    return e.Required(Child(path, "default"), "required when validRange is defined");
  }
  const Quantity& def = *policy.default_value;
  if (range.min.Compare(capacity) > 0) {
    e.InvalidString(Child(rp, "min"), range.min.ToString(),
                    "min is larger than capacity value: " + capacity.ToString());
  }
  if (def.Compare(range.min) < 0) {
    e.InvalidString(Child(rp, "default"), def.ToString(),
                    "default is less than min: " + range.min.ToString());
  }
  if (range.max.has_value()) {
    if (range.min.Compare(*range.max) > 0) {
      e.InvalidString(Child(rp, "max"), range.min.ToString(),
                      "min is larger than max: " + range.max->ToString());
    }
    if (range.max->Compare(capacity) > 0) {
      e.InvalidString(Child(rp, "max"), range.max->ToString(),
                      "max is larger than capacity value: " + capacity.ToString());
    }
    if (def.Compare(*range.max) > 0) {
      e.InvalidString(Child(rp, "default"), def.ToString(),
                      "default is more than max: " + range.max->ToString());
    }
  }
  if (!range.step.has_value()) return;
  const Quantity& step = *range.step;
  const std::string sp = Child(rp, "step");
  if (step.Sign() <= 0) return e.InvalidString(sp, step.ToString(), "must be greater than zero");
  Result<Quantity> one_step = range.min.Add(step);
  if (one_step.ok() && one_step->Compare(capacity) > 0) {
    e.InvalidString(sp, step.ToString(),
                    "one step " + one_step->ToString() +
                        " is larger than capacity value: " + capacity.ToString());
  }
  // Integer arithmetic as upstream (Quantity.Value()), after ruling out values it cannot hold.
  bool unsafe = false;
  auto check = [&](const Quantity& q, const char* name) {
    if (q.Sign() < 0) {
      e.InvalidString(Child(rp, name), q.ToString(), "must be greater than or equal to 0");
      unsafe = true;
    } else if (q.Compare(Quantity::FromInt(INT64_MAX)) > 0) {
      e.InvalidString(Child(rp, name), q.ToString(), "must not be larger than 9223372036854775807");
      unsafe = true;
    }
  };
  check(def, "default");
  check(range.min, "min");
  if (range.max.has_value()) check(*range.max, "max");
  check(step, "step");
  if (unsafe || step.Value() == 0) return;
  auto multiple = [&](const Quantity& value) {
    if ((value.Value() - range.min.Value()) % step.Value() != 0) {
      e.InvalidString(sp, value.ToString(),
                      "value is not a multiple of a given step (" + step.ToString() + ") from (" +
                          range.min.ToString() + ")");
    }
  };
  multiple(def);
  if (range.max.has_value()) multiple(*range.max);
}

void ValidateAttributeString(Errors& e, const std::string& path, const std::string& value) {
  if (value.size() > kDeviceAttributeMaxValueLength)
    e.TooLong(path, kDeviceAttributeMaxValueLength);
}

void ValidateAttributeVersion(Errors& e, const std::string& path, const std::string& value) {
  if (!IsValidSemver(value)) {
    e.InvalidString(path, value, "must be a string compatible with semver.org spec 2.0.0");
  }
  if (value.size() > kDeviceAttributeMaxValueLength)
    e.TooLong(path, kDeviceAttributeMaxValueLength);
}

void ValidateDeviceAttribute(Errors& e, const std::string& path, const DeviceAttribute& a) {
  int set = 0;
  if (a.bool_value.has_value()) ++set;
  if (a.int_value.has_value()) ++set;
  if (a.string_value.has_value()) {
    ++set;
    ValidateAttributeString(e, Child(path, "string"), *a.string_value);
  }
  if (a.version_value.has_value()) {
    ++set;
    ValidateAttributeVersion(e, Child(path, "version"), *a.version_value);
  }
  // The list forms: each non-empty, each item checked as its scalar form is.
  auto list = [&](const auto& values, const char* name, auto check_item) {
    if (!values.has_value()) return;
    ++set;
    if (values->empty()) e.Invalid(Child(path, name), "[]", "must not be empty if specified");
    for (size_t i = 0; i < values->size(); ++i)
      check_item(Index(Child(path, name), i), (*values)[i]);
  };
  auto any = [](const std::string&, const auto&) {};
  list(a.bool_values, "bools", any);
  list(a.int_values, "ints", any);
  list(a.string_values, "strings",
       [&](const std::string& p, const std::string& v) { ValidateAttributeString(e, p, v); });
  list(a.version_values, "versions",
       [&](const std::string& p, const std::string& v) { ValidateAttributeVersion(e, p, v); });
  if (set == 0) {
    e.Invalid(path, "\"\"", "exactly one value must be specified");
  } else if (set > 1) {
    e.Invalid(path, Json(ToJson(a)), "exactly one value must be specified");
  }
}

void ValidateDeviceTaint(Errors& e, const std::string& path, const DeviceTaint& t) {
  if (t.key.empty()) {
    e.Required(Child(path, "key"));
  } else {
    ValidateLabelName(e, Child(path, "key"), t.key);
  }
  if (!t.value.empty()) ValidateLabelValue(e, Child(path, "value"), t.value);
  if (t.effect.empty()) {
    e.Required(Child(path, "effect"));
  } else if (!IsTaintEffect(t.effect)) {
    e.NotSupported(Child(path, "effect"), t.effect, kTaintEffects);
  }
}

void ValidateCounterMap(Errors& e, const std::string& path,
                        const std::map<std::string, Counter>& counters, size_t max) {
  if (counters.empty()) return e.Required(path);
  if (!CheckSize(e, path, counters.size(), max)) return;
  for (const auto& [name, counter] : counters) {
    e.InvalidEach(path, name, IsDNS1123Label(name));
    (void)counter;  // any parsed quantity is valid
  }
}

void ValidateDevice(Errors& e, const std::string& path, const Device& device,
                    bool per_device_node_selection) {
  ValidateDNSLabelField(e, Child(path, "name"), device.name);
  // Each item of a list-type attribute counts as one entry.
  size_t entries = device.capacity.size();
  for (const auto& [name, a] : device.attributes) {
    const size_t items = (a.bool_values ? a.bool_values->size() : 0) +
                         (a.int_values ? a.int_values->size() : 0) +
                         (a.string_values ? a.string_values->size() : 0) +
                         (a.version_values ? a.version_values->size() : 0);
    entries += items == 0 ? 1 : items;
  }
  if (entries > kMaxAttributesAndCapacitiesPerDevice) {
    e.Invalid(path, std::to_string(entries),
              "the total number of attributes and capacities must not exceed " +
                  std::to_string(kMaxAttributesAndCapacitiesPerDevice));
  }
  const std::string ap = Child(path, "attributes");
  for (const auto& [name, attribute] : device.attributes) {
    if (name.size() > kDeviceMaxDomainLength + 1 + kDeviceMaxIDLength) {
      e.TooLong(ap, kDeviceMaxDomainLength + 1 + kDeviceMaxIDLength);
    }
    ValidateQualifiedName(e, ap, name);
    ValidateDeviceAttribute(e, Key(ap, name), attribute);
  }
  const bool multi = device.allow_multiple_allocations.value_or(false);
  const std::string cp = Child(path, "capacity");
  for (const auto& [name, capacity] : device.capacity) {
    ValidateQualifiedName(e, cp, name);
    if (!capacity.request_policy.has_value()) continue;
    const std::string pp = Child(Key(cp, name), "requestPolicy");
    if (!multi) {
      e.Forbidden(pp, "allowMultipleAllocations must be true");
    } else {
      ValidateRequestPolicy(e, pp, capacity.value, *capacity.request_policy);
    }
  }
  const std::string tp = Child(path, "taints");
  if (CheckSize(e, tp, device.taints.size(), kDeviceTaintsMaxLength)) {
    for (size_t i = 0; i < device.taints.size(); ++i)
      ValidateDeviceTaint(e, Index(tp, i), device.taints[i]);
  }
  const std::string kp = Child(path, "consumesCounters");
  if (CheckSize(e, kp, device.consumes_counters.size(), kMaxConsumptionsPerDevice)) {
    std::vector<std::string> sets;
    for (size_t i = 0; i < device.consumes_counters.size(); ++i) {
      const DeviceCounterConsumption& c = device.consumes_counters[i];
      const std::string p = Index(kp, i);
      sets.push_back(c.counter_set);
      ValidateDNSLabelField(e, Child(p, "counterSet"), c.counter_set);
      ValidateCounterMap(e, Child(p, "counters"), c.counters, kMaxCountersPerConsumption);
    }
    CheckUniqueStrings(e, kp, sets, "counterSet");
  }

  if (per_device_node_selection) {
    std::vector<std::string> set_fields;
    if (device.node_name.has_value()) {
      if (device.node_name->empty()) {
        e.InvalidString(Child(path, "nodeName"), "", "must not be empty");
      } else {
        set_fields.push_back("`nodeName`");
        e.InvalidEach(Child(path, "nodeName"), *device.node_name,
                      IsDNS1123Subdomain(*device.node_name));
      }
    }
    if (device.node_selector.has_value()) {
      set_fields.push_back("`nodeSelector`");
      ValidateNodeSelector(e, Child(path, "nodeSelector"), *device.node_selector);
    }
    if (device.all_nodes.has_value()) {
      if (*device.all_nodes) {
        set_fields.push_back("`allNodes`");
      } else {
        e.Invalid(Child(path, "allNodes"), "false", "must be either unset or set to true");
      }
    }
    const char* detail =
        "exactly one of `nodeName`, `nodeSelector`, or `allNodes` is required when "
        "`perDeviceNodeSelection` is set to true in the ResourceSlice spec";
    if (set_fields.empty()) {
      e.Required(path, detail);
    } else if (set_fields.size() > 1) {
      std::string joined;
      for (size_t i = 0; i < set_fields.size(); ++i) joined += (i ? ", " : "") + set_fields[i];
      e.InvalidString(path, "{" + joined + "}", detail);
    }
  } else if (device.node_name.has_value() || device.node_selector.has_value() ||
             device.all_nodes.has_value()) {
    e.Invalid(
        path, "null",
        "`nodeName`, `nodeSelector` and `allNodes` can only be set if `perDeviceNodeSelection` is "
        "set to true in the ResourceSlice spec");
  }
  ValidateBindingConditions(e, path, device.binding_conditions, device.binding_failure_conditions);
}

void ValidateSliceSpec(Errors& e, const std::string& path, const ResourceSliceSpec& spec) {
  ValidateDriverName(e, Child(path, "driver"), spec.driver);
  const std::string pp = Child(path, "pool");
  ValidatePoolName(e, Child(pp, "name"), spec.pool.name);
  if (spec.pool.resource_slice_count <= 0) {
    e.Invalid(Child(pp, "resourceSliceCount"), std::to_string(spec.pool.resource_slice_count),
              "must be greater than zero");
  }
  if (spec.pool.generation < 0) {
    e.Invalid(Child(pp, "generation"), std::to_string(spec.pool.generation),
              "must be greater than or equal to zero");
  }

  std::vector<std::string> set_fields;
  if (spec.node_name.has_value()) {
    if (spec.node_name->empty()) {
      e.InvalidString(Child(path, "nodeName"), "",
                      "must be either unset or set to a non-empty string");
    } else {
      set_fields.push_back("`nodeName`");
      e.InvalidEach(Child(path, "nodeName"), *spec.node_name, IsDNS1123Subdomain(*spec.node_name));
    }
  }
  if (spec.node_selector.has_value()) {
    set_fields.push_back("`nodeSelector`");
    ValidateNodeSelector(e, Child(path, "nodeSelector"), *spec.node_selector);
    if (spec.node_selector->node_selector_terms.size() != 1) {
      e.Invalid(Child(Child(path, "nodeSelector"), "nodeSelectorTerms"),
                Json(ToJson(*spec.node_selector)["nodeSelectorTerms"]),
                "must have exactly one node selector term");
    }
  }
  if (spec.all_nodes.has_value()) {
    if (*spec.all_nodes) {
      set_fields.push_back("`allNodes`");
    } else {
      e.Invalid(Child(path, "allNodes"), "false", "must be either unset or set to true");
    }
  }
  if (spec.per_device_node_selection.has_value()) {
    if (*spec.per_device_node_selection) {
      set_fields.push_back("`perDeviceNodeSelection`");
    } else {
      e.Invalid(Child(path, "perDeviceNodeSelection"), "false",
                "must be either unset or set to true");
    }
  }
  if (set_fields.empty()) {
    e.Required(path,
               "exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is "
               "required");
  } else if (set_fields.size() > 1) {
    std::string joined;
    for (size_t i = 0; i < set_fields.size(); ++i) joined += (i ? ", " : "") + set_fields[i];
    e.InvalidString(
        path, "{" + joined + "}",
        "exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is "
        "required, but multiple fields are set");
  }
  // Since 1.35 counter sets are pool-scoped: a slice publishes counter sets or devices, and a
  // device's consumesCounters may name a set in any slice of its pool, which the allocator checks.
  if (!spec.shared_counters.empty() && !spec.devices.empty())
    e.InvalidString(path, "", "only one of `sharedCounters` or `devices` is allowed");

  bool advanced = false;
  for (const Device& d : spec.devices)
    advanced |= !d.taints.empty() || !d.consumes_counters.empty();
  const size_t max_devices =
      advanced ? kResourceSliceMaxDevicesWithAdvancedFeatures : kResourceSliceMaxDevices;
  const std::string dp = Child(path, "devices");
  if (CheckSize(e, dp, spec.devices.size(), max_devices)) {
    std::vector<std::string> names;
    const bool per_device = spec.per_device_node_selection.value_or(false);
    for (size_t i = 0; i < spec.devices.size(); ++i) {
      names.push_back(spec.devices[i].name);
      ValidateDevice(e, Index(dp, i), spec.devices[i], per_device);
    }
    CheckUniqueStrings(e, dp, names, "name");
  }

  const std::string sp = Child(path, "sharedCounters");
  if (CheckSize(e, sp, spec.shared_counters.size(), kMaxCounterSets)) {
    std::vector<std::string> names;
    for (size_t i = 0; i < spec.shared_counters.size(); ++i) {
      const CounterSet& set = spec.shared_counters[i];
      names.push_back(set.name);
      ValidateDNSLabelField(e, Child(Index(sp, i), "name"), set.name);
      ValidateCounterMap(e, Child(Index(sp, i), "counters"), set.counters,
                         kMaxCountersPerCounterSet);
    }
    CheckUniqueStrings(e, sp, names, "name");
  }
}

// ---- core/v1 and batch/v1 --------------------------------------------------------------------

// IsExtendedResourceName (core/v1 helper).
bool IsExtendedResourceName(const std::string& name) {
  if (name.find('/') == std::string::npos) return false;
  if (name.find("kubernetes.io/") != std::string::npos) return false;
  if (name.rfind("requests.", 0) == 0) return false;
  return IsQualifiedName("requests." + name).empty();
}

void ValidateContainers(Errors& e, const std::string& path,
                        const std::vector<Container>& containers,
                        const std::set<std::string>& pod_claims, std::set<std::string>& all_names) {
  for (size_t i = 0; i < containers.size(); ++i) {
    const Container& c = containers[i];
    const std::string p = Index(path, i);
    if (c.name.empty()) {
      e.Required(Child(p, "name"));
    } else {
      e.InvalidEach(Child(p, "name"), c.name, IsDNS1123Label(c.name));
      if (!all_names.insert(c.name).second) e.Duplicate(Child(p, "name"), c.name);
    }
    if (c.image.empty()) e.Required(Child(p, "image"));
    const std::string cp = Child(Child(p, "resources"), "claims");
    std::set<std::pair<std::string, std::string>> seen;
    for (size_t j = 0; j < c.resources.claims.size(); ++j) {
      const ContainerResourceClaim& claim = c.resources.claims[j];
      const std::string rp = Index(cp, j);
      if (claim.name.empty()) {
        e.Required(rp);
      } else if (!seen.insert({claim.name, claim.request}).second) {
        e.Duplicate(rp, claim.name);
      } else if (pod_claims.count(claim.name) == 0) {
        std::string detail;
        if (pod_claims.empty()) {
          detail = "must be one of the names in pod.spec.resourceClaims which is empty";
        } else {
          detail = "must be one of the names in pod.spec.resourceClaims: ";
          bool first = true;
          for (const std::string& n : pod_claims) {
            detail += (first ? "" : ", ") + n;
            first = false;
          }
        }
        e.NotFound(rp, claim.name, detail);
      }
      if (!claim.request.empty())
        e.InvalidEach(Child(rp, "request"), claim.request, IsDNS1123Label(claim.request));
    }
  }
}

void ValidatePodSpec(Errors& e, const std::string& path, const PodSpec& spec, bool in_job) {
  std::set<std::string> claim_names;
  const std::string rcp = Child(path, "resourceClaims");
  for (size_t i = 0; i < spec.resource_claims.size(); ++i) {
    const PodResourceClaim& c = spec.resource_claims[i];
    const std::string p = Index(rcp, i);
    if (c.name.empty()) {
      e.Required(Child(p, "name"));
    } else {
      e.InvalidEach(Child(p, "name"), c.name, IsDNS1123Label(c.name));
      if (!claim_names.insert(c.name).second) e.Duplicate(Child(p, "name"), c.name);
    }
    if (c.resource_claim_name.has_value() && c.resource_claim_template_name.has_value()) {
      e.Invalid(
          p, Json(ToJson(c)),
          "at most one of `resourceClaimName` or `resourceClaimTemplateName` may be specified");
    } else if (!c.resource_claim_name.has_value() && !c.resource_claim_template_name.has_value()) {
      e.Invalid(p, Json(ToJson(c)),
                "must specify one of: `resourceClaimName`, `resourceClaimTemplateName`");
    } else if (c.resource_claim_name.has_value()) {
      ValidateSubdomainField(e, Child(p, "resourceClaimName"), *c.resource_claim_name);
    } else {
      ValidateSubdomainField(e, Child(p, "resourceClaimTemplateName"),
                             *c.resource_claim_template_name);
    }
  }
  std::set<std::string> container_names;
  if (spec.containers.empty()) e.Required(Child(path, "containers"));
  ValidateContainers(e, Child(path, "initContainers"), spec.init_containers, claim_names,
                     container_names);
  ValidateContainers(e, Child(path, "containers"), spec.containers, claim_names, container_names);
  // Ephemeral containers stay untyped (extra); their names share the containers' namespace.
  const nlohmann::json& ephemeral =
      spec.extra.is_object() && spec.extra.contains("ephemeralContainers")
          ? spec.extra["ephemeralContainers"]
          : nlohmann::json();
  for (size_t i = 0; ephemeral.is_array() && i < ephemeral.size(); ++i) {
    const std::string p = Child(Index(Child(path, "ephemeralContainers"), i), "name");
    const nlohmann::json& name =
        ephemeral[i].is_object() ? ephemeral[i].value("name", nlohmann::json()) : nlohmann::json();
    if (!name.is_string() || name.get<std::string>().empty()) {
      e.Required(p);
    } else {
      e.InvalidEach(p, name.get<std::string>(), IsDNS1123Label(name.get<std::string>()));
      if (!container_names.insert(name.get<std::string>()).second)
        e.Duplicate(p, name.get<std::string>());
    }
  }
  const std::string rp = Child(path, "restartPolicy");
  if (in_job) {
    if (spec.restart_policy.empty()) {
      e.Required(rp, "valid values: \"OnFailure\", \"Never\"");
    } else if (spec.restart_policy != "OnFailure" && spec.restart_policy != "Never") {
      e.NotSupported(rp, spec.restart_policy, {"OnFailure", "Never"});
    }
  } else if (!spec.restart_policy.empty() && spec.restart_policy != "Always" &&
             spec.restart_policy != "OnFailure" && spec.restart_policy != "Never") {
    e.NotSupported(rp, spec.restart_policy, {"Always", "OnFailure", "Never"});
  }
  if (!spec.node_name.empty()) {
    e.InvalidEach(Child(path, "nodeName"), spec.node_name, IsDNS1123Subdomain(spec.node_name));
  }
  ValidateLabels(e, Child(path, "nodeSelector"), spec.node_selector);
  const std::string tp = Child(path, "tolerations");
  for (size_t i = 0; i < spec.tolerations.size(); ++i) {
    const Toleration& t = spec.tolerations[i];
    const std::string p = Index(tp, i);
    if (!t.key.empty()) ValidateLabelName(e, Child(p, "key"), t.key);
    if (t.op == "Exists") {
      if (!t.value.empty())
        e.InvalidString(Child(p, "operator"), t.value,
                        "value must be empty when `operator` is 'Exists'");
    } else if (t.op == "Equal" || t.op.empty()) {
      if (t.key.empty())
        e.InvalidString(Child(p, "operator"), t.op,
                        "operator must be Exists when `key` is empty, which means \"match all "
                        "values and all keys\"");
      ValidateLabelValue(e, Child(p, "value"), t.value);
    } else {
      e.NotSupported(Child(p, "operator"), t.op, {"Equal", "Exists"});
    }
    if (!t.effect.empty() && t.effect != "NoSchedule" && t.effect != "PreferNoSchedule" &&
        t.effect != "NoExecute") {
      e.NotSupported(Child(p, "effect"), t.effect, {"NoExecute", "NoSchedule", "PreferNoSchedule"});
    }
  }
}

void NonNegative(Errors& e, const std::string& path, const std::optional<int64_t>& value) {
  if (value.has_value() && *value < 0) {
    e.Invalid(path, std::to_string(*value), "must be greater than or equal to 0");
  }
}

template <class T>
std::vector<Error> Run(T&& fn) {
  std::vector<Error> out;
  Errors e(out);
  fn(e);
  return out;
}

}  // namespace

std::vector<Error> Validate(const DeviceClass& o, const ValidationOptions& options) {
  return Run([&](Errors& e) {
    ValidateObjectMeta(e, "metadata", o.metadata, Scope::kCluster, IsDNS1123Subdomain);
    ValidateSelectors(e, "spec.selectors", o.spec.selectors, options);
    if (CheckSize(e, "spec.config", o.spec.config.size(), kDeviceConfigMaxSize)) {
      for (size_t i = 0; i < o.spec.config.size(); ++i)
        ValidateOpaque(e, Index("spec.config", i), o.spec.config[i].opaque);
    }
    if (!o.spec.extended_resource_name.empty() &&
        !IsExtendedResourceName(o.spec.extended_resource_name)) {
      e.InvalidString("spec.extendedResourceName", o.spec.extended_resource_name,
                      "must be a valid extended resource name");
    }
  });
}

std::vector<Error> Validate(const ResourceClaim& o, const ValidationOptions& options) {
  return Run([&](Errors& e) {
    ValidateObjectMeta(e, "metadata", o.metadata, Scope::kNamespaced, IsDNS1123Subdomain);
    ValidateDeviceClaim(e, "spec.devices", o.spec.devices, options);
    ValidateClaimStatus(e, "status", o.status, GatherRequestNames(o.spec.devices));
  });
}

std::vector<Error> Validate(const ResourceClaimTemplate& o, const ValidationOptions& options) {
  return Run([&](Errors& e) {
    ValidateObjectMeta(e, "metadata", o.metadata, Scope::kNamespaced, IsDNS1123Subdomain);
    // ValidateTemplateObjectMeta: labels and annotations only.
    ValidateLabels(e, "spec.metadata.labels", o.spec.metadata.labels);
    ValidateAnnotations(e, "spec.metadata.annotations", o.spec.metadata.annotations);
    ValidateDeviceClaim(e, "spec.spec.devices", o.spec.spec.devices, options);
  });
}

std::vector<Error> Validate(const ResourceSlice& o, const ValidationOptions& options) {
  return Run([&](Errors& e) {
    ValidateObjectMeta(e, "metadata", o.metadata, Scope::kCluster, IsDNS1123Subdomain);
    ValidateSliceSpec(e, "spec", o.spec);
  });
}

std::vector<Error> Validate(const Node& o, const ValidationOptions& options) {
  return Run([&](Errors& e) {
    ValidateObjectMeta(e, "metadata", o.metadata, Scope::kCluster, IsDNS1123Subdomain);
    for (size_t i = 0; i < o.spec.taints.size(); ++i) {
      const Taint& t = o.spec.taints[i];
      const std::string p = Index("spec.taints", i);
      ValidateLabelName(e, Child(p, "key"), t.key);
      if (!t.value.empty()) ValidateLabelValue(e, Child(p, "value"), t.value);
      if (t.effect != "NoSchedule" && t.effect != "PreferNoSchedule" && t.effect != "NoExecute") {
        e.NotSupported(Child(p, "effect"), t.effect,
                       {"NoExecute", "NoSchedule", "PreferNoSchedule"});
      }
    }
  });
}

std::vector<Error> Validate(const Namespace& o, const ValidationOptions& options) {
  return Run([&](Errors& e) {
    ValidateObjectMeta(e, "metadata", o.metadata, Scope::kCluster, IsDNS1123Label);
  });
}

std::vector<Error> Validate(const Pod& o, const ValidationOptions& options) {
  return Run([&](Errors& e) {
    ValidateObjectMeta(e, "metadata", o.metadata, Scope::kNamespaced, IsDNS1123Subdomain);
    ValidatePodSpec(e, "spec", o.spec, /*in_job=*/false);
  });
}

std::vector<Error> Validate(const Job& o, const ValidationOptions& options) {
  return Run([&](Errors& e) {
    ValidateObjectMeta(e, "metadata", o.metadata, Scope::kNamespaced, IsDNS1123Subdomain);
    NonNegative(e, "spec.completions", o.spec.completions);
    NonNegative(e, "spec.parallelism", o.spec.parallelism);
    NonNegative(e, "spec.backoffLimit", o.spec.backoff_limit);
    NonNegative(e, "spec.activeDeadlineSeconds", o.spec.active_deadline_seconds);
    NonNegative(e, "spec.ttlSecondsAfterFinished", o.spec.ttl_seconds_after_finished);
    ValidateLabels(e, "spec.template.metadata.labels", o.spec.template_.metadata.labels);
    ValidatePodSpec(e, "spec.template.spec", o.spec.template_.spec, /*in_job=*/true);
  });
}

std::vector<Error> ValidateMetadataMaps(const std::string& path, const ObjectMeta& meta) {
  return Run([&](Errors& e) { ValidateMetadataMaps(e, path, meta); });
}

std::vector<Error> ValidateNamespacedObjectMeta(const ObjectMeta& meta) {
  return Run([&](Errors& e) {
    ValidateObjectMeta(e, "metadata", meta, Scope::kNamespaced, IsDNS1123Subdomain);
  });
}

std::vector<Error> ValidatePodTemplate(const std::string& path, const PodTemplateSpec& pod) {
  return Run([&](Errors& e) {
    ValidateMetadataMaps(e, Child(path, "metadata"), pod.metadata);
    ValidatePodSpec(e, Child(path, "spec"), pod.spec, /*in_job=*/false);
  });
}

std::vector<Error> Validate(const AnyObject& object, const ValidationOptions& options) {
  return std::visit([&](const auto& o) { return Validate(o, options); }, object);
}

}  // namespace migdra::api
