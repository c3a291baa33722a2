// libFuzzer target: what a client sends after serve switched protocols (src/stream) and the
// protobuf bodies serve decodes (control/protobuf_body.h). The first byte picks the parser:
// WebSocket frames (the input masked as a client masks it, and as sent), SPDY/3.1 frames with
// compressed header blocks, a protobuf envelope, base64. Nothing may crash; a WebSocket message
// never exceeds its limit; SPDY frames never exceed theirs.
#include <cstddef>
#include <cstdint>
#include <string>

#include "api/config_data.h"
#include "control/protobuf_body.h"
#include "fuzz_decode.h"
#include "stream/spdy.h"
#include "stream/websocket.h"

namespace {

using migdra::fuzz::Require;
namespace stream = migdra::stream;

constexpr size_t kMaxMessage = 4096;

void WebSocket(std::string received) {
  stream::WebSocketReader reader(kMaxMessage);
  for (int i = 0; i < 64; ++i) {
    auto next = reader.Next(received);
    if (std::holds_alternative<stream::WsError>(next)) return;
    auto& message = std::get<std::optional<stream::WsMessage>>(next);
    if (!message) return;
    Require(message->payload.size() <= kMaxMessage, "WebSocket message over its limit");
  }
}

void Spdy(std::string received) {
  stream::SpdyCodec codec;
  for (int i = 0; i < 64; ++i) {
    auto next = codec.Next(received);
    if (!next || !next->has_value()) return;
    Require((*next)->data.size() <= stream::kSpdyMaxFrameBytes, "SPDY frame over its limit");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      WebSocket(input);
      std::string masked = input;  // the first frame's mask bit set, as clients send
      if (masked.size() >= 2) masked[1] = static_cast<char>(masked[1] | 0x80);
      WebSocket(masked);
      break;
    }
    case 1:
      Spdy(input);
      break;
    case 2:
      (void)migdra::control::ProtobufBodyToJson(std::string("k8s\0", 4) + input);
      break;
    default:
      (void)migdra::api::Base64Decode(input);
      break;
  }
  return 0;
}
