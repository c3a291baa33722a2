// Runs the CEL conformance suite (cel-spec v0.25.1 via @bufbuild/cel-spec, dumped to JSON by
// dump_suite.js) against migdra's CEL implementation.
//
// Prints passed/failed/skipped per section and every failing case by name. Cases that need
// protobuf messages (TestAllTypes, wrappers, Any, enums, extensions) are skipped with the reason:
// migdra's CEL has no protobuf message support, which DRA selectors never use.
//
// Exit status 0 only when every case that runs passes (type deductions included), in every
// section.
//
// Usage: cel_conformance_runner SUITE.json [--verbose]
//        cel_conformance_runner --differential RESULTS.json
// The second form compares migdra's results with those of the reference evaluator
// @bufbuild/cel (written by differential.js) and fails on any disagreement; both evaluate
// without type checking (the first form checks every case that does not disable it, and
// compares deduced types with the suite's).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cel/format.h"
#include "cel/interpreter.h"

namespace migdra::cel {
namespace {

using nlohmann::json;

// Every case that runs must pass: the only skips are the protobuf-message cases.
constexpr double kOverallTarget = 1.0;

// Why a case cannot run here, or empty.
std::string SkipReason(const json& test) {
  static const std::regex kProto(
      R"(messageType|objectValue|enumValue|TestAllTypes|NestedTestAllTypes|google\.protobuf\.[A-Z]|conformance\.proto|proto\.(hasExt|getExt)|GlobalEnum|"container": ?"google\.protobuf"|\b(Int32|UInt32|Int64|UInt64|Float|Double|Bool|String|Bytes|Null)Value\b)");
  const std::string text = test.dump();
  if (std::regex_search(text, kProto)) return "needs protobuf messages";
  return "";
}

std::string Base64Decode(const std::string& in) {
  auto decode = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    int v = decode(c);
    if (v < 0) continue;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

double JsonDouble(const json& j) {
  if (j.is_string()) {
    std::string s = j.get<std::string>();
    if (s == "NaN") return std::nan("");
    if (s == "Infinity") return INFINITY;
    if (s == "-Infinity") return -INFINITY;
    return std::stod(s);
  }
  return j.get<double>();
}

// A cel.expr.Value in proto3 JSON form.
Result<Value> FromJson(const json& v) {
  if (v.contains("nullValue")) return Value::Null();
  if (v.contains("boolValue")) return Value::Bool(v["boolValue"].get<bool>());
  if (v.contains("int64Value")) {
    const json& i = v["int64Value"];
    return Value::Int(i.is_string() ? std::stoll(i.get<std::string>()) : i.get<int64_t>());
  }
  if (v.contains("uint64Value")) {
    const json& u = v["uint64Value"];
    return Value::Uint(u.is_string() ? std::stoull(u.get<std::string>()) : u.get<uint64_t>());
  }
  if (v.contains("doubleValue")) return Value::Double(JsonDouble(v["doubleValue"]));
  if (v.contains("stringValue")) return Value::String(v["stringValue"].get<std::string>());
  if (v.contains("bytesValue"))
    return Value::Bytes(Base64Decode(v["bytesValue"].get<std::string>()));
  if (v.contains("listValue")) {
    std::vector<Value> elems;
    if (v["listValue"].contains("values")) {
      for (const json& e : v["listValue"]["values"]) {
        MIGDRA_ASSIGN_OR_RETURN(Value ev, FromJson(e));
        elems.push_back(std::move(ev));
      }
    }
    return Value::List(std::move(elems));
  }
  if (v.contains("mapValue")) {
    auto map = std::make_shared<StandardMap>();
    if (v["mapValue"].contains("entries")) {
      for (const json& e : v["mapValue"]["entries"]) {
        MIGDRA_ASSIGN_OR_RETURN(Value k, FromJson(e["key"]));
        MIGDRA_ASSIGN_OR_RETURN(Value val, FromJson(e["value"]));
        map->Insert(std::move(k), std::move(val));
      }
    }
    return Value::Map(std::move(map));
  }
  if (v.contains("typeValue")) {
    // Type values compare by name; keep the name alive for the process.
    static std::set<std::string> names;
    return Value::Type(*names.insert(v["typeValue"].get<std::string>()).first);
  }
  return MakeError("unsupported value " + v.dump());
}

// Exact equality: same kinds all the way down (conformance expects 1 and 1u to differ).
bool SameValue(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kDouble: {
      double x = a.double_value(), y = b.double_value();
      if (std::isnan(x) && std::isnan(y)) return true;
      return x == y;
    }
    case Kind::kList: {
      const auto& x = a.list().elements;
      const auto& y = b.list().elements;
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!SameValue(x[i], y[i])) return false;
      }
      return true;
    }
    case Kind::kMap: {
      if (a.map().Size() != b.map().Size()) return false;
      std::vector<Value> keys;
      a.map().Keys(&keys);
      for (const Value& k : keys) {
        Value x, y;
        if (!a.map().Find(k, &x) || !b.map().Find(k, &y) || !SameValue(x, y)) return false;
      }
      return true;
    }
    default:
      return ValuesEqual(a, b);
  }
}

struct Outcome {
  enum { kPass, kFail, kSkip } status;
  std::string reason;
};

// A cel.expr.Type in proto3 JSON form.
Result<Type> TypeFromJson(const json& t) {
  if (t.contains("primitive")) {
    static const std::map<std::string, Type::Kind> kPrimitives = {
        {"BOOL", Type::Kind::kBool},     {"INT64", Type::Kind::kInt},
        {"UINT64", Type::Kind::kUint},   {"DOUBLE", Type::Kind::kDouble},
        {"STRING", Type::Kind::kString}, {"BYTES", Type::Kind::kBytes}};
    auto it = kPrimitives.find(t["primitive"].get<std::string>());
    if (it == kPrimitives.end()) return MakeError("unsupported type " + t.dump());
    return Type::Simple(it->second);
  }
  if (t.contains("wellKnown")) {
    const std::string w = t["wellKnown"];
    if (w == "DURATION") return Type::Simple(Type::Kind::kDuration);
    if (w == "TIMESTAMP") return Type::Simple(Type::Kind::kTimestamp);
    if (w == "ANY") return Type::Simple(Type::Kind::kAny);
    return MakeError("unsupported type " + t.dump());
  }
  if (t.contains("dyn")) return Type::Dyn();
  if (t.contains("null")) return Type::Simple(Type::Kind::kNull);
  if (t.contains("typeParam")) return Type::Param(t["typeParam"].get<std::string>());
  if (t.contains("listType")) {
    MIGDRA_ASSIGN_OR_RETURN(Type e, TypeFromJson(t["listType"]["elemType"]));
    return Type::List(std::move(e));
  }
  if (t.contains("mapType")) {
    MIGDRA_ASSIGN_OR_RETURN(Type k, TypeFromJson(t["mapType"]["keyType"]));
    MIGDRA_ASSIGN_OR_RETURN(Type v, TypeFromJson(t["mapType"]["valueType"]));
    return Type::Map(std::move(k), std::move(v));
  }
  if (t.contains("type")) {
    if (t["type"].empty()) return Type{Type::Kind::kType, {}, {}};
    MIGDRA_ASSIGN_OR_RETURN(Type inner, TypeFromJson(t["type"]));
    return Type::TypeOf(std::move(inner));
  }
  if (t.contains("abstractType")) {
    std::vector<Type> params;
    if (t["abstractType"].contains("parameterTypes")) {
      for (const json& p : t["abstractType"]["parameterTypes"]) {
        MIGDRA_ASSIGN_OR_RETURN(Type pt, TypeFromJson(p));
        params.push_back(std::move(pt));
      }
    }
    return Type::Opaque(t["abstractType"]["name"].get<std::string>(), std::move(params));
  }
  return MakeError("unsupported type " + t.dump());
}

Outcome RunCase(const json& test) {
  if (std::string reason = SkipReason(test); !reason.empty()) return {Outcome::kSkip, reason};
  Env env;
  env.check = !test.value("disableCheck", false);
  env.enable_macros = !test.value("disableMacros", false);
  env.container = test.value("container", "");
  std::map<std::string, Value> bound;
  if (test.contains("typeEnv")) {
    for (const json& decl : test["typeEnv"]) {
      const std::string name = decl["name"];
      if (decl.contains("ident")) {
        env.variables.push_back(name);
        auto type = TypeFromJson(decl["ident"]["type"]);
        if (!type.ok()) return {Outcome::kSkip, type.error().message};
        env.variable_types.push_back(*type);
      } else if (decl.contains("function")) {
        FunctionDecl fn;
        fn.name = name;
        for (const json& o : decl["function"]["overloads"]) {
          OverloadDecl overload;
          overload.member = o.value("isInstanceFunction", false);
          for (const json& p : o["params"]) {
            auto type = TypeFromJson(p);
            if (!type.ok()) return {Outcome::kSkip, type.error().message};
            overload.params.push_back(*type);
          }
          auto result = TypeFromJson(o["resultType"]);
          if (!result.ok()) return {Outcome::kSkip, result.error().message};
          overload.result = *result;
          fn.overloads.push_back(std::move(overload));
        }
        env.functions.push_back(std::move(fn));
      }
    }
  }
  if (test.contains("bindings")) {
    for (const auto& [name, binding] : test["bindings"].items()) {
      if (!binding.contains("value")) return {Outcome::kSkip, "unsupported binding"};
      auto v = FromJson(binding["value"]);
      if (!v.ok()) return {Outcome::kSkip, v.error().message};
      bound[name] = *v;
      bool declared = false;
      for (const auto& d : env.variables) declared |= d == name;
      if (!declared) {
        env.variables.push_back(name);
        env.variable_types.resize(env.variables.size(), Type::Dyn());
      }
    }
  }
  const bool expect_error = test.contains("evalError") || test.contains("anyEvalErrors");
  auto program = Program::Compile(test["expr"].get<std::string>(), env);
  if (!program.ok()) {
    if (expect_error) return {Outcome::kPass, ""};
    return {Outcome::kFail, "compile error: " + program.error().message};
  }
  if (test.contains("typedResult") && test["typedResult"].contains("deducedType")) {
    auto want = TypeFromJson(test["typedResult"]["deducedType"]);
    if (!want.ok()) return {Outcome::kSkip, want.error().message};
    if (!((*program)->type() == *want)) {
      return {Outcome::kFail,
              "deduced type " + (*program)->type().ToString() + ", want " + want->ToString()};
    }
  }
  if (test.value("checkOnly", false)) return {Outcome::kPass, ""};
  std::vector<std::pair<bool, Value>> values;
  for (const std::string& name : env.variables) {
    auto it = bound.find(name);
    values.emplace_back(it != bound.end(), it != bound.end() ? it->second : Value());
  }
  VectorActivation activation(std::move(values));
  Value result = (*program)->Evaluate(activation);
  if (expect_error) {
    if (result.is_error()) return {Outcome::kPass, ""};
    return {Outcome::kFail, "expected an error, got " + DebugString(result)};
  }
  json expected_json;
  if (test.contains("value")) {
    expected_json = test["value"];
  } else if (test.contains("typedResult") && test["typedResult"].contains("result")) {
    expected_json = test["typedResult"]["result"];
  } else {
    expected_json = json{{"boolValue", true}};  // the suite's default expectation
  }
  auto expected = FromJson(expected_json);
  if (!expected.ok()) return {Outcome::kSkip, expected.error().message};
  if (result.is_error()) return {Outcome::kFail, "error: " + ErrorMessage(**program, result)};
  if (!SameValue(result, *expected)) {
    return {Outcome::kFail, "got " + DebugString(result) + ", want " + DebugString(*expected)};
  }
  return {Outcome::kPass, ""};
}

struct Tally {
  int passed = 0, failed = 0, skipped = 0;
};

int Run(const std::string& path, bool verbose) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "cannot read " << path
              << " (run tests/cel-conformance/dump_suite.js; scripts/setup.sh installs "
              << "its npm dependencies)\n";
    return 2;
  }
  json suite = json::parse(in);
  std::map<std::string, Tally> tallies;
  std::vector<std::string> failures;
  std::map<std::string, int> skip_reasons;
  Tally total;
  for (const json& file : suite["suites"]) {
    const std::string file_name = file["name"];
    Tally& t = tallies[file_name];
    for (const json& section : file["suites"]) {
      for (const json& test : section["tests"]) {
        Outcome o = RunCase(test);
        const std::string name = file_name + "/" + section["name"].get<std::string>() + "/" +
                                 test["name"].get<std::string>();
        switch (o.status) {
          case Outcome::kPass:
            ++t.passed;
            ++total.passed;
            break;
          case Outcome::kFail:
            ++t.failed;
            ++total.failed;
            failures.push_back(name + ": " + test["expr"].get<std::string>() + " -> " + o.reason);
            break;
          case Outcome::kSkip:
            ++t.skipped;
            ++total.skipped;
            ++skip_reasons[o.reason];
            if (verbose) std::cout << "SKIP " << name << ": " << o.reason << "\n";
            break;
        }
      }
    }
  }
  std::printf("CEL conformance (@bufbuild/cel-spec %s)\n", suite.value("version", "?").c_str());
  std::printf("%-16s %7s %7s %7s\n", "section", "passed", "failed", "skipped");
  bool ok = true;
  std::vector<std::string> missed;
  for (const auto& [name, t] : tallies) {
    const bool required = t.passed + t.failed > 0;
    std::printf("%-16s %7d %7d %7d%s\n", name.c_str(), t.passed, t.failed, t.skipped,
                required ? "  (target 100%)" : "");
    if (required && t.failed > 0) {
      ok = false;
      missed.push_back(name + " is below 100%");
    }
  }
  const int run = total.passed + total.failed;
  const double rate = run ? static_cast<double>(total.passed) / run : 0;
  std::printf("%-16s %7d %7d %7d  (%.2f%% of %d run cases pass; target %.0f%%)\n", "TOTAL",
              total.passed, total.failed, total.skipped, rate * 100, run, kOverallTarget * 100);
  for (const auto& [reason, count] : skip_reasons)
    std::printf("skipped %d: %s\n", count, reason.c_str());
  if (rate < kOverallTarget) {
    ok = false;
    missed.push_back("overall pass rate is below target");
  }
  if (!failures.empty()) {
    std::printf("\nFailing cases (%zu):\n", failures.size());
    for (const std::string& f : failures) std::printf("  FAIL %s\n", f.c_str());
  }
  for (const std::string& m : missed) std::printf("TARGET MISSED: %s\n", m.c_str());
  std::printf("%s\n", ok ? "conformance targets met" : "conformance targets NOT met");
  return ok ? 0 : 1;
}

int RunDifferential(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "cannot read " << path << " (written by tests/cel-conformance/differential.js)\n";
    return 2;
  }
  json cases = json::parse(in);
  int agree = 0;
  std::vector<std::string> disagreements;
  for (const json& c : cases) {
    const std::string expr = c["expr"];
    // The reference evaluates without a type checker: compare evaluation alone.
    Env unchecked;
    unchecked.check = false;
    auto program = Program::Compile(expr, unchecked);
    std::string ours;
    bool ours_error = false;
    Value result;
    if (!program.ok()) {
      ours_error = true;
      ours = program.error().message;
    } else {
      result = (*program)->Evaluate(VectorActivation({}));
      ours_error = result.is_error();
      ours = ours_error ? ErrorMessage(**program, result) : DebugString(result);
    }
    bool same;
    std::string reference;
    if (c.contains("error")) {
      same = ours_error;
      reference = "error: " + c["error"].get<std::string>();
    } else {
      auto expected = FromJson(c["value"]);
      if (!expected.ok()) return 2;
      reference = DebugString(*expected);
      same = !ours_error && SameValue(result, *expected);
    }
    if (same) {
      ++agree;
    } else {
      disagreements.push_back(expr + ": migdra " + (ours_error ? "error: " : "") + ours +
                              ", @bufbuild/cel " + reference);
    }
  }
  std::printf("differential vs @bufbuild/cel: %d of %zu expressions agree\n", agree, cases.size());
  for (const std::string& d : disagreements) std::printf("  DIFFER %s\n", d.c_str());
  return disagreements.empty() ? 0 : 1;
}

}  // namespace
}  // namespace migdra::cel

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: cel_conformance_runner SUITE.json [--verbose]\n";
    return 2;
  }
  bool verbose = argc > 2 && std::string(argv[2]) == "--verbose";
  try {
    if (std::string(argv[1]) == "--differential" && argc > 2)
      return migdra::cel::RunDifferential(argv[2]);
    return migdra::cel::Run(argv[1], verbose);
  } catch (const std::exception& e) {
    std::cerr << "conformance runner: " << e.what() << "\n";
    return 2;
  }
}
