// SPDY/3.1 framing (the draft-3.1 protocol that Kubernetes' port-forwarding still speaks, directly
// after an HTTP "Upgrade: SPDY/3.1" or tunnelled inside WebSocket binary messages), server side.
//
// Contract:
//  - SpdyCodec::Next yields whole frames from the bytes received, consuming them: data frames,
//    and the control frames SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS
//    and WINDOW_UPDATE (others are skipped, as the draft says). Header blocks are inflated with
//    the draft's dictionary and one zlib stream per direction; header names arrive lower case.
//    A frame over kSpdyMaxFrameBytes, a version other than 3 or an undecodable header block is
//    an error (the session then ends with GOAWAY PROTOCOL_ERROR).
//  - The encoders write frames the server sends; header blocks share the codec's deflate stream,
//    so frames must be sent in the order they were encoded.
//
// Thread safety: a codec belongs to one session (one thread).
#pragma once

#include <zlib.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace migdra::stream {

inline constexpr uint16_t kSpdySynStream = 1;
inline constexpr uint16_t kSpdySynReply = 2;
inline constexpr uint16_t kSpdyRstStream = 3;
inline constexpr uint16_t kSpdySettings = 4;
inline constexpr uint16_t kSpdyPing = 6;
inline constexpr uint16_t kSpdyGoAway = 7;
inline constexpr uint16_t kSpdyHeaders = 8;
inline constexpr uint16_t kSpdyWindowUpdate = 9;
inline constexpr uint8_t kSpdyFlagFin = 0x01;
inline constexpr uint32_t kSpdyRstProtocolError = 1;
inline constexpr uint32_t kSpdyRstRefusedStream = 3;
inline constexpr uint32_t kSpdyGoAwayProtocolError = 1;
// Largest frame accepted (data frames split what is sent to 32 KiB).
inline constexpr size_t kSpdyMaxFrameBytes = 1 << 20;

using SpdyHeaders = std::vector<std::pair<std::string, std::string>>;

struct SpdyFrame {
  bool control = false;
  uint16_t type = 0;  // control frames
  uint8_t flags = 0;
  uint32_t stream_id = 0;  // data, SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE
  SpdyHeaders headers;     // SYN_STREAM, SYN_REPLY, HEADERS
  uint32_t value = 0;      // RST_STREAM / GOAWAY status, PING id, WINDOW_UPDATE delta
  std::string data;        // data frames

  bool fin() const { return (flags & kSpdyFlagFin) != 0; }
  // The first value of header `lower_name` ("" when absent).
  std::string Header(std::string_view lower_name) const;
};

class SpdyCodec {
 public:
  SpdyCodec();
  ~SpdyCodec();
  SpdyCodec(const SpdyCodec&) = delete;
  SpdyCodec& operator=(const SpdyCodec&) = delete;

  Result<std::optional<SpdyFrame>> Next(std::string& received);

  std::string SynReply(uint32_t stream_id, const SpdyHeaders& headers);
  // Data frames for `data` (split into frames of at most 32 KiB; one empty frame carries a
  // FIN alone).
  static std::string Data(uint32_t stream_id, std::string_view data, bool fin);
  static std::string RstStream(uint32_t stream_id, uint32_t status);
  static std::string Ping(uint32_t id);
  static std::string GoAway(uint32_t last_stream_id, uint32_t status);

 private:
  Result<SpdyHeaders> InflateHeaders(std::string_view block);
  std::string DeflateHeaders(const SpdyHeaders& headers);

  z_stream inflate_{};
  z_stream deflate_{};
};

}  // namespace migdra::stream
