#include "stream/websocket.h"

#include <gtest/gtest.h>

namespace migdra::stream {
namespace {

// A client frame: masked, as RFC 6455 requires of clients.
std::string ClientFrame(uint8_t first_byte, std::string_view payload) {
  std::string frame(1, static_cast<char>(first_byte));
  const char mask[4] = {0x11, 0x22, 0x33, 0x44};
  if (payload.size() < 126) {
    frame.push_back(static_cast<char>(0x80 | payload.size()));
  } else {
    frame.push_back(static_cast<char>(0x80 | 126));
    frame.push_back(static_cast<char>(payload.size() >> 8));
    frame.push_back(static_cast<char>(payload.size() & 0xFF));
  }
  frame.append(mask, 4);
  for (size_t i = 0; i < payload.size(); ++i) frame.push_back(payload[i] ^ mask[i % 4]);
  return frame;
}

std::optional<WsMessage> NextMessage(WebSocketReader& reader, std::string& received) {
  auto next = reader.Next(received);
  EXPECT_TRUE(std::holds_alternative<std::optional<WsMessage>>(next));
  return std::get<std::optional<WsMessage>>(next);
}

TEST(WebSocket, AcceptKeyIsTheRfcExample) {
  EXPECT_EQ(AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocket, JoinsFragmentsAndPassesPingsBetweenThem) {
  WebSocketReader reader(1 << 20);
  std::string received = ClientFrame(0x02, "\x01hel") + ClientFrame(0x89, "beat") +
                         ClientFrame(0x00, "lo ") + ClientFrame(0x80, std::string(300, 'x'));
  std::optional<WsMessage> ping = NextMessage(reader, received);
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->opcode, WsOpcode::kPing);
  EXPECT_EQ(ping->payload, "beat");
  std::optional<WsMessage> data = NextMessage(reader, received);
  ASSERT_TRUE(data);
  EXPECT_EQ(data->opcode, WsOpcode::kBinary);
  EXPECT_EQ(data->payload, "\x01hello " + std::string(300, 'x'));
  EXPECT_TRUE(received.empty());
}

TEST(WebSocket, WaitsForWholeFrames) {
  WebSocketReader reader(1 << 20);
  const std::string frame = ClientFrame(0x82, "abc");
  std::string received = frame.substr(0, frame.size() - 1);
  EXPECT_FALSE(NextMessage(reader, received));
  received += frame.back();
  std::optional<WsMessage> message = NextMessage(reader, received);
  ASSERT_TRUE(message);
  EXPECT_EQ(message->payload, "abc");
}

TEST(WebSocket, RefusesUnmaskedFramesAndOversizedMessages) {
  WebSocketReader reader(10);
  std::string unmasked = EncodeFrame(WsOpcode::kBinary, "abc");
  auto next = reader.Next(unmasked);
  ASSERT_TRUE(std::holds_alternative<WsError>(next));
  EXPECT_EQ(std::get<WsError>(next).close_code, kWsCloseProtocolError);
  std::string big = ClientFrame(0x82, std::string(11, 'x'));
  next = WebSocketReader(10).Next(big);
  ASSERT_TRUE(std::holds_alternative<WsError>(next));
  EXPECT_EQ(std::get<WsError>(next).close_code, kWsCloseTooBig);
}

// Found by stream_fuzz: a fragment is buffered, then a 64-bit length near 2^64 that wrapped the
// size check to a small number and made the reader cut past the end of its input.
TEST(WebSocket, RefusesA64BitLengthThatWouldWrapPastTheBufferedFragment) {
  WebSocketReader reader(4096);
  std::string received = ClientFrame(0x02, "fragment");
  received += std::string("\x80\xff", 2) + std::string(7, '\xff') + "\xf9" + "mask";
  auto next = reader.Next(received);
  ASSERT_TRUE(std::holds_alternative<WsError>(next));
  EXPECT_EQ(std::get<WsError>(next).close_code, kWsCloseTooBig);
}

TEST(WebSocket, EncodesTheThreeLengthForms) {
  EXPECT_EQ(EncodeFrame(WsOpcode::kBinary, "ab"), std::string("\x82\x02"
                                                              "ab"));
  EXPECT_EQ(EncodeFrame(WsOpcode::kBinary, std::string(200, 'x')).substr(0, 4),
            std::string("\x82\x7e\x00\xc8", 4));
  EXPECT_EQ(EncodeFrame(WsOpcode::kBinary, std::string(70000, 'x')).substr(0, 10),
            std::string("\x82\x7f\x00\x00\x00\x00\x00\x01\x11\x70", 10));
}

}  // namespace
}  // namespace migdra::stream
