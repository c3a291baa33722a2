#include "cri/cri_log.h"

#include <gtest/gtest.h>

namespace migdra::cri {
namespace {

TEST(DecodeCriLog, JoinsFullAndPartialLinesOfBothStreams) {
  EXPECT_EQ(DecodeCriLog("2026-12-06T05:00:00.000000001Z stdout F hello world\n"
                         "2026-12-06T05:00:00.000000002Z stderr P par\n"
                         "2026-12-06T05:00:00.000000003Z stderr F tial\n"
                         "2026-12-06T05:00:00.000000004Z stdout F \n"),
            "hello world\npartial\n\n");
}

TEST(DecodeCriLog, KeepsTextThatIsNotInTheFormat) {
  EXPECT_EQ(DecodeCriLog("2026-12-06T05:00:00Z stdout"), "2026-12-06T05:00:00Z stdout\n");
  EXPECT_EQ(DecodeCriLog(""), "");
}

}  // namespace
}  // namespace migdra::cri
