#include "control/pod_logs.h"

#include <gtest/gtest.h>

#include <map>

namespace migdra::control {
namespace {

constexpr int64_t kSecond = 1'000'000'000;
// 2026-12-06T05:00:00Z
constexpr int64_t kFive = 1796533200 * kSecond;

const char* kLog =
    "2026-12-06T05:00:00.000000001Z stdout F one\n"
    "2026-12-06T05:00:01Z stderr P tw\n"
    "2026-12-06T05:00:01.5Z stderr F o\n"
    "2026-12-06T06:00:02.25+01:00 stdout F three\n";

Result<PodLogOptions> Parse(const std::map<std::string, std::string>& query,
                            int64_t now = kFive + 10 * kSecond) {
  return ParsePodLogOptions(
      [&](const std::string& key) -> std::optional<std::string> {
        auto it = query.find(key);
        return it == query.end() ? std::nullopt : std::optional(it->second);
      },
      "p", now);
}

std::string Read(const std::map<std::string, std::string>& query, const std::string& log = kLog) {
  Result<PodLogOptions> options = Parse(query);
  EXPECT_TRUE(options.ok()) << options.error().message;
  PodLogReader reader(*options);
  std::string text = reader.Add(log);
  return text + reader.Finish();
}

TEST(PodLogReader, JoinsPartialLinesAndKeepsTextNotInTheFormat) {
  EXPECT_EQ(Read({}), "one\ntwo\nthree\n");
  EXPECT_EQ(Read({}, "plain\nno newline"), "plain\nno newline");
  EXPECT_EQ(Read({}, ""), "");
}

TEST(PodLogReader, TailLinesCountsTheLogFilesLinesAsTheKubeletDoes) {
  // "two" is two lines of the file (P tw, F o): the last two are "o" and "three".
  EXPECT_EQ(Read({{"tailLines", "2"}}), "o\nthree\n");
  EXPECT_EQ(Read({{"tailLines", "3"}}), "two\nthree\n");
  EXPECT_EQ(Read({{"tailLines", "1"}}), "three\n");
  EXPECT_EQ(Read({{"tailLines", "0"}}), "");
  EXPECT_EQ(Read({{"tailLines", "9"}}), "one\ntwo\nthree\n");
  EXPECT_EQ(Read({{"tailLines", "1"}},
                 "2026-12-06T05:00:00Z stdout F a\n2026-12-06T05:00:00Z stdout P b\n"),
            "b");
  // A last file line still being written is shown but not counted.
  EXPECT_EQ(Read({{"tailLines", "1"}},
                 "2026-12-06T05:00:00Z stdout F a\n2026-12-06T05:00:00Z stdout F b\n2026-12-06T0"),
            "b\n2026-12-06T0");
}

TEST(PodLogReader, SinceKeepsLinesLoggedAtOrAfter) {
  EXPECT_EQ(Read({{"sinceTime", "2026-12-06T05:00:01Z"}}), "two\nthree\n");
  // sinceTime reaches the kubelet in whole seconds.
  EXPECT_EQ(Read({{"sinceTime", "2026-12-06T05:00:02.9Z"}}), "three\n");
  // now is 05:00:10: 8 s back is 05:00:02, at or before three only.
  EXPECT_EQ(Read({{"sinceSeconds", "8"}}), "three\n");
  EXPECT_EQ(Read({{"sinceSeconds", "9"}}), "two\nthree\n");
  EXPECT_EQ(Read({{"sinceTime", "2026-12-06T05:00:01Z"}}, "untimed\n"), "untimed\n");
}

TEST(PodLogReader, TimestampsPrefixEachLineWithNineDigitsOfFraction) {
  EXPECT_EQ(Read({{"timestamps", "true"}}),
            "2026-12-06T05:00:00.000000001Z one\n"
            "2026-12-06T05:00:01.000000000Z two\n"
            "2026-12-06T06:00:02.250000000+01:00 three\n");
}

TEST(PodLogReader, LimitBytesStopsAfterThatManyBytes) {
  EXPECT_EQ(Read({{"limitBytes", "6"}}), "one\ntw");
  EXPECT_EQ(Read({{"limitBytes", "6"}, {"tailLines", "1"}, {"timestamps", "1"}}), "2026-1");
  Result<PodLogOptions> options = Parse({{"limitBytes", "5"}});
  PodLogReader reader(*options);
  EXPECT_EQ(reader.Add("2026-12-06T05:00:00Z stdout F abc\n"), "abc\n");
  EXPECT_FALSE(reader.Done());
  EXPECT_EQ(reader.Add("2026-12-06T05:00:00Z stdout F def\n"), "d");
  EXPECT_TRUE(reader.Done());
}

TEST(PodLogReader, PiecesWaitForTheirNewline) {
  Result<PodLogOptions> options = Parse({{"tailLines", "1"}});
  PodLogReader reader(*options);
  EXPECT_EQ(reader.Add("2026-12-06T05:00:00Z stdout F a\n2026-12-06T05:00:00Z stdout F b\n20"),
            "b\n");
  EXPECT_EQ(reader.Add("26-12-06T05:00:00Z stdout F c\n"), "c\n");  // tail applies once
  EXPECT_EQ(reader.Add("2026-12-06T05:00:00Z stdout F d"), "");
  EXPECT_EQ(reader.Finish(), "d\n");
}

TEST(ParsePodLogOptions, BooleansAreFalseOnlyWhenAbsentZeroOrFalse) {
  for (const char* yes : {"true", "1", "yes", "", "T", "on"}) {
    Result<PodLogOptions> options =
        Parse({{"follow", yes}, {"previous", yes}, {"timestamps", yes}});
    ASSERT_TRUE(options.ok()) << yes;
    EXPECT_TRUE(options->follow && options->previous && options->timestamps) << yes;
  }
  for (const char* no : {"false", "FALSE", "False", "0"}) {
    Result<PodLogOptions> options = Parse({{"follow", no}, {"previous", no}, {"timestamps", no}});
    ASSERT_TRUE(options.ok()) << no;
    EXPECT_FALSE(options->follow || options->previous || options->timestamps) << no;
  }
  Result<PodLogOptions> absent = Parse({});
  EXPECT_FALSE(absent->follow || absent->previous || absent->timestamps);
}

TEST(ParsePodLogOptions, AnswersAsTheApiServer) {
  Result<PodLogOptions> bad = Parse({{"tailLines", "x"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().reason, ErrorReason::kBadRequest);
  EXPECT_EQ(bad.error().message, "strconv.ParseInt: parsing \"x\": invalid syntax");
  // The first field that does not decode, in PodLogOptions' order, is the answer.
  bad = Parse({{"tailLines", "x"}, {"limitBytes", "y"}, {"sinceSeconds", "z"}});
  EXPECT_EQ(bad.error().message, "strconv.ParseInt: parsing \"z\": invalid syntax");
  bad = Parse({{"tailLines", "x"}, {"sinceTime", "now"}});
  EXPECT_EQ(bad.error().message,
            "parsing time \"now\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"now\" as RFC "
            "3339");

  Result<PodLogOptions> invalid = Parse({{"tailLines", "-1"}});
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().reason, ErrorReason::kInvalid);
  EXPECT_EQ(invalid.error().message,
            "PodLogOptions \"p\" is invalid: tailLines: Invalid value: -1: must be greater than "
            "or equal to 0");
  EXPECT_EQ(invalid.error().causes[0].field, "tailLines");
  invalid = Parse({{"limitBytes", "0"}, {"sinceSeconds", "0"}});
  EXPECT_EQ(invalid.error().message,
            "PodLogOptions \"p\" is invalid: [limitBytes: Invalid value: 0: must be greater than "
            "0, sinceSeconds: Invalid value: 0: must be greater than 0]");
  invalid = Parse({{"sinceSeconds", "5"}, {"sinceTime", "2026-12-06T05:00:00Z"}});
  EXPECT_EQ(invalid.error().message,
            "PodLogOptions \"p\" is invalid: : Forbidden: at most one of `sinceTime` or "
            "`sinceSeconds` may be specified");
}

}  // namespace
}  // namespace migdra::control
