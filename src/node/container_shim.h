// The container shim: the supervisor the host-process runtime (runner_process.h, which states
// what it guarantees) starts for each attempt of a container. It is its own small executable,
// `migdra-container-shim`, installed beside `migdra` and linked with nothing but the C library:
// the runner starts one per container, and loading migdra's sixty-odd shared libraries was most of
// the CPU a container start cost. `migdra container-shim` runs the same code, for an installation
// that has only the `migdra` binary.
//
// Protocol between the runtime and the shim:
//   argv   SHIM ATTEMPT_DIR CGROUP|- WORKDIR|- -- ARGV...
//   fd 1   the attempt's log, appended to: the container writes to pipes and the shim records
//          their text there in the CRI log format (common/cri_log.h), each line with its time
//          (what is not yet a line as a partial entry, so that followers see it at once).
//   fd 3   (kGoFd) the read end of a pipe: the shim starts the container only after reading the
//          byte 'g', which the runtime writes once it has recorded the shim's identity.
//   env    the container's environment; when serve runs with an LD_LIBRARY_PATH, that one, and
//          the container's own in kContainerLoaderPath ("set:VALUE" or "unset"), which the shim
//          puts back before it executes the container.
//   ATTEMPT_DIR/mounts  (kMountsRecord, optional) "ro|rw" NUL SOURCE NUL TARGET NUL per bind
//          mount, made in a private mount namespace of the container.
//   ATTEMPT_DIR/exit    (kExitRecord) "CODE RFC3339" written durably once the container and all
//          its descendants are gone.
//
// Thread safety: RunContainerShim is a process's main; the file helpers are reentrant.
#pragma once

#include <string>

namespace migdra::node {

inline constexpr const char* kShimExecutable = "migdra-container-shim";
inline constexpr int kGoFd = 3;
inline constexpr const char* kExitRecord = "exit";
inline constexpr const char* kMountsRecord = "mounts";
inline constexpr const char* kContainerLoaderPath = "MIGDRA_CONTAINER_LD_LIBRARY_PATH";

// Writes `text` to `path` so that a crash leaves either the old file or the whole new one
// (temporary file, fsync, rename, fsync of the folder).
bool WriteDurably(const std::string& path, const std::string& text);
// Writes `text` to an existing file (a cgroup control file) in one write.
bool WriteSmallFile(const std::string& path, const std::string& text);

// The shim's main: argv as above. Returns the process exit code (0 once the exit is recorded).
int RunContainerShim(int argc, char** argv);

}  // namespace migdra::node
