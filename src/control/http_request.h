// HTTP/1.1 request parsing for the API server's transport (http_server.h), as pure functions over
// the bytes a connection has received, so that the parser is tested and fuzzed without sockets.
//
// Contract:
//  - HeadLength finds the end of a request head (request line and header fields, ended by an
//    empty line; empty lines before the request line are skipped as RFC 9112 allows).
//  - ParseRequestHead accepts "METHOD origin-form HTTP/1.x" and CRLF-terminated "name: value"
//    fields; the path is percent-decoded, the query is split at '&' into percent-decoded keys and
//    values ('+' is a space), as Go's net/url does for the Kubernetes API server. Malformed input
//    (control characters or spaces in the target, bad escapes, folded or nameless fields, several
//    Content-Length fields, Transfer-Encoding on HTTP/1.0, no Host on HTTP/1.1) is a 400; an
//    HTTP version other than 1.0 and 1.1 is a 505.
//  - BodyFramingOf tells how the body is delimited: Transfer-Encoding "chunked" (any other
//    transfer coding is a 501; together with Content-Length a 400), or Content-Length (413 when
//    above the limit, before any of it is read), or no body; and whether the client expects a
//    100 (Continue) first (an expectation other than 100-continue is a 417).
//  - ChunkedDecoder limits the decoded size (413) whatever the chunk sizes claim; chunk
//    extensions and trailer fields are read and dropped; each size line and trailer field is
//    limited to kMaxChunkLineBytes (400).
//  - QueryValue tells an absent query parameter from an empty one; QueryBool reads a boolean
//    parameter as the API server's parameter codec does.
//  - DecodeContent undoes Content-Encoding gzip/x-gzip/deflate with a limit on the decoded size
//    (413 as soon as inflating passes it, so a small compressed body never expands in memory);
//    other encodings are a 415.
//
// Thread safety: values and pure functions.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "control/store.h"

namespace migdra::control {

struct RequestHead {
  std::string method;
  std::string target;  // as sent: path and query, still percent-encoded
  std::string path;    // percent-decoded
  std::multimap<std::string, std::string> query;
  int minor_version = 1;  // HTTP/1.<minor_version>
  // Field names in lower case, in the order sent.
  std::vector<std::pair<std::string, std::string>> fields;

  // The first value of the field `lower_name` ("" when absent).
  std::string Field(std::string_view lower_name) const;
  // Whether the connection stays open after this request (HTTP/1.1 unless "Connection: close";
  // HTTP/1.0 only with "Connection: keep-alive").
  bool KeepAlive() const;
  // Whether Accept-Encoding lists gzip (without q=0).
  bool AcceptsGzip() const;
  // The comma-separated items of every field `lower_name`, trimmed.
  std::vector<std::string_view> ListItems(std::string_view lower_name) const;
};

// The first value of the query parameter `key`, in the order sent; nullopt when the query does
// not name it. `?watch` and `?watch=` give "", as Go's url.ParseQuery does.
std::optional<std::string> QueryValue(const std::multimap<std::string, std::string>& query,
                                      const std::string& key);

// A boolean query parameter from its first value (QueryValue), as k8s.io/apimachinery's
// runtime.Convert_Slice_string_To_bool decodes it for every bool of ListOptions (watch,
// allowWatchBookmarks, sendInitialEvents), PodLogOptions, PodExecOptions and PodAttachOptions, and
// as the API server's request info and request metrics read ?watch: absent is false; "0" and
// "false" in any case are false; any other value is true, the empty one of `?watch` or `?watch=`
// and "yes" included. It is never an error.
bool QueryBool(const std::optional<std::string>& first_value);

// The length of the head at the start of `received`, including its empty line; 0 while the head
// is incomplete.
size_t HeadLength(std::string_view received);

Result<RequestHead> ParseRequestHead(std::string_view head);

struct BodyFraming {
  enum class Kind { kNone, kLength, kChunked };
  Kind kind = Kind::kNone;
  size_t length = 0;  // for kLength
  // "Expect: 100-continue": the client waits for an interim 100 answer before sending the body.
  bool expect_continue = false;
};

Result<BodyFraming> BodyFramingOf(const RequestHead& head, size_t max_body_bytes);

inline constexpr size_t kMaxChunkLineBytes = 4096;

class ChunkedDecoder {
 public:
  explicit ChunkedDecoder(size_t max_body_bytes) : max_body_bytes_(max_body_bytes) {}

  // Consumes what it can from the front of `received`, appending chunk data to `body`. Returns
  // true once the last chunk and the trailer section are consumed (what remains in `received` is
  // the next request), false when it needs more bytes.
  Result<bool> Feed(std::string& received, std::string& body);

 private:
  enum class Stage { kSize, kData, kDataEnd, kTrailer, kDone };
  Stage stage_ = Stage::kSize;
  size_t max_body_bytes_;
  size_t chunk_left_ = 0;
};

// The body without its Content-Encoding ("" and "identity" leave it as it is).
Result<std::string> DecodeContent(std::string_view encoding, std::string body,
                                  size_t max_decoded_bytes);

// gzip of `data` (for responses to clients that accept it).
std::string GzipCompress(std::string_view data);

}  // namespace migdra::control
