#include "control/http_request.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <optional>

namespace migdra::control {
namespace {

Error BadRequest(std::string message) {
  return MakeError(ErrorReason::kBadRequest, std::move(message));
}

Error TooLarge(size_t limit) {
  return MakeError(
      ErrorReason::kRequestEntityTooLarge,
      "the request body is larger than the limit of " + std::to_string(limit) + " bytes");
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) { return Lower(a) == Lower(b); }

// Whether `value` is "false" as Go's strings.EqualFold compares: ASCII letters in either case,
// and U+017F LATIN SMALL LETTER LONG S for the 's', which Unicode case folding makes one with it.
bool FoldsToFalse(std::string_view value) {
  constexpr std::string_view kLongS = "\xC5\xBF";
  size_t at = 0;
  for (char letter : std::string_view("false")) {
    if (letter == 's' && value.substr(at, kLongS.size()) == kLongS) {
      at += kLongS.size();
      continue;
    }
    if (at == value.size() || std::tolower(static_cast<unsigned char>(value[at])) != letter) {
      return false;
    }
    ++at;
  }
  return at == value.size();
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 9110 tchar: the characters of a method or field name.
bool IsTokenChar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTokenChar);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = HexValue(s[i + 1]);
      const int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

// Splits `s` at the first `separator`; the second part is empty when there is none.
std::pair<std::string_view, std::string_view> SplitOnce(std::string_view s, char separator) {
  const size_t at = s.find(separator);
  if (at == std::string_view::npos) return {s, {}};
  return {s.substr(0, at), s.substr(at + 1)};
}

Result<bool> ParseTarget(std::string_view target, RequestHead& head) {
  if (target.empty() || target.front() != '/') {
    return BadRequest("the request target must be a path starting with '/'");
  }
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return BadRequest("the request target contains a control character");
    }
  }
  auto [raw_path, raw_query] = SplitOnce(target.substr(0, target.find('#')), '?');
  std::optional<std::string> path = PercentDecode(raw_path, false);
  if (!path) return BadRequest("invalid percent-encoding in the path");
  head.path = std::move(*path);
  while (!raw_query.empty()) {
    auto [pair, rest] = SplitOnce(raw_query, '&');
    raw_query = rest;
    if (pair.empty()) continue;
    auto [raw_key, raw_value] = SplitOnce(pair, '=');
    std::optional<std::string> key = PercentDecode(raw_key, true);
    std::optional<std::string> value = PercentDecode(raw_value, true);
    if (!key || !value) return BadRequest("invalid percent-encoding in the query");
    head.query.emplace(std::move(*key), std::move(*value));
  }
  return true;
}

}  // namespace

std::string RequestHead::Field(std::string_view lower_name) const {
  for (const auto& [name, value] : fields) {
    if (name == lower_name) return value;
  }
  return "";
}

bool RequestHead::KeepAlive() const {
  bool close = false;
  bool keep_alive = false;
  for (std::string_view option : ListItems("connection")) {
    if (EqualsIgnoreCase(option, "close")) close = true;
    if (EqualsIgnoreCase(option, "keep-alive")) keep_alive = true;
  }
  if (close) return false;
  return minor_version >= 1 || keep_alive;
}

bool RequestHead::AcceptsGzip() const {
  for (std::string_view item : ListItems("accept-encoding")) {
    auto [coding, parameters] = SplitOnce(item, ';');
    if (!EqualsIgnoreCase(Trim(coding), "gzip")) continue;
    std::string q = Lower(Trim(parameters));
    q.erase(std::remove(q.begin(), q.end(), ' '), q.end());
    if (q.rfind("q=0", 0) == 0 && q.find_first_not_of("q=0.", 0) == std::string::npos) continue;
    return true;
  }
  return false;
}

std::vector<std::string_view> RequestHead::ListItems(std::string_view lower_name) const {
  std::vector<std::string_view> items;
  for (const auto& [name, value] : fields) {
    if (name != lower_name) continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      auto [item, tail] = SplitOnce(rest, ',');
      rest = tail;
      if (!Trim(item).empty()) items.push_back(Trim(item));
    }
  }
  return items;
}

std::optional<std::string> QueryValue(const std::multimap<std::string, std::string>& query,
                                      const std::string& key) {
  // lower_bound, not find: of equal keys, the first sent (a multimap keeps their order).
  auto first = query.lower_bound(key);
  if (first == query.end() || first->first != key) return std::nullopt;
  return first->second;
}

bool QueryBool(const std::optional<std::string>& first_value) {
  return first_value && *first_value != "0" && !FoldsToFalse(*first_value);
}

size_t HeadLength(std::string_view received) {
  size_t start = 0;
  while (received.substr(start, 2) == "\r\n") start += 2;
  const size_t end = received.find("\r\n\r\n", start);
  return end == std::string_view::npos ? 0 : end + 4;
}

Result<RequestHead> ParseRequestHead(std::string_view head) {
  while (head.substr(0, 2) == "\r\n") head.remove_prefix(2);
  if (head.size() < 4 || head.substr(head.size() - 4) != "\r\n\r\n") {
    return BadRequest("the request head does not end with an empty line");
  }
  head.remove_suffix(2);  // each line, the last one included, now ends with CRLF
  RequestHead out;
  const size_t line_end = head.find("\r\n");
  std::string_view line = head.substr(0, line_end);
  head.remove_prefix(line_end + 2);

  auto [method, rest] = SplitOnce(line, ' ');
  auto [target, version] = SplitOnce(rest, ' ');
  if (!IsToken(method)) return BadRequest("malformed request line");
  if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." ||
      (version[7] != '0' && version[7] != '1')) {
    if (version.substr(0, 5) == "HTTP/" && version.find(' ') == std::string_view::npos) {
      return MakeError(
          ErrorReason::kHttpVersionNotSupported,
          "HTTP version " + std::string(version.substr(5)) + " is not supported; use HTTP/1.1");
    }
    return BadRequest("malformed request line");
  }
  out.method = std::string(method);
  out.target = std::string(target);
  out.minor_version = version[7] - '0';
  Result<bool> parsed_target = ParseTarget(target, out);
  if (!parsed_target.ok()) return parsed_target.error();

  while (!head.empty()) {
    const size_t end = head.find("\r\n");
    std::string_view field = head.substr(0, end);
    head.remove_prefix(end + 2);
    if (field.front() == ' ' || field.front() == '\t') {
      return BadRequest("folded header field lines are not allowed");
    }
    const size_t colon = field.find(':');
    if (colon == std::string_view::npos || !IsToken(field.substr(0, colon))) {
      return BadRequest("malformed header field");
    }
    std::string_view value = Trim(field.substr(colon + 1));
    for (char c : value) {
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
        return BadRequest("a header field value contains a control character");
      }
    }
    out.fields.emplace_back(Lower(field.substr(0, colon)), std::string(value));
  }
  const auto count = [&out](std::string_view name) {
    return std::count_if(out.fields.begin(), out.fields.end(),
                         [name](const auto& f) { return f.first == name; });
  };
  if (count("content-length") > 1) return BadRequest("several Content-Length fields");
  if (count("transfer-encoding") > 0 && out.minor_version == 0) {
    return BadRequest("Transfer-Encoding is not allowed in HTTP/1.0");
  }
  if (out.minor_version == 1 && count("host") != 1) {
    return BadRequest("an HTTP/1.1 request needs exactly one Host field");
  }
  return out;
}

Result<BodyFraming> BodyFramingOf(const RequestHead& head, size_t max_body_bytes) {
  BodyFraming framing;
  bool has_transfer_encoding = false;
  bool has_content_length = false;
  std::string transfer_encoding;
  for (const auto& [name, value] : head.fields) {
    if (name == "content-length") has_content_length = true;
    if (name != "transfer-encoding") continue;
    has_transfer_encoding = true;
    transfer_encoding += (transfer_encoding.empty() ? "" : ",") + value;
  }
  if (has_transfer_encoding) {
    if (has_content_length) {
      return BadRequest("a request cannot have both Transfer-Encoding and Content-Length");
    }
    if (!EqualsIgnoreCase(Trim(transfer_encoding), "chunked")) {
      return MakeError(
          ErrorReason::kNotImplemented,
          "unsupported Transfer-Encoding \"" + transfer_encoding + "\"; only chunked is supported");
    }
    framing.kind = BodyFraming::Kind::kChunked;
  } else if (has_content_length) {
    const std::string content_length = head.Field("content-length");
    if (content_length.empty() || content_length.size() > 19 ||
        !std::all_of(content_length.begin(), content_length.end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
      return BadRequest("invalid Content-Length \"" + content_length + "\"");
    }
    framing.length = std::stoull(content_length);
    if (framing.length > max_body_bytes) return TooLarge(max_body_bytes);
    if (framing.length > 0) framing.kind = BodyFraming::Kind::kLength;
  }
  const std::string expect = head.Field("expect");
  if (!expect.empty()) {
    if (!EqualsIgnoreCase(Trim(expect), "100-continue")) {
      return MakeError(ErrorReason::kExpectationFailed,
                       "unsupported expectation \"" + expect + "\"");
    }
    framing.expect_continue = framing.kind != BodyFraming::Kind::kNone;
  }
  return framing;
}

Result<bool> ChunkedDecoder::Feed(std::string& received, std::string& body) {
  size_t pos = 0;
  auto consume = [&received, &pos] { received.erase(0, pos); };
  while (stage_ != Stage::kDone) {
    if (stage_ == Stage::kData) {
      const size_t take = std::min(chunk_left_, received.size() - pos);
      body.append(received, pos, take);
      pos += take;
      chunk_left_ -= take;
      if (chunk_left_ > 0) break;
      stage_ = Stage::kDataEnd;
      continue;
    }
    const size_t end = received.find("\r\n", pos);
    if (end == std::string::npos) {
      if (received.size() - pos > kMaxChunkLineBytes) {
        consume();
        return BadRequest("a chunk size line or trailer field is too long");
      }
      break;
    }
    if (end - pos > kMaxChunkLineBytes) {
      consume();
      return BadRequest("a chunk size line or trailer field is too long");
    }
    std::string_view line(received.data() + pos, end - pos);
    pos = end + 2;
    if (stage_ == Stage::kDataEnd) {
      if (!line.empty()) {
        consume();
        return BadRequest("chunk data is not followed by CRLF");
      }
      stage_ = Stage::kSize;
    } else if (stage_ == Stage::kTrailer) {
      if (line.empty()) stage_ = Stage::kDone;
    } else {  // kSize
      std::string_view digits = Trim(line.substr(0, line.find(';')));
      size_t size = 0;
      if (digits.empty() || digits.size() > 15) {
        consume();
        return BadRequest("invalid chunk size");
      }
      for (char c : digits) {
        const int v = HexValue(c);
        if (v < 0) {
          consume();
          return BadRequest("invalid chunk size");
        }
        size = size * 16 + static_cast<size_t>(v);
      }
      if (size > max_body_bytes_ - std::min(max_body_bytes_, body.size())) {
        consume();
        return TooLarge(max_body_bytes_);
      }
      chunk_left_ = size;
      stage_ = size == 0 ? Stage::kTrailer : Stage::kData;
    }
  }
  consume();
  return stage_ == Stage::kDone;
}

Result<std::string> DecodeContent(std::string_view encoding, std::string body,
                                  size_t max_decoded_bytes) {
  const std::string name = Lower(Trim(encoding));
  if (name.empty() || name == "identity") return body;
  int window_bits = 0;
  if (name == "gzip" || name == "x-gzip") {
    window_bits = 16 + MAX_WBITS;
  } else if (name == "deflate") {
    window_bits = MAX_WBITS;
  } else {
    return MakeError(ErrorReason::kUnsupportedMediaType, "unsupported Content-Encoding \"" +
                                                             std::string(encoding) +
                                                             "\"; use gzip, deflate or none");
  }
  z_stream stream{};
  if (inflateInit2(&stream, window_bits) != Z_OK) {
    return MakeError(ErrorReason::kInternal, "cannot start inflating the request body");
  }
  std::string out;
  char buffer[16384];
  stream.next_in = reinterpret_cast<Bytef*>(body.data());
  stream.avail_in = static_cast<uInt>(body.size());
  int status = Z_OK;
  while (status != Z_STREAM_END) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof buffer;
    status = inflate(&stream, Z_NO_FLUSH);
    if (status != Z_OK && status != Z_STREAM_END) break;
    out.append(buffer, sizeof buffer - stream.avail_out);
    if (out.size() > max_decoded_bytes) {
      inflateEnd(&stream);
      return TooLarge(max_decoded_bytes);
    }
    if (status == Z_OK && stream.avail_in == 0 && stream.avail_out != 0) break;
  }
  inflateEnd(&stream);
  if (status != Z_STREAM_END) {
    return BadRequest("the request body is not valid " + name + " data");
  }
  return out;
}

std::string GzipCompress(std::string_view data) {
  z_stream stream{};
  deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&stream, static_cast<uLong>(data.size())), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

}  // namespace migdra::control
