// The text of a CRI container log (common/cri_log.h), as containerd writes a container's
// log_path.
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
