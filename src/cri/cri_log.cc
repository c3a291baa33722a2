#include "cri/cri_log.h"

namespace migdra::cri {

std::string DecodeCriLog(std::string_view log) {
  std::string out;
  out.reserve(log.size());
  while (!log.empty()) {
    size_t end = log.find('\n');
    std::string_view line = log.substr(0, end);
    log = end == std::string_view::npos ? std::string_view() : log.substr(end + 1);
    // TIMESTAMP STREAM TAG CONTENT: skip two fields, read the tag, keep the rest.
    size_t stream = line.find(' ');
    size_t tag = stream == std::string_view::npos ? stream : line.find(' ', stream + 1);
    bool formatted = tag != std::string_view::npos && tag + 2 <= line.size() &&
                     (line[tag + 1] == 'F' || line[tag + 1] == 'P') &&
                     (tag + 2 == line.size() || line[tag + 2] == ' ');
    if (!formatted) {
      out.append(line);
      out.push_back('\n');
      continue;
    }
    if (tag + 3 <= line.size()) out.append(line.substr(tag + 3));
    if (line[tag + 1] == 'F') out.push_back('\n');
  }
  return out;
}

}  // namespace migdra::cri
