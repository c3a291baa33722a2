// libFuzzer target: HTTP/1.1 request parsing (control/http_request.h) on what a client could send
// on a connection: the head is found and parsed, the body framed, a chunked body decoded (at once
// and byte by byte: both must agree) and a Content-Encoding undone, with small limits so that
// the 413 paths run. Nothing may crash, and nothing decoded may exceed its limit.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "control/http_request.h"
#include "fuzz_decode.h"

namespace {

using migdra::Result;
using migdra::fuzz::Require;
namespace control = migdra::control;

constexpr size_t kMaxBody = 4096;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string received(reinterpret_cast<const char*>(data), size);
  const size_t head_length = control::HeadLength(received);
  if (head_length == 0) return 0;
  Result<control::RequestHead> head =
      control::ParseRequestHead(std::string_view(received).substr(0, head_length));
  if (!head.ok()) return 0;
  (void)head->KeepAlive();
  (void)head->AcceptsGzip();
  Result<control::BodyFraming> framing = control::BodyFramingOf(*head, kMaxBody);
  if (!framing.ok()) return 0;
  std::string rest = received.substr(head_length);
  std::string body;
  if (framing->kind == control::BodyFraming::Kind::kLength) {
    Require(framing->length <= kMaxBody, "Content-Length within the limit");
    body = rest.substr(0, framing->length);
  } else if (framing->kind == control::BodyFraming::Kind::kChunked) {
    control::ChunkedDecoder at_once(kMaxBody);
    std::string all = rest;
    Result<bool> done = at_once.Feed(all, body);
    control::ChunkedDecoder bytewise(kMaxBody);
    std::string pending;
    std::string bytewise_body;
    Result<bool> bytewise_done = false;
    for (char c : rest) {
      pending += c;
      bytewise_done = bytewise.Feed(pending, bytewise_body);
      if (!bytewise_done.ok() || *bytewise_done) break;
    }
    Require(done.ok() == bytewise_done.ok(), "chunked decoding does not depend on the pieces");
    if (!done.ok()) return 0;
    Require(*done == *bytewise_done && body == bytewise_body,
            "chunked decoding does not depend on the pieces");
    Require(body.size() <= kMaxBody, "chunked body within the limit");
  }
  Result<std::string> decoded =
      control::DecodeContent(head->Field("content-encoding"), body, kMaxBody);
  if (decoded.ok()) Require(decoded->size() <= kMaxBody, "decoded body within the limit");
  return 0;
}
