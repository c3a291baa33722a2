#include "node/host_streaming.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/cri_log.h"
#include "node/runner_process.h"

namespace migdra::node {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool SafeUid(const std::string& uid) {
  if (uid.empty() || uid.size() > 64) return false;
  for (char c : uid) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) && c != '-') return false;
  }
  return true;
}

// The running container: its folder, the main process and its supervisor's handle.
struct Running {
  std::string container_dir;
  std::string attempt_dir;
  pid_t main = 0;
  std::unique_ptr<ContainerProcess> supervisor;
};

// The supervisor's child that leads its own process group: the container's main process.
pid_t MainProcessOf(pid_t shim) {
  std::istringstream children(
      ReadWhole("/proc/" + std::to_string(shim) + "/task/" + std::to_string(shim) + "/children"));
  pid_t child = 0;
  while (children >> child) {
    const std::string stat = ReadWhole("/proc/" + std::to_string(child) + "/stat");
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    std::string state;
    pid_t parent = 0, group = 0;
    fields >> state >> parent >> group;
    if (group == child) return child;
  }
  return 0;
}

Result<Running> FindRunning(const std::string& runner_dir, const json& pod,
                            const std::string& container) {
  const std::string uid = pod["metadata"].value("uid", "");
  const std::string name = pod["metadata"].value("name", "");
  if (!SafeUid(uid)) return MakeError("pod " + name + " has no runnable UID");
  Running running;
  running.container_dir = runner_dir + "/pods/" + uid + "/" + container;
  int last = -1;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(running.container_dir, ec)) {
    const std::string attempt = entry.path().filename().string();
    if (!entry.is_directory() || attempt.empty() ||
        attempt.find_first_not_of("0123456789") != std::string::npos || attempt.size() > 9) {
      continue;
    }
    last = std::max(last, std::stoi(attempt));
  }
  const std::string not_running = "container " + container + " of pod " + name + " is not running";
  if (last < 0) return MakeError(not_running);
  running.attempt_dir = running.container_dir + "/" + std::to_string(last);
  AttemptState state = ReadAttempt(running.attempt_dir);
  if (state.kind != AttemptState::kRunning || !state.process) return MakeError(not_running);
  running.main = MainProcessOf(state.process->shim_pid());
  if (running.main == 0) return MakeError(not_running);
  running.supervisor = std::move(state.process);
  return running;
}

// The NUL-separated entries of /proc/PID/environ.
std::vector<std::string> EnvironmentOf(pid_t pid) {
  const std::string text = ReadWhole("/proc/" + std::to_string(pid) + "/environ");
  std::vector<std::string> env;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\0', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) env.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return env;
}

// The cgroup v2 folder of `pid` when the runner confined it in one of its pod cgroups; "".
std::string PodCgroupOf(pid_t pid) {
  std::istringstream lines(ReadWhole("/proc/" + std::to_string(pid) + "/cgroup"));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("0::", 0) != 0) continue;
    const std::string path = line.substr(3);
    if (path.find("/migdra-pods-") == std::string::npos) return "";
    for (const char* root : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
      if (::access((root + path + "/cgroup.procs").c_str(), W_OK) == 0) return root + path;
    }
  }
  return "";
}

// argv[0] on the container's PATH, as execvp would find it.
Result<std::string> Resolve(const std::string& command, const std::vector<std::string>& env) {
  if (command.find('/') != std::string::npos) return command;
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (const std::string& e : env) {
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  }
  std::istringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + command;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return MakeError("exec: \"" + command + "\": executable file not found in $PATH");
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

class ExecProcess : public stream::StreamedProcess {
 public:
  ExecProcess(pid_t pid, int in, int out, int err, bool tty)
      : pid_(pid),
        pidfd_(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))),
        in_(in),
        out_(out),
        err_(err),
        tty_(tty) {}
  ~ExecProcess() override {
    Abandon();
    for (int fd : {in_, out_, err_, pidfd_}) {
      if (fd >= 0) ::close(fd);
    }
  }

  int stdin_fd() const override { return in_; }
  int stdout_fd() const override { return out_; }
  int stderr_fd() const override { return err_; }
  void CloseStdin() override {
    if (in_ < 0) return;
    if (tty_) {
      const char eof = 4;  // the terminal's end-of-file character (VEOF, ^D)
      (void)!::write(in_, &eof, 1);
    }
    ::close(in_);
    in_ = -1;
  }
  void Resize(uint16_t width, uint16_t height) override {
    if (!tty_ || width == 0 || height == 0) return;
    winsize size{};
    size.ws_col = width;
    size.ws_row = height;
    ::ioctl(out_, TIOCSWINSZ, &size);
  }
  int wait_fd() const override { return pidfd_; }
  Result<int> Wait() override {
    if (pid_ <= 0) return MakeError("the command's status is unknown");
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0) {
      if (errno != EINTR)
        return MakeError("waiting for the command: " + std::string(std::strerror(errno)));
    }
    pid_ = 0;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
  }
  void Abandon() override {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);  // its session's process group
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }

 private:
  pid_t pid_;
  int pidfd_;  // readable once the command exited
  int in_, out_, err_;
  bool tty_;
};

// Copies what the container's log gains into a pipe until the container ends or the client
// leaves; with -i, the client's input goes to the container's stdin FIFO.
class AttachedContainer : public stream::StreamedProcess {
 public:
  AttachedContainer(const std::string& log_path, std::unique_ptr<ContainerProcess> supervisor,
                    int in, int read_end, int write_end)
      : in_(in), out_(read_end), log_(log_path, std::ios::binary) {
    // The output from the moment of attaching: the log's end is taken here, before the caller can
    // relay any input, so that the container's answer to it is never skipped.
    log_.seekg(0, std::ios::end);
    follower_ = std::thread([this, supervisor = std::move(supervisor), write_end] {
      try {
        Follow(*supervisor, write_end);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "migdra serve: attach: %s\n", e.what());
      }
      ::close(write_end);
    });
  }
  ~AttachedContainer() override {
    Abandon();
    if (follower_.joinable()) follower_.join();
    ::close(out_);
    CloseStdin();
  }

  int stdin_fd() const override { return in_; }
  int stdout_fd() const override { return out_; }
  int stderr_fd() const override { return -1; }
  // The container keeps its stdin: another attach may write to it later.
  void CloseStdin() override {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
  }
  void Resize(uint16_t, uint16_t) override {}
  int wait_fd() const override { return -1; }
  Result<int> Wait() override { return 0; }
  void Abandon() override { stop_ = true; }

 private:
  // The log is in the CRI format (the shim writes it, container_shim.h): the container's text
  // is the content of its complete entries.
  void Follow(const ContainerProcess& supervisor, int write_end) {
    char buffer[32 * 1024];
    std::string entries;  // read, not yet up to a newline
    while (!stop_) {
      const bool ended = supervisor.Ended();  // read what it wrote before it ended, then stop
      for (;;) {
        log_.read(buffer, sizeof buffer);
        const std::streamsize got = log_.gcount();
        if (got <= 0) break;
        entries.append(buffer, static_cast<size_t>(got));
        std::string text;
        size_t start = 0;
        for (size_t end; (end = entries.find('\n', start)) != std::string::npos; start = end + 1) {
          CriLogEntry entry =
              ParseCriLogLine(std::string_view(entries).substr(start, end - start), true);
          text.append(entry.text);
          if (entry.newline) text.push_back('\n');
        }
        entries.erase(0, start);
        if (!WriteAll(write_end, text.data(), text.size())) return;
      }
      log_.clear();
      if (ended) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  bool WriteAll(int fd, const char* data, size_t size) {
    while (size > 0 && !stop_) {
      const ssize_t n = ::write(fd, data, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data += n;
      size -= static_cast<size_t>(n);
    }
    return !stop_;
  }

  int in_;  // the container's stdin FIFO, -1 without -i
  int out_;
  std::ifstream log_;  // the container's log; read by the follower only once it runs
  std::atomic<bool> stop_{false};
  std::thread follower_;
};

// The container's mount namespace (its volumes) when it has one of its own; -1 otherwise.
int OpenMountNamespace(pid_t main) {
  struct stat own_ns {
  }, its_ns{};
  const std::string ns_path = "/proc/" + std::to_string(main) + "/ns/mnt";
  return ::stat("/proc/self/ns/mnt", &own_ns) == 0 && ::stat(ns_path.c_str(), &its_ns) == 0 &&
                 own_ns.st_ino != its_ns.st_ino
             ? ::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC)
             : -1;
}

// An exec'd command's descriptors 0, 1, 2 (child) and serve's ends of them (parent): pipes for
// the streams the client wants, /dev/null for the others; with a tty, the pseudo-terminal's
// name and its master as parent[1] (and parent[0] with stdin).
struct ExecStdio {
  int child[3] = {-1, -1, -1};
  int parent[3] = {-1, -1, -1};
  std::string terminal;

  void CloseChild() { CloseAll(child); }
  void CloseParent() { CloseAll(parent); }

 private:
  static void CloseAll(int (&fds)[3]) {
    for (int& fd : fds) {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
  }
};

// Fills `stdio` as the request asks; on failure what was opened stays in it for the caller to
// close.
Status OpenExecStdio(const stream::StreamRequest& request, ExecStdio& stdio) {
  if (request.tty) {
    const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    char name[128];
    if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0 ||
        ::ptsname_r(master, name, sizeof name) != 0) {
      if (master >= 0) ::close(master);
      return MakeError("cannot allocate a pseudo-terminal: " + std::string(std::strerror(errno)));
    }
    stdio.terminal = name;
    stdio.parent[1] = master;
    stdio.parent[0] = request.want_stdin ? ::fcntl(master, F_DUPFD_CLOEXEC, 0) : -1;
    return OkStatus();
  }
  for (int i = 0; i < 3; ++i) {
    const bool wanted =
        i == 0 ? request.want_stdin : (i == 1 ? request.want_stdout : request.want_stderr);
    if (!wanted) {
      stdio.child[i] = ::open("/dev/null", (i == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
      continue;
    }
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      return MakeError("cannot create a pipe: " + std::string(std::strerror(errno)));
    }
    stdio.child[i] = i == 0 ? fds[0] : fds[1];
    stdio.parent[i] = i == 0 ? fds[1] : fds[0];
  }
  return OkStatus();
}

// Forks the command: a session of its own on `stdio`, in the container's cgroup and mount
// namespace (each when >= 0) and working directory. The child exits 126 when it cannot enter
// them, 127 when the exec fails. Returns the PID, or -1 (errno) when the fork failed.
pid_t ForkExec(const ExecStdio& stdio, int cgroup_fd, int mount_ns, const std::string& cwd,
               const std::string& path, std::vector<char*>& argv, std::vector<char*>& env) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  // Only async-signal-safe calls from here on (serve has other threads).
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  ::setsid();
  if (!stdio.terminal.empty()) {
    const int slave = ::open(stdio.terminal.c_str(), O_RDWR);
    if (slave < 0) _exit(126);
    ::ioctl(slave, TIOCSCTTY, 0);
    for (int i = 0; i < 3; ++i) ::dup2(slave, i);
  } else {
    for (int i = 0; i < 3; ++i) ::dup2(stdio.child[i], i);
  }
  if (cgroup_fd >= 0 && ::write(cgroup_fd, "0", 1) != 1) _exit(126);
  if (mount_ns >= 0 && ::setns(mount_ns, CLONE_NEWNS) != 0) _exit(126);
  if (::chdir(cwd.c_str()) != 0) _exit(126);
  ::execve(path.c_str(), argv.data(), env.data());
  const char message[] = "exec failed\n";
  (void)!::write(2, message, sizeof message - 1);
  _exit(127);
}

}  // namespace

Result<std::unique_ptr<stream::StreamedProcess>> HostProcessStreaming::Exec(
    const json& pod, const stream::StreamRequest& request) {
  Result<Running> running = FindRunning(runner_dir_, pod, request.container);
  if (!running) return running.error();
  std::vector<std::string> env = EnvironmentOf(running->main);
  char cwd_buffer[4096];
  const ssize_t cwd_length = ::readlink(("/proc/" + std::to_string(running->main) + "/cwd").c_str(),
                                        cwd_buffer, sizeof cwd_buffer - 1);
  const std::string cwd = cwd_length > 0 ? std::string(cwd_buffer, cwd_length) : "/";
  Result<std::string> path = Resolve(request.command[0], env);
  if (!path) return path.error();
  std::vector<std::string> argv = request.command;
  std::vector<char*> argv_pointers = Pointers(argv);
  std::vector<char*> env_pointers = Pointers(env);
  const std::string cgroup = PodCgroupOf(running->main);
  const int mount_ns = OpenMountNamespace(running->main);
  const int cgroup_fd =
      cgroup.empty() ? -1 : ::open((cgroup + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  const auto close_namespaces = [&] {
    if (cgroup_fd >= 0) ::close(cgroup_fd);
    if (mount_ns >= 0) ::close(mount_ns);
  };

  ExecStdio stdio;
  if (Status opened = OpenExecStdio(request, stdio); !opened.ok()) {
    stdio.CloseChild();
    stdio.CloseParent();
    close_namespaces();
    return opened.error();
  }
  const pid_t pid = ForkExec(stdio, cgroup_fd, mount_ns, cwd, *path, argv_pointers, env_pointers);
  stdio.CloseChild();
  close_namespaces();
  if (pid < 0) {
    const std::string why = std::strerror(errno);
    stdio.CloseParent();
    return MakeError("cannot start the command: " + why);
  }
  return std::unique_ptr<stream::StreamedProcess>(std::make_unique<ExecProcess>(
      pid, stdio.parent[0], stdio.parent[1], stdio.parent[2], request.tty));
}

Result<std::unique_ptr<stream::StreamedProcess>> HostProcessStreaming::Attach(
    const json& pod, const stream::StreamRequest& request) {
  if (request.tty) {
    return MakeError("container " + request.container +
                     " has no terminal: host-process containers get none; attach without -t");
  }
  Result<Running> running = FindRunning(runner_dir_, pod, request.container);
  if (!running) return running.error();
  int in = -1;
  if (request.want_stdin) {
    // The container holds its FIFO open for reading: opening it to write never waits.
    in = ::open((running->attempt_dir + "/" + kStdinFifo).c_str(),
                O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (in < 0) {
      return MakeError("container " + request.container +
                       " reads no input: set stdin: true in its spec to attach -i");
    }
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    if (in >= 0) ::close(in);
    return MakeError("cannot create a pipe: " + std::string(std::strerror(errno)));
  }
  return std::unique_ptr<stream::StreamedProcess>(std::make_unique<AttachedContainer>(
      running->attempt_dir + "/log", std::move(running->supervisor), in, fds[0], fds[1]));
}

Result<int> HostProcessStreaming::DialPort(const json& pod, uint16_t port) {
  std::string failures;
  for (int family : {AF_INET, AF_INET6}) {
    const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int rc;
    if (family == AF_INET) {
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(port);
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      rc = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    } else {
      sockaddr_in6 address{};
      address.sin6_family = AF_INET6;
      address.sin6_port = htons(port);
      address.sin6_addr = in6addr_loopback;
      rc = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    }
    if (rc == 0) return fd;
    failures += std::string(failures.empty() ? "" : ", ") +
                (family == AF_INET ? "127.0.0.1:" : "[::1]:") + std::to_string(port) + ": " +
                std::strerror(errno);
    ::close(fd);
  }
  return MakeError("failed to connect to the pod " + pod["metadata"].value("name", "") +
                   " on port " + std::to_string(port) + " (" + failures + ")");
}

}  // namespace migdra::node
