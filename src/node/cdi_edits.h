// Reads the CDI specs (JSON, as the driver's cdi.h writes them under its CDI root) and merges
// the container edits of the named CDI devices ("VENDOR/CLASS=NAME"), for the runtimes that do not
// apply CDI themselves: host processes take the environment; containerd 1.6 gets explicit
// devices, mounts and environment in the container's CRI config (src/cri).
//
// The edits of a device are its own containerEdits plus its spec's spec-wide containerEdits
// (once per spec). Environment entries keep their order; a later NAME= replaces an earlier one.
// Device nodes are named by `path` in the container and `hostPath` (default: `path`) on the
// host. Hooks are returned as text so that a caller that cannot run them can say which it did
// not run.
//
// Thread safety: pure function of the files.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace migdra::node {

struct CdiDeviceNode {
  std::string path;         // in the container
  std::string host_path;    // on the host
  std::string permissions;  // "rwm" unless the spec says otherwise
};

struct CdiMount {
  std::string host_path;
  std::string container_path;
  bool read_only = false;  // options contain "ro"
};

struct CdiEdits {
  std::vector<std::string> env;  // NAME=VALUE
  std::vector<CdiDeviceNode> device_nodes;
  std::vector<CdiMount> mounts;
  std::vector<std::string> hooks;  // "HOOK_NAME PATH ARGS..." of the hooks found
};

// The merged edits of `device_ids`, read from the *.json specs in `cdi_root`. Fails when a
// device is not found in any spec.
Result<CdiEdits> ResolveCdiEdits(const std::string& cdi_root,
                                 const std::vector<std::string>& device_ids);

}  // namespace migdra::node
