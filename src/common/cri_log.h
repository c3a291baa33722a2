// The CRI container log format, as containerd's shim and serve's container shim
// (node/container_shim.h) write a container's log:
//   TIMESTAMP STREAM TAG CONTENT\n
// with TIMESTAMP in RFC 3339 with nanoseconds, STREAM `stdout` or `stderr`, TAG `F` (the content
// ends a line) or `P` (a partial line, continued by the next entry). The one reader of it, for
// `kubectl logs` (control/pod_logs.h), kubectl attach on host processes and the CRI runtime.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string_view>

namespace migdra {

// Nanoseconds since the epoch of an RFC 3339 time (fraction optional, Z or +-HH:MM); nullopt
// when `text` is not one.
inline std::optional<int64_t> ParseRfc3339Nanos(std::string_view text) {
  auto number = [&](size_t at, size_t len) -> std::optional<int> {
    if (at + len > text.size()) return std::nullopt;
    int n = 0;
    for (size_t i = at; i < at + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      n = n * 10 + (text[i] - '0');
    }
    return n;
  };
  auto year = number(0, 4), month = number(5, 2), day = number(8, 2), hour = number(11, 2),
       minute = number(14, 2), second = number(17, 2);
  if (!year || !month || !day || !hour || !minute || !second || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':' || *month < 1 ||
      *month > 12 || *day < 1 || *day > 31 || *hour > 23 || *minute > 59 || *second > 59) {
    return std::nullopt;
  }
  size_t at = 19;
  int64_t nanos = 0;
  if (at < text.size() && text[at] == '.') {
    size_t digits = 0;
    for (++at; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, ++digits) {
      if (digits < 9) nanos = nanos * 10 + (text[at] - '0');
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 9; ++digits) nanos *= 10;
  }
  int offset = 0;
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z') && at + 1 == text.size()) {
  } else if (at + 6 == text.size() && (text[at] == '+' || text[at] == '-') && text[at + 3] == ':' &&
             number(at + 1, 2) && number(at + 4, 2)) {
    offset = (*number(at + 1, 2) * 60 + *number(at + 4, 2)) * 60 * (text[at] == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = *year - 1900;
  tm.tm_mon = *month - 1;
  tm.tm_mday = *day;
  tm.tm_hour = *hour;
  tm.tm_min = *minute;
  tm.tm_sec = *second;
  const int64_t seconds = static_cast<int64_t>(timegm(&tm)) - offset;
  return seconds * 1'000'000'000 + nanos;
}

// One line of a CRI log: TIMESTAMP STREAM F|P TEXT, or a line not in the format (kept as text).
struct CriLogEntry {
  std::optional<int64_t> nanos;  // nullopt: not in the format
  std::string_view timestamp;
  std::string_view text;
  bool ends_line = true;  // F, or a line not in the format
  bool newline = true;    // whether the text is followed by a newline
};

// `line` without its newline; `complete`: whether it had one (a last line may lack it).
inline CriLogEntry ParseCriLogLine(std::string_view line, bool complete) {
  CriLogEntry entry;
  entry.text = line;
  entry.newline = complete;
  const size_t stream = line.find(' ');
  const size_t tag = stream == std::string_view::npos ? stream : line.find(' ', stream + 1);
  if (tag == std::string_view::npos || tag + 2 > line.size() ||
      (line[tag + 1] != 'F' && line[tag + 1] != 'P') ||
      (tag + 2 != line.size() && line[tag + 2] != ' ')) {
    return entry;
  }
  std::optional<int64_t> nanos = ParseRfc3339Nanos(line.substr(0, stream));
  if (!nanos) return entry;
  entry.nanos = nanos;
  entry.timestamp = line.substr(0, stream);
  entry.text = tag + 3 <= line.size() ? line.substr(tag + 3) : std::string_view();
  entry.ends_line = line[tag + 1] == 'F';
  entry.newline = entry.ends_line;
  return entry;
}

}  // namespace migdra
