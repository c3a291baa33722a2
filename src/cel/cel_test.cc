// Unit tests of the CEL core and of the Kubernetes libraries (the standard library is covered
// by the conformance suite in tests/cel-conformance).
#include <gtest/gtest.h>

#include <string>

#include "cel/cost.h"
#include "cel/format.h"
#include "cel/interpreter.h"
#include "cel/parser.h"

namespace migdra::cel {
namespace {

// Evaluates `expr` with no variables; returns the value or the error message.
struct Outcome {
  bool ok;
  std::string text;  // DebugString of the value, or the error message
};

Outcome Eval(std::string_view expr, const Env& env = {}, const Activation* activation = nullptr,
             int64_t cost_limit = 1'000'000) {
  auto program = Program::Compile(expr, env);
  if (!program.ok()) return {false, program.error().message};
  VectorActivation empty({});
  EvalOptions options;
  options.cost_limit = cost_limit;
  Value v = (*program)->Evaluate(activation ? *activation : empty, options);
  if (v.is_error()) return {false, ErrorMessage(**program, v)};
  return {true, DebugString(v)};
}

std::string Ok(std::string_view expr, const Env& env = {}) {
  Outcome o = Eval(expr, env);
  EXPECT_TRUE(o.ok) << expr << ": " << o.text;
  return o.text;
}

std::string Fails(std::string_view expr, const Env& env = {}) {
  Outcome o = Eval(expr, env);
  EXPECT_FALSE(o.ok) << expr << " evaluated to " << o.text;
  return o.text;
}

TEST(CelParserTest, SyntaxErrorsCarryLineAndColumn) {
  auto r = Parse("1 +\n  (2 * )");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.rfind("2:8: Syntax error", 0), 0u) << r.error().message;
  EXPECT_FALSE(Parse("'unterminated").ok());
  EXPECT_FALSE(Parse("a.b(").ok());
  EXPECT_FALSE(Parse("if").ok());  // reserved word
  EXPECT_FALSE(Parse("9223372036854775808").ok());
  EXPECT_TRUE(Parse("-9223372036854775808").ok());
  EXPECT_TRUE(Parse("a.as()").ok());  // reserved words are valid method names
}

// cel-go reads an expression rune by rune (common.NewTextSource): each byte where no valid UTF-8
// rune starts is U+FFFD, in string and bytes literals too (one per byte of a truncated, overlong
// or surrogate sequence); elsewhere it is a token recognition error.
TEST(CelParserTest, InvalidUtf8ReadsAsReplacementCharacters) {
  EXPECT_EQ(Ok("'a\xffz' == 'a\\uFFFDz'"), "true");
  EXPECT_EQ(Ok("'\xe2\x82' == '\\uFFFD\\uFFFD'"), "true");
  EXPECT_EQ(Ok("'\xed\xa0\x80'.size()"), "3");
  EXPECT_EQ(Ok("'\xc0\xaf'.size()"), "2");
  EXPECT_EQ(Ok("b'\xff' == b'\\xef\\xbf\\xbd'"), "true");
  EXPECT_EQ(Fails("1 + \xff"), "1:5: Syntax error: token recognition error at: '\xef\xbf\xbd'");
  EXPECT_EQ(Fails("'\xff' + 1"),
            "1:5: found no matching overload for '_+_' applied to '(string, int)'");
}

TEST(CelParserTest, RecursionIsBounded) {
  std::string deep(5000, '(');
  deep += "1";
  deep += std::string(5000, ')');
  auto r = Parse(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("recursion"), std::string::npos);
  std::string long_chain = "1";
  for (int i = 0; i < 2000; ++i) long_chain += " + 1";
  EXPECT_TRUE(Parse(long_chain).ok());  // left-associative chains do not recurse
}

TEST(CelEvalTest, Literals) {
  EXPECT_EQ(Ok("b'\\xff\\x00'.size()"), "2");
  EXPECT_EQ(Ok("'\\u00ff'.size()"), "1");
  EXPECT_EQ(Ok("r'a\\nb'"), "\"a\\\\nb\"");
  EXPECT_EQ(Ok("'''multi\nline'''.size()"), "10");
  EXPECT_EQ(Ok("0x1F + 1"), "32");
  EXPECT_EQ(Ok("18446744073709551615u"), "18446744073709551615u");
  EXPECT_EQ(Ok("1e3"), "1000");
  EXPECT_EQ(Ok("null"), "null");
}

TEST(CelEvalTest, StrictTypesAndHeterogeneousEquality) {
  // The checker rejects equality of operands of different static types, as cel-go's does;
  // values of dyn type compare across numeric types at run time.
  EXPECT_EQ(Fails("1 == 1.0"),
            "1:3: found no matching overload for '_==_' applied to '(int, double)'");
  EXPECT_EQ(Fails("'1' == 1"),
            "1:5: found no matching overload for '_==_' applied to '(string, int)'");
  EXPECT_EQ(Ok("dyn(1) == 1.0"), "true");
  EXPECT_EQ(Ok("dyn(1u) == 1"), "true");
  EXPECT_EQ(Ok("[1, 'a'] == [dyn(1.0), 'a']"), "true");
  EXPECT_EQ(Ok("dyn('1') == 1"), "false");
  Env unchecked;
  unchecked.check = false;
  EXPECT_EQ(Ok("1 == 1.0", unchecked), "true");
  EXPECT_NE(Fails("1 + 1u").find("no matching overload"), std::string::npos);
  EXPECT_NE(Fails("'a' < 1").find("no matching overload"), std::string::npos);
  EXPECT_EQ(Ok("1 < 1.5"), "true");
}

TEST(CelEvalTest, ErrorsAreAbsorbedByLogicOperatorsInEitherOrder) {
  EXPECT_EQ(Ok("1/0 == 1 || true"), "true");
  EXPECT_EQ(Ok("true || 1/0 == 1"), "true");
  EXPECT_EQ(Ok("1/0 == 1 && false"), "false");
  EXPECT_EQ(Ok("false && 1/0 == 1"), "false");
  EXPECT_NE(Fails("1/0 == 1 && true").find("division by zero"), std::string::npos);
  EXPECT_EQ(Ok("[1, 0].exists(x, 1 / x == 1)"), "true");
  EXPECT_NE(Fails("[1, 0].all(x, 1 / x == 1)").find("division by zero"), std::string::npos);
}

TEST(CelEvalTest, OverflowIsAnError) {
  EXPECT_NE(Fails("9223372036854775807 + 1").find("overflow"), std::string::npos);
  EXPECT_NE(Fails("-9223372036854775808 - 1").find("overflow"), std::string::npos);
  EXPECT_NE(Fails("0u - 1u").find("overflow"), std::string::npos);
  EXPECT_NE(Fails("-9223372036854775808 / -1").find("overflow"), std::string::npos);
  EXPECT_NE(Fails("int(1e19)").find("range"), std::string::npos);
}

TEST(CelEvalTest, RuntimeErrorsCarryPosition) {
  EXPECT_EQ(Fails("{'a': 1}.b"), "1:9: no such key: b");
  EXPECT_EQ(Fails("true &&\n  [1][3] == 1"), "2:6: index out of bounds: 3");
}

TEST(CelEvalTest, Macros) {
  EXPECT_EQ(Ok("[1, 2, 3].map(x, x * 2)"), "[2, 4, 6]");
  EXPECT_EQ(Ok("[1, 2, 3].filter(x, x > 1)"), "[2, 3]");
  EXPECT_EQ(Ok("[1, 2, 3].exists_one(x, x > 2)"), "true");
  EXPECT_EQ(Ok("{'a': 1, 'b': 2}.all(k, k.size() == 1)"), "true");
  EXPECT_EQ(Ok("has({'a': 1}.a) && !has({'a': 1}.b)"), "true");
  EXPECT_EQ(Ok("cel.bind(x, 5, x * x)"), "25");
  EXPECT_EQ(Ok("[10, 20].transformList(i, v, i + v)"), "[10, 21]");
  EXPECT_EQ(Ok("[1, 2, 3].map(x, x > 1, x)"), "[2, 3]");
}

TEST(CelEvalTest, OptionalTypes) {
  EXPECT_EQ(Ok("{'a': 1}.?a.orValue(0)"), "1");
  EXPECT_EQ(Ok("{'a': 1}.?b.orValue(0)"), "0");
  EXPECT_EQ(Ok("[1][?3].hasValue()"), "false");
  EXPECT_EQ(Ok("optional.of(2).optMap(x, x + 1).value()"), "3");
  EXPECT_EQ(Ok("[?optional.none(), ?optional.of(1)]"), "[1]");
}

TEST(CelEvalTest, CostLimitStopsRunawayComprehensions) {
  Outcome o = Eval(
      "[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, "
      "[1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, true))))",
      {}, nullptr, 10'000);
  EXPECT_FALSE(o.ok);
  EXPECT_NE(o.text.find("cost limit exceeded"), std::string::npos) << o.text;
  EXPECT_TRUE(Eval("[1,2,3].all(a, a > 0)", {}, nullptr, 10'000).ok);
}

// lists.range(n) charges its n elements before building them: a range over the budget is
// refused without being allocated (found by cel_parser_fuzz: lists.range(399999999) took
// 2.7 GB), and the evaluation stays over budget, so `|| true` does not hide it.
TEST(CelEvalTest, CostLimitIsChargedBeforeARangeIsBuilt) {
  Env env;
  env.check = false;
  Outcome o = Eval("lists.range(399999999).size() > 0 || true", env, nullptr, 100'000);
  EXPECT_FALSE(o.ok);
  EXPECT_NE(o.text.find("cost limit exceeded"), std::string::npos) << o.text;
  EXPECT_EQ(Eval("lists.range(3).size()", env, nullptr, 100'000).text, "3");
}

TEST(CelEvalTest, VariablesAndUndeclaredReferences) {
  Env env;
  env.variables = {"x", "a.b"};
  VectorActivation activation({{true, Value::Int(41)}, {true, Value::String("qualified")}});
  EXPECT_EQ(Eval("x + 1", env, &activation).text, "42");
  EXPECT_EQ(Eval("a.b", env, &activation).text, "\"qualified\"");
  Outcome undeclared = Eval("y", env, &activation);
  EXPECT_FALSE(undeclared.ok);
  EXPECT_NE(undeclared.text.find("undeclared reference to 'y'"), std::string::npos);
  env.check = false;  // without checking, the error happens at evaluation
  EXPECT_EQ(Eval("y || true", env, &activation).text, "true");
}

Env Kubernetes() {
  Env env;
  env.declarations = Declarations::kKubernetes;
  return env;
}

TEST(CelKubernetesLibraryTest, Quantity) {
  EXPECT_EQ(Ok("quantity('1.5Gi').compareTo(quantity('1536Mi'))", Kubernetes()), "0");
  EXPECT_EQ(Ok("quantity('1Gi').isGreaterThan(quantity('1G'))", Kubernetes()), "true");
  EXPECT_EQ(Ok("quantity('100m').isLessThan(quantity('1'))", Kubernetes()), "true");
  EXPECT_EQ(Ok("quantity('1Gi').add(quantity('512Mi')) == quantity('1.5Gi')", Kubernetes()),
            "true");
  EXPECT_EQ(Ok("sign(quantity('1Gi').sub(1073741824))", Kubernetes()), "0");
  EXPECT_EQ(Ok("quantity('2k').asInteger()", Kubernetes()), "2000");
  EXPECT_EQ(Ok("quantity('250m').asApproximateFloat()", Kubernetes()), "0.25");
  EXPECT_EQ(Ok("quantity('1.5').isInteger()", Kubernetes()), "false");
  EXPECT_EQ(Ok("isQuantity('1Mi') && !isQuantity('1MiB')", Kubernetes()), "true");
  EXPECT_NE(Fails("quantity('1.5').asInteger()", Kubernetes()).find("cannot convert"),
            std::string::npos);
  EXPECT_NE(Fails("quantity('bogus')", Kubernetes()).find("quantities must match"),
            std::string::npos);
  EXPECT_NE(Fails("quantity('1') < quantity('2')", Kubernetes()).find("no matching overload"),
            std::string::npos);
  // Declared as Kubernetes declares them: sign is global only, add/sub take a quantity or int.
  EXPECT_EQ(Fails("quantity('1').sign()", Kubernetes()),
            "1:19: found no matching overload for 'sign' applied to 'kubernetes.Quantity.()'");
  EXPECT_EQ(Fails("quantity('1').add(1.5)", Kubernetes()),
            "1:18: found no matching overload for 'add' applied to 'kubernetes.Quantity.(double)'");
}

TEST(CelKubernetesLibraryTest, Semver) {
  EXPECT_EQ(Ok("semver('1.2.3').major()", Kubernetes()), "1");
  EXPECT_EQ(Ok("semver('1.2.3').minor() + semver('1.2.3').patch()", Kubernetes()), "5");
  EXPECT_EQ(Ok("semver('1.10.0').isGreaterThan(semver('1.9.9'))", Kubernetes()), "true");
  EXPECT_EQ(Ok("semver('1.0.0-rc.1').isLessThan(semver('1.0.0'))", Kubernetes()), "true");
  EXPECT_EQ(Ok("semver('1.0.0').compareTo(semver('1.0.0+build'))", Kubernetes()), "0");
  EXPECT_EQ(Ok("isSemver('1.2.3') && !isSemver('v1.2.3') && isSemver('v1.2', true)", Kubernetes()),
            "true");
  EXPECT_EQ(Ok("semver('v01.2', true) == semver('1.2.0')", Kubernetes()), "true");
  EXPECT_NE(Fails("semver('1.2')", Kubernetes()).find("invalid semver"), std::string::npos);
}

TEST(CelKubernetesLibraryTest, ListsRegexAndSets) {
  EXPECT_EQ(Ok("[1, 2, 2, 3].isSorted()", Kubernetes()), "true");
  EXPECT_EQ(Ok("['b', 'a'].isSorted()", Kubernetes()), "false");
  EXPECT_EQ(Ok("[1, 2, 3].sum()", Kubernetes()), "6");
  EXPECT_EQ(Ok("[1.5, 2.5].sum()", Kubernetes()), "4");
  EXPECT_EQ(Ok("[3, 1, 2].min()", Kubernetes()), "1");
  EXPECT_EQ(Ok("['a', 'c', 'b'].max()", Kubernetes()), "\"c\"");
  EXPECT_EQ(Ok("[1, 2, 1].indexOf(1)", Kubernetes()), "0");
  EXPECT_EQ(Ok("[1, 2, 1].lastIndexOf(1)", Kubernetes()), "2");
  EXPECT_EQ(Ok("[1].indexOf(5)", Kubernetes()), "-1");
  EXPECT_NE(Fails("[].min()", Kubernetes()).find("empty"), std::string::npos);
  EXPECT_EQ(Ok("'abc 123 def 456'.find('[0-9]+')", Kubernetes()), "\"123\"");
  EXPECT_EQ(Ok("'abc 123 def 456'.findAll('[0-9]+')", Kubernetes()), "[\"123\", \"456\"]");
  EXPECT_EQ(Ok("'abc 123 def 456'.findAll('[0-9]+', 1)", Kubernetes()), "[\"123\"]");
  EXPECT_EQ(Ok("'abc'.find('x')", Kubernetes()), "\"\"");
  // A pattern that is not a literal fails at run time (a literal one at compile time).
  EXPECT_NE(Fails("'abc'.matches('(' + '')", Kubernetes()).find("invalid regular expression"),
            std::string::npos);
  EXPECT_EQ(Ok("sets.contains([1, 2, 3], [3, 1])", Kubernetes()), "true");
  EXPECT_EQ(Ok("sets.equivalent([1, 2], [2, 1, 1])", Kubernetes()), "true");
  EXPECT_EQ(Ok("sets.intersects([1, 2], [3])", Kubernetes()), "false");
}

// As upstream's DRA tests require of cel-go: what an evaluation spends never exceeds the
// checker's worst-case estimate, so an expression the estimate admits is not stopped by the
// runtime limit.
TEST(CelCostTest, RuntimeCostStaysWithinTheEstimate) {
  const char* expressions[] = {
      "[1, 2, 3].all(x, x > 0)",
      "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].all(x, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].all(y, y > x || "
      "true))",
      "[1, 2, 3].map(x, x * 2).size() == 3",
      "[1, 2, 3].filter(x, x > 1).size() == 2",
      "{'a': 1}.exists(k, k == 'a')",
      "cel.bind(x, [1, 2, 3], x.size() > 1)",
      "[1, 2, 3].exists_one(x, x == 2) ? 'yes'.size() == 3 : false",
      "{'a': [1, 2], 'b': [3]}.all(k, {'a': [1, 2], 'b': [3]}[k].size() > 0)",
      "[3, 1, 2].sort() == [1, 2, 3]",
      "['b', 'a'].sortBy(e, e) == ['a', 'b']",
      "[[1], [2]].flatten().distinct().reverse().size() == 2",
  };
  Env env;
  env.declarations = Declarations::kKubernetes;
  for (const char* expr : expressions) {
    auto program = Program::Compile(expr, env);
    ASSERT_TRUE(program.ok()) << expr << ": " << program.error().message;
    int64_t actual = 0;
    VectorActivation none({});
    Value v = (*program)->Evaluate(none, {}, &actual);
    ASSERT_FALSE(v.is_error()) << expr << ": " << v.error().message;
    const CostEstimate estimate = EstimateCost(**program, nullptr);
    EXPECT_LE(static_cast<uint64_t>(actual), estimate.max) << expr;
    EXPECT_GT(actual, 0) << expr;
  }
}

// cel-go's own estimators for ext.Lists v3 (ext/lists.go: a call and a list creation, plus one
// unit per element built, quadratic with factor 2 for distinct and sort, 2.1 for sorting strings)
// and ext.Sets (sets.go: the product of the sizes, doubled for equivalence), which take
// precedence over Kubernetes' estimator; each figure is the call's plus its operands' costs.
TEST(CelCostTest, ListAndSetExtensionsAsCelGoEstimatesThem) {
  const std::pair<const char*, uint64_t> cases[] = {
      {"[1, 2, 3].sort()", 10 + 3 * 3 * 2 + 11},
      {"['a', 'b'].sort()", 10 + 9 + 11},  // ceil(2 * 2 * 2.1)
      {"[1, 2, 3].reverse()", 10 + 3 + 11},
      {"[1, 2, 3].slice(1, 2)", 10 + 1 + 11},
      {"[1, 2, 3].distinct()", 10 + 18 + 11},
      {"[[1], [2]].flatten()", 30 + 2 + 11},
      {"lists.range(4)", 4 + 11},
      {"sets.contains([1, 2], [1])", 20 + 2 + 1},
      {"sets.intersects([1, 2], [1])", 20 + 2 + 1},
      {"sets.equivalent([1, 2], [1])", 20 + 4 + 1},
  };
  Env env;
  env.declarations = Declarations::kKubernetes;
  for (const auto& [expr, cost] : cases) {
    auto program = Program::Compile(expr, env);
    ASSERT_TRUE(program.ok()) << expr << ": " << program.error().message;
    const CostEstimate estimate = EstimateCost(**program, nullptr);
    EXPECT_EQ(estimate.min, cost) << expr;
    EXPECT_EQ(estimate.max, cost) << expr;
  }
}

// Kubernetes' library.CostEstimator: the list functions charge one unit per element plus a
// traversal of each string element, whose size a literal list does not bound (so such a call
// exceeds any limit, as it does upstream); join() traverses its result; containsIP/containsCIDR
// compare 4 to 16 address bytes; the global ip()/isIP()/cidr() cases apply to receiver calls
// only, so those cost one unit.
TEST(CelCostTest, KubernetesLibraryCallsAsKubernetesEstimatesThem) {
  struct Case {
    const char* expression;
    uint64_t min, max;
  } cases[] = {
      {"[1, 2].isSorted()", 12, 12},
      {"[1, 2, 3].sum()", 13, 13},
      {"[1, 2].indexOf(2)", 12, 12},
      {"['a', 'b'].isSorted()", 12, std::numeric_limits<uint64_t>::max()},
      {"['a', 'b'].join('-')", 11, std::numeric_limits<uint64_t>::max()},
      // A comprehension over one element costs 10 (the list) + 2 (loop condition) + 1 (result)
      // + its step, 1 (the accumulator) up to 1 + the predicate: here the constant CIDR (1), the
      // operand and containsIP's 1..4 (ceil(0.1 * 8)..ceil(0.1 * 32)) or containsCIDR's 3..7.
      {"['1.2.3.4'].all(a, cidr('10.0.0.0/8').containsIP(ip(a)))", 14, 14 + 1 + 2 + 4},
      // (the list's constant CIDR adds 1)
      {"[cidr('10.1.0.0/16')].all(c, cidr('10.0.0.0/8').containsCIDR(c))", 15, 15 + 1 + 1 + 7},
      {"[''].all(s, isIP(s) || isCIDR(s) || ip.isCanonical(s))", 14, 20},
  };
  Env env;
  env.declarations = Declarations::kKubernetes;
  for (const Case& c : cases) {
    auto program = Program::Compile(c.expression, env);
    ASSERT_TRUE(program.ok()) << c.expression << ": " << program.error().message;
    const CostEstimate estimate = EstimateCost(**program, nullptr);
    EXPECT_EQ(estimate.min, c.min) << c.expression;
    EXPECT_EQ(estimate.max, c.max) << c.expression;
  }
}

// ext.Lists v3's runtime cost trackers (ext/lists.go), which take precedence over Kubernetes'
// estimator: a call (1) and the list it allocates (10), plus one unit per element of the result
// for slice(), reverse() and lists.range(), the depth per element of the input for flatten(), and
// twice the squared size for sort(), distinct() and sortBy()'s keys, 2.1 times when the first
// element is a string or bytes, truncated. Each variable read costs one unit more.
TEST(CelCostTest, ListExtensionsChargeAsCelGoTracksThem) {
  Env env;
  env.declarations = Declarations::kKubernetes;
  env.variables = {"xs", "ss", "ls", "n"};
  env.variable_types = {Type::List(Type::Int()), Type::List(Type::Simple(Type::Kind::kString)),
                        Type::List(Type::List(Type::Int())), Type::Int()};
  VectorActivation values(
      {{true, Value::List({Value::Int(3), Value::Int(1), Value::Int(2), Value::Int(1)})},
       {true, Value::List({Value::String("b"), Value::String("a"), Value::String("c")})},
       {true,
        Value::List({Value::List({Value::Int(1)}), Value::List({Value::Int(2), Value::Int(3)}),
                     Value::List(std::vector<Value>{})})},
       {true, Value::Int(5)}});
  const auto cost = [&](const char* expr) {
    auto program = Program::Compile(expr, env);
    EXPECT_TRUE(program.ok()) << expr << ": " << program.error().message;
    if (!program.ok()) return int64_t{-1};
    int64_t actual = 0;
    Value v = (*program)->Evaluate(values, {}, &actual);
    EXPECT_FALSE(v.is_error()) << expr << ": " << v.error().message;
    return actual;
  };
  EXPECT_EQ(cost("xs.sort()"), 1 + 1 + 4 * 4 * 2 + 10);
  EXPECT_EQ(cost("ss.sort()"), 1 + 1 + 18 + 10);  // uint64(3 * 3 * 2.1)
  EXPECT_EQ(cost("xs.distinct()"), 1 + 1 + 4 * 4 * 2 + 10);
  EXPECT_EQ(cost("ss.distinct()"), 1 + 1 + 18 + 10);
  // sortBy() binds its target and maps it to the keys, as cel.bind() and map() do, then calls
  // @sortByAssociatedKeys on the keys, reading the bound target once more.
  EXPECT_EQ(cost("xs.sortBy(x, x)") - cost("cel.bind(i, xs, i.map(x, x))"), 1 + 1 + 4 * 4 * 2 + 10);
  EXPECT_EQ(cost("xs.sortBy(x, string(x))") - cost("cel.bind(i, xs, i.map(x, string(x)))"),
            1 + 1 + 33 + 10);  // uint64(4 * 4 * 2.1)
  EXPECT_EQ(cost("xs.slice(1, 3)"), 1 + 1 + 2 + 10);
  EXPECT_EQ(cost("xs.reverse()"), 1 + 1 + 4 + 10);
  EXPECT_EQ(cost("ls.flatten()"), 1 + 1 + 3 + 10);
  EXPECT_EQ(cost("ls.flatten(2)"), 1 + 1 + 6 + 10);
  EXPECT_EQ(cost("lists.range(n)"), 1 + 1 + 5 + 10);
}

// format() costs a traversal of its format string, ceil(0.1 per code point), and no call unit, in
// cel-go's estimate and at run time (overload string_format; ext.Strings tracks nothing else
// below version 5); the list literal costs 10 and reading x one.
TEST(CelCostTest, FormatCostsATraversalOfItsFormatString) {
  const std::pair<const char*, int64_t> cases[] = {
      {"'%s'.format([x])", 10 + 1 + 1},
      {"'%d items'.format([x])", 10 + 1 + 1},
      {"'%d is ten.'.format([x])", 10 + 1 + 1},
      {"'%d is twelve'.format([x])", 10 + 1 + 2},
      {"'the value of x is now: %d'.format([x])", 10 + 1 + 3},
      {"''.format([])", 10},
  };
  for (Declarations declarations : {Declarations::kKubernetes, Declarations::kCelGo}) {
    Env env;
    env.declarations = declarations;
    env.variables = {"x"};
    env.variable_types = {Type::Int()};
    VectorActivation values({{true, Value::Int(7)}});
    for (const auto& [expr, cost] : cases) {
      auto program = Program::Compile(expr, env);
      ASSERT_TRUE(program.ok()) << expr << ": " << program.error().message;
      int64_t actual = 0;
      Value v = (*program)->Evaluate(values, {}, &actual);
      ASSERT_FALSE(v.is_error()) << expr << ": " << v.error().message;
      EXPECT_EQ(actual, cost) << expr;
      const CostEstimate estimate = EstimateCost(**program, nullptr);
      EXPECT_EQ(estimate.min, static_cast<uint64_t>(cost)) << expr;
      EXPECT_EQ(estimate.max, static_cast<uint64_t>(cost)) << expr;
    }
  }
}

// cel-go's cost tracker checks the limit after each call: a call that charges past it fails.
TEST(CelCostTest, CallsChargingPastTheLimitFail) {
  Env env;
  env.declarations = Declarations::kKubernetes;
  env.variables = {"xs"};
  env.variable_types = {Type::List(Type::Int())};
  VectorActivation values({{true, Value::List({Value::Int(2), Value::Int(1)})}});
  auto program = Program::Compile("xs.sort()", env);
  ASSERT_TRUE(program.ok()) << program.error().message;
  EvalOptions options;
  options.cost_limit = 1 + 1 + 2 * 2 * 2 + 10;
  EXPECT_FALSE((*program)->Evaluate(values, options).is_error());
  options.cost_limit -= 1;
  Value over = (*program)->Evaluate(values, options);
  ASSERT_TRUE(over.is_error());
  EXPECT_EQ(over.error().message, "operation cancelled: actual cost limit exceeded");
}

TEST(CelFormatTest, DoublesPrintLikeGo) {
  EXPECT_EQ(FormatDouble(1.5), "1.5");
  EXPECT_EQ(FormatDouble(1e21), "1e+21");
  EXPECT_EQ(FormatDouble(123456.0), "123456");
  EXPECT_EQ(FormatDouble(123456789.0), "123456789");
  EXPECT_EQ(FormatDouble(1.5e20), "150000000000000000000");
  EXPECT_EQ(FormatDouble(0.0001), "0.0001");
  EXPECT_EQ(FormatDouble(0.00001), "0.00001");
  EXPECT_EQ(FormatDouble(1.5e-7), "1.5e-7");
  EXPECT_EQ(FormatDouble(-2), "-2");
}

}  // namespace
}  // namespace migdra::cel
