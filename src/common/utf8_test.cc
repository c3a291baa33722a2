#include "common/utf8.h"

#include <gtest/gtest.h>

namespace migdra {
namespace {

TEST(Utf8, DecodesShortestFormsUpToU10FFFF) {
  char32_t rune = 0;
  EXPECT_EQ(DecodeUtf8Rune("a", 0, rune), 1u);
  EXPECT_EQ(rune, U'a');
  EXPECT_EQ(DecodeUtf8Rune("\xc3\xa9", 0, rune), 2u);
  EXPECT_EQ(rune, U'\u00e9');
  EXPECT_EQ(DecodeUtf8Rune("x\xe2\x82\xac", 1, rune), 3u);
  EXPECT_EQ(rune, U'\u20ac');
  EXPECT_EQ(DecodeUtf8Rune("\xf4\x8f\xbf\xbf", 0, rune), 4u);
  EXPECT_EQ(rune, U'\U0010ffff');
}

TEST(Utf8, RefusesOverlongSurrogatesTruncatedAndOutOfRange) {
  char32_t rune = 0;
  EXPECT_EQ(DecodeUtf8Rune("\xc0\xaf", 0, rune), 0u);          // overlong '/'
  EXPECT_EQ(DecodeUtf8Rune("\xe0\x80\xaf", 0, rune), 0u);      // overlong '/'
  EXPECT_EQ(DecodeUtf8Rune("\xed\xa0\x80", 0, rune), 0u);      // U+D800
  EXPECT_EQ(DecodeUtf8Rune("\xf4\x90\x80\x80", 0, rune), 0u);  // U+110000
  EXPECT_EQ(DecodeUtf8Rune("\xe2\x82", 0, rune), 0u);          // truncated
  EXPECT_EQ(DecodeUtf8Rune("\x80", 0, rune), 0u);              // continuation first
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac"));
  EXPECT_FALSE(IsValidUtf8("caf\xc3"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
}

TEST(Utf8, ReplacesEachByteWhereNoRuneStarts) {
  EXPECT_EQ(ReplaceInvalidUtf8("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(ReplaceInvalidUtf8("a\xff"
                               "b"),
            "a\xef\xbf\xbd"
            "b");
  // Go's utf8.DecodeRune consumes one byte of a truncated, overlong or surrogate sequence.
  EXPECT_EQ(ReplaceInvalidUtf8("\xe2\x82"), "\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(ReplaceInvalidUtf8("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(ReplaceInvalidUtf8("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

}  // namespace
}  // namespace migdra
