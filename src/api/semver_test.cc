#include "api/semver.h"

#include <gtest/gtest.h>

#include <vector>

namespace migdra::api {
namespace {

TEST(SemverTest, ValidVersions) {
  for (const char* ok :
       {"0.0.0", "1.2.3", "10.20.30", "1.1.2-prerelease+meta", "1.0.0-alpha", "1.0.0-alpha.beta.1",
        "1.0.0-0.3.7", "1.0.0-x.7.z.92", "1.0.0+20130313144700", "1.0.0-alpha+001",
        "1.0.0-rc.1+build.1", "2.0.0+build.1848",
        "1.0.0-alpha-a.b-c-somethinglong+build.1-aef.1-its-okay", "18446744073709551615.0.0"}) {
    EXPECT_TRUE(IsValidSemver(ok)) << ok;
  }
}

TEST(SemverTest, InvalidVersions) {
  for (const char* bad :
       {"",         "1",          "1.2",        "1.2.3.4",   "01.1.1",
        "1.01.1",   "1.1.01",     "v1.2.3",     "1.2.3-",    "1.2.3+",
        "1.2.3-01", "1.2.3-a..b", "1.2.3+a..b", "1.2.3-a_b", "+invalid",
        "-1.0.0",   "1.2.3 ",     "a.b.c",      "1.2.-3",    "18446744073709551616.0.0",
        "580.95.05"}) {
    EXPECT_FALSE(IsValidSemver(bad)) << bad;
  }
}

TEST(SemverTest, Parts) {
  auto v = Semver::Parse("12.4.1-rc.2+exp.sha.5114f85");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->major(), 12u);
  EXPECT_EQ(v->minor(), 4u);
  EXPECT_EQ(v->patch(), 1u);
  ASSERT_EQ(v->prerelease().size(), 2u);
  EXPECT_TRUE(v->prerelease()[1].numeric);
  EXPECT_EQ(v->build().size(), 3u);
  EXPECT_EQ(v->ToString(), "12.4.1-rc.2+exp.sha.5114f85");
}

// The precedence example of semver.org §11.
TEST(SemverTest, PrecedenceChain) {
  const std::vector<const char*> ordered = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                                            "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
                                            "1.0.0-rc.1",  "1.0.0",         "1.0.1",
                                            "1.1.0",       "2.0.0",         "10.0.0"};
  for (size_t i = 0; i + 1 < ordered.size(); ++i) {
    auto a = Semver::Parse(ordered[i]);
    auto b = Semver::Parse(ordered[i + 1]);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_LT(a->Compare(*b), 0) << ordered[i] << " < " << ordered[i + 1];
    EXPECT_GT(b->Compare(*a), 0) << ordered[i + 1] << " > " << ordered[i];
  }
  EXPECT_EQ(Semver::Parse("1.0.0+a")->Compare(*Semver::Parse("1.0.0+b")), 0);
}

TEST(SemverTest, Normalized) {
  EXPECT_EQ(Semver::ParseNormalized("v1.2.3")->ToString(), "1.2.3");
  EXPECT_EQ(Semver::ParseNormalized("1")->ToString(), "1.0.0");
  EXPECT_EQ(Semver::ParseNormalized("v1.02")->ToString(), "1.2.0");
  EXPECT_EQ(Semver::ParseNormalized("01.002.0003-rc.1")->ToString(), "1.2.3-rc.1");
  EXPECT_EQ(Semver::ParseNormalized("580.95.05")->ToString(), "580.95.5");
  EXPECT_FALSE(Semver::ParseNormalized("x1.2.3").ok());
  EXPECT_FALSE(Semver::ParseNormalized("").ok());
}

}  // namespace
}  // namespace migdra::api
