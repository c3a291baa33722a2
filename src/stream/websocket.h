// WebSocket (RFC 6455) for the streaming subresources of serve's API (pods/exec, pods/attach,
// pods/portforward): the server side of the opening handshake and the frame format, as pure
// functions over bytes so that they are tested without sockets.
//
// Contract:
//  - AcceptKey is Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (base64 of the SHA-1 of
//    the key and the RFC's GUID).
//  - WebSocketReader takes the bytes a connection received and yields whole messages: fragments
//    are joined, control frames (ping, pong, close) come out as they arrive, even between the
//    fragments of a message. Client frames must be masked (1002 otherwise), reserved bits must
//    be clear, control frames at most 125 bytes and unfragmented, and a message at most
//    `max_message_bytes` (1009 above): a violation is an error carrying the close code to send.
//  - EncodeFrame writes one unmasked, unfragmented frame, as a server sends them.
//
// Thread safety: values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"
#include "stream/transport.h"

namespace migdra::stream {

enum class WsOpcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// Close codes (RFC 6455 section 7.4.1).
inline constexpr uint16_t kWsCloseNormal = 1000;
inline constexpr uint16_t kWsCloseProtocolError = 1002;
inline constexpr uint16_t kWsCloseTooBig = 1009;

std::string AcceptKey(std::string_view client_key);

struct WsMessage {
  WsOpcode opcode = WsOpcode::kBinary;  // never kContinuation
  std::string payload;
};

struct WsError {
  uint16_t close_code = kWsCloseProtocolError;
  std::string message;
};

class WebSocketReader {
 public:
  explicit WebSocketReader(size_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

  // Takes the next message from the front of `received` (consuming what it uses): nullopt when
  // more bytes are needed.
  std::variant<std::optional<WsMessage>, WsError> Next(std::string& received);

 private:
  size_t max_message_bytes_;
  bool in_message_ = false;  // between the first fragment of a data message and its last
  WsOpcode message_opcode_ = WsOpcode::kBinary;
  std::string message_;
};

std::string EncodeFrame(WsOpcode opcode, std::string_view payload);
// A close frame's payload: the code, big-endian, then the reason.
std::string ClosePayload(uint16_t code, std::string_view reason);

// A server's end of a WebSocket over a Transport: answers pings with pongs and a close with a
// close, and hands out the data messages.
class WebSocketConnection {
 public:
  explicit WebSocketConnection(Transport& transport, size_t max_message_bytes = 16 << 20)
      : transport_(transport), reader_(max_message_bytes) {}

  // Reads what has arrived, appending its data messages to `messages`; false once the
  // connection ended (closed by the client, broken, or a protocol error, answered with a close).
  bool Receive(std::vector<std::string>& messages);
  bool SendBinary(std::string_view payload);
  // Sends a close frame (once) and stops sending.
  void Close(uint16_t code, std::string_view reason);

 private:
  Transport& transport_;
  WebSocketReader reader_;
  std::string received_;
  bool close_sent_ = false;
};

}  // namespace migdra::stream
