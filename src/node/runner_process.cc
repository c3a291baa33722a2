#include "node/runner_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "common/clock.h"
#include "node/container_shim.h"

namespace migdra::node {

namespace {

namespace fs = std::filesystem;

constexpr const char* kShimRecord = "shim";

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

int PidfdSignal(int pidfd, int sig) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::optional<unsigned long long> StartTime(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Field 2 (comm) may hold spaces and parentheses: fields 3.. follow the last ')'.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(stat.substr(close + 1));
  std::string field;
  for (int i = 3; i < 22; ++i) rest >> field;
  unsigned long long start = 0;
  if (!(rest >> start)) return std::nullopt;
  return start;
}

// Writes "1" to DIR/cgroup.kill, then waits (bounded) until DIR is empty and removes it and the
// cgroups below it.
void KillCgroup(const std::string& dir, bool remove) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  WriteSmallFile(dir + "/cgroup.kill", "1");
  if (!remove) return;
  std::vector<std::string> dirs;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_directory(ec)) dirs.push_back(it->path().string());
  }
  dirs.push_back(dir);
  // Deepest first; a cgroup whose processes are still dying cannot be removed yet.
  std::sort(dirs.begin(), dirs.end(), [](const auto& a, const auto& b) { return a > b; });
  for (const std::string& d : dirs) {
    for (int i = 0; i < 100 && rmdir(d.c_str()) != 0 && errno == EBUSY; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

std::string RandomHex(int bytes) {
  std::random_device device;
  std::string out;
  char buf[3];
  for (int i = 0; i < bytes; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned>(device() & 0xff));
    out += buf;
  }
  return out;
}

// The cgroup2 directory serve runs in, or "" (with `why`) if none is usable.
std::string OwnCgroup2(std::string* why) {
  std::string mount;
  std::error_code ec;
  if (fs::exists("/sys/fs/cgroup/cgroup.controllers", ec)) {
    mount = "/sys/fs/cgroup";
  } else if (fs::exists("/sys/fs/cgroup/unified/cgroup.controllers", ec)) {
    mount = "/sys/fs/cgroup/unified";
  } else {
    *why = "no cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified";
    return "";
  }
  std::ifstream in("/proc/self/cgroup");
  std::string line, path;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) path = line.substr(3);
  }
  if (path.empty() || path.find("..") != std::string::npos) {
    *why = "no cgroup2 entry in /proc/self/cgroup";
    return "";
  }
  return path == "/" ? mount : mount + path;
}

// What the shim reads from the attempt directory besides its arguments: the mounts record, and
// the stdin FIFO of a container with `stdin: true` (kubectl attach -i writes to it).
Status PrepareAttempt(const ContainerLaunch& launch) {
  if (!launch.mounts.empty()) {
    std::string record;  // "ro|rw" NUL SOURCE NUL TARGET NUL, for each mount
    for (const BindMount& m : launch.mounts) {
      record += std::string(m.read_only ? "ro" : "rw") + '\0' + m.source + '\0' + m.target + '\0';
    }
    if (!WriteDurably(launch.attempt_dir + "/" + kMountsRecord, record)) {
      return MakeError("recording the mounts in " + launch.attempt_dir + ": " +
                       std::strerror(errno));
    }
  }
  const std::string stdin_path = launch.attempt_dir + "/" + kStdinFifo;
  if (launch.open_stdin && mkfifo(stdin_path.c_str(), 0600) != 0) {
    return MakeError("creating " + stdin_path + ": " + std::strerror(errno));
  }
  return OkStatus();
}

// The shim's environment: the container's, and when serve runs with an LD_LIBRARY_PATH
// (`loader_path`), that one instead, with the container's own recorded in kContainerLoaderPath
// ("set:VALUE" or "unset") for the shim to restore.
std::vector<std::string> ShimEnvironment(std::vector<std::string> container_env,
                                         const std::string& loader_path) {
  if (loader_path.empty()) return container_env;
  std::vector<std::string> shim_env;
  std::string container_path = "unset";
  for (std::string& e : container_env) {
    if (e.rfind("LD_LIBRARY_PATH=", 0) == 0) {
      container_path = "set:" + e.substr(std::strlen("LD_LIBRARY_PATH="));
    } else {
      shim_env.push_back(std::move(e));
    }
  }
  shim_env.push_back("LD_LIBRARY_PATH=" + loader_path);
  shim_env.push_back(std::string(kContainerLoaderPath) + "=" + container_path);
  return shim_env;
}

// Spawns the shim for the attempt (`shim_path`, or this binary's `container-shim` command when it
// is ""), in a session of its own, with the container's stdin, the log as stdout and stderr, and
// the read end of the go pipe at kGoFd.
Result<pid_t> SpawnShim(ContainerLaunch& launch, const std::string& shim_path, int go_fd,
                        int log_fd) {
  // Everything the child needs is built before the spawn (the child shares serve's memory until
  // it executes the shim).
  std::vector<std::string> args = {shim_path.empty() ? "container-shim" : shim_path,
                                   launch.attempt_dir, launch.cgroup.empty() ? "-" : launch.cgroup,
                                   launch.working_dir.empty() ? "-" : launch.working_dir, "--"};
  args.insert(args.end(), launch.argv.begin(), launch.argv.end());
  std::vector<char*> cargs, cenv;
  for (std::string& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  for (std::string& e : launch.env) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  const std::string stdin_path = launch.attempt_dir + "/" + kStdinFifo;

  // posix_spawn (clone with CLONE_VM|CLONE_VFORK in glibc) instead of fork: serve's address space
  // is neither copied nor made copy-on-write, which made every start fault in serve's threads.
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_init(&actions);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
  // Read-write, so that opening never waits for a writer and reads wait for input.
  if (launch.open_stdin) {
    posix_spawn_file_actions_addopen(&actions, 0, stdin_path.c_str(), O_RDWR, 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&actions, log_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, log_fd, 2);
  posix_spawn_file_actions_adddup2(&actions, go_fd, kGoFd);  // clears FD_CLOEXEC
  posix_spawn_file_actions_addclosefrom_np(&actions, kGoFd + 1);
  pid_t pid = -1;
  const char* executable = shim_path.empty() ? "/proc/self/exe" : shim_path.c_str();
  int spawned = posix_spawn(&pid, executable, &actions, &attr, cargs.data(), cenv.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (spawned != 0)
    return MakeError(std::string("starting the supervisor: ") + std::strerror(spawned));
  return pid;
}

}  // namespace

// ---- identities -------------------------------------------------------------------------------

std::string CurrentBootId() { return ReadFirstLine("/proc/sys/kernel/random/boot_id"); }

int OpenRecordedProcess(const ProcessIdentity& id) {
  if (id.pid <= 1 || id.boot_id.empty() || id.boot_id != CurrentBootId()) return -1;
  int pidfd = PidfdOpen(id.pid);
  if (pidfd < 0) return -1;
  // Checked after the pidfd is open: if the start time matches now, the pidfd is that process.
  std::optional<unsigned long long> start = StartTime(id.pid);
  if (!start || *start != id.start_time) {
    close(pidfd);
    return -1;
  }
  return pidfd;
}

// ---- ContainerProcess -------------------------------------------------------------------------

ContainerProcess::ContainerProcess(int pidfd, pid_t pid, std::string attempt_dir,
                                   std::string started_at)
    : pidfd_(pidfd),
      pid_(pid),
      attempt_dir_(std::move(attempt_dir)),
      started_at_(std::move(started_at)) {}

ContainerProcess::~ContainerProcess() {
  if (Ended()) waitpid(pid_, nullptr, WNOHANG);  // our own child: reap it (adopted ones are not)
  close(pidfd_);
}

bool ContainerProcess::Ended() const {
  pollfd p{pidfd_, POLLIN, 0};
  return poll(&p, 1, 0) > 0;
}

void ContainerProcess::Terminate() const { PidfdSignal(pidfd_, SIGTERM); }

void ContainerProcess::Kill() const { PidfdSignal(pidfd_, SIGUSR1); }

AttemptState ReadAttempt(const std::string& attempt_dir) {
  AttemptState state;
  std::ifstream shim(attempt_dir + "/" + kShimRecord);
  ProcessIdentity id;
  bool recorded =
      static_cast<bool>(shim >> id.boot_id >> id.pid >> id.start_time >> state.started_at);
  std::ifstream exit_record(attempt_dir + "/" + kExitRecord);
  if (exit_record >> state.exit_code >>
      state.finished_at) {  // also an attempt that failed to start
    if (!recorded) state.started_at = state.finished_at;
    state.kind = AttemptState::kExited;
    return state;
  }
  if (!recorded) return state;
  int pidfd = OpenRecordedProcess(id);
  if (pidfd >= 0) {
    state.kind = AttemptState::kRunning;
    state.process =
        std::make_unique<ContainerProcess>(pidfd, id.pid, attempt_dir, state.started_at);
    return state;
  }
  state.kind = AttemptState::kLost;
  state.exit_code = 137;
  state.finished_at = NowRfc3339();
  state.message = id.boot_id != CurrentBootId()
                      ? "the host rebooted while the container ran; its exit status is unknown"
                      : "the container's supervisor (PID " + std::to_string(id.pid) +
                            ") ended without recording an exit status";
  return state;
}

// ---- ProcessRuntime ---------------------------------------------------------------------------

std::unique_ptr<ProcessRuntime> ProcessRuntime::Create(const std::string& runner_dir) {
  auto runtime = std::unique_ptr<ProcessRuntime>(new ProcessRuntime());
  if (const char* loader_path = std::getenv("LD_LIBRARY_PATH")) runtime->loader_path_ = loader_path;
  std::error_code ec;
  // The shim beside this binary; without one, this binary's own `container-shim` command.
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  const std::string beside = (self.parent_path() / kShimExecutable).string();
  if (!ec && access(beside.c_str(), X_OK) == 0) runtime->shim_path_ = beside;
  const std::string record = runner_dir + "/cgroup-root";
  std::string recorded = ReadFirstLine(record);
  std::string why;
  if (recorded.rfind("/sys/fs/cgroup/", 0) == 0 && recorded.find("..") == std::string::npos &&
      fs::exists(recorded + "/cgroup.kill", ec) && access(recorded.c_str(), W_OK) == 0) {
    runtime->cgroup_root_ = recorded;
  } else if (std::string own = OwnCgroup2(&why); !own.empty()) {
    std::string root = own + "/migdra-pods-" + RandomHex(6);
    if (mkdir(root.c_str(), 0755) != 0) {
      why = "cannot create " + root + ": " + std::strerror(errno);
    } else if (!fs::exists(root + "/cgroup.kill", ec)) {
      why = "cgroup.kill missing (kernel older than 5.14)";
      rmdir(root.c_str());
    } else if (!WriteDurably(record, root + "\n")) {
      why = "cannot write " + record;
      rmdir(root.c_str());
    } else {
      runtime->cgroup_root_ = root;
    }
  }
  runtime->description_ = runtime->cgroup_root_.empty() ? "subreaper supervisors (" + why + ")"
                                                        : "cgroup v2 at " + runtime->cgroup_root_;
  return runtime;
}

ProcessRuntime::~ProcessRuntime() {
  if (!cgroup_root_.empty()) rmdir(cgroup_root_.c_str());
}

Result<std::unique_ptr<ContainerProcess>> ProcessRuntime::Start(const std::string& pod_uid,
                                                                const std::string& name,
                                                                int attempt,
                                                                ContainerLaunch launch) const {
  std::error_code ec;
  fs::remove_all(launch.attempt_dir, ec);  // a not-started attempt left by a crash
  fs::create_directories(launch.attempt_dir, ec);
  if (ec) return MakeError("creating " + launch.attempt_dir + ": " + ec.message());
  // An attempt that cannot start is recorded as exited (128, as a kubelet reports StartError), so
  // that its number, the restart count, is never reused.
  auto failed = [&](const std::string& why) -> Result<std::unique_ptr<ContainerProcess>> {
    WriteDurably(launch.attempt_dir + "/" + kExitRecord, "128 " + NowRfc3339() + "\n");
    return MakeError(why);
  };
  if (Status prepared = PrepareAttempt(launch); !prepared.ok()) {
    return failed(prepared.error().message);
  }
  if (!cgroup_root_.empty()) {
    std::string pod = cgroup_root_ + "/" + pod_uid;
    launch.cgroup = pod + "/" + name + "-" + std::to_string(attempt);
    if ((mkdir(pod.c_str(), 0755) != 0 && errno != EEXIST) ||
        (mkdir(launch.cgroup.c_str(), 0755) != 0 && errno != EEXIST)) {
      return failed("creating cgroup " + launch.cgroup + ": " + std::strerror(errno));
    }
  }
  // The shim is serve's binary: it loads with serve's LD_LIBRARY_PATH, the container's is restored.
  launch.env = ShimEnvironment(std::move(launch.env), loader_path_);
  int go[2];
  if (pipe2(go, O_CLOEXEC) != 0) return failed(std::string("pipe: ") + std::strerror(errno));
  int log = open(launch.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log < 0) {
    close(go[0]);
    close(go[1]);
    return failed("opening " + launch.log_path + ": " + std::strerror(errno));
  }
  Result<pid_t> pid = SpawnShim(launch, shim_path_, go[0], log);
  close(go[0]);
  close(log);
  if (!pid.ok()) {
    close(go[1]);
    return failed(pid.error().message);
  }
  // The shim starts the container only once its identity is recorded: a crash before leaves a
  // not-started attempt (runner_process.h, crash semantics).
  int pidfd = PidfdOpen(*pid);
  std::optional<unsigned long long> start = StartTime(*pid);
  std::string started_at = NowRfc3339();
  std::string identity = CurrentBootId() + " " + std::to_string(*pid) + " " +
                         std::to_string(start.value_or(0)) + " " + started_at + "\n";
  if (pidfd < 0 || !start || !WriteDurably(launch.attempt_dir + "/" + kShimRecord, identity) ||
      write(go[1], "g", 1) != 1) {
    close(go[1]);  // the shim reads EOF and exits without starting the container
    kill(*pid, SIGKILL);
    waitpid(*pid, nullptr, 0);
    if (pidfd >= 0) close(pidfd);
    return failed("starting the supervisor of container " + name + " failed");
  }
  close(go[1]);
  return std::make_unique<ContainerProcess>(pidfd, *pid, launch.attempt_dir, started_at);
}

void ProcessRuntime::KillAttempt(const std::string& pod_uid, const std::string& name,
                                 int attempt) const {
  if (cgroup_root_.empty()) return;
  KillCgroup(cgroup_root_ + "/" + pod_uid + "/" + name + "-" + std::to_string(attempt),
             /*remove=*/false);
}

void ProcessRuntime::KillPod(const std::string& pod_uid) const {
  if (cgroup_root_.empty()) return;
  KillCgroup(cgroup_root_ + "/" + pod_uid, /*remove=*/true);
}

}  // namespace migdra::node
