// The CRI container log format, as containerd writes a container's log_path:
//   TIMESTAMP STREAM TAG CONTENT\n
// with TIMESTAMP in RFC 3339 with nanoseconds, STREAM `stdout` or `stderr`, TAG `F` (the
// content ends a line) or `P` (a partial line, continued by the next entry).
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace migdra::cri {

// The container's output as it wrote it (both streams, in order), for `kubectl logs`. A line
// not in the format (a truncated last write) is kept as it is.
std::string DecodeCriLog(std::string_view log);

}  // namespace migdra::cri
