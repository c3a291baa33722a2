#include "cel/checker.h"

#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "cel/library.h"
#include "cel/parser.h"
#include "common/utf8.h"

namespace migdra::cel {

// ---- Type ---------------------------------------------------------------------------------------

std::string Type::ToString() const {
  auto joined = [&]() {
    std::string out;
    for (size_t i = 0; i < params.size(); ++i) {
      if (i) out += ", ";
      out += params[i].ToString();
    }
    return out;
  };
  switch (kind) {
    case Kind::kDyn:
      return "dyn";
    case Kind::kAny:
      return "any";
    case Kind::kError:
      return "*error*";
    case Kind::kNull:
      return "null_type";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kUint:
      return "uint";
    case Kind::kDouble:
      return "double";
    case Kind::kString:
      return "string";
    case Kind::kBytes:
      return "bytes";
    case Kind::kDuration:
      return "google.protobuf.Duration";
    case Kind::kTimestamp:
      return "google.protobuf.Timestamp";
    case Kind::kList:
      return "list(" + joined() + ")";
    case Kind::kMap:
      return "map(" + joined() + ")";
    case Kind::kType:
      return params.empty() ? "type" : "type(" + joined() + ")";
    case Kind::kOpaque:
      return params.empty() ? name : name + "(" + joined() + ")";
    case Kind::kObject:
    case Kind::kTypeParam:
      return name;
  }
  return "dyn";
}

namespace {

class TypeParser {
 public:
  explicit TypeParser(std::string_view text) : text_(text) {}

  Result<Type> ParseAll() {
    MIGDRA_ASSIGN_OR_RETURN(Type t, ParseType());
    SkipSpace();
    if (pos_ != text_.size()) return Fail();
    return t;
  }

  Result<Type> ParseType() {
    SkipSpace();
    size_t start = pos_;
    while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) ||
                                   text_[pos_] == '_' || text_[pos_] == '.')) {
      ++pos_;
    }
    std::string name(text_.substr(start, pos_ - start));
    if (name.empty()) return Fail();
    std::vector<Type> params;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '(') {
      ++pos_;
      while (true) {
        MIGDRA_ASSIGN_OR_RETURN(Type p, ParseType());
        params.push_back(std::move(p));
        SkipSpace();
        if (pos_ < text_.size() && text_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < text_.size() && text_[pos_] == ')') {
          ++pos_;
          break;
        }
        return Fail();
      }
    }
    using K = Type::Kind;
    static const std::map<std::string, K, std::less<>> kSimple = {
        {"dyn", K::kDyn},
        {"any", K::kAny},
        {"null_type", K::kNull},
        {"bool", K::kBool},
        {"int", K::kInt},
        {"uint", K::kUint},
        {"double", K::kDouble},
        {"string", K::kString},
        {"bytes", K::kBytes},
        {"duration", K::kDuration},
        {"google.protobuf.Duration", K::kDuration},
        {"timestamp", K::kTimestamp},
        {"google.protobuf.Timestamp", K::kTimestamp},
    };
    if (auto it = kSimple.find(name); it != kSimple.end() && params.empty()) {
      return Type::Simple(it->second);
    }
    if (name == "list" && params.size() == 1) return Type::List(std::move(params[0]));
    if (name == "map" && params.size() == 2) return Type::Map(params[0], params[1]);
    if (name == "type") return Type{K::kType, {}, std::move(params)};
    if (name.size() == 1 && std::isupper(static_cast<unsigned char>(name[0])) && params.empty()) {
      return Type::Param(name);
    }
    if (name.find('.') != std::string::npos && params.empty()) return Type::Object(name);
    return Type::Opaque(name, std::move(params));
  }

 private:
  void SkipSpace() {
    while (pos_ < text_.size() && text_[pos_] == ' ') ++pos_;
  }
  Error Fail() const { return MakeError("invalid type '" + std::string(text_) + "'"); }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

Result<Type> Type::Parse(std::string_view text) { return TypeParser(text).ParseAll(); }

Result<FunctionDecl> DeclareFunction(std::string name, const std::vector<std::string>& signatures) {
  FunctionDecl decl;
  decl.name = std::move(name);
  for (std::string_view sig : signatures) {
    OverloadDecl o;
    if (!sig.empty() && sig[0] == '.') {
      o.member = true;
      sig.remove_prefix(1);
    }
    size_t arrow = sig.rfind("->");
    if (sig.empty() || sig[0] != '(' || arrow == std::string_view::npos)
      return MakeError("invalid signature '" + std::string(sig) + "'");
    size_t close = sig.rfind(')', arrow);
    std::string_view args = sig.substr(1, close - 1);
    int depth = 0;
    size_t start = 0;
    for (size_t i = 0; i <= args.size(); ++i) {
      if (i == args.size() || (args[i] == ',' && depth == 0)) {
        std::string_view arg = args.substr(start, i - start);
        if (arg.find_first_not_of(' ') != std::string_view::npos) {
          MIGDRA_ASSIGN_OR_RETURN(Type t, Type::Parse(arg));
          o.params.push_back(std::move(t));
        }
        start = i + 1;
      } else if (args[i] == '(') {
        ++depth;
      } else if (args[i] == ')') {
        --depth;
      }
    }
    MIGDRA_ASSIGN_OR_RETURN(o.result, Type::Parse(sig.substr(arrow + 2)));
    decl.overloads.push_back(std::move(o));
  }
  return decl;
}

// ---- declarations -------------------------------------------------------------------------------

namespace {

using Signatures = std::vector<std::pair<std::string, std::vector<std::string>>>;

void AddOrdering(Signatures* out) {
  static const char* kSame[] = {"bool",   "int",   "uint",     "double",
                                "string", "bytes", "duration", "timestamp"};
  static const char* kCross[][2] = {{"int", "uint"},    {"int", "double"}, {"uint", "int"},
                                    {"uint", "double"}, {"double", "int"}, {"double", "uint"}};
  for (const char* op : {"_<_", "_<=_", "_>_", "_>=_"}) {
    std::vector<std::string> sigs;
    for (const char* t : kSame) sigs.push_back(std::string("(") + t + ", " + t + ") -> bool");
    for (auto& c : kCross) sigs.push_back(std::string("(") + c[0] + ", " + c[1] + ") -> bool");
    out->push_back({op, sigs});
  }
}

// cel-go's standard library.
Signatures Standard() {
  Signatures s = {
      {"!_", {"(bool) -> bool"}},
      {"-_", {"(int) -> int", "(double) -> double"}},
      {"_&&_", {"(bool, bool) -> bool"}},
      {"_||_", {"(bool, bool) -> bool"}},
      {"_?_:_", {"(bool, A, A) -> A"}},
      {"@not_strictly_false", {"(bool) -> bool"}},
      {"_==_", {"(A, A) -> bool"}},
      {"_!=_", {"(A, A) -> bool"}},
      {"@in", {"(A, list(A)) -> bool", "(A, map(A, B)) -> bool"}},
      {"_[_]", {"(list(A), int) -> A", "(map(A, B), A) -> B"}},
      {"_+_",
       {"(int, int) -> int", "(uint, uint) -> uint", "(double, double) -> double",
        "(string, string) -> string", "(bytes, bytes) -> bytes", "(list(A), list(A)) -> list(A)",
        "(timestamp, duration) -> timestamp", "(duration, timestamp) -> timestamp",
        "(duration, duration) -> duration"}},
      {"_-_",
       {"(int, int) -> int", "(uint, uint) -> uint", "(double, double) -> double",
        "(timestamp, timestamp) -> duration", "(timestamp, duration) -> timestamp",
        "(duration, duration) -> duration"}},
      {"_*_", {"(int, int) -> int", "(uint, uint) -> uint", "(double, double) -> double"}},
      {"_/_", {"(int, int) -> int", "(uint, uint) -> uint", "(double, double) -> double"}},
      {"_%_", {"(int, int) -> int", "(uint, uint) -> uint"}},
      {"size",
       {"(string) -> int", "(bytes) -> int", "(list(A)) -> int", "(map(A, B)) -> int",
        ".(string) -> int", ".(bytes) -> int", ".(list(A)) -> int", ".(map(A, B)) -> int"}},
      {"int",
       {"(int) -> int", "(uint) -> int", "(double) -> int", "(string) -> int", "(timestamp) -> int",
        "(duration) -> int"}},
      {"uint", {"(uint) -> uint", "(int) -> uint", "(double) -> uint", "(string) -> uint"}},
      {"double",
       {"(double) -> double", "(int) -> double", "(uint) -> double", "(string) -> double"}},
      {"string",
       {"(string) -> string", "(bool) -> string", "(int) -> string", "(uint) -> string",
        "(double) -> string", "(bytes) -> string", "(timestamp) -> string",
        "(duration) -> string"}},
      {"bytes", {"(bytes) -> bytes", "(string) -> bytes"}},
      {"bool", {"(bool) -> bool", "(string) -> bool"}},
      {"dyn", {"(A) -> dyn"}},
      {"type", {"(A) -> type(A)"}},
      // cel-go declares duration(int) but has no such conversion: it fails at run time.
      {"duration", {"(string) -> duration", "(duration) -> duration", "(int) -> duration"}},
      {"timestamp", {"(string) -> timestamp", "(timestamp) -> timestamp", "(int) -> timestamp"}},
      {"contains", {".(string, string) -> bool"}},
      {"startsWith", {".(string, string) -> bool"}},
      {"endsWith", {".(string, string) -> bool"}},
      {"matches", {".(string, string) -> bool", "(string, string) -> bool"}},
  };
  AddOrdering(&s);
  for (const char* getter :
       {"getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth", "getDate", "getDayOfWeek",
        "getHours", "getMinutes", "getSeconds", "getMilliseconds"}) {
    std::vector<std::string> sigs = {".(timestamp) -> int", ".(timestamp, string) -> int"};
    const std::string g = getter;
    if (g == "getHours" || g == "getMinutes" || g == "getSeconds" || g == "getMilliseconds")
      sigs.push_back(".(duration) -> int");
    s.push_back({getter, sigs});
  }
  return s;
}

Signatures OptionalTypes() {
  return {
      {"optional.of", {"(A) -> optional_type(A)"}},
      {"optional.ofNonZeroValue", {"(A) -> optional_type(A)"}},
      {"optional.none", {"() -> optional_type(A)"}},
      {"value", {".(optional_type(A)) -> A"}},
      {"hasValue", {".(optional_type(A)) -> bool"}},
      {"or", {".(optional_type(A), optional_type(A)) -> optional_type(A)"}},
      {"orValue", {".(optional_type(A), A) -> A"}},
      {"optional.unwrap", {"(list(optional_type(A))) -> list(A)"}},
      {"unwrapOpt", {".(list(optional_type(A))) -> list(A)"}},
      {"first", {".(list(A)) -> optional_type(A)"}},
      {"last", {".(list(A)) -> optional_type(A)"}},
      {"_[?_]",
       {"(list(A), int) -> optional_type(A)", "(map(A, B), A) -> optional_type(B)",
        "(optional_type(list(A)), int) -> optional_type(A)",
        "(optional_type(map(A, B)), A) -> optional_type(B)"}},
      {"_[_]",
       {"(optional_type(list(A)), int) -> optional_type(A)",
        "(optional_type(map(A, B)), A) -> optional_type(B)"}},
  };
}

// ext.Strings at `version` (cel-go numbering).
Signatures Strings(int version) {
  Signatures s = {
      {"charAt", {".(string, int) -> string"}},
      {"indexOf", {".(string, string) -> int", ".(string, string, int) -> int"}},
      {"lastIndexOf", {".(string, string) -> int", ".(string, string, int) -> int"}},
      {"lowerAscii", {".(string) -> string"}},
      {"upperAscii", {".(string) -> string"}},
      {"replace",
       {".(string, string, string) -> string", ".(string, string, string, int) -> string"}},
      {"split", {".(string, string) -> list(string)", ".(string, string, int) -> list(string)"}},
      {"substring", {".(string, int) -> string", ".(string, int, int) -> string"}},
      {"trim", {".(string) -> string"}},
      {"join", {".(list(string)) -> string", ".(list(string), string) -> string"}},
      {"strings.quote", {"(string) -> string"}},
      {"format", {".(string, list(dyn)) -> string"}},
  };
  if (version >= 3) s.push_back({"reverse", {".(string) -> string"}});
  return s;
}

// The element types cel-go's sort() and sortBy() accept (ext/lists.go's comparableTypes), which
// are also those of Kubernetes' isSorted/min/max.
constexpr const char* kComparableTypes[] = {"int",    "uint",  "double",   "bool",
                                            "string", "bytes", "duration", "timestamp"};

// ext.Lists at version 3 (Kubernetes 1.34 on); its sortBy() macro expands to
// @sortByAssociatedKeys.
Signatures Lists() {
  std::vector<std::string> sort, sort_by_keys;
  for (const char* t : kComparableTypes) {
    sort.push_back(std::string(".(list(") + t + ")) -> list(" + t + ")");
    sort_by_keys.push_back(std::string(".(list(A), list(") + t + ")) -> list(A)");
  }
  return {
      {"slice", {".(list(A), int, int) -> list(A)"}},
      {"flatten", {".(list(list(A))) -> list(A)", ".(list(A), int) -> list(dyn)"}},
      {"lists.range", {"(int) -> list(int)"}},
      {"distinct", {".(list(A)) -> list(A)"}},
      {"reverse", {".(list(A)) -> list(A)"}},
      {"sort", sort},
      {"@sortByAssociatedKeys", sort_by_keys},
  };
}

Signatures Sets() {
  return {
      {"sets.contains", {"(list(A), list(A)) -> bool"}},
      {"sets.equivalent", {"(list(A), list(A)) -> bool"}},
      {"sets.intersects", {"(list(A), list(A)) -> bool"}},
  };
}

Signatures Math() {
  Signatures s = {
      {"math.ceil", {"(double) -> double"}},
      {"math.floor", {"(double) -> double"}},
      {"math.round", {"(double) -> double"}},
      {"math.trunc", {"(double) -> double"}},
      {"math.isInf", {"(double) -> bool"}},
      {"math.isNaN", {"(double) -> bool"}},
      {"math.isFinite", {"(double) -> bool"}},
      {"math.abs", {"(int) -> int", "(uint) -> uint", "(double) -> double"}},
      {"math.sign", {"(int) -> int", "(uint) -> uint", "(double) -> double"}},
      {"math.bitNot", {"(int) -> int", "(uint) -> uint"}},
      {"math.bitShiftLeft", {"(int, int) -> int", "(uint, int) -> uint"}},
      {"math.bitShiftRight", {"(int, int) -> int", "(uint, int) -> uint"}},
      {"math.sqrt", {"(double) -> double", "(int) -> double", "(uint) -> double"}},
  };
  for (const char* op : {"math.bitAnd", "math.bitOr", "math.bitXor"})
    s.push_back({op, {"(int, int) -> int", "(uint, uint) -> uint"}});
  // math.greatest / math.least are macros in cel-go (any number of numeric arguments); the
  // checker handles them in MathExtreme.
  s.push_back({"math.greatest", {}});
  s.push_back({"math.least", {}});
  return s;
}

Signatures Encoders() {
  return {{"base64.encode", {"(bytes) -> string"}}, {"base64.decode", {"(string) -> bytes"}}};
}

Signatures TwoVarComprehensions() {
  return {{"cel.@mapInsert",
           {"(map(A, B), A, B) -> map(A, B)", "(map(A, B), map(A, B)) -> map(A, B)"}}};
}

// Kubernetes' own libraries (k8s.io/apiserver/pkg/cel/library), declared as they declare them.
Signatures KubernetesLibraries() {
  std::vector<std::string> sorted, extreme;
  for (const char* t : kComparableTypes) {
    sorted.push_back(std::string(".(list(") + t + ")) -> bool");
    extreme.push_back(std::string(".(list(") + t + ")) -> " + t);
  }
  const std::string q = "kubernetes.Quantity", sv = "kubernetes.Semver", ip = "net.IP",
                    cidr = "net.CIDR", url = "kubernetes.URL", fmt = "kubernetes.NamedFormat";
  Signatures s = {
      // lists
      {"isSorted", sorted},
      {"sum",
       {".(list(int)) -> int", ".(list(uint)) -> uint", ".(list(double)) -> double",
        ".(list(duration)) -> duration"}},
      {"min", extreme},
      {"max", extreme},
      {"indexOf", {".(list(A), A) -> int"}},
      {"lastIndexOf", {".(list(A), A) -> int"}},
      // regex
      {"find", {".(string, string) -> string"}},
      {"findAll", {".(string, string) -> list(string)", ".(string, string, int) -> list(string)"}},
      // URLs
      {"url", {"(string) -> " + url}},
      {"isURL", {"(string) -> bool"}},
      {"getScheme", {".(" + url + ") -> string"}},
      {"getHost", {".(" + url + ") -> string"}},
      {"getHostname", {".(" + url + ") -> string"}},
      {"getPort", {".(" + url + ") -> string"}},
      {"getEscapedPath", {".(" + url + ") -> string"}},
      {"getQuery", {".(" + url + ") -> map(string, list(string))"}},
      // quantity
      {"quantity", {"(string) -> " + q}},
      {"isQuantity", {"(string) -> bool"}},
      {"sign", {"(" + q + ") -> int"}},
      {"isGreaterThan", {".(" + q + ", " + q + ") -> bool", ".(" + sv + ", " + sv + ") -> bool"}},
      {"isLessThan", {".(" + q + ", " + q + ") -> bool", ".(" + sv + ", " + sv + ") -> bool"}},
      {"compareTo", {".(" + q + ", " + q + ") -> int", ".(" + sv + ", " + sv + ") -> int"}},
      {"asApproximateFloat", {".(" + q + ") -> double"}},
      {"asInteger", {".(" + q + ") -> int"}},
      {"isInteger", {".(" + q + ") -> bool"}},
      {"add", {".(" + q + ", " + q + ") -> " + q, ".(" + q + ", int) -> " + q}},
      {"sub", {".(" + q + ", " + q + ") -> " + q, ".(" + q + ", int) -> " + q}},
      // semver
      {"semver", {"(string) -> " + sv, "(string, bool) -> " + sv}},
      {"isSemver", {"(string) -> bool", "(string, bool) -> bool"}},
      {"major", {".(" + sv + ") -> int"}},
      {"minor", {".(" + sv + ") -> int"}},
      {"patch", {".(" + sv + ") -> int"}},
      // IP
      {"ip", {"(string) -> " + ip, ".(" + cidr + ") -> " + ip}},
      {"family", {".(" + ip + ") -> int"}},
      {"ip.isCanonical", {"(string) -> bool"}},
      {"isUnspecified", {".(" + ip + ") -> bool"}},
      {"isLoopback", {".(" + ip + ") -> bool"}},
      {"isLinkLocalMulticast", {".(" + ip + ") -> bool"}},
      {"isLinkLocalUnicast", {".(" + ip + ") -> bool"}},
      {"isGlobalUnicast", {".(" + ip + ") -> bool"}},
      {"isIP", {"(string) -> bool"}},
      // CIDR
      {"cidr", {"(string) -> " + cidr}},
      {"containsIP", {".(" + cidr + ", string) -> bool", ".(" + cidr + ", " + ip + ") -> bool"}},
      {"containsCIDR",
       {".(" + cidr + ", string) -> bool", ".(" + cidr + ", " + cidr + ") -> bool"}},
      {"prefixLength", {".(" + cidr + ") -> int"}},
      {"masked", {".(" + cidr + ") -> " + cidr}},
      {"isCIDR", {"(string) -> bool"}},
      {"string", {"(" + ip + ") -> string", "(" + cidr + ") -> string"}},
      // format
      {"format.named", {"(string) -> optional_type(" + fmt + ")"}},
      {"validate", {".(" + fmt + ", string) -> optional_type(list(string))"}},
      // DRA (list-type attributes)
      {"includes", {".(dyn, dyn) -> bool"}},
  };
  for (const char* named : {"dns1123Label", "dns1123Subdomain", "dns1035Label", "qualifiedName",
                            "dns1123LabelPrefix", "dns1123SubdomainPrefix", "dns1035LabelPrefix",
                            "labelValue", "uri", "uuid", "byte", "date", "datetime"}) {
    s.push_back({std::string("format.") + named, {"() -> " + fmt}});
  }
  return s;
}

using DeclMap = std::map<std::string, FunctionDecl, std::less<>>;

void AddAll(DeclMap* decls, const Signatures& sigs) {
  for (const auto& [name, list] : sigs) {
    auto decl = DeclareFunction(name, list);
    if (!decl.ok()) std::abort();  // the tables above are fixed: a typo is a programming error
    FunctionDecl& target = (*decls)[name];
    target.name = name;
    for (auto& o : decl->overloads) target.overloads.push_back(std::move(o));
  }
}

const DeclMap& Library(Declarations set) {
  static const DeclMap* cel_go = [] {
    auto* d = new DeclMap();
    AddAll(d, Standard());
    AddAll(d, OptionalTypes());
    AddAll(d, Strings(4));
    AddAll(d, Lists());
    AddAll(d, Sets());
    AddAll(d, Math());
    AddAll(d, Encoders());
    AddAll(d, TwoVarComprehensions());
    return d;
  }();
  static const DeclMap* kubernetes = [] {
    auto* d = new DeclMap();
    AddAll(d, Standard());
    AddAll(d, OptionalTypes());
    AddAll(d, Strings(2));
    AddAll(d, Lists());
    AddAll(d, Sets());
    AddAll(d, TwoVarComprehensions());
    AddAll(d, KubernetesLibraries());
    return d;
  }();
  return set == Declarations::kKubernetes ? *kubernetes : *cel_go;
}

}  // namespace

// ---- the checker --------------------------------------------------------------------------------

namespace {

using K = Type::Kind;
using Mapping = std::map<std::string, Type>;

// The type of the type value named `name` ("int" -> type(int)); false if `set` has no such type.
bool TypeIdentifier(std::string_view name, Declarations set, Type* out) {
  // The planner resolves the names (interpreter.cc's TypeNames); this gives each its type, with
  // dyn parameters for the parameterized ones.
  static const std::map<std::string, std::string, std::less<>> kParameterized = {
      {"list", "list(dyn)"},
      {"map", "map(dyn, dyn)"},
      {"optional_type", "optional_type(dyn)"},
  };
  const bool kubernetes_type = name.starts_with("kubernetes.") || name.starts_with("net.");
  if (kubernetes_type && set != Declarations::kKubernetes) return false;
  auto it = kParameterized.find(name);
  auto t = Type::Parse(it != kParameterized.end() ? std::string_view(it->second) : name);
  if (!t.ok()) return false;
  *out = Type::TypeOf(std::move(*t));
  return true;
}

bool IsDyn(const Type& t) { return t.kind == K::kDyn || t.kind == K::kAny; }
bool IsDynOrError(const Type& t) { return IsDyn(t) || t.kind == K::kError; }

bool IsLegacyNullable(const Type& t) {
  switch (t.kind) {
    case K::kNull:
    case K::kAny:
    case K::kDuration:
    case K::kTimestamp:
    case K::kObject:
    case K::kOpaque:
      return true;
    default:
      return false;
  }
}

bool Find(const Mapping& m, const Type& t, Type* out) {
  if (t.kind != K::kTypeParam) return false;
  auto it = m.find(t.name);
  if (it == m.end()) return false;
  *out = it->second;
  return true;
}

Type Substitute(const Mapping& m, const Type& t, bool params_to_dyn) {
  Type sub;
  if (Find(m, t, &sub)) return Substitute(m, sub, params_to_dyn);
  if (params_to_dyn && t.kind == K::kTypeParam) return Type::Dyn();
  if (t.params.empty()) return t;
  Type out = t;
  for (Type& p : out.params) p = Substitute(m, p, params_to_dyn);
  return out;
}

bool IsEqualOrLessSpecific(const Type& t1, const Type& t2) {
  if (IsDyn(t1) || t1.kind == K::kTypeParam) return true;
  if (IsDyn(t2) || t2.kind == K::kTypeParam) return false;
  // null joins a nullable type as that type.
  if (t2.kind == K::kNull) return IsLegacyNullable(t1);
  if (t1.kind != t2.kind) return false;
  switch (t1.kind) {
    case K::kOpaque:
    case K::kList:
    case K::kMap:
      if (t1.name != t2.name || t1.params.size() != t2.params.size()) return false;
      for (size_t i = 0; i < t1.params.size(); ++i) {
        if (!IsEqualOrLessSpecific(t1.params[i], t2.params[i])) return false;
      }
      return true;
    case K::kType:
      return true;
    default:
      return t1 == t2;
  }
}

Type MostGeneral(const Type& t1, const Type& t2) { return IsEqualOrLessSpecific(t1, t2) ? t1 : t2; }

bool NotReferencedIn(const Mapping& m, const Type& t, const Type& within) {
  if (t == within) return false;
  switch (within.kind) {
    case K::kTypeParam: {
      Type sub;
      if (!Find(m, within, &sub)) return true;
      return NotReferencedIn(m, t, sub);
    }
    case K::kOpaque:
    case K::kList:
    case K::kMap:
    case K::kType:
      for (const Type& p : within.params) {
        if (!NotReferencedIn(m, t, p)) return false;
      }
      return true;
    default:
      return true;
  }
}

bool InternalIsAssignable(Mapping& m, const Type& t1, const Type& t2);

// (valid, has_substitution)
std::pair<bool, bool> IsValidTypeSubstitution(Mapping& m, const Type& t1, const Type& t2) {
  if (t1 == t2) return {true, true};
  Type sub;
  if (Find(m, t2, &sub)) {
    if (t1 == sub) return {true, true};
    if (InternalIsAssignable(m, t1, sub)) {
      Type general = MostGeneral(t1, sub);
      if (NotReferencedIn(m, t2, general)) m[t2.name] = general;
      return {true, true};
    }
    return {false, true};
  }
  if (NotReferencedIn(m, t2, t1)) {
    m[t2.name] = t1;
    return {true, false};
  }
  return {false, false};
}

bool InternalIsAssignableList(Mapping& m, const std::vector<Type>& l1,
                              const std::vector<Type>& l2) {
  if (l1.size() != l2.size()) return false;
  for (size_t i = 0; i < l1.size(); ++i) {
    if (!InternalIsAssignable(m, l1[i], l2[i])) return false;
  }
  return true;
}

bool InternalIsAssignable(Mapping& m, const Type& t1, const Type& t2) {
  if (t2.kind == K::kTypeParam) {
    auto [valid, has_sub] = IsValidTypeSubstitution(m, t1, t2);
    if (valid) return true;
    if (has_sub) return false;
  }
  if (t1.kind == K::kTypeParam) return IsValidTypeSubstitution(m, t2, t1).first;
  if (IsDynOrError(t1) || IsDynOrError(t2)) return true;
  if (t1.kind == K::kNull) return IsLegacyNullable(t2);
  if (t2.kind == K::kNull) return IsLegacyNullable(t1);
  switch (t1.kind) {
    case K::kType:
      return t2.kind == K::kType;
    case K::kOpaque:
    case K::kList:
    case K::kMap:
      return t1.kind == t2.kind && t1.name == t2.name &&
             InternalIsAssignableList(m, t1.params, t2.params);
    default:
      return t1.kind == t2.kind && t1.name == t2.name;
  }
}

std::string FormatCall(const std::vector<Type>& args, bool member) {
  std::string out;
  size_t first = 0;
  if (member && !args.empty()) {
    out = args[0].ToString() + ".";
    first = 1;
  }
  out += "(";
  for (size_t i = first; i < args.size(); ++i) {
    if (i > first) out += ", ";
    out += args[i].ToString();
  }
  return out + ")";
}

class Checker {
 public:
  Checker(std::string_view source, const CheckInput& input)
      : source_(source), input_(input), decls_(Library(input.declarations)) {}

  Result<CheckResult> Run(const Expr& root) {
    Visit(root);
    if (!error_.empty()) return MakeError(error_);
    CheckResult result;
    for (auto& [node, t] : types_) result.types[node] = Substitute(mapping_, t, true);
    result.type = result.types[&root];
    if (input_.homogeneous_aggregate_literals) {
      CheckHomogeneous(root, result, false);
      if (!error_.empty()) return MakeError(error_);
    }
    if (input_.declarations == Declarations::kKubernetes) {
      ValidateLiterals(root);
      if (!error_.empty()) return MakeError(error_);
      ValidateFormatCalls(root, result);
      if (!error_.empty()) return MakeError(error_);
    }
    return result;
  }

 private:
  void Fail(int32_t position, const std::string& message) {
    if (error_.empty()) error_ = PositionString(source_, position) + ": " + message;
  }

  Type NewTypeVar() { return Type::Param("_var" + std::to_string(fresh_++)); }

  bool IsAssignable(const Type& t1, const Type& t2) {
    Mapping copy = mapping_;
    if (!InternalIsAssignable(copy, t1, t2)) return false;
    mapping_ = std::move(copy);
    return true;
  }

  bool IsAssignableList(const std::vector<Type>& l1, const std::vector<Type>& l2) {
    Mapping copy = mapping_;
    if (!InternalIsAssignableList(copy, l1, l2)) return false;
    mapping_ = std::move(copy);
    return true;
  }

  void Set(const Expr& e, Type t) { types_[&e] = std::move(t); }
  const Type& Get(const Expr& e) { return types_[&e]; }

  void Visit(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kConst:
        Set(e, ConstantType(e));
        return;
      case Expr::Kind::kIdent:
        Set(e, IdentType(e));
        return;
      case Expr::Kind::kPath:
        Visit(*e.target);
        Set(e, Get(*e.target));
        return;
      case Expr::Kind::kSelect: {
        Type t = SelectField(e, *e.target, e.name, false);
        if (e.test_only) t = Type::Bool();
        Set(e, Substitute(mapping_, t, false));
        return;
      }
      case Expr::Kind::kCall:
        VisitCall(e);
        return;
      case Expr::Kind::kList:
        VisitList(e);
        return;
      case Expr::Kind::kMap:
        VisitMap(e);
        return;
      case Expr::Kind::kStruct:
        for (const auto& a : e.args) Visit(*a);
        Fail(e.position, "undeclared reference to '" + e.name + "'");
        Set(e, Type::Error());
        return;
      case Expr::Kind::kComprehension:
        VisitComprehension(e);
        return;
    }
  }

  Type ConstantType(const Expr& e) {
    const Value& v = e.constant;
    switch (v.kind()) {
      case Kind::kNull:
        return Type::Simple(K::kNull);
      case Kind::kBool:
        return Type::Bool();
      case Kind::kInt:
        return Type::Int();
      case Kind::kUint:
        return Type::Simple(K::kUint);
      case Kind::kDouble:
        return Type::Simple(K::kDouble);
      case Kind::kString:
        return Type::Simple(K::kString);
      case Kind::kBytes:
        return Type::Simple(K::kBytes);
      case Kind::kDuration:
        return Type::Simple(K::kDuration);
      case Kind::kTimestamp:
        return Type::Simple(K::kTimestamp);
      case Kind::kType: {
        Type t;
        if (TypeIdentifier(v.str(), input_.declarations, &t)) return t;
        Fail(e.position, "undeclared reference to '" + std::string(v.str()) + "' (in container '" +
                             input_.container + "')");
        return Type::Error();
      }
      default:
        return Type::Dyn();
    }
  }

  Type IdentType(const Expr& e) {
    if (e.slot >= 0) {
      for (size_t i = locals_.size(); i-- > 0;) {
        if (locals_[i].first == e.name) return locals_[i].second;
      }
      return Type::Dyn();
    }
    if (e.global >= 0 && input_.variable_types &&
        e.global < static_cast<int>(input_.variable_types->size())) {
      return (*input_.variable_types)[e.global];
    }
    return Type::Dyn();
  }

  Type SelectField(const Expr& e, const Expr& operand, const std::string& field, bool optional) {
    Visit(operand);
    Type target = Substitute(mapping_, Get(operand), false);
    bool was_optional = false;
    if (target.is_optional()) {
      was_optional = true;
      target = target.params[0];
    }
    Type result = Type::Error();
    switch (target.kind) {
      case K::kMap:
        result = target.params[1];
        break;
      case K::kObject: {
        const std::unordered_map<std::string, Type>* fields = nullptr;
        if (input_.object_fields) {
          auto it = input_.object_fields->find(target.name);
          if (it != input_.object_fields->end()) fields = &it->second;
        }
        auto f = fields ? fields->find(field) : decltype(fields->find(field)){};
        if (fields && f != fields->end()) {
          result = f->second;
        } else {
          Fail(e.position, "undefined field '" + field + "'");
        }
        break;
      }
      case K::kTypeParam:
        IsAssignable(Type::Dyn(), target);
        result = Type::Dyn();
        break;
      default:
        if (!IsDynOrError(target)) {
          Fail(e.position, "type '" + target.ToString() + "' does not support field selection");
        }
        result = Type::Dyn();
        break;
    }
    if (was_optional || optional) return Type::Optional(result);
    return result;
  }

  std::string FunctionName(const Expr& e) const {
    if (e.function) return e.function->name;
    return e.name;
  }

  void VisitCall(const Expr& e) {
    const std::string name = FunctionName(e);
    if (name == "_?._") {
      // The field name is a string literal (the parser guarantees it).
      const Expr& field = *e.args[1];
      Type t = SelectField(e, *e.args[0], std::string(field.constant.str()), true);
      Set(e, Substitute(mapping_, t, false));
      return;
    }
    if (e.target) Visit(*e.target);
    for (const auto& a : e.args) Visit(*a);
    std::vector<Type> arg_types;
    if (e.target) arg_types.push_back(Get(*e.target));
    for (const auto& a : e.args) arg_types.push_back(Get(*a));
    if (name == "math.greatest" || name == "math.least") {
      if (LookupFunction(name)) {
        Set(e, MathExtreme(e, name, arg_types));
        return;
      }
    }
    const FunctionDecl* fn = LookupFunction(name);
    if (!fn) {
      Fail(e.position,
           "undeclared reference to '" + name + "' (in container '" + input_.container + "')");
      Set(e, Type::Error());
      return;
    }
    std::optional<Type> result;
    for (const OverloadDecl& o : fn->overloads) {
      if (o.member != (e.target != nullptr)) continue;
      std::vector<Type> params = o.params;
      Type ret = o.result;
      // Fresh type variables for this overload's type parameters.
      Mapping fresh;
      CollectParams(params, ret, &fresh);
      if (!fresh.empty()) {
        for (Type& p : params) p = Substitute(fresh, p, false);
        ret = Substitute(fresh, ret, false);
      }
      if (!IsAssignableList(arg_types, params)) continue;
      Type r = Substitute(mapping_, ret, false);
      if (!result) {
        result = r;
      } else if (!IsDyn(*result) && !(r == *result)) {
        result = Type::Dyn();
      }
    }
    if (!result) {
      for (Type& t : arg_types) t = Substitute(mapping_, t, true);
      Fail(e.position, "found no matching overload for '" + name + "' applied to '" +
                           FormatCall(arg_types, e.target != nullptr) + "'");
      Set(e, Type::Error());
      return;
    }
    Set(e, *result);
  }

  void CollectParams(const std::vector<Type>& params, const Type& ret, Mapping* fresh) {
    std::function<void(const Type&)> walk = [&](const Type& t) {
      if (t.kind == K::kTypeParam && !fresh->count(t.name)) (*fresh)[t.name] = NewTypeVar();
      for (const Type& p : t.params) walk(p);
    };
    for (const Type& p : params) walk(p);
    walk(ret);
  }

  const FunctionDecl* LookupFunction(const std::string& name) const {
    if (input_.extra_functions) {
      for (const FunctionDecl& f : *input_.extra_functions) {
        if (f.name == name) return &f;
      }
    }
    auto it = decls_.find(name);
    return it == decls_.end() ? nullptr : &it->second;
  }

  // math.greatest / math.least: one numeric argument or a list of numbers, or several numeric
  // arguments; the result is their common type, dyn when they differ.
  Type MathExtreme(const Expr& e, const std::string& name, std::vector<Type> args) {
    auto numeric = [](const Type& t) {
      return t.kind == K::kInt || t.kind == K::kUint || t.kind == K::kDouble || IsDyn(t) ||
             t.kind == K::kTypeParam;
    };
    for (Type& t : args) t = Substitute(mapping_, t, false);
    if (args.size() == 1 && args[0].kind == K::kList) args = {args[0].params[0]};
    bool ok = !args.empty();
    for (const Type& t : args) ok = ok && numeric(t);
    if (!ok) {
      for (Type& t : args) t = Substitute(mapping_, t, true);
      Fail(e.position, "found no matching overload for '" + name + "' applied to '" +
                           FormatCall(args, false) + "'");
      return Type::Error();
    }
    for (const Type& t : args) {
      if (!(t == args[0]) || t.kind == K::kTypeParam) return Type::Dyn();
    }
    return args[0];
  }

  Type JoinTypes(const Expr& e, const std::optional<Type>& previous, const Type& current) {
    if (!previous) return current;
    if (IsAssignable(*previous, current)) return MostGeneral(*previous, current);
    return Type::Dyn();
  }

  Type UnwrapOptionalEntry(const Expr& e, Type t) {
    if (t.is_optional()) return t.params[0];
    if (!IsDyn(t)) {
      Fail(e.position,
           "expected type '" + Type::Optional(t).ToString() + "' but found '" + t.ToString() + "'");
    }
    return t;
  }

  void VisitList(const Expr& e) {
    std::optional<Type> elems;
    for (size_t i = 0; i < e.args.size(); ++i) {
      Visit(*e.args[i]);
      Type t = Get(*e.args[i]);
      if (i < e.optional_entries.size() && e.optional_entries[i]) {
        t = UnwrapOptionalEntry(*e.args[i], Substitute(mapping_, t, false));
      }
      elems = JoinTypes(*e.args[i], elems, t);
    }
    Set(e, Type::List(elems ? *elems : NewTypeVar()));
  }

  void VisitMap(const Expr& e) {
    std::optional<Type> keys, values;
    for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
      Visit(*e.args[i]);
      keys = JoinTypes(*e.args[i], keys, Get(*e.args[i]));
      Visit(*e.args[i + 1]);
      Type v = Get(*e.args[i + 1]);
      if (i / 2 < e.optional_entries.size() && e.optional_entries[i / 2]) {
        v = UnwrapOptionalEntry(*e.args[i + 1], Substitute(mapping_, v, false));
      }
      values = JoinTypes(*e.args[i + 1], values, v);
    }
    if (!keys) {
      Type k = NewTypeVar();
      Type v = NewTypeVar();
      Set(e, Type::Map(k, v));
      return;
    }
    Set(e, Type::Map(*keys, *values));
  }

  void VisitComprehension(const Expr& e) {
    Visit(*e.iter_range);
    Visit(*e.accu_init);
    Type range = Substitute(mapping_, Get(*e.iter_range), false);
    Type accu = Get(*e.accu_init);
    const size_t depth = locals_.size();
    locals_.push_back({e.accu_var, accu});
    Type var, var2;
    const bool two = !e.iter_var2.empty();
    switch (range.kind) {
      case K::kList:
        var = range.params[0];
        if (two) {
          var2 = var;
          var = Type::Int();
        }
        break;
      case K::kMap:
        var = range.params[0];
        if (two) var2 = range.params[1];
        break;
      case K::kDyn:
      case K::kError:
      case K::kTypeParam:
        IsAssignable(Type::Dyn(), range);
        var = var2 = Type::Dyn();
        break;
      default:
        Fail(e.iter_range->position, "expression of type '" + range.ToString() +
                                         "' cannot be range of a comprehension (must be list, "
                                         "map, or dynamic)");
        var = var2 = Type::Error();
        break;
    }
    locals_.push_back({e.iter_var, var});
    if (two) locals_.push_back({e.iter_var2, var2});
    Visit(*e.loop_condition);
    AssertType(*e.loop_condition, Type::Bool());
    Visit(*e.loop_step);
    AssertType(*e.loop_step, accu);
    locals_.resize(depth + 1);
    Visit(*e.result);
    locals_.resize(depth);
    Set(e, Substitute(mapping_, Get(*e.result), false));
  }

  void AssertType(const Expr& e, const Type& t) {
    if (!IsAssignable(t, Get(e))) {
      Fail(e.position, "expected type '" + Substitute(mapping_, t, true).ToString() +
                           "' but found '" + Substitute(mapping_, Get(e), true).ToString() + "'");
    }
  }

  // Kubernetes' ValidateHomogeneousAggregateLiterals: the elements (keys, values) of a list or
  // map literal must have equivalent types, except inside the arguments of `format`.
  void CheckHomogeneous(const Expr& e, const CheckResult& r, bool exempt) {
    if (!exempt && (e.kind == Expr::Kind::kList || e.kind == Expr::Kind::kMap)) {
      const size_t step = e.kind == Expr::Kind::kMap ? 2 : 1;
      for (size_t offset = 0; offset < step; ++offset) {
        std::optional<Type> first;
        for (size_t i = offset; i < e.args.size(); i += step) {
          Type t = r.types.at(e.args[i].get());
          const size_t entry = i / step;
          if (entry < e.optional_entries.size() && e.optional_entries[entry] &&
              (step == 1 || offset == 1) && t.is_optional()) {
            t = t.params[0];
          }
          if (!first) {
            first = t;
          } else if (!(*first == t)) {
            Fail(e.args[i]->position,
                 "expected type '" + first->ToString() + "' but found '" + t.ToString() + "'");
            return;
          }
        }
      }
    }
    const bool exempt_args = exempt || (e.kind == Expr::Kind::kCall && FunctionName(e) == "format");
    for (const Expr* child : {e.target.get(), e.iter_range.get(), e.accu_init.get(),
                              e.loop_condition.get(), e.loop_step.get(), e.result.get()}) {
      if (child && e.kind != Expr::Kind::kPath) CheckHomogeneous(*child, r, exempt);
    }
    if (e.kind == Expr::Kind::kPath) CheckHomogeneous(*e.target, r, exempt);
    for (const auto& a : e.args) CheckHomogeneous(*a, r, exempt_args);
  }

  // Kubernetes' ASTValidators (1.29 on): cel-go's ValidateDurationLiterals,
  // ValidateTimestampLiterals and ValidateRegexLiterals evaluate the first argument (the receiver
  // excluded) of every duration(), timestamp() and matches() call when it is a literal, and
  // reject the expression if that fails. For the global matches(string, pattern) that is the
  // string, not the pattern, as in cel-go.
  void ValidateLiterals(const Expr& e) {
    if (e.kind == Expr::Kind::kCall && !e.args.empty() && e.args[0]->kind == Expr::Kind::kConst) {
      const std::string name = FunctionName(e);
      const Value& literal = e.args[0]->constant;
      Value result;
      CallContext context;
      if (name == "duration" || name == "timestamp") {
        if (const FunctionImpl* fn = FindFunction(name, false))
          result = fn->fn(&literal, 1, context);
      } else if (name == "matches" && literal.kind() == Kind::kString) {
        const Value operands[] = {Value::String(""), literal};
        if (const FunctionImpl* fn = FindFunction(name, true))
          result = fn->fn(operands, 2, context);
      }
      if (result.is_error()) return Fail(e.args[0]->position, "invalid " + name + " argument");
    }
    for (const Expr* child : {e.target.get(), e.iter_range.get(), e.accu_init.get(),
                              e.loop_condition.get(), e.loop_step.get(), e.result.get()}) {
      if (child && (e.kind != Expr::Kind::kPath || child == e.target.get()))
        ValidateLiterals(*child);
    }
    for (const auto& a : e.args) ValidateLiterals(*a);
  }

  // ext.Strings' stringFormatValidator (strings versions 1 to 3, Kubernetes' v2): a literal
  // format string applied to a list literal is checked at compile time, every clause against the
  // type of its argument, with the messages format() gives at run time.
  void ValidateFormatCalls(const Expr& e, const CheckResult& r) {
    if (e.kind == Expr::Kind::kCall && e.target && FunctionName(e) == "format" &&
        e.args.size() == 1 && e.target->kind == Expr::Kind::kConst &&
        e.target->constant.kind() == Kind::kString && e.args[0]->kind == Expr::Kind::kList) {
      ValidateFormat(e, r);
    }
    for (const Expr* child : {e.target.get(), e.iter_range.get(), e.accu_init.get(),
                              e.loop_condition.get(), e.loop_step.get(), e.result.get()}) {
      if (child && (e.kind != Expr::Kind::kPath || child == e.target.get())) {
        ValidateFormatCalls(*child, r);
      }
    }
    for (const auto& a : e.args) ValidateFormatCalls(*a, r);
  }

  // cel-go's Type.TypeName(): the name without type parameters.
  static std::string TypeName(const Type& t) {
    switch (t.kind) {
      case K::kList:
        return "list";
      case K::kMap:
        return "map";
      case K::kType:
        return "type";
      case K::kOpaque:
        return t.name;
      default:
        return t.ToString();
    }
  }

  static bool KindOneOf(const Type& t, std::initializer_list<K> kinds) {
    if (t.kind == K::kDyn) return true;
    for (K k : kinds) {
      if (t.kind == k) return true;
    }
    return false;
  }

  // A %s argument: printable, and so are the elements of a list or map literal. Returns the
  // offending expression, or nullptr.
  const Expr* UnprintableArgument(const Expr& arg, const CheckResult& r) {
    if (!KindOneOf(r.types.at(&arg),
                   {K::kList, K::kMap, K::kInt, K::kUint, K::kDouble, K::kBool, K::kString,
                    K::kTimestamp, K::kBytes, K::kDuration, K::kType, K::kNull})) {
      return &arg;
    }
    if (arg.kind == Expr::Kind::kList || arg.kind == Expr::Kind::kMap) {
      for (const auto& element : arg.args) {
        if (const Expr* bad = UnprintableArgument(*element, r)) return bad;
      }
    }
    return nullptr;
  }

  void ValidateFormat(const Expr& e, const CheckResult& r) {
    const std::string format(e.target->constant.str());
    const auto& args = e.args[0]->args;
    size_t requested = 0;
    for (size_t i = 0; i < format.size();) {
      if (format[i] != '%') {
        ++i;
        continue;
      }
      if (i + 1 < format.size() && format[i + 1] == '%') {
        i += 2;
        continue;
      }
      const size_t index = requested++;
      if (i + 1 >= format.size()) return Fail(e.position, "unexpected end of string");
      if (index >= args.size()) {
        return Fail(e.position, "index " + std::to_string(index) + " out of range");
      }
      size_t j = i + 1;
      if (format[j] == '.') {
        const std::string clause =
            "could not parse formatting clause: error while parsing precision: ";
        const size_t digits = ++j;
        while (j < format.size() && format[j] >= '0' && format[j] <= '9') ++j;
        if (j >= format.size()) {
          return Fail(e.position, clause + "could not find end of precision specifier");
        }
        const std::string precision = format.substr(digits, j - digits);
        if (precision.empty() || !FitsInt64(precision)) {
          return Fail(e.position,
                      clause +
                          "error while converting precision to integer: strconv.Atoi: "
                          "parsing \"" +
                          precision +
                          "\": " + (precision.empty() ? "invalid syntax" : "value out of range"));
        }
      }
      const unsigned char verb = format[j];
      const Expr& arg = *args[index];
      const Type& type = r.types.at(&arg);
      const Expr* bad = nullptr;
      std::string message;
      switch (verb) {
        case 's':
          bad = UnprintableArgument(arg, r);
          message =
              "string clause can only be used on strings, bools, bytes, ints, doubles, maps, "
              "lists, types, durations, and timestamps, was given ";
          break;
        case 'd':
          if (!KindOneOf(type, {K::kInt, K::kUint})) bad = &arg;
          message = "decimal clause can only be used on integers, was given ";
          break;
        case 'f':
          if (!KindOneOf(type, {K::kDouble, K::kString})) bad = &arg;
          message = "fixed-point clause can only be used on doubles, was given ";
          break;
        case 'e':
          if (!KindOneOf(type, {K::kDouble, K::kString})) bad = &arg;
          message = "scientific clause can only be used on doubles, was given ";
          break;
        case 'b':
          if (!KindOneOf(type, {K::kInt, K::kUint, K::kBool})) bad = &arg;
          message = "only integers and bools can be formatted as binary, was given ";
          break;
        case 'x':
        case 'X':
          if (!KindOneOf(type, {K::kInt, K::kUint, K::kString, K::kBytes})) bad = &arg;
          message = "only integers, byte buffers, and strings can be formatted as hex, was given ";
          break;
        case 'o':
          if (!KindOneOf(type, {K::kInt, K::kUint})) bad = &arg;
          message = "octal clause can only be used on integers, was given ";
          break;
        default: {
          // Go prints the byte as the rune of that value.
          std::string shown;
          AppendUtf8(shown, verb);
          return Fail(e.position,
                      "could not parse formatting clause: unrecognized formatting clause \"" +
                          shown + "\"");
        }
      }
      if (bad) {
        return Fail(bad->position,
                    "error during formatting: " + message + TypeName(r.types.at(bad)));
      }
      i = j + 1;
    }
    if (args.size() > requested) {
      Fail(e.position, "too many arguments supplied to string.format (expected " +
                           std::to_string(requested) + ", got " + std::to_string(args.size()) +
                           ")");
    }
  }

  static bool FitsInt64(const std::string& digits) {
    const std::string max = "9223372036854775807";
    const size_t first = digits.find_first_not_of('0');
    if (first == std::string::npos) return true;
    const std::string significant = digits.substr(first);
    return significant.size() < max.size() ||
           (significant.size() == max.size() && significant <= max);
  }

  std::string_view source_;
  const CheckInput& input_;
  const DeclMap& decls_;
  Mapping mapping_;
  int fresh_ = 0;
  std::unordered_map<const Expr*, Type> types_;
  std::vector<std::pair<std::string, Type>> locals_;
  std::string error_;
};

}  // namespace

bool IsDeclared(std::string_view name, Declarations set) {
  return Library(set).find(name) != Library(set).end();
}

Result<CheckResult> Check(const Expr& root, std::string_view source, const CheckInput& input) {
  return Checker(source, input).Run(root);
}

}  // namespace migdra::cel
