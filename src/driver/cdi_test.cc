// CDI specs from fabricated driver installations: a host driver (root /, reached by chroot in a
// child process) and a GPU Operator driver (root <tmp>/run/nvidia/driver), each a tree of
// versioned library files, soname and .so links, an ld.so.cache written in glibc's format,
// binaries, firmware, an IPC socket and device nodes.
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "driver/cdi.h"
#include "driver/driver_root.h"

namespace migdra::driver {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kVersion = "580.65.06";
constexpr const char* kLib = "/usr/lib/x86_64-linux-gnu";
constexpr int32_t kX8664Libc6 = 0x0303;

// glibc's "glibc-ld.so.cache1.1" table (optionally after an old "ld.so-1.7.0" table, as ldconfig
// wrote before glibc 2.32): header, 24-byte entries, then the strings; offsets count from the
// new table's start.
std::string LdCache(const std::vector<std::pair<std::string, std::string>>& entries,
                    bool with_old_table = false) {
  auto put32 = [](std::string& s, uint32_t v) { s.append(reinterpret_cast<char*>(&v), 4); };
  std::string strings;
  std::vector<std::pair<uint32_t, uint32_t>> offsets;
  const uint32_t table_end = 48 + 24 * static_cast<uint32_t>(entries.size());
  for (const auto& [soname, path] : entries) {
    uint32_t key = table_end + strings.size();
    strings += soname + '\0';
    uint32_t value = table_end + strings.size();
    strings += path + '\0';
    offsets.push_back({key, value});
  }
  std::string table = "glibc-ld.so.cache1.1";
  put32(table, entries.size());
  put32(table, strings.size());
  table += std::string(4, '\0');   // flags, padding
  table += std::string(16, '\0');  // extension offset, unused
  for (const auto& [key, value] : offsets) {
    put32(table, kX8664Libc6);
    put32(table, key);
    put32(table, value);
    put32(table, 0);
    table += std::string(8, '\0');  // hwcap
  }
  table += strings;
  if (!with_old_table) return table;
  std::string old = std::string("ld.so-1.7.0") + '\0';
  put32(old, 1);
  old += std::string(12, '\0');  // one old entry
  old += std::string(4, '\0');   // align the new table to 8
  return old + table;
}

void Write(const fs::path& path, const std::string& content = "x") {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << content;
}
void Link(const fs::path& path, const std::string& target) {
  fs::create_directories(path.parent_path());
  fs::create_symlink(target, path);
}

// A driver installation at `root` (a folder on this machine standing for the driver root).
void FabricateDriver(const fs::path& root, bool with_hook) {
  const std::string v = kVersion;
  const fs::path lib = root / ("." + std::string(kLib));
  for (const std::string name : {"libcuda", "libnvidia-ml", "libnvidia-ptxjitcompiler"}) {
    Write(lib / (name + ".so." + v));
    Link(lib / (name + ".so.1"), name + ".so." + v);
  }
  Link(lib / "libnvidia-ml.so", "libnvidia-ml.so.1");
  Write(lib / ("libnvidia-nvvm.so." + v));
  Link(lib / "libnvidia-nvvm.so.4", "libnvidia-nvvm.so." + v);
  Write(lib / "vdpau" / ("libvdpau_nvidia.so." + v));
  Write(lib / "libnvidia-ml.so.470.256.02");  // another driver's leftover
  Write(lib / "libz.so.1");                   // not the driver's
  // A folder only the ld cache knows.
  Write(root / "opt/nvidia/lib" / ("libnvidia-cfg.so." + v));
  Link(root / "opt/nvidia/lib/libnvidia-cfg.so.1", "libnvidia-cfg.so." + v);
  Write(root / "etc/ld.so.cache",
        LdCache({{"libcuda.so.1", std::string(kLib) + "/libcuda.so.1"},
                 {"libnvidia-ml.so.1", "/opt/nvidia/lib/libnvidia-ml.so.1"},
                 {"libz.so.1", std::string(kLib) + "/libz.so.1"}}));
  Write(root / "usr/bin/nvidia-smi");
  Write(root / "usr/bin/nvidia-persistenced");
  Write(root / "lib/firmware/nvidia" / v / "gsp_ga10x.bin");
  Write(root / "lib/firmware/nvidia" / v / "gsp_tu10x.bin");
  Write(root / "lib/firmware/nvidia/470.256.02/gsp_tu10x.bin");
  Write(root / "run/nvidia-persistenced/socket");
  for (const std::string node : {"nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia0"}) {
    Write(root / "dev" / node);
  }
  if (with_hook) Write(root / "usr/bin/nvidia-cdi-hook");
}

class CdiDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = fs::temp_directory_path() / ("migdra-cdi-root-" + std::to_string(::getpid()));
    fs::remove_all(tmp_);
  }
  void TearDown() override { fs::remove_all(tmp_); }

  static std::set<std::string> Mounts(const json& edits) {
    std::set<std::string> out;
    for (const auto& m : edits["mounts"]) {
      out.insert(m["hostPath"].get<std::string>() + " -> " + m["containerPath"].get<std::string>());
    }
    return out;
  }

  fs::path tmp_;
};

TEST_F(CdiDriverTest, OperatorRootMountsStripTheRootAndRunTheHooksFromIt) {
  const fs::path root = tmp_ / "run/nvidia/driver";
  FabricateDriver(root, /*with_hook=*/true);
  auto driver = DiscoverDriver({root.string(), kVersion, "6.8.0-test"});
  ASSERT_TRUE(driver.ok()) << driver.error().message;
  const std::string r = root.string(), v = kVersion, lib = kLib;
  EXPECT_EQ(driver->dev_root, r);
  EXPECT_EQ(driver->library_folders, (std::vector<std::string>{lib, "/opt/nvidia/lib"}));
  json edits = CommonEdits(*driver);

  auto ro = [&](const std::string& inside) { return r + inside + " -> " + inside; };
  std::set<std::string> want = {
      ro(lib + "/libcuda.so." + v),
      ro(lib + "/libnvidia-ml.so." + v),
      ro(lib + "/libnvidia-ptxjitcompiler.so." + v),
      ro(lib + "/libnvidia-nvvm.so." + v),
      ro(lib + "/vdpau/libvdpau_nvidia.so." + v),
      ro("/opt/nvidia/lib/libnvidia-cfg.so." + v),
      ro("/usr/bin/nvidia-smi"),
      ro("/usr/bin/nvidia-persistenced"),
      ro("/lib/firmware/nvidia/" + v + "/gsp_ga10x.bin"),
      ro("/lib/firmware/nvidia/" + v + "/gsp_tu10x.bin"),
      ro("/run/nvidia-persistenced/socket"),
  };
  EXPECT_EQ(Mounts(edits), want);
  for (const auto& m : edits["mounts"]) {
    const bool ipc = m["containerPath"] == "/run/nvidia-persistenced/socket";
    EXPECT_EQ(m["options"], ipc ? json({"nosuid", "nodev", "rbind", "rprivate", "noexec"})
                                : json({"ro", "nosuid", "nodev", "rbind", "rprivate"}));
  }

  // Device nodes keep their /dev path inside and name the root's node outside.
  EXPECT_EQ(edits["deviceNodes"], json::parse(R"([
      {"path": "/dev/nvidia-uvm-tools", "hostPath": ")" +
                                              r + R"(/dev/nvidia-uvm-tools"},
      {"path": "/dev/nvidia-uvm", "hostPath": ")" +
                                              r + R"(/dev/nvidia-uvm"},
      {"path": "/dev/nvidiactl", "hostPath": ")" +
                                              r + R"(/dev/nvidiactl"}])"));
  EXPECT_EQ(edits["env"], json({"NVIDIA_CTK_LIBCUDA_DIR=" + lib + ":/opt/nvidia/lib"}));

  // The hooks name the binary by its path under the root, links and folders as the container
  // sees them; libcuda.so, missing from the installation, is created.
  const std::string hook = r + "/usr/bin/nvidia-cdi-hook";
  EXPECT_EQ(edits["hooks"], json::parse(R"([
      {"hookName": "createContainer", "path": ")" +
                                        hook + R"(", "env": ["NVIDIA_CTK_DEBUG=false"],
       "args": ["nvidia-cdi-hook", "create-symlinks",
                "--link", "libcuda.so.)" +
                                        v + "::" + lib + R"(/libcuda.so.1",
                "--link", "libnvidia-ml.so.1::)" +
                                        lib + R"(/libnvidia-ml.so",
                "--link", "libnvidia-ml.so.)" +
                                        v + "::" + lib + R"(/libnvidia-ml.so.1",
                "--link", "libnvidia-nvvm.so.)" +
                                        v + "::" + lib + R"(/libnvidia-nvvm.so.4",
                "--link", "libnvidia-ptxjitcompiler.so.)" +
                                        v + "::" + lib +
                                        R"(/libnvidia-ptxjitcompiler.so.1",
                "--link", "libcuda.so.1::)" +
                                        lib + R"(/libcuda.so",
                "--link", "libnvidia-cfg.so.)" +
                                        v + R"(::/opt/nvidia/lib/libnvidia-cfg.so.1"]},
      {"hookName": "createContainer", "path": ")" +
                                        hook + R"(", "env": ["NVIDIA_CTK_DEBUG=false"],
       "args": ["nvidia-cdi-hook", "update-ldcache", "--folder", ")" +
                                        lib + R"(",
                "--folder", "/opt/nvidia/lib"]}])"));

  // A claim's spec: the GPU's node from the root's /dev, the common edits, the claim's UUIDs;
  // hostPath and a device name starting with a digit need CDI 0.5.0.
  CdiWriter writer((tmp_ / "cdi").string(), (tmp_ / "proc").string(), r + "/dev", edits);
  PreparedDevice gpu;
  gpu.device = "gpu-0";
  gpu.uuid = "GPU-1";
  json spec = json::parse(writer.RenderSpec("7d3c-uid", {gpu}));
  EXPECT_EQ(spec["cdiVersion"], "0.5.0");
  EXPECT_EQ(spec["devices"][0]["containerEdits"]["deviceNodes"],
            json::parse(R"([{"path": "/dev/nvidia0", "hostPath": ")" + r + R"(/dev/nvidia0"}])"));
  EXPECT_EQ(Mounts(spec["containerEdits"]), want);
  EXPECT_EQ(spec["containerEdits"]["hooks"], edits["hooks"]);
  EXPECT_EQ(spec["containerEdits"]["env"],
            json({"NVIDIA_CTK_LIBCUDA_DIR=" + lib + ":/opt/nvidia/lib",
                  "NVIDIA_VISIBLE_DEVICES=GPU-1", "CUDA_VISIBLE_DEVICES=GPU-1"}));

  // The installation is scanned once per node: later claims reuse the edits without a rescan
  // (the root is gone here and the next claim's spec is unchanged).
  fs::remove_all(root);
  json next = json::parse(writer.RenderSpec("uid-2", {gpu}));
  EXPECT_EQ(Mounts(next["containerEdits"]), want);
}

TEST_F(CdiDriverTest, WithoutTheHookBinaryTheLinksAreMounted) {
  const fs::path root = tmp_ / "run/nvidia/driver";
  FabricateDriver(root, /*with_hook=*/false);
  auto driver = DiscoverDriver({root.string(), kVersion, ""});
  ASSERT_TRUE(driver.ok()) << driver.error().message;
  EXPECT_EQ(driver->hook_path, "");
  json edits = CommonEdits(*driver);
  EXPECT_FALSE(edits.contains("hooks"));
  const std::string r = root.string(), lib = kLib;
  std::set<std::string> mounts = Mounts(edits);
  EXPECT_TRUE(mounts.count(r + lib + "/libcuda.so.1 -> " + lib + "/libcuda.so.1"));
  EXPECT_TRUE(mounts.count(r + lib + "/libcuda.so.1 -> " + lib + "/libcuda.so"));
  EXPECT_TRUE(mounts.count(r + lib + "/libnvidia-ml.so -> " + lib + "/libnvidia-ml.so"));
  EXPECT_TRUE(
      mounts.count(r + "/opt/nvidia/lib/libnvidia-cfg.so.1 -> /opt/nvidia/lib/libnvidia-cfg.so.1"));
  EXPECT_EQ(mounts.size(), 11u + 7u);

  // Without NVML's version, the libraries tell it; another version is not this driver.
  auto inferred = DiscoverDriver({root.string(), "", ""});
  ASSERT_TRUE(inferred.ok());
  EXPECT_EQ(inferred->version, kVersion);
  auto other = DiscoverDriver({root.string(), "999.1", ""});
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().message.find("version 999.1"), std::string::npos);
}

// The host driver: the tree is the root file system of a child process (chroot), so that the
// discovery sees it at /, and container paths equal host paths.
TEST_F(CdiDriverTest, HostDriverAtSlashKeepsThePaths) {
  FabricateDriver(tmp_, /*with_hook=*/true);
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(out[0]);
    // Unprivileged: a user namespace grants chroot; as root, chroot works as is.
    if (::geteuid() != 0) (void)::unshare(CLONE_NEWUSER);
    std::string text = "SKIP chroot unavailable";
    if (::chroot(tmp_.c_str()) == 0 && ::chdir("/") == 0) {
      auto driver = DiscoverDriver({"/", kVersion, ""});
      text = driver.ok() ? CommonEdits(*driver).dump() + "\n" + driver->dev_root
                         : "ERROR " + driver.error().message;
    }
    (void)!::write(out[1], text.data(), text.size());
    ::_exit(0);
  }
  ::close(out[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) text.append(buf, n);
  ::close(out[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (text.rfind("SKIP", 0) == 0) GTEST_SKIP() << text;
  ASSERT_NE(text.rfind("ERROR", 0), 0u) << text;
  json edits = json::parse(text.substr(0, text.find('\n')));
  EXPECT_EQ(text.substr(text.find('\n') + 1), "/");
  const std::string v = kVersion, lib = kLib;
  std::set<std::string> mounts = Mounts(edits);
  EXPECT_EQ(mounts.size(), 11u);
  EXPECT_TRUE(mounts.count(lib + "/libcuda.so." + v + " -> " + lib + "/libcuda.so." + v));
  EXPECT_TRUE(mounts.count("/usr/bin/nvidia-smi -> /usr/bin/nvidia-smi"));
  EXPECT_EQ(edits["deviceNodes"], json::parse(R"([{"path": "/dev/nvidia-uvm-tools"},
      {"path": "/dev/nvidia-uvm"}, {"path": "/dev/nvidiactl"}])"));
  EXPECT_EQ(edits["hooks"][0]["path"], "/usr/bin/nvidia-cdi-hook");
  EXPECT_EQ(edits["hooks"][1]["args"], json({"nvidia-cdi-hook", "update-ldcache", "--folder", lib,
                                             "--folder", "/opt/nvidia/lib"}));

  // Nothing in the spec needs more than CDI 0.3.0 when device names start with a letter.
  CdiWriter writer((tmp_ / "cdi").string(), (tmp_ / "proc").string(), "/dev", edits);
  PreparedDevice gpu;
  gpu.device = "gpu-0";
  EXPECT_EQ(json::parse(writer.RenderSpec("uid-a", {gpu}))["cdiVersion"], "0.3.0");
}

TEST(LdCache, ParsesGlibcFormatsAndRejectsBrokenFiles) {
  for (bool old_table : {false, true}) {
    auto entries = ParseLdCache(LdCache({{"libcuda.so.1", "/a/libcuda.so.1"}}, old_table));
    ASSERT_TRUE(entries.ok()) << entries.error().message;
    ASSERT_EQ(entries->size(), 1u);
    EXPECT_EQ((*entries)[0].soname, "libcuda.so.1");
    EXPECT_EQ((*entries)[0].path, "/a/libcuda.so.1");
  }
  std::string cache = LdCache({{"libcuda.so.1", "/a/libcuda.so.1"}});
  EXPECT_FALSE(ParseLdCache(cache.substr(0, 60)).ok());
  EXPECT_FALSE(ParseLdCache("not a cache").ok());
  std::string unterminated = cache.substr(0, cache.size() - 1) + "x";
  EXPECT_FALSE(ParseLdCache(unterminated).ok());

  // This machine's cache, written by its ldconfig, names libc.
  std::ifstream in("/etc/ld.so.cache", std::ios::binary);
  if (!in) GTEST_SKIP() << "no /etc/ld.so.cache";
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto real = ParseLdCache(bytes);
  ASSERT_TRUE(real.ok()) << real.error().message;
  bool libc = false;
  for (const auto& e : *real) libc = libc || e.soname == "libc.so.6";
  EXPECT_TRUE(libc);
}

}  // namespace
}  // namespace migdra::driver
