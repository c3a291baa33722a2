#include "stream/spdy.h"

#include <gtest/gtest.h>

namespace migdra::stream {
namespace {

// Header blocks go through one zlib stream per direction with the draft's dictionary: what one
// codec deflates, another inflates, frame after frame.
TEST(Spdy, HeaderBlocksRoundTripThroughTheDictionary) {
  SpdyCodec sender, receiver;
  std::string wire = sender.SynReply(1, {{"streamtype", "error"}, {"port", "8080"}});
  wire += sender.SynReply(3, {{"streamtype", "data"}, {"requestid", "0"}});
  Result<std::optional<SpdyFrame>> first = receiver.Next(wire);
  ASSERT_TRUE(first && first->has_value());
  EXPECT_EQ((*first)->type, kSpdySynReply);
  EXPECT_EQ((*first)->stream_id, 1u);
  EXPECT_EQ((*first)->Header("streamtype"), "error");
  EXPECT_EQ((*first)->Header("port"), "8080");
  Result<std::optional<SpdyFrame>> second = receiver.Next(wire);
  ASSERT_TRUE(second && second->has_value());
  EXPECT_EQ((*second)->stream_id, 3u);
  EXPECT_EQ((*second)->Header("requestid"), "0");
  EXPECT_TRUE(wire.empty());
}

TEST(Spdy, DataFramesSplitAndCarryFinOnTheLast) {
  SpdyCodec codec;
  std::string wire = SpdyCodec::Data(5, std::string(70000, 'x'), true);
  size_t total = 0;
  int frames = 0;
  bool fin = false;
  while (!wire.empty()) {
    Result<std::optional<SpdyFrame>> frame = codec.Next(wire);
    ASSERT_TRUE(frame && frame->has_value());
    EXPECT_FALSE((*frame)->control);
    EXPECT_EQ((*frame)->stream_id, 5u);
    EXPECT_FALSE(fin) << "FIN before the last frame";
    fin = (*frame)->fin();
    total += (*frame)->data.size();
    ++frames;
  }
  EXPECT_EQ(total, 70000u);
  EXPECT_EQ(frames, 3);
  EXPECT_TRUE(fin);
}

TEST(Spdy, PingRoundTripsAndOtherVersionsAreErrors) {
  SpdyCodec codec;
  std::string wire = SpdyCodec::Ping(7);
  Result<std::optional<SpdyFrame>> ping = codec.Next(wire);
  ASSERT_TRUE(ping && ping->has_value());
  EXPECT_EQ((*ping)->type, kSpdyPing);
  EXPECT_EQ((*ping)->value, 7u);
  std::string version2 = SpdyCodec::Ping(1);
  version2[1] = 2;
  EXPECT_FALSE(codec.Next(version2).ok());
}

}  // namespace
}  // namespace migdra::stream
