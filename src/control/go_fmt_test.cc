#include "control/go_fmt.h"

#include <gtest/gtest.h>

namespace migdra::control {
namespace {

std::string Formatted(const std::string& text) { return GoFormatValue(json::parse(text)); }

// What fmt.Sprintf("%+v", m) prints for the map sigs.k8s.io/json's UnmarshalCaseSensitive
// PreserveInts builds from the same text.
TEST(GoFormatValue, PrintsTheDecodedMapAsFmtDoes) {
  EXPECT_EQ(Formatted(R"({"metadata":{"finalizers":"x"}})"), "map[metadata:map[finalizers:x]]");
  EXPECT_EQ(Formatted(R"({"b":{"d":[1,"two",null,true],"c":{}},"a":[]})"),
            "map[a:[] b:map[c:map[] d:[1 two <nil> true]]]");
  EXPECT_EQ(Formatted(R"({"s":"with spaces: and [brackets]","u":"ünï 日本","e":""})"),
            "map[e: s:with spaces: and [brackets] u:ünï 日本]");
  EXPECT_EQ(Formatted(R"([[],{},[[1]],false])"), "[[] map[] [[1]] false]");
  EXPECT_EQ(Formatted("null"), "<nil>");
  // Keys sort bytewise: upper case before lower case, "a" before "a0".
  EXPECT_EQ(Formatted(R"({"a0":1,"B":2,"a":3})"), "map[B:2 a:3 a0:1]");
}

TEST(GoFormatValue, PrintsNumbersAsInt64OrFloat64) {
  EXPECT_EQ(Formatted("100000000"), "100000000");  // an integer stays int64
  EXPECT_EQ(Formatted("-9223372036854775808"), "-9223372036854775808");
  EXPECT_EQ(Formatted("9223372036854775808"), "9.223372036854776e+18");  // past int64: float64
  EXPECT_EQ(Formatted("18446744073709551615"), "1.8446744073709552e+19");
  EXPECT_EQ(Formatted("1.5"), "1.5");
  EXPECT_EQ(Formatted("1.0"), "1");
  EXPECT_EQ(Formatted("-0.0"), "-0");
  EXPECT_EQ(Formatted("1e8"), "1e+08");  // written as a float: float64, %e from exponent 6 on
  EXPECT_EQ(Formatted("123456.5"), "123456.5");
  EXPECT_EQ(Formatted("1234567.5"), "1.2345675e+06");
  EXPECT_EQ(Formatted("1e21"), "1e+21");
  EXPECT_EQ(Formatted("1.5e300"), "1.5e+300");
  EXPECT_EQ(Formatted("0.0001"), "0.0001");
  EXPECT_EQ(Formatted("0.00001"), "1e-05");
  EXPECT_EQ(Formatted("1e-7"), "1e-07");
  EXPECT_EQ(Formatted("0.1"), "0.1");
  EXPECT_EQ(Formatted("[0.30000000000000004, 2.5e-10]"), "[0.30000000000000004 2.5e-10]");
}

TEST(GoQuote, QuotesAsStrconvQuote) {
  EXPECT_EQ(GoQuote("map[a:b c]"), R"("map[a:b c]")");
  EXPECT_EQ(GoQuote(R"({"a":"b\"c"})"), R"("{\"a\":\"b\\\"c\"}")");
  EXPECT_EQ(GoQuote("tab\tnl\ncr\rbell\a\x01\x7f"), R"("tab\tnl\ncr\rbell\a\x01\x7f")");
  EXPECT_EQ(GoQuote("ünï 日本 😀"), "\"ünï 日本 😀\"");
  // Not printable for Go: C1 controls, no-break space, separators, format characters.
  EXPECT_EQ(GoQuote("\xC2\x85|\xC2\xA0|\xE2\x80\xA8|\xEF\xBB\xBF"),
            R"("\u0085|\u00a0|\u2028|\ufeff")");
  EXPECT_EQ(GoQuote("\xF3\xA0\x80\x81"), R"("\U000e0001")");
  // Bytes that are not UTF-8 are escaped one by one.
  EXPECT_EQ(GoQuote("a\xFFz\xC3"), R"("a\xffz\xc3")");
}

}  // namespace
}  // namespace migdra::control
