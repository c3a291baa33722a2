#include "stream/websocket.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

namespace migdra::stream {
namespace {

constexpr std::string_view kHandshakeGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool IsControl(uint8_t opcode) { return (opcode & 0x8) != 0; }

}  // namespace

std::string AcceptKey(std::string_view client_key) {
  const std::string text = std::string(client_key) + std::string(kHandshakeGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  unsigned char encoded[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  const int length = EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<size_t>(length));
}

std::variant<std::optional<WsMessage>, WsError> WebSocketReader::Next(std::string& received) {
  for (;;) {
    if (received.size() < 2) return std::optional<WsMessage>();
    const auto byte = [&](size_t i) { return static_cast<uint8_t>(received[i]); };
    const bool fin = (byte(0) & 0x80) != 0;
    const uint8_t opcode = byte(0) & 0x0F;
    if ((byte(0) & 0x70) != 0) return WsError{kWsCloseProtocolError, "reserved bits set"};
    if ((byte(1) & 0x80) == 0) return WsError{kWsCloseProtocolError, "client frame not masked"};
    uint64_t length = byte(1) & 0x7F;
    size_t offset = 2;
    if (length == 126) {
      if (received.size() < 4) return std::optional<WsMessage>();
      length = (uint64_t{byte(2)} << 8) | byte(3);
      offset = 4;
    } else if (length == 127) {
      if (received.size() < 10) return std::optional<WsMessage>();
      length = 0;
      for (size_t i = 0; i < 8; ++i) length = (length << 8) | byte(2 + i);
      offset = 10;
    }
    if (IsControl(opcode) && (length > 125 || !fin)) {
      return WsError{kWsCloseProtocolError, "malformed control frame"};
    }
    // Compared by subtraction: a 64-bit length near 2^64 plus the buffered part would wrap.
    if (!IsControl(opcode) && length > max_message_bytes_ - message_.size()) {
      return WsError{kWsCloseTooBig, "message larger than " + std::to_string(max_message_bytes_)};
    }
    if (received.size() < offset + 4 + length) return std::optional<WsMessage>();
    const size_t mask_at = offset;
    std::string payload = received.substr(offset + 4, length);
    for (size_t i = 0; i < payload.size(); ++i) {
      payload[i] = static_cast<char>(payload[i] ^ received[mask_at + (i % 4)]);
    }
    received.erase(0, offset + 4 + length);
    if (IsControl(opcode)) {
      if (opcode != 0x8 && opcode != 0x9 && opcode != 0xA) {
        return WsError{kWsCloseProtocolError, "unknown control opcode"};
      }
      return std::optional<WsMessage>(WsMessage{static_cast<WsOpcode>(opcode), std::move(payload)});
    }
    if (opcode == 0x0) {
      if (!in_message_) return WsError{kWsCloseProtocolError, "continuation without a message"};
    } else if (opcode == 0x1 || opcode == 0x2) {
      if (in_message_) return WsError{kWsCloseProtocolError, "new message inside a fragmented one"};
      in_message_ = true;
      message_opcode_ = static_cast<WsOpcode>(opcode);
    } else {
      return WsError{kWsCloseProtocolError, "unknown data opcode"};
    }
    message_ += payload;
    if (fin) {
      in_message_ = false;
      WsMessage message{message_opcode_, std::move(message_)};
      message_.clear();
      return std::optional<WsMessage>(std::move(message));
    }
  }
}

std::string EncodeFrame(WsOpcode opcode, std::string_view payload) {
  std::string frame;
  frame.reserve(payload.size() + 10);
  frame.push_back(static_cast<char>(0x80 | static_cast<uint8_t>(opcode)));
  const uint64_t length = payload.size();
  if (length < 126) {
    frame.push_back(static_cast<char>(length));
  } else if (length <= 0xFFFF) {
    frame.push_back(static_cast<char>(126));
    frame.push_back(static_cast<char>(length >> 8));
    frame.push_back(static_cast<char>(length & 0xFF));
  } else {
    frame.push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8) {
      frame.push_back(static_cast<char>((length >> shift) & 0xFF));
    }
  }
  frame.append(payload);
  return frame;
}

std::string ClosePayload(uint16_t code, std::string_view reason) {
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  payload.append(reason.substr(0, 123));
  return payload;
}

bool WebSocketConnection::Receive(std::vector<std::string>& messages) {
  const bool open = transport_.ReadAvailable(received_);
  for (;;) {
    auto next = reader_.Next(received_);
    if (auto* error = std::get_if<WsError>(&next)) {
      Close(error->close_code, error->message);
      return false;
    }
    std::optional<WsMessage>& message = std::get<std::optional<WsMessage>>(next);
    if (!message) break;
    switch (message->opcode) {
      case WsOpcode::kPing:
        if (!close_sent_ && !transport_.Write(EncodeFrame(WsOpcode::kPong, message->payload))) {
          return false;
        }
        break;
      case WsOpcode::kClose:
        Close(kWsCloseNormal, "");
        return false;
      case WsOpcode::kText:
      case WsOpcode::kBinary:
        messages.push_back(std::move(message->payload));
        break;
      default:
        break;
    }
  }
  return open;
}

bool WebSocketConnection::SendBinary(std::string_view payload) {
  return !close_sent_ && transport_.Write(EncodeFrame(WsOpcode::kBinary, payload));
}

void WebSocketConnection::Close(uint16_t code, std::string_view reason) {
  if (close_sent_) return;
  close_sent_ = true;
  transport_.Write(EncodeFrame(WsOpcode::kClose, ClosePayload(code, reason)));
}

}  // namespace migdra::stream
