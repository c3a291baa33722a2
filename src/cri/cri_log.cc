#include "cri/cri_log.h"

#include "common/cri_log.h"

namespace migdra::cri {

std::string DecodeCriLog(std::string_view log) {
  std::string out;
  out.reserve(log.size());
  while (!log.empty()) {
    const size_t end = log.find('\n');
    CriLogEntry entry = ParseCriLogLine(log.substr(0, end), true);
    log = end == std::string_view::npos ? std::string_view() : log.substr(end + 1);
    out.append(entry.text);
    if (entry.newline) out.push_back('\n');
  }
  return out;
}

}  // namespace migdra::cri
