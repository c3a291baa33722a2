// Wall-clock time as the Kubernetes API writes it.
//
// Thread safety: pure functions.
#pragma once

#include <ctime>
#include <string>

namespace migdra {

// Now in UTC, RFC 3339 with second precision ("2026-12-06T05:17:08Z"), as metadata timestamps.
inline std::string NowRfc3339() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace migdra
