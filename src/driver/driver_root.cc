#include "driver/driver_root.h"

#include <fnmatch.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

namespace migdra::driver {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kNewMagic = "glibc-ld.so.cache1.1";  // magic + version
constexpr std::string_view kOldMagic = "ld.so-1.7.0";
constexpr size_t kNewHeaderSize =
    48;                               // magic, version, nlibs, len_strings, flags, pad, ext, unused
constexpr size_t kNewEntrySize = 24;  // flags, key, value, osversion, hwcap
constexpr size_t kOldHeaderSize = 16;  // magic (padded), nlibs
constexpr size_t kOldEntrySize = 12;   // flags, key, value
constexpr int32_t kElfLibc6 = 0x0003;
#if defined(__aarch64__)
constexpr int32_t kThisArch = 0x0a00;
#else
constexpr int32_t kThisArch = 0x0300;
#endif

template <typename T>
T ReadLe(std::string_view bytes, size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

// The libraries' usual folders (what glibc and the toolkit search besides the ld cache).
const std::vector<std::string>& StandardLibraryFolders() {
  static const std::vector<std::string> folders = {
      "/usr/lib64",
      "/usr/lib/x86_64-linux-gnu",
      "/usr/lib/aarch64-linux-gnu",
      "/usr/lib/x86_64-linux-gnu/nvidia/current",
      "/usr/lib/aarch64-linux-gnu/nvidia/current",
      "/lib64",
      "/lib/x86_64-linux-gnu",
      "/lib/aarch64-linux-gnu",
  };
  return folders;
}

class Root {
 public:
  explicit Root(std::string root) : root_(root == "/" ? "" : std::move(root)) {
    while (!root_.empty() && root_.back() == '/') root_.pop_back();
  }
  // The host path of a path inside the root.
  std::string Host(const std::string& inside) const { return root_ + inside; }
  // Follows symbolic links inside the root (absolute targets are taken from the root); returns
  // the inside path of the final file, or empty when it does not exist.
  std::string Resolve(std::string inside) const {
    for (int hops = 0; hops < 40; ++hops) {
      std::error_code ec;
      auto status = fs::symlink_status(Host(inside), ec);
      if (ec || !fs::exists(status)) return {};
      if (!fs::is_symlink(status)) return fs::path(inside).lexically_normal().string();
      fs::path target = fs::read_symlink(Host(inside), ec);
      if (ec) return {};
      inside = target.is_absolute() ? target.string()
                                    : (fs::path(inside).parent_path() / target).string();
    }
    return {};
  }

 private:
  std::string root_;
};

bool Matches(const std::string& pattern, const std::string& name) {
  return ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

// Sorted names of the entries of a folder inside the root.
std::vector<std::string> List(const Root& root, const std::string& folder) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root.Host(folder), ec)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool Exists(const std::string& host_path) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(host_path, ec));
}

std::string KernelRelease() {
  struct utsname u {};
  return ::uname(&u) == 0 ? u.release : "";
}

// The version V of the first libcuda.so.V / libnvidia-ml.so.V (V with at least one dot).
std::string InferVersion(const Root& root, const std::vector<std::string>& folders) {
  for (const std::string prefix : {"libcuda.so.", "libnvidia-ml.so."}) {
    for (const auto& folder : folders) {
      for (const auto& name : List(root, folder)) {
        if (name.rfind(prefix, 0) != 0) continue;
        std::string version = name.substr(prefix.size());
        if (version.find('.') != std::string::npos) return version;
      }
    }
  }
  return {};
}

// Folders (inside paths) to look for driver libraries in: those of libcuda and libnvidia-ml in
// the root's ld cache, then the standard folders.
std::vector<std::string> CandidateFolders(const Root& root) {
  std::vector<std::string> folders;
  std::ifstream in(root.Host("/etc/ld.so.cache"), std::ios::binary);
  if (in) {
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (auto entries = ParseLdCache(bytes); entries.ok()) {
      for (const auto& e : *entries) {
        if (e.soname.rfind("libcuda.so", 0) == 0 || e.soname.rfind("libnvidia-ml.so", 0) == 0) {
          folders.push_back(fs::path(e.path).parent_path().string());
        }
      }
    }
  }
  for (const auto& f : StandardLibraryFolders()) folders.push_back(f);
  std::vector<std::string> unique;
  std::set<std::string> seen;
  for (auto& f : folders) {
    if (seen.insert(f).second) unique.push_back(f);
  }
  return unique;
}

void AddLibraries(const Root& root, const std::string& folder, const std::string& version,
                  DriverInstallation& out, std::set<std::string>& seen) {
  for (const auto& name : List(root, folder)) {
    if (!Matches("*.so." + version, name) && !Matches("libnvidia-nvvm70.so.*", name)) continue;
    std::string real = root.Resolve(folder + "/" + name);
    if (real.empty() || !seen.insert(real).second) continue;
    out.libraries.push_back({root.Host(real), real});
  }
}

}  // namespace

Result<std::vector<LdCacheEntry>> ParseLdCache(std::string_view bytes) {
  size_t start = 0;
  if (bytes.substr(0, kOldMagic.size()) == kOldMagic) {
    if (bytes.size() < kOldHeaderSize) return MakeError("ld.so.cache: truncated old header");
    uint64_t old_entries = ReadLe<uint32_t>(bytes, 12);
    start = kOldHeaderSize + old_entries * kOldEntrySize;
    start = (start + 7) & ~size_t{7};  // the new table is aligned like its 64-bit fields
  }
  if (start > bytes.size() || bytes.size() - start < kNewHeaderSize ||
      bytes.substr(start, kNewMagic.size()) != kNewMagic) {
    return MakeError("ld.so.cache: no \"glibc-ld.so.cache1.1\" table");
  }
  std::string_view table = bytes.substr(start);  // string offsets count from here
  uint64_t count = ReadLe<uint32_t>(table, 20);
  if (count > (table.size() - kNewHeaderSize) / kNewEntrySize) {
    return MakeError("ld.so.cache: " + std::to_string(count) + " entries do not fit the file");
  }
  auto string_at = [&](uint32_t offset) -> Result<std::string> {
    if (offset >= table.size()) return MakeError("ld.so.cache: string offset out of range");
    size_t end = table.find('\0', offset);
    if (end == std::string_view::npos) return MakeError("ld.so.cache: unterminated string");
    return std::string(table.substr(offset, end - offset));
  };
  std::vector<LdCacheEntry> entries;
  for (uint64_t i = 0; i < count; ++i) {
    size_t at = kNewHeaderSize + i * kNewEntrySize;
    LdCacheEntry e;
    e.flags = ReadLe<int32_t>(table, at);
    if ((e.flags & 0xff) != kElfLibc6 || (e.flags & 0xff00) != kThisArch) continue;
    MIGDRA_ASSIGN_OR_RETURN(e.soname, string_at(ReadLe<uint32_t>(table, at + 4)));
    MIGDRA_ASSIGN_OR_RETURN(e.path, string_at(ReadLe<uint32_t>(table, at + 8)));
    entries.push_back(std::move(e));
  }
  return entries;
}

Result<DriverInstallation> DiscoverDriver(const DriverRootOptions& options) {
  const Root root(options.root);
  DriverInstallation out;
  out.root = options.root.empty() ? "/" : options.root;
  const std::vector<std::string> candidates = CandidateFolders(root);
  out.version = options.version.empty() ? InferVersion(root, candidates) : options.version;
  if (out.version.empty()) {
    return MakeError("no NVIDIA driver libraries (libcuda.so.*, libnvidia-ml.so.*) under " +
                     out.root);
  }

  // Libraries: the folders that hold lib*.so.V, their files, their vdpau subfolders.
  std::set<std::string> seen_libraries;
  for (const auto& folder : candidates) {
    bool holds_driver = false;
    for (const auto& name : List(root, folder)) {
      holds_driver = holds_driver || Matches("lib*.so." + out.version, name);
    }
    if (!holds_driver) continue;
    out.library_folders.push_back(folder);
    AddLibraries(root, folder, out.version, out, seen_libraries);
    AddLibraries(root, folder + "/vdpau", out.version, out, seen_libraries);
  }
  if (out.libraries.empty()) {
    return MakeError("no NVIDIA driver libraries of version " + out.version + " under " + out.root);
  }

  // Links in the library folders that lead to a library (sonames, development names).
  for (const auto& folder : out.library_folders) {
    bool has_libcuda_dev_link = false;
    for (const auto& name : List(root, folder)) {
      const std::string inside = folder + "/" + name;
      std::error_code ec;
      if (!fs::is_symlink(fs::symlink_status(root.Host(inside), ec))) continue;
      if (!seen_libraries.count(root.Resolve(inside))) continue;
      out.library_links.push_back(
          {root.Host(inside), inside, fs::read_symlink(root.Host(inside), ec).string()});
      has_libcuda_dev_link = has_libcuda_dev_link || name == "libcuda.so";
    }
    if (!has_libcuda_dev_link && Exists(root.Host(folder + "/libcuda.so.1"))) {
      out.library_links.push_back(
          {root.Host(folder + "/libcuda.so.1"), folder + "/libcuda.so", "libcuda.so.1"});
    }
  }

  // Utility binaries, the first of each along the usual PATH.
  for (const std::string name :
       {"nvidia-smi", "nvidia-debugdump", "nvidia-persistenced", "nvidia-cuda-mps-control",
        "nvidia-cuda-mps-server", "nvidia-imex", "nvidia-imex-ctl"}) {
    for (const std::string dir :
         {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
      if (root.Resolve(dir + "/" + name).empty()) continue;
      out.binaries.push_back({root.Host(dir + "/" + name), dir + "/" + name});
      break;
    }
  }

  // GSP firmware of this version.
  const std::string kernel =
      options.kernel_release.empty() ? KernelRelease() : options.kernel_release;
  std::set<std::string> seen_firmware;
  for (const std::string& base :
       {"/lib/firmware/updates/" + kernel, std::string("/lib/firmware/updates"),
        "/lib/firmware/" + kernel, std::string("/lib/firmware")}) {
    const std::string folder = base + "/nvidia/" + out.version;
    for (const auto& name : List(root, folder)) {
      if (!Matches("gsp*.bin", name)) continue;
      std::string real = root.Resolve(folder + "/" + name);
      if (real.empty() || !seen_firmware.insert(real).second) continue;
      out.firmware.push_back({root.Host(real), real});
    }
  }

  // IPC: each socket from the first folder that has it; the MPS pipe folder.
  for (const std::string socket : {"/nvidia-persistenced/socket", "/nvidia-fabricmanager/socket"}) {
    for (const std::string dir : {"/run", "/var/run"}) {
      if (!Exists(root.Host(dir + socket))) continue;
      out.ipc.push_back({root.Host(dir + socket), dir + socket});
      break;
    }
  }
  if (Exists(root.Host("/tmp/nvidia-mps"))) {
    out.ipc.push_back({root.Host("/tmp/nvidia-mps"), "/tmp/nvidia-mps"});
  }

  // Control device nodes: the root's own /dev when it has the driver's nodes, else the host's.
  out.dev_root = Exists(root.Host("/dev/nvidiactl")) ? out.root : "/";
  const Root dev_root(out.dev_root);
  for (const std::string node :
       {"/dev/nvidia-modeset", "/dev/nvidia-uvm-tools", "/dev/nvidia-uvm", "/dev/nvidiactl"}) {
    if (Exists(dev_root.Host(node))) out.control_nodes.push_back({dev_root.Host(node), node});
  }

  for (const std::string dir : {"/usr/bin", "/usr/local/bin", "/usr/local/nvidia/toolkit"}) {
    if (root.Resolve(dir + "/nvidia-cdi-hook").empty()) continue;
    out.hook_path = root.Host(dir + "/nvidia-cdi-hook");
    break;
  }
  return out;
}

}  // namespace migdra::driver
