// libFuzzer target: the API server's request path. An input is a sequence of requests separated
// by lines "---", each "METHOD TARGET\nCONTENT-TYPE\nBODY", served in order by an ApiHandler over
// a fresh in-memory store; the target goes through the HTTP request-head parser as a client's
// would, and the content type doubles as the Accept header (for "as=Table"). Whatever the
// requests, nothing may crash, every answer has an HTTP status, every JSON answer is JSON, and a
// watch streams its initial events as JSON lines.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "control/api_handler.h"
#include "control/http_request.h"
#include "control/store.h"
#include "fuzz_decode.h"

namespace {

using migdra::Result;
using migdra::fuzz::Require;
using migdra::fuzz::TakeUntil;
namespace control = migdra::control;

void Serve(const control::ApiHandler& handler, std::string_view record) {
  std::string_view request_line = TakeUntil(record, "\n");
  const std::string_view content_type = TakeUntil(record, "\n");
  control::ApiRequest request;
  request.method = std::string(TakeUntil(request_line, " "));
  const std::string target(request_line);
  Result<control::RequestHead> head =
      control::ParseRequestHead(request.method + " " + target + " HTTP/1.1\r\nHost: fuzz\r\n\r\n");
  if (head.ok()) {
    request.path = head->path;
    request.query = head->query;
  } else {
    request.path = target;
  }
  request.content_type = std::string(content_type);
  request.accept = request.content_type;
  request.body = std::string(record);

  control::ApiResponse response = handler.Handle(request);
  Require(response.status >= 200 && response.status <= 599, "an HTTP status");
  if (response.watch) {
    const std::atomic<bool> stop{true};  // the initial events only
    handler.StreamWatch(
        *response.watch,
        [](const std::string& line) {
          Require(line.empty() || nlohmann::json::accept(line), "watch events are JSON");
          return true;
        },
        stop);
  } else if (response.content_type == "application/json") {
    Require(nlohmann::json::accept(response.body), "JSON answers are JSON");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Result<std::unique_ptr<control::Store>> store = control::Store::Open("");
  Require(store.ok(), "an in-memory store opens");
  const control::ApiHandler handler(**store, "127.0.0.1:6443");
  std::string_view input(reinterpret_cast<const char*>(data), size);
  while (!input.empty()) Serve(handler, TakeUntil(input, "\n---\n"));
  return 0;
}
