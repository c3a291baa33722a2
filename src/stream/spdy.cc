#include "stream/spdy.h"

#include <algorithm>

namespace migdra::stream {
namespace {

// The header-compression dictionary of the SPDY/3 draft (section 2.6.10.1), 1423 bytes.
constexpr char kDictionaryText[] =
    "\000\000\000\007options\000\000\000\004head\000\000\000\004post\000\000\000\003put\000\000\000"
    "\006delete\000\000\000\005"
    "trace\000\000\000\006accept\000\000\000\016accept-charset\000\000\000\017accept-enco"
    "ding\000\000\000\017accept-language\000\000\000\015accept-ranges\000\000\000\003age\000"
    "\000\000\005allow\000\000\000\015authorization\000\000\000\015cache-control\000\000\000\012co"
    "nnection\000\000\000\014content-base\000\000\000\020content-encoding\000\000\000\020"
    "content-language\000\000\000\016content-length\000\000\000\020content-lo"
    "cation\000\000\000\013content-md5\000\000\000\015content-range\000\000\000\014conten"
    "t-"
    "type\000\000\000\004date\000\000\000\004etag\000\000\000\006expect\000\000\000\007expires\000"
    "\000\000\004f"
    "rom\000\000\000\004host\000\000\000\010if-match\000\000\000\021if-modified-"
    "since\000\000\000\015"
    "if-none-match\000\000\000\010if-range\000\000\000\023if-unmodified-since"
    "\000\000\000\015last-modified\000\000\000\010location\000\000\000\014max-forwards\000\000\000"
    "\006pragma\000\000\000\022proxy-authenticate\000\000\000\023proxy-authoriza"
    "tion\000\000\000\005range\000\000\000\007referer\000\000\000\013retry-"
    "after\000\000\000\006serve"
    "r\000\000\000\002te\000\000\000\007trailer\000\000\000\021transfer-"
    "encoding\000\000\000\007upgra"
    "de\000\000\000\012user-"
    "agent\000\000\000\004vary\000\000\000\003via\000\000\000\007warning\000\000\000\020ww"
    "w-"
    "authenticate\000\000\000\006method\000\000\000\003get\000\000\000\006status\000\000\000\006200"
    " OK\000\000\000\007version\000\000\000\010HTTP/"
    "1.1\000\000\000\003url\000\000\000\006public\000\000\000\012s"
    "et-cookie\000\000\000\012keep-alive\000\000\000\006origin100101201202205"
    "206300302303304305306307402405406407408409410411"
    "412413414415416417502504505203 Non-Authoritative"
    " Information204 No Content301 Moved Permanently4"
    "00 Bad Request401 Unauthorized403 Forbidden404 N"
    "ot Found500 Internal Server Error501 Not Impleme"
    "nted503 Service UnavailableJan Feb Mar Apr May J"
    "un Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, W"
    "ed, Thu, Fri, Sat, Sun, GMTchunked,text/html,ima"
    "ge/png,image/jpg,image/gif,application/xml,appli"
    "cation/xhtml+xml,text/plain,text/javascript,publ"
    "icprivatemax-age=gzip,deflate,sdchcharset=utf-8c"
    "harset=iso-8859-1,utf-,*,enq=0.";
constexpr size_t kDictionaryBytes = sizeof kDictionaryText - 1;
static_assert(kDictionaryBytes == 1423);

constexpr uint16_t kVersion = 3;
constexpr size_t kDataChunkBytes = 32 * 1024;

uint32_t Be32(std::string_view s, size_t at) {
  return (uint32_t{static_cast<uint8_t>(s[at])} << 24) |
         (uint32_t{static_cast<uint8_t>(s[at + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(s[at + 2])} << 8) |
         uint32_t{static_cast<uint8_t>(s[at + 3])};
}

void Put32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xFF));
}

// The 8-byte head of a control frame.
std::string ControlHead(uint16_t type, uint8_t flags, size_t length) {
  std::string head;
  head.push_back(static_cast<char>(0x80 | (kVersion >> 8)));
  head.push_back(static_cast<char>(kVersion & 0xFF));
  head.push_back(static_cast<char>(type >> 8));
  head.push_back(static_cast<char>(type & 0xFF));
  head.push_back(static_cast<char>(flags));
  head.push_back(static_cast<char>((length >> 16) & 0xFF));
  head.push_back(static_cast<char>((length >> 8) & 0xFF));
  head.push_back(static_cast<char>(length & 0xFF));
  return head;
}

// A control frame whose body is 32-bit words.
std::string ControlFrame(uint16_t type, std::initializer_list<uint32_t> words) {
  std::string out = ControlHead(type, 0, 4 * words.size());
  for (uint32_t word : words) Put32(out, word);
  return out;
}

const Bytef* DictionaryBytes() { return reinterpret_cast<const Bytef*>(kDictionaryText); }

}  // namespace

std::string SpdyFrame::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value.substr(0, value.find('\0'));
  }
  return "";
}

SpdyCodec::SpdyCodec() {
  inflateInit(&inflate_);
  deflateInit(&deflate_, Z_DEFAULT_COMPRESSION);
  deflateSetDictionary(&deflate_, DictionaryBytes(), kDictionaryBytes);
}

SpdyCodec::~SpdyCodec() {
  inflateEnd(&inflate_);
  deflateEnd(&deflate_);
}

Result<SpdyHeaders> SpdyCodec::InflateHeaders(std::string_view block) {
  std::string plain;
  inflate_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(block.data()));
  inflate_.avail_in = static_cast<uInt>(block.size());
  char buffer[4096];
  do {
    inflate_.next_out = reinterpret_cast<Bytef*>(buffer);
    inflate_.avail_out = sizeof buffer;
    const int rc = inflate(&inflate_, Z_SYNC_FLUSH);
    if (rc == Z_NEED_DICT) {
      if (inflateSetDictionary(&inflate_, DictionaryBytes(), kDictionaryBytes) != Z_OK) {
        return MakeError("SPDY header block uses an unknown dictionary");
      }
      continue;
    }
    if (rc == Z_BUF_ERROR) break;  // no progress possible: all input used
    if (rc != Z_OK) return MakeError("SPDY header block does not inflate");
    plain.append(buffer, sizeof buffer - inflate_.avail_out);
    if (plain.size() > kSpdyMaxFrameBytes) return MakeError("SPDY header block too large");
  } while (inflate_.avail_in > 0 || inflate_.avail_out == 0);
  SpdyHeaders headers;
  if (plain.size() < 4) return MakeError("SPDY header block truncated");
  const uint32_t count = Be32(plain, 0);
  size_t at = 4;
  for (uint32_t i = 0; i < count; ++i) {
    std::string parts[2];
    for (std::string& part : parts) {
      if (plain.size() < at + 4) return MakeError("SPDY header block truncated");
      const uint32_t length = Be32(plain, at);
      at += 4;
      if (plain.size() - at < length) return MakeError("SPDY header block truncated");
      part = plain.substr(at, length);
      at += length;
    }
    headers.emplace_back(std::move(parts[0]), std::move(parts[1]));
  }
  return headers;
}

std::string SpdyCodec::DeflateHeaders(const SpdyHeaders& headers) {
  std::string plain;
  Put32(plain, static_cast<uint32_t>(headers.size()));
  for (const auto& [name, value] : headers) {
    Put32(plain, static_cast<uint32_t>(name.size()));
    plain += name;
    Put32(plain, static_cast<uint32_t>(value.size()));
    plain += value;
  }
  std::string out;
  deflate_.next_in = reinterpret_cast<Bytef*>(plain.data());
  deflate_.avail_in = static_cast<uInt>(plain.size());
  char buffer[4096];
  do {
    deflate_.next_out = reinterpret_cast<Bytef*>(buffer);
    deflate_.avail_out = sizeof buffer;
    deflate(&deflate_, Z_SYNC_FLUSH);
    out.append(buffer, sizeof buffer - deflate_.avail_out);
  } while (deflate_.avail_out == 0);
  return out;
}

Result<std::optional<SpdyFrame>> SpdyCodec::Next(std::string& received) {
  using R = Result<std::optional<SpdyFrame>>;
  for (;;) {
    if (received.size() < 8) return R(std::optional<SpdyFrame>());
    const size_t length = Be32(received, 4) & 0xFFFFFF;
    if (length > kSpdyMaxFrameBytes) return MakeError("SPDY frame too large");
    if (received.size() < 8 + length) return R(std::optional<SpdyFrame>());
    const std::string body = received.substr(8, length);
    SpdyFrame frame;
    frame.flags = static_cast<uint8_t>(received[4]);
    frame.control = (static_cast<uint8_t>(received[0]) & 0x80) != 0;
    if (!frame.control) {
      frame.stream_id = Be32(received, 0) & 0x7FFFFFFF;
      frame.data = body;
      received.erase(0, 8 + length);
      return R(std::optional<SpdyFrame>(std::move(frame)));
    }
    const uint16_t version = static_cast<uint16_t>(
        ((static_cast<uint8_t>(received[0]) & 0x7F) << 8) | static_cast<uint8_t>(received[1]));
    frame.type = static_cast<uint16_t>((static_cast<uint8_t>(received[2]) << 8) |
                                       static_cast<uint8_t>(received[3]));
    received.erase(0, 8 + length);
    if (version != kVersion) return MakeError("SPDY version " + std::to_string(version));
    const auto need = [&](size_t bytes) -> Status {
      if (body.size() < bytes) return MakeError("SPDY control frame too short");
      return Status();
    };
    switch (frame.type) {
      case kSpdySynStream:
      case kSpdySynReply:
      case kSpdyHeaders: {
        const size_t block_at = frame.type == kSpdySynStream ? 10 : 4;
        if (Status ok = need(block_at); !ok) return ok.error();
        frame.stream_id = Be32(body, 0) & 0x7FFFFFFF;
        Result<SpdyHeaders> headers = InflateHeaders(std::string_view(body).substr(block_at));
        if (!headers) return headers.error();
        frame.headers = std::move(*headers);
        break;
      }
      case kSpdyRstStream:
      case kSpdyWindowUpdate:
        if (Status ok = need(8); !ok) return ok.error();
        frame.stream_id = Be32(body, 0) & 0x7FFFFFFF;
        frame.value = Be32(body, 4) & (frame.type == kSpdyWindowUpdate ? 0x7FFFFFFF : 0xFFFFFFFF);
        break;
      case kSpdyPing:
        if (Status ok = need(4); !ok) return ok.error();
        frame.value = Be32(body, 0);
        break;
      case kSpdyGoAway:
        if (Status ok = need(4); !ok) return ok.error();
        frame.stream_id = Be32(body, 0) & 0x7FFFFFFF;
        frame.value = body.size() >= 8 ? Be32(body, 4) : 0;
        break;
      case kSpdySettings:
        break;
      default:
        continue;  // unknown control frames are ignored
    }
    return R(std::optional<SpdyFrame>(std::move(frame)));
  }
}

std::string SpdyCodec::SynReply(uint32_t stream_id, const SpdyHeaders& headers) {
  std::string body;
  Put32(body, stream_id & 0x7FFFFFFF);
  body += DeflateHeaders(headers);
  return ControlHead(kSpdySynReply, 0, body.size()) + body;
}

std::string SpdyCodec::Data(uint32_t stream_id, std::string_view data, bool fin) {
  std::string out;
  do {
    const std::string_view chunk = data.substr(0, kDataChunkBytes);
    data.remove_prefix(chunk.size());
    Put32(out, stream_id & 0x7FFFFFFF);
    const uint8_t flags = fin && data.empty() ? kSpdyFlagFin : 0;
    out.push_back(static_cast<char>(flags));
    out.push_back(static_cast<char>((chunk.size() >> 16) & 0xFF));
    out.push_back(static_cast<char>((chunk.size() >> 8) & 0xFF));
    out.push_back(static_cast<char>(chunk.size() & 0xFF));
    out.append(chunk);
  } while (!data.empty());
  return out;
}

std::string SpdyCodec::RstStream(uint32_t stream_id, uint32_t status) {
  return ControlFrame(kSpdyRstStream, {stream_id & 0x7FFFFFFF, status});
}

std::string SpdyCodec::Ping(uint32_t id) { return ControlFrame(kSpdyPing, {id}); }

std::string SpdyCodec::GoAway(uint32_t last_stream_id, uint32_t status) {
  return ControlFrame(kSpdyGoAway, {last_stream_id & 0x7FFFFFFF, status});
}

}  // namespace migdra::stream
