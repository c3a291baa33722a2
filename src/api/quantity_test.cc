#include "api/quantity.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace migdra::api {
namespace {

Quantity MustParse(std::string_view text) {
  auto q = Quantity::Parse(text);
  EXPECT_TRUE(q.ok()) << text << ": " << (q.ok() ? "" : q.error().message);
  return q.ok() ? *q : Quantity();
}

// Canonical forms, most of them from upstream's quantity_test.go (TestQuantityParseEmit,
// TestQuantityString alternates).
TEST(QuantityTest, CanonicalString) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"0", "0"},
      {"0Ki", "0"},
      {"-0", "0"},
      {"1", "1"},
      {"-1", "-1"},
      {"1Ki", "1Ki"},
      {"1Mi", "1Mi"},
      {"1Gi", "1Gi"},
      {"1024Mi", "1Gi"},
      {"1.5Gi", "1536Mi"},
      {"1536Mi", "1536Mi"},
      {"80Gi", "80Gi"},
      {"1000M", "1G"},
      {"0.5", "500m"},
      {"100m", "100m"},
      {"1k", "1k"},
      {"1000", "1k"},
      {"1e3", "1e3"},
      {"12e6", "12e6"},
      {"1.1M", "1100k"},
      {".001Ki", "1024m"},
      {".000001Ki", "1024u"},
      {".000000001Ki", "1024n"},
      {".000000000001Ki", "2n"},
      {"300Mi", "300Mi"},
      {"307200Ki", "300Mi"},
      {"5000m", "5"},
      {"0.001T", "1G"},
      {"1000u", "1m"},
      {"1.08", "1080m"},
      {"1080000000n", "1080m"},
      {"1000E", "1e21"},
      {"5000E", "5e21"},
      {".001e12", "1e9"},
      {"0.001e0", "1e-3"},
      {"1000e-12", "1e-9"},
      {"00", "0"},
      {"1025", "1025"},
      {"1023Ki", "1023Ki"},
      {"1.5Ki", "1536"},
      {"3.001n", "4n"},
      {"0.00000012345", "124n"},
      {"100.035k", "100035"},
      {"1.", "1"},
      {"1.G", "1G"},
      {".0001k", "100m"},
      {"9Ei", "9223372036854775807"},  // capped at the largest int64, not a multiple of 1024
      {"-1.5Gi", "-1536Mi"},
      {"+2", "2"},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(MustParse(in).ToString(), want) << in;
  }
}

TEST(QuantityTest, CapBinaryAtInt64Max) {
  Quantity q = MustParse("9Ei");
  EXPECT_EQ(q.Value(), 9223372036854775807LL);
  EXPECT_EQ(q.Compare(MustParse("9223372036854775807")), 0);
  // Decimal quantities are not capped.
  EXPECT_GT(MustParse("12E").Compare(MustParse("9Ei")), 0);
}

TEST(QuantityTest, Formats) {
  EXPECT_EQ(MustParse("1Gi").format(), Quantity::Format::kBinarySI);
  EXPECT_EQ(MustParse("1G").format(), Quantity::Format::kDecimalSI);
  EXPECT_EQ(MustParse("1e9").format(), Quantity::Format::kDecimalExponent);
  EXPECT_EQ(MustParse("1E").format(), Quantity::Format::kDecimalSI);
  // Binary fractions below one become decimal (upstream "rounds up, changes format").
  EXPECT_EQ(MustParse("0.000000000001Ki").format(), Quantity::Format::kDecimalSI);
}

TEST(QuantityTest, RejectsMalformed) {
  for (const char* bad : {"", "1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i",
                          "-3.01e-", " 1", "1 ", "1K", "1e", "Gi", "-", "1Gi1", "--1"}) {
    EXPECT_FALSE(Quantity::Parse(bad).ok()) << bad;
  }
  auto err = Quantity::Parse("1.1.M");
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.error().message.find("quantities must match"), std::string::npos)
      << err.error().message;
}

TEST(QuantityTest, ExactValues) {
  EXPECT_EQ(MustParse("1Gi").Value(), 1073741824);
  EXPECT_EQ(MustParse("1.5Gi").Value(), 1610612736);
  EXPECT_EQ(MustParse("40Gi").Value(), 42949672960);
  EXPECT_EQ(MustParse("100m").MilliValue(), 100);
  EXPECT_EQ(MustParse("100m").Value(), 1);    // rounded up
  EXPECT_EQ(MustParse("-100m").Value(), -1);  // away from zero, as upstream
  EXPECT_EQ(MustParse("1.5").MilliValue(), 1500);
  EXPECT_EQ(MustParse("12e6").Value(), 12000000);
  EXPECT_EQ(MustParse("5n").MilliValue(), 1);
}

TEST(QuantityTest, Compare) {
  EXPECT_EQ(MustParse("0").Compare(MustParse("0")), 0);
  EXPECT_EQ(MustParse("100m").Compare(MustParse("50m")), 1);
  EXPECT_EQ(MustParse("50m").Compare(MustParse("100m")), -1);
  EXPECT_EQ(MustParse("10000T").Compare(MustParse("100Gi")), 1);
  EXPECT_EQ(MustParse("1Gi").Compare(MustParse("1073741824")), 0);
  EXPECT_EQ(MustParse("1G").Compare(MustParse("1Gi")), -1);
  EXPECT_EQ(MustParse("-1G").Compare(MustParse("-1Gi")), 1);
  EXPECT_EQ(MustParse("-1").Compare(MustParse("1m")), -1);
  EXPECT_EQ(MustParse("1e30").Compare(MustParse("1e29")), 1);
  EXPECT_EQ(MustParse("0.5").Compare(MustParse("500m")), 0);
  EXPECT_TRUE(MustParse("1Ki") == MustParse("1024"));
  EXPECT_TRUE(MustParse("1k") < MustParse("1Ki"));
}

TEST(QuantityTest, IntegerConversions) {
  EXPECT_TRUE(MustParse("1Gi").IsInteger());
  EXPECT_FALSE(MustParse("1.5").IsInteger());
  EXPECT_EQ(*MustParse("2k").AsInt64(), 2000);
  EXPECT_FALSE(MustParse("1.5").AsInt64().ok());
  EXPECT_FALSE(MustParse("1e30").AsInt64().ok());
  EXPECT_DOUBLE_EQ(MustParse("1.5Gi").AsApproximateFloat(), 1610612736.0);
  EXPECT_DOUBLE_EQ(MustParse("250m").AsApproximateFloat(), 0.25);
  EXPECT_EQ(MustParse("-3").Sign(), -1);
  EXPECT_EQ(MustParse("0").Sign(), 0);
  EXPECT_EQ(MustParse("1n").Sign(), 1);
  EXPECT_EQ(Quantity::FromInt(1000).ToString(), "1k");
  EXPECT_EQ(Quantity::FromInt(-5).ToString(), "-5");
  EXPECT_EQ(Quantity().ToString(), "0");
}

TEST(QuantityTest, AddAndSub) {
  EXPECT_EQ(MustParse("1Gi").Add(MustParse("512Mi"))->ToString(), "1536Mi");
  EXPECT_EQ(MustParse("1").Add(MustParse("500m"))->ToString(), "1500m");
  EXPECT_EQ(MustParse("1Gi").Sub(MustParse("1Gi"))->ToString(), "0");
  EXPECT_EQ(MustParse("1k").Sub(MustParse("2k"))->ToString(), "-1k");
  // A zero operand keeps the other's suffix (upstream TestQuantityAddZeroPreservesSuffix).
  EXPECT_EQ(MustParse("0").Add(MustParse("1Gi"))->ToString(), "1Gi");
  EXPECT_EQ(MustParse("100m").Add(MustParse("0"))->ToString(), "100m");
  EXPECT_EQ(MustParse("0").Sub(MustParse("1Gi"))->ToString(), "-1Gi");
  EXPECT_FALSE(MustParse("1e36").Add(MustParse("1n")).ok());
}

}  // namespace
}  // namespace migdra::api
