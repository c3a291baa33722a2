// Kubernetes' IP, CIDR, URL and format CEL libraries (k8s.io/apiserver/pkg/cel/library: ip.go,
// cidr.go, urls.go, format.go): the functions, their objects and their error messages.
#include <re2/re2.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>

#include "api/validation.h"
#include "cel/library.h"
#include "cel/network.h"
#include "cel/time_util.h"

namespace migdra::cel {
namespace {

#define NO_OVERLOAD(name) return NoMatchingOverload(name, a, n)

class IpObject : public ObjectValue {
 public:
  explicit IpObject(IpAddress ip) : ip(ip) {}
  std::string_view TypeName() const override { return "net.IP"; }
  bool Equals(const ObjectValue& o) const override {
    return ip == static_cast<const IpObject&>(o).ip;
  }
  std::string ToString() const override { return ip.ToString(); }
  IpAddress ip;
};

class CidrObject : public ObjectValue {
 public:
  explicit CidrObject(IpPrefix prefix) : prefix(prefix) {}
  std::string_view TypeName() const override { return "net.CIDR"; }
  bool Equals(const ObjectValue& o) const override {
    return prefix == static_cast<const CidrObject&>(o).prefix;
  }
  std::string ToString() const override { return prefix.ToString(); }
  IpPrefix prefix;
};

class UrlObject : public ObjectValue {
 public:
  UrlObject(Url url, std::string text) : url(std::move(url)), text(std::move(text)) {}
  std::string_view TypeName() const override { return "kubernetes.URL"; }
  bool Equals(const ObjectValue& o) const override {
    return text == static_cast<const UrlObject&>(o).text;
  }
  std::string ToString() const override { return text; }
  Url url;
  std::string text;
};

using FormatCheck = std::vector<std::string> (*)(std::string_view);

class FormatObject : public ObjectValue {
 public:
  FormatObject(std::string name, FormatCheck check) : name(std::move(name)), check(check) {}
  std::string_view TypeName() const override { return "kubernetes.NamedFormat"; }
  bool Equals(const ObjectValue& o) const override {
    return name == static_cast<const FormatObject&>(o).name;
  }
  std::string ToString() const override { return name; }
  std::string name;
  FormatCheck check;
};

bool Is(const Value& v, std::string_view type) {
  return v.kind() == Kind::kObject && v.object().TypeName() == type;
}
const IpAddress& Ip(const Value& v) { return static_cast<const IpObject&>(v.object()).ip; }
const IpPrefix& Cidr(const Value& v) { return static_cast<const CidrObject&>(v.object()).prefix; }
const Url& UrlOf(const Value& v) { return static_cast<const UrlObject&>(v.object()).url; }

// ---- IP -----------------------------------------------------------------------------------------

// The library's parseIPAddr: netip.ParseAddr without zones or IPv4-mapped IPv6 addresses.
Result<IpAddress> ParseLibraryIp(std::string_view s) {
  auto ip = ParseIpAddress(s);
  const std::string q = "\"" + std::string(s) + "\"";
  if (!ip.ok()) {
    return MakeError("IP Address " + q +
                     " parse error during conversion from string: " + ip.error().message);
  }
  if (ip->has_zone) return MakeError("IP address " + q + " with zone value is not allowed");
  if (ip->Is4In6()) return MakeError("IPv4-mapped IPv6 address " + q + " is not allowed");
  return ip;
}

Value IpFn(const Value* a, size_t n, CallContext&) {
  if (n == 1 && Is(a[0], "net.CIDR")) {
    return Value::Object(std::make_shared<IpObject>(Cidr(a[0]).address));
  }
  if (n != 1 || a[0].kind() != Kind::kString) NO_OVERLOAD("ip");
  auto ip = ParseLibraryIp(a[0].str());
  if (!ip.ok()) return Value::Error(ip.error().message);
  return Value::Object(std::make_shared<IpObject>(*ip));
}

Value IsIp(const Value* a, size_t n, CallContext&) {
  if (n != 1 || a[0].kind() != Kind::kString) NO_OVERLOAD("isIP");
  return Value::Bool(ParseLibraryIp(a[0].str()).ok());
}

Value IpIsCanonical(const Value* a, size_t n, CallContext&) {
  if (n != 1 || a[0].kind() != Kind::kString) NO_OVERLOAD("ip.isCanonical");
  auto ip = ParseLibraryIp(a[0].str());
  if (!ip.ok()) return Value::Error(ip.error().message);
  return Value::Bool(ip->ToString() == a[0].str());
}

Value Family(const Value* a, size_t n, CallContext&) {
  if (n != 1 || !Is(a[0], "net.IP")) NO_OVERLOAD("family");
  return Value::Int(Ip(a[0]).v4 ? 4 : 6);
}

template <bool (IpAddress::*Test)() const>
Value IpTest(const Value* a, size_t n, CallContext&) {
  if (n != 1 || !Is(a[0], "net.IP")) NO_OVERLOAD("ip test");
  return Value::Bool((Ip(a[0]).*Test)());
}

// ---- CIDR ---------------------------------------------------------------------------------------

Result<IpPrefix> ParseLibraryCidr(std::string_view s) {
  constexpr const char* kPrefix = "network address parse error during conversion from string: ";
  auto prefix = ParseIpPrefix(s);
  if (!prefix.ok()) return MakeError(std::string(kPrefix) + kPrefix + prefix.error().message);
  if (prefix->address.Is4In6()) {
    return MakeError(std::string(kPrefix) + "IPv4-mapped IPv6 address \"" + std::string(s) +
                     "\" is not allowed");
  }
  return prefix;
}

Value CidrFn(const Value* a, size_t n, CallContext&) {
  if (n != 1 || a[0].kind() != Kind::kString) NO_OVERLOAD("cidr");
  auto prefix = ParseLibraryCidr(a[0].str());
  if (!prefix.ok()) return Value::Error(prefix.error().message);
  return Value::Object(std::make_shared<CidrObject>(*prefix));
}

Value IsCidr(const Value* a, size_t n, CallContext&) {
  if (n != 1 || a[0].kind() != Kind::kString) NO_OVERLOAD("isCIDR");
  return Value::Bool(ParseLibraryCidr(a[0].str()).ok());
}

Value ContainsIp(const Value* a, size_t n, CallContext&) {
  if (n != 2 || !Is(a[0], "net.CIDR")) NO_OVERLOAD("containsIP");
  if (a[1].kind() == Kind::kString) {
    auto ip = ParseLibraryIp(a[1].str());
    if (!ip.ok()) return Value::Error(ip.error().message);
    return Value::Bool(Cidr(a[0]).Contains(*ip));
  }
  if (!Is(a[1], "net.IP")) NO_OVERLOAD("containsIP");
  return Value::Bool(Cidr(a[0]).Contains(Ip(a[1])));
}

Value ContainsCidr(const Value* a, size_t n, CallContext&) {
  if (n != 2 || !Is(a[0], "net.CIDR")) NO_OVERLOAD("containsCIDR");
  IpPrefix other;
  if (a[1].kind() == Kind::kString) {
    auto parsed = ParseLibraryCidr(a[1].str());
    if (!parsed.ok()) return Value::Error(parsed.error().message);
    other = *parsed;
  } else if (Is(a[1], "net.CIDR")) {
    other = Cidr(a[1]);
  } else {
    NO_OVERLOAD("containsCIDR");
  }
  const IpPrefix& self = Cidr(a[0]);
  if (self.address.v4 != other.address.v4) return Value::Bool(false);
  const bool same_network = self.Masked() == IpPrefix{other.address, self.bits}.Masked();
  return Value::Bool(same_network && self.bits <= other.bits);
}

Value PrefixLength(const Value* a, size_t n, CallContext&) {
  if (n != 1 || !Is(a[0], "net.CIDR")) NO_OVERLOAD("prefixLength");
  return Value::Int(Cidr(a[0]).bits);
}

Value Masked(const Value* a, size_t n, CallContext&) {
  if (n != 1 || !Is(a[0], "net.CIDR")) NO_OVERLOAD("masked");
  return Value::Object(std::make_shared<CidrObject>(Cidr(a[0]).Masked()));
}

// ---- URL ----------------------------------------------------------------------------------------

Value UrlFn(const Value* a, size_t n, CallContext&) {
  if (n != 1 || a[0].kind() != Kind::kString) NO_OVERLOAD("url");
  // As upstream: validate with ParseRequestURI (absolute URLs only), keep what Parse reads
  // (which handles fragments).
  auto request = ParseRequestUri(a[0].str());
  if (!request.ok()) {
    return Value::Error("URL parse error during conversion from string: " +
                        request.error().message);
  }
  auto url = ParseUrl(a[0].str());
  if (!url.ok()) {
    return Value::Error("URL parse error during conversion from string: " + url.error().message);
  }
  return Value::Object(std::make_shared<UrlObject>(*url, std::string(a[0].str())));
}

Value IsUrl(const Value* a, size_t n, CallContext&) {
  if (n != 1 || a[0].kind() != Kind::kString) NO_OVERLOAD("isURL");
  return Value::Bool(ParseRequestUri(a[0].str()).ok());
}

template <int Part>
Value UrlPart(const Value* a, size_t n, CallContext&) {
  if (n != 1 || !Is(a[0], "kubernetes.URL")) NO_OVERLOAD("URL getter");
  const Url& u = UrlOf(a[0]);
  switch (Part) {
    case 0:
      return Value::String(u.scheme);
    case 1:
      return Value::String(u.host);
    case 2:
      return Value::String(u.Hostname());
    case 3:
      return Value::String(u.Port());
    default:
      return Value::String(u.EscapedPath());
  }
}

Value GetQuery(const Value* a, size_t n, CallContext&) {
  if (n != 1 || !Is(a[0], "kubernetes.URL")) NO_OVERLOAD("getQuery");
  auto out = std::make_shared<StandardMap>();
  for (const auto& [key, values] : UrlOf(a[0]).Query()) {
    std::vector<Value> list;
    for (const std::string& v : values) list.push_back(Value::String(v));
    out->Insert(Value::String(key), Value::List(std::move(list)));
  }
  return Value::Map(std::move(out));
}

// ---- format -------------------------------------------------------------------------------------

std::vector<std::string> RegexCheck(std::string_view value, size_t max_length, const char* pattern,
                                    const std::string& message) {
  std::vector<std::string> errs;
  if (value.size() > max_length) {
    errs.push_back("must be no more than " + std::to_string(max_length) + " characters");
  }
  static std::map<std::string, std::unique_ptr<RE2>>* compiled =
      new std::map<std::string, std::unique_ptr<RE2>>();
  static std::mutex mu;
  const RE2* re;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto& slot = (*compiled)[pattern];
    if (!slot) slot = std::make_unique<RE2>(std::string("^(?:") + pattern + ")$");
    re = slot.get();
  }
  if (!RE2::FullMatch(re2::StringPiece(value.data(), value.size()), *re)) errs.push_back(message);
  return errs;
}

// apimachinery's maskTrailingDash: a name prefix may end in '-'.
std::string MaskTrailingDash(std::string_view s) {
  if (s.size() > 1 && s.back() == '-') return std::string(s.substr(0, s.size() - 2)) + "a";
  return std::string(s);
}

std::vector<std::string> Dns1035Label(std::string_view s) {
  constexpr const char* kFmt = "[a-z]([-a-z0-9]*[a-z0-9])?";
  return RegexCheck(s, 63, kFmt,
                    std::string("a DNS-1035 label must consist of lower case alphanumeric "
                                "characters or '-', start with an alphabetic character, and end "
                                "with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
                                "regex used for validation is '") +
                        kFmt + "')");
}

std::vector<std::string> Dns1123LabelPrefix(std::string_view s) {
  return api::IsDNS1123Label(MaskTrailingDash(s));
}
std::vector<std::string> Dns1123SubdomainPrefix(std::string_view s) {
  return api::IsDNS1123Subdomain(MaskTrailingDash(s));
}
std::vector<std::string> Dns1035LabelPrefix(std::string_view s) {
  return Dns1035Label(MaskTrailingDash(s));
}
std::vector<std::string> Dns1123Label(std::string_view s) { return api::IsDNS1123Label(s); }
std::vector<std::string> Dns1123Subdomain(std::string_view s) { return api::IsDNS1123Subdomain(s); }
std::vector<std::string> QualifiedName(std::string_view s) { return api::IsQualifiedName(s); }
std::vector<std::string> LabelValue(std::string_view s) { return api::IsValidLabelValue(s); }

std::vector<std::string> Uri(std::string_view s) {
  auto u = ParseRequestUri(s);
  if (!u.ok()) return {u.error().message};
  return {};
}

std::vector<std::string> Uuid(std::string_view s) {
  static const RE2 re(
      "(?i)(^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$)|(^[0-9a-f]{32}$)");
  if (RE2::PartialMatch(re2::StringPiece(s.data(), s.size()), re)) return {};
  return {"does not match the UUID format"};
}

std::vector<std::string> Byte(std::string_view s) {
  static const RE2 re("^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$");
  if (RE2::FullMatch(re2::StringPiece(s.data(), s.size()), re)) return {};
  return {"invalid base64"};
}

std::vector<std::string> Date(std::string_view s) {
  static const RE2 re("^\\d{4}-\\d{2}-\\d{2}$");
  if (RE2::FullMatch(re2::StringPiece(s.data(), s.size()), re) &&
      ParseTimestamp(std::string(s) + "T00:00:00Z").ok()) {
    return {};
  }
  return {"invalid date"};
}

std::vector<std::string> DateTime(std::string_view s) {
  if (ParseTimestamp(s).ok()) return {};
  return {"invalid datetime"};
}

const std::map<std::string, FormatCheck, std::less<>>& Formats() {
  static const std::map<std::string, FormatCheck, std::less<>> formats = {
      {"dns1123Label", Dns1123Label},
      {"dns1123Subdomain", Dns1123Subdomain},
      {"dns1035Label", Dns1035Label},
      {"qualifiedName", QualifiedName},
      {"dns1123LabelPrefix", Dns1123LabelPrefix},
      {"dns1123SubdomainPrefix", Dns1123SubdomainPrefix},
      {"dns1035LabelPrefix", Dns1035LabelPrefix},
      {"labelValue", LabelValue},
      {"uri", Uri},
      {"uuid", Uuid},
      {"byte", Byte},
      {"date", Date},
      {"datetime", DateTime},
  };
  return formats;
}

Value FormatNamed(const Value* a, size_t n, CallContext&) {
  if (n != 1 || a[0].kind() != Kind::kString) NO_OVERLOAD("format.named");
  auto it = Formats().find(a[0].str());
  if (it == Formats().end()) return Value::OptionalNone();
  return Value::Optional(Value::Object(std::make_shared<FormatObject>(it->first, it->second)));
}

Value Validate(const Value* a, size_t n, CallContext&) {
  if (n != 2 || !Is(a[0], "kubernetes.NamedFormat") || a[1].kind() != Kind::kString)
    NO_OVERLOAD("validate");
  const auto& format = static_cast<const FormatObject&>(a[0].object());
  std::vector<std::string> errs = format.check(a[1].str());
  if (errs.empty()) return Value::OptionalNone();
  std::vector<Value> list;
  for (std::string& e : errs) list.push_back(Value::String(std::move(e)));
  return Value::Optional(Value::List(std::move(list)));
}

template <size_t Index>
Value NamedFormat(const Value* a, size_t n, CallContext&) {
  if (n != 0) NO_OVERLOAD("format");
  auto it = std::next(Formats().begin(), Index);
  return Value::Object(std::make_shared<FormatObject>(it->first, it->second));
}

template <size_t... I>
void AddNamedFormats(std::vector<FunctionImpl>* out, std::index_sequence<I...>) {
  (out->push_back(FunctionImpl{"format." + std::next(Formats().begin(), I)->first, false,
                               NamedFormat<I>, true}),
   ...);
}

}  // namespace

std::vector<FunctionImpl> KubernetesNetworkFunctions() {
  std::vector<FunctionImpl> out = {
      {"ip", false, IpFn, true},
      {"ip", true, IpFn, true},
      {"isIP", false, IsIp, true},
      {"ip.isCanonical", false, IpIsCanonical, true},
      {"family", true, Family, true},
      {"isUnspecified", true, IpTest<&IpAddress::IsUnspecified>, true},
      {"isLoopback", true, IpTest<&IpAddress::IsLoopback>, true},
      {"isLinkLocalMulticast", true, IpTest<&IpAddress::IsLinkLocalMulticast>, true},
      {"isLinkLocalUnicast", true, IpTest<&IpAddress::IsLinkLocalUnicast>, true},
      {"isGlobalUnicast", true, IpTest<&IpAddress::IsGlobalUnicast>, true},
      {"cidr", false, CidrFn, true},
      {"isCIDR", false, IsCidr, true},
      {"containsIP", true, ContainsIp, true},
      {"containsCIDR", true, ContainsCidr, true},
      {"prefixLength", true, PrefixLength, true},
      {"masked", true, Masked, true},
      {"url", false, UrlFn, true},
      {"isURL", false, IsUrl, true},
      {"getScheme", true, UrlPart<0>, true},
      {"getHost", true, UrlPart<1>, true},
      {"getHostname", true, UrlPart<2>, true},
      {"getPort", true, UrlPart<3>, true},
      {"getEscapedPath", true, UrlPart<4>, true},
      {"getQuery", true, GetQuery, true},
      {"format.named", false, FormatNamed, true},
      {"validate", true, Validate, true},
  };
  AddNamedFormats(&out, std::make_index_sequence<13>());
  return out;
}

}  // namespace migdra::cel
