// Discovery of an NVIDIA driver installation under a driver root: what a container needs from the
// host to run a CUDA program, as the NVIDIA container toolkit's nvcdi library finds it.
//
// The driver root is `/` for a driver installed on the host and `/run/nvidia/driver` under the
// GPU Operator (the driver container's root file system). Every path found is reported twice:
// `host_path` (under the root, what a runtime bind-mounts) and `container_path` (the same path
// with the root stripped, where the container sees it).
//
// What is found, for driver version V (the version NVML reports; inferred from libcuda.so.V or
// libnvidia-ml.so.V when empty):
//  - library folders: the folders of libcuda.so / libnvidia-ml.so that the root's ld cache
//    (<root>/etc/ld.so.cache, glibc's format, parsed here) names, and the standard library
//    folders, keeping those that hold a `lib*.so.V` file;
//  - libraries: every `*.so.V` file in those folders and their `vdpau` subfolders, and the legacy
//    `libnvidia-nvvm70.so.*`;
//  - library links: the symbolic links in those folders that lead to one of the libraries (the
//    sonames such as libcuda.so.1 and the development names such as libcuda.so), with their
//    target text; libcuda.so -> libcuda.so.1 is added when the installation lacks it;
//  - binaries: nvidia-smi, nvidia-debugdump, nvidia-persistenced, nvidia-cuda-mps-control,
//    nvidia-cuda-mps-server, nvidia-imex, nvidia-imex-ctl, the first found along the usual PATH;
//  - firmware: nvidia/V/gsp*.bin under lib/firmware (updates/<kernel>, updates, <kernel>, plain);
//  - IPC sockets that exist: nvidia-persistenced's and nvidia-fabricmanager's socket (/run or
//    /var/run) and the MPS pipe folder /tmp/nvidia-mps;
//  - control device nodes that exist: /dev/nvidia-modeset, /dev/nvidia-uvm-tools,
//    /dev/nvidia-uvm, /dev/nvidiactl, under <root>/dev when the root has them, else under /dev;
//  - the toolkit's hook binary nvidia-cdi-hook under the root (empty when absent).
// Discovery fails when no library of version V is found. It only reads the file system.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace migdra::driver {

struct DriverFile {
  std::string host_path;
  std::string container_path;
};

struct DriverLink {
  std::string host_path;       // the link under the root
  std::string container_path;  // where the link goes in the container
  std::string target;          // the link's text, e.g. "libcuda.so.1"
};

struct DriverInstallation {
  std::string root;
  std::string version;
  std::string dev_root;                      // "/" or the driver root
  std::vector<std::string> library_folders;  // container paths
  std::vector<DriverFile> libraries;
  std::vector<DriverLink> library_links;
  std::vector<DriverFile> binaries;
  std::vector<DriverFile> firmware;
  std::vector<DriverFile> ipc;            // sockets and the MPS folder
  std::vector<DriverFile> control_nodes;  // container path /dev/…, host path on dev_root
  std::string hook_path;                  // host path of nvidia-cdi-hook, or empty
};

struct DriverRootOptions {
  std::string root = "/";
  std::string version;         // NVML's driver version; empty: inferred from the libraries
  std::string kernel_release;  // for the firmware folders; empty: uname's
};

Result<DriverInstallation> DiscoverDriver(const DriverRootOptions& options);

// One entry of glibc's ld.so.cache: the library's soname and its path (inside the root the cache
// belongs to), with glibc's flags (type in the low byte, architecture in the next).
struct LdCacheEntry {
  std::string soname;
  std::string path;
  int32_t flags = 0;
};
// Parses an ld.so.cache: the "glibc-ld.so.cache1.1" format, alone or after the old "ld.so-1.7.0"
// table (which is skipped). Returns the entries of this machine's architecture.
Result<std::vector<LdCacheEntry>> ParseLdCache(std::string_view bytes);

}  // namespace migdra::driver
