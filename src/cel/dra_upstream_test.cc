// The cases of Kubernetes' DRA CEL tests (staging/src/k8s.io/dynamic-resource-allocation/cel/
// compile_test.go, TestCEL), ported as data: each expression's compile error, worst-case cost
// estimate (which upstream pins), and match result or evaluation error against its device.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "cel/cel.h"
#include "cel/test_devices.h"

namespace migdra::cel {
namespace {

using testing::Bools;
using testing::Ints;
using testing::Strings;
using testing::Versions;
constexpr auto B = testing::Bool;
constexpr auto I = testing::Int;
constexpr auto S = testing::Str;
constexpr auto V = testing::Version;

struct UpstreamCase {
  const char* name;
  const char* expression;
  const char* driver;
  std::map<std::string, api::DeviceAttribute> attributes;
  std::map<std::string, std::string> capacity;
  const char* compile_error;  // substring, or nullptr
  const char* match_error;    // substring, or nullptr
  bool match;
  uint64_t cost;
};

std::vector<UpstreamCase> Cases() {
  const char* kAll =
      "\ndevice.capacity[\"dra.example.com\"].quantity.isGreaterThan(quantity(\"1Ki\")) &&\n"
      "device.attributes[\"dra.example.com\"].bool &&\n"
      "device.attributes[\"dra.example.com\"].int > 0 &&\n"
      "device.attributes[\"dra.example.com\"].string == \"fish\" &&\n"
      "device.attributes[\"dra.example.com\"].version.isGreaterThan(semver(\"0.0.1\")) &&\n"
      "device.capacity[\"dra.example.com\"][\"quantity\"].isGreaterThan(quantity(\"1Ki\")) &&\n"
      "device.attributes[\"dra.example.com\"][\"bool\"] &&\n"
      "device.attributes[\"dra.example.com\"][\"int\"] > 0 &&\n"
      "device.attributes[\"dra.example.com\"][\"string\"] == \"fish\" &&\n"
      "device.attributes[\"dra.example.com\"][\"version\"].isGreaterThan(semver(\"0.0.1\"))\n";
  return {
      {"true", "true", "", {}, {}, nullptr, nullptr, true, 0},
      {"false", "false", "", {}, {}, nullptr, nullptr, false, 0},
      {"syntax-error", "?!", "", {}, {}, "Syntax error", nullptr, false, 0},
      {"type-error",
       "1",
       "",
       {},
       {},
       "must evaluate to bool or the unknown type, not int",
       nullptr,
       false,
       0},
      {"runtime-error-lookup-identifier",
       R"(device.attributes["no-such-domain"].noSuchAttr.isGreaterThan(quantity("0")))",
       "",
       {},
       {},
       nullptr,
       "no such key: noSuchAttr",
       false,
       6},
      {"runtime-error-lookup-map",
       R"(device.attributes["no-such-domain"]["noSuchAttr"].isGreaterThan(quantity("0")))",
       "",
       {},
       {},
       nullptr,
       "no such key: noSuchAttr",
       false,
       6},
      {"domain-check-negative",
       R"("no-such-domain" in device.attributes)",
       "",
       {},
       {},
       nullptr,
       nullptr,
       false,
       3},
      {"domain-check-positive",
       R"("dra.example.com" in device.attributes)",
       "",
       {{"dra.example.com/something", B(true)}},
       {},
       nullptr,
       nullptr,
       true,
       3},
      {"empty-driver-name", R"(device.driver == "")", "", {}, {}, nullptr, nullptr, true, 2},
      {"real-driver-name",
       R"(device.driver == "dra.example.com")",
       "dra.example.com",
       {},
       {},
       nullptr,
       nullptr,
       true,
       4},
      {"driver-name-qualifier",
       R"(device.attributes["dra.example.com"].name)",
       "dra.example.com",
       {{"name", B(true)}},
       {},
       nullptr,
       nullptr,
       true,
       4},
      {"driver-name-qualifier-map-lookup",
       R"(device.attributes["dra.example.com"]["name"])",
       "dra.example.com",
       {{"name", B(true)}},
       {},
       nullptr,
       nullptr,
       true,
       4},
      {"bind",
       R"(cel.bind(dra, device.attributes["dra.example.com"], dra.name))",
       "dra.example.com",
       {{"name", B(true)}},
       {},
       nullptr,
       nullptr,
       true,
       15},
      {"qualified-attribute-name",
       R"(device.attributes["other.example.com"].name)",
       "dra.example.com",
       {{"other.example.com/name", B(true)}},
       {},
       nullptr,
       nullptr,
       true,
       4},
      {"bool",
       R"(device.attributes["dra.example.com"].name)",
       "dra.example.com",
       {{"name", B(true)}},
       {},
       nullptr,
       nullptr,
       true,
       4},
      {"int",
       R"(device.attributes["dra.example.com"].name > 0)",
       "dra.example.com",
       {{"name", I(1)}},
       {},
       nullptr,
       nullptr,
       true,
       5},
      {"string",
       R"(device.attributes["dra.example.com"].name == "fish")",
       "dra.example.com",
       {{"name", S("fish")}},
       {},
       nullptr,
       nullptr,
       true,
       5},
      {"version",
       R"(device.attributes["dra.example.com"].name.isGreaterThan(semver("0.0.1")))",
       "dra.example.com",
       {{"name", V("1.0.0")}},
       {},
       nullptr,
       nullptr,
       true,
       6},
      {"version_v",
       R"(device.attributes["dra.example.com"].name.isGreaterThan(semver("v0.0.1", true)) && isSemver("v1.0.0", true))",
       "dra.example.com",
       {{"name", V("1.0.0")}},
       {},
       nullptr,
       nullptr,
       true,
       7},
      {"quantity",
       R"(device.capacity["dra.example.com"].name.isGreaterThan(quantity("1Ki")))",
       "dra.example.com",
       {},
       {{"name", "1Mi"}},
       nullptr,
       nullptr,
       true,
       6},
      {"check-positive",
       R"("name" in device.capacity["dra.example.com"] && device.capacity["dra.example.com"].name.isGreaterThan(quantity("1Ki")))",
       "dra.example.com",
       {},
       {{"name", "1Mi"}},
       nullptr,
       nullptr,
       true,
       10},
      {"check-negative",
       R"(!("name" in device.capacity["dra.example.com"]) || device.capacity["dra.example.com"].name.isGreaterThan(quantity("1Ki")))",
       "",
       {},
       {},
       nullptr,
       nullptr,
       true,
       11},
      {"all",
       kAll,
       "dra.example.com",
       {{"bool", B(true)}, {"int", I(1)}, {"string", S("fish")}, {"version", V("1.0.0")}},
       {{"quantity", "1Mi"}},
       nullptr,
       nullptr,
       true,
       52},
      {"many",
       R"(device.attributes["dra.example.com"].a && device.attributes["dra.example.com"].b && device.attributes["dra.example.com"].c)",
       "dra.example.com",
       {{"a", B(true)}, {"b", B(true)}, {"c", B(true)}},
       {},
       nullptr,
       nullptr,
       true,
       12},
      {"check_attribute_domains",
       R"(device.attributes.exists_one(x, x == "dra.example.com"))",
       "dra.example.com",
       {{"services", S("some_example_value")}},
       {},
       nullptr,
       nullptr,
       true,
       164},
      {"check_attribute_ids",
       R"(device.attributes["dra.example.com"].exists_one(x, x == "services"))",
       "dra.example.com",
       {{"services", S("some_example_value")}},
       {},
       nullptr,
       nullptr,
       true,
       133},
      {"split_attribute",
       R"(device.attributes["dra.example.com"].services.split("example").size() >= 2)",
       "dra.example.com",
       {{"services", S("some_example_value")}},
       {},
       nullptr,
       nullptr,
       true,
       19},
      {"regexp_attribute",
       R"(device.attributes["dra.example.com"].services.matches("[^a]?sym"))",
       "dra.example.com",
       {{"services", S("asymetric")}},
       {},
       nullptr,
       nullptr,
       true,
       18},
      {"check_capacity_domains",
       R"(device.capacity.exists_one(x, x == "dra.example.com"))",
       "dra.example.com",
       {},
       {{"memory", "1Mi"}},
       nullptr,
       nullptr,
       true,
       164},
      {"check_capacity_ids",
       R"(device.capacity["dra.example.com"].exists_one(x, x == "memory"))",
       "dra.example.com",
       {},
       {{"memory", "1Mi"}},
       nullptr,
       nullptr,
       true,
       133},
      {"expensive",
       "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].all(x, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].all(y, [1, 2, 3, "
       "4, 5, 6, 7, 8, 9, 10].all(z, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].all(z2, [1, 2, 3, 4, 5, 6, "
       "7, 8, 9, 10].all(z3, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].all(z4, [1, 2, 3, 4, 5, 6, 7, 8, 9, "
       "10].all(z5, int('1'.find('[0-9]*')) < 100)))))))",
       "dra.example.com",
       {},
       {},
       "too complex, exceeds cost limit",
       nullptr,
       false,
       0},
      {"allow_multiple_allocations_default",
       "device.allowMultipleAllocations == false",
       "dra.example.com",
       {},
       {},
       nullptr,
       nullptr,
       true,
       3},
      {"includes-function-on-int-scalar-positive",
       R"(device.attributes["dra.example.com"].name.includes(1))",
       "dra.example.com",
       {{"name", I(1)}},
       {},
       nullptr,
       nullptr,
       true,
       4 + 48},
      {"includes-function-on-string-scalar-negative",
       R"(device.attributes["dra.example.com"].name.includes("bird"))",
       "dra.example.com",
       {{"name", S("fish")}},
       {},
       nullptr,
       nullptr,
       false,
       4 + 48},
      {"includes-function-on-semver-scalar-positive",
       R"(device.attributes["dra.example.com"].name.includes(semver("1.0.0")))",
       "dra.example.com",
       {{"name", V("1.0.0")}},
       {},
       nullptr,
       nullptr,
       true,
       4 + 48 + 1},
      {"macro-exists-on-int",
       R"(device.attributes["dra.example.com"].name.exists(x, x > 0))",
       "dra.example.com",
       {{"name", I(1)}},
       {},
       nullptr,
       "cannot be range of a comprehension",
       false,
       5 + (3 + 3) * 64},
  };
}

std::vector<std::string> ManyValues(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("value-" + std::to_string(i));
  return out;
}

// The list-type attribute cases (DRAListTypeAttributes, alpha in 1.36): list attributes are
// CEL lists; includes() tests membership (a scalar: equality), bounded at 48 values. The macro
// costs are upstream's for `.asList().exists(...)` (390, 262) less the one unit of asList().
std::vector<UpstreamCase> ListCases() {
  const char* kDriver = "dra.example.com";
  return {
      {"includes-function-on-bool-list-positive",
       R"(device.attributes["dra.example.com"].name.includes(true))",
       kDriver,
       {{"name", Bools({true, false})}},
       {},
       nullptr,
       nullptr,
       true,
       4 + 48},
      {"includes-function-on-bool-list-negative",
       R"(device.attributes["dra.example.com"].name.includes(false))",
       kDriver,
       {{"name", Bools({true, true})}},
       {},
       nullptr,
       nullptr,
       false,
       4 + 48},
      {"includes-function-on-int-list-positive",
       R"(device.attributes["dra.example.com"].name.includes(1))",
       kDriver,
       {{"name", Ints({1, 2})}},
       {},
       nullptr,
       nullptr,
       true,
       4 + 48},
      {"includes-function-on-int-list-negative",
       R"(device.attributes["dra.example.com"].name.includes(3))",
       kDriver,
       {{"name", Ints({1, 2})}},
       {},
       nullptr,
       nullptr,
       false,
       4 + 48},
      {"includes-function-on-string-list-positive",
       R"(device.attributes["dra.example.com"].name.includes("fish"))",
       kDriver,
       {{"name", Strings({"fish", "bird"})}},
       {},
       nullptr,
       nullptr,
       true,
       4 + 48},
      {"includes-function-on-string-list-negative",
       R"(device.attributes["dra.example.com"].name.includes("cat"))",
       kDriver,
       {{"name", Strings({"fish", "bird"})}},
       {},
       nullptr,
       nullptr,
       false,
       4 + 48},
      {"includes-function-on-semver-list-positive",
       R"(device.attributes["dra.example.com"].name.includes(semver("1.0.0")))",
       kDriver,
       {{"name", Versions({"1.0.0", "2.0.0"})}},
       {},
       nullptr,
       nullptr,
       true,
       4 + 48 + 1},
      {"includes-function-on-semver-list-negative",
       R"(device.attributes["dra.example.com"].name.includes(semver("3.0.0")))",
       kDriver,
       {{"name", Versions({"1.0.0", "2.0.0"})}},
       {},
       nullptr,
       nullptr,
       false,
       4 + 48 + 1},
      {"includes-function-on-very-long-list-positive",
       R"(device.attributes["dra.example.com"].name.includes("value-48"))",
       kDriver,
       {{"name", Strings(ManyValues(48))}},
       {},
       nullptr,
       nullptr,
       false,
       4 + 48},
      {"includes-function-on-too-long-list",
       R"(device.attributes["dra.example.com"].name.includes("value-49"))",
       kDriver,
       {{"name", Strings(ManyValues(49))}},
       {},
       nullptr,
       "'includes' function cannot be applied to lists longer than 48 values",
       false,
       4 + 48},
      {"macro-on-list-of-int",
       R"(device.attributes["dra.example.com"].names.exists(x, x > 0))",
       kDriver,
       {{"names", Ints({1, 2})}},
       {},
       nullptr,
       nullptr,
       true,
       5 + (3 + 3) * 64},
      {"macro-on-list-of-string",
       R"(device.attributes["dra.example.com"].names.all(x, x != ""))",
       kDriver,
       {{"names", Strings({"fish", "bird"})}},
       {},
       nullptr,
       nullptr,
       true,
       5 + (2 + 2) * 64},
      // Upstream's in-operator-on-list, less the one unit of asList() (69).
      {"in-operator-on-list",
       R"(1 in device.attributes["dra.example.com"].names)",
       kDriver,
       {{"names", Ints({1, 2, 3})}},
       {},
       nullptr,
       nullptr,
       true,
       68},
      {"list-size",
       R"(device.attributes["dra.example.com"].names.size() == 2)",
       kDriver,
       {{"names", Versions({"1.0.0", "2.0.0"})}},
       {},
       nullptr,
       nullptr,
       true,
       6},
  };
}

// Compiles the case's expression, checks its compile error or cost estimate, then matches it
// against a device with the case's attributes and capacity.
void RunCase(const UpstreamCase& c) {
  SCOPED_TRACE(c.name);
  auto sel = CompiledSelector::Compile(c.expression);
  if (c.compile_error) {
    ASSERT_FALSE(sel.ok());
    EXPECT_NE(sel.error().message.find(c.compile_error), std::string::npos) << sel.error().message;
    return;
  }
  ASSERT_TRUE(sel.ok()) << sel.error().message;
  EXPECT_EQ(sel->max_cost(), c.cost);
  api::Device device;
  device.attributes = c.attributes;
  for (const auto& [name, q] : c.capacity) {
    api::DeviceCapacity cap;
    cap.value = *api::Quantity::Parse(q);
    device.capacity[name] = cap;
  }
  auto match = sel->Matches(device, c.driver);
  if (c.match_error) {
    ASSERT_FALSE(match.ok());
    EXPECT_NE(match.error().message.find(c.match_error), std::string::npos)
        << match.error().message;
    return;
  }
  ASSERT_TRUE(match.ok()) << match.error().message;
  EXPECT_EQ(*match, c.match);
}

TEST(DraUpstreamCompileTest, ListTypeAttributesAreLists) {
  for (const UpstreamCase& c : ListCases()) RunCase(c);
}

TEST(DraUpstreamCompileTest, EveryCaseOfKubernetesCompileTest) {
  for (const UpstreamCase& c : Cases()) RunCase(c);
}

TEST(DraUpstreamCompileTest, TypeErrorsAsCelGoReportsThem) {
  struct {
    const char* expression;
    const char* error;
  } cases[] = {
      {"1 == 1.0", "1:3: found no matching overload for '_==_' applied to '(int, double)'"},
      {"device.driver == 1", "found no matching overload for '_==_' applied to '(string, int)'"},
      {"device.driver.startsWith(1)",
       "found no matching overload for 'startsWith' applied to 'string.(int)'"},
      {"device.vendor == 'x'", "undefined field 'vendor'"},
      {"nosuchfn(1)", "undeclared reference to 'nosuchfn' (in container '')"},
      {"device.attributes['d'].x.nosuchmethod()", "undeclared reference to 'nosuchmethod'"},
      {"quantity('1').sign() == 1",
       "found no matching overload for 'sign' applied to 'kubernetes.Quantity.()'"},
      {"[1, 'a'].size() > 0", "expected type 'int' but found 'string'"},
      {"device.driver", "must evaluate to bool or the unknown type, not string"},
      {"device.capacity['d'].memory",
       "must evaluate to bool or the unknown type, not "
       "kubernetes.Quantity"},
      {"1.exists(x, true)", "expression of type 'int' cannot be range of a comprehension"},
      // cel-go's first error: the math extension is not in the environment, so `math` is an
      // unknown identifier (and `greatest` an unknown member function).
      {"math.greatest(1, 2) > 0", "1:1: undeclared reference to 'math' (in container '')"},
  };
  for (const auto& c : cases) {
    auto sel = CompiledSelector::Compile(c.expression);
    ASSERT_FALSE(sel.ok()) << c.expression;
    EXPECT_NE(sel.error().message.find(c.error), std::string::npos)
        << c.expression << ": " << sel.error().message;
  }
  EXPECT_TRUE(CompiledSelector::Compile("sign(quantity('1')) == 1").ok());
  EXPECT_TRUE(CompiledSelector::Compile("device.attributes['d'].x == 1.0").ok());
}

}  // namespace
}  // namespace migdra::cel
