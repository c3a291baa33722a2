#include "node/container_shim.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"

namespace migdra::node {
namespace {

// The container's bind mounts from ATTEMPT/mounts, in a new private mount namespace; false
// (with the reason on stderr, the container's log) when one fails.
bool MountVolumes(const std::string& attempt_dir) {
  std::ifstream in(attempt_dir + "/" + kMountsRecord, std::ios::binary);
  if (!in) return true;  // no volumes
  std::vector<std::string> fields;
  std::string field;
  while (std::getline(in, field, '\0')) fields.push_back(field);
  if (unshare(CLONE_NEWNS) != 0 ||
      mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    std::fprintf(stderr, "migdra: cannot make a private mount namespace: %s\n",
                 std::strerror(errno));
    return false;
  }
  for (size_t i = 0; i + 2 < fields.size(); i += 3) {
    const char* source = fields[i + 1].c_str();
    const char* target = fields[i + 2].c_str();
    if (mount(source, target, nullptr, MS_BIND | MS_REC, nullptr) != 0 ||
        (fields[i] == "ro" &&
         mount(nullptr, target, nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0)) {
      std::fprintf(stderr, "migdra: cannot mount %s at %s: %s\n", source, target,
                   std::strerror(errno));
      return false;
    }
  }
  return true;
}

pid_t g_container = -1;
int g_exit_code = -1;

int ExitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Kills every descendant of the shim and reaps them all (see the header).
void KillTree(const std::string& cgroup) {
  if (!cgroup.empty()) WriteSmallFile(cgroup + "/cgroup.kill", "1");
  const std::string self = std::to_string(getpid());
  for (;;) {
    if (DIR* proc = opendir("/proc")) {
      while (dirent* entry = readdir(proc)) {
        pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
        if (pid <= 0) continue;
        std::ifstream in(std::string("/proc/") + entry->d_name + "/stat");
        std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        size_t close = stat.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(stat.substr(close + 1));
        std::string state, ppid;
        rest >> state >> ppid;
        // Our child: it cannot be reused before we reap it, so the kill is safe.
        if (ppid == self) kill(pid, SIGKILL);
      }
      closedir(proc);
    }
    int status = 0;
    pid_t reaped = waitpid(-1, &status, 0);
    if (reaped < 0 && errno == ECHILD) return;
    if (reaped == g_container) g_exit_code = ExitCode(status);
  }
}

// Now as the CRI log format's timestamp: RFC 3339, UTC, nine digits of fraction.
std::string LogTimestamp() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  std::tm tm{};
  gmtime_r(&now.tv_sec, &tm);
  char buf[48];
  const size_t len = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + len, sizeof buf - len, ".%09ldZ", now.tv_nsec);
  return buf;
}

// One of the container's output streams, read from a pipe into the log (kLogFd).
struct OutputPipe {
  int fd;
  const char* stream;  // "stdout" | "stderr"
};

// Appends what `pipe` has to the log as CRI entries: a line that ends is an F entry, the text
// after the last newline a P entry (continued by the next read), so that a follower sees it now.
// False at the pipe's end.
bool Pump(const OutputPipe& pipe) {
  char buffer[16 * 1024];
  const ssize_t got = read(pipe.fd, buffer, sizeof buffer);
  if (got < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (got <= 0) return false;
  const std::string prefix = LogTimestamp() + " " + pipe.stream + " ";
  std::string entries;
  std::string_view text(buffer, static_cast<size_t>(got));
  while (!text.empty()) {
    const size_t end = text.find('\n');
    const bool full = end != std::string_view::npos;
    entries += prefix + (full ? "F " : "P ");
    entries.append(text.substr(0, full ? end : text.size()));
    entries.push_back('\n');
    text.remove_prefix(full ? end + 1 : text.size());
  }
  // One write: O_APPEND keeps the entries of both streams whole.
  for (size_t done = 0; done < entries.size();) {
    const ssize_t n = write(STDOUT_FILENO, entries.data() + done, entries.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

// Writes `text` to `path` so that a crash leaves either the old file or the whole new one.
bool WriteDurably(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok =
      write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) return false;
  const size_t slash = path.rfind('/');
  const std::string folder = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  int dir = open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    fsync(dir);
    close(dir);
  }
  return true;
}

bool WriteSmallFile(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

int RunContainerShim(int argc, char** argv) {
  // argv: SHIM ATTEMPT_DIR CGROUP|- WORKDIR|- -- ARGV... (container_shim.h)
  if (argc < 6 || std::strcmp(argv[4], "--") != 0) {
    std::fprintf(stderr, "migdra container-shim: started by the pod runner only\n");
    return 2;
  }
  const std::string attempt_dir = argv[1];
  const std::string cgroup = std::strcmp(argv[2], "-") == 0 ? "" : argv[2];
  const std::string workdir = std::strcmp(argv[3], "-") == 0 ? "" : argv[3];
  char** command = argv + 5;

  char go = 0;
  if (read(kGoFd, &go, 1) != 1 || go != 'g') return 1;  // the runner did not record us
  close(kGoFd);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  sigset_t handled;
  sigemptyset(&handled);
  for (int sig : {SIGCHLD, SIGTERM, SIGUSR1, SIGINT, SIGHUP}) sigaddset(&handled, sig);
  sigprocmask(SIG_BLOCK, &handled, nullptr);

  // The container writes to pipes; the shim records their text in the log (its own stdout) in the
  // CRI log format, with the time of each line, as containerd's shim does.
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "migdra: pipe: %s\n", std::strerror(errno));
    return 1;
  }
  const int signals = signalfd(-1, &handled, SFD_CLOEXEC);
  if (signals < 0) {
    std::fprintf(stderr, "migdra: signalfd: %s\n", std::strerror(errno));
    return 1;
  }
  g_container = fork();
  if (g_container == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    if (!cgroup.empty() && !WriteSmallFile(cgroup + "/cgroup.procs", "0")) {
      std::fprintf(stderr, "migdra: cannot join cgroup %s: %s\n", cgroup.c_str(),
                   std::strerror(errno));
      _exit(126);
    }
    if (!MountVolumes(attempt_dir)) _exit(126);
    setpgid(0, 0);
    if (!workdir.empty() && chdir(workdir.c_str()) != 0) {
      std::fprintf(stderr, "migdra: cannot enter workingDir %s: %s\n", workdir.c_str(),
                   std::strerror(errno));
      _exit(127);
    }
    if (const char* restore = std::getenv(kContainerLoaderPath)) {
      if (std::strncmp(restore, "set:", 4) == 0) {
        setenv("LD_LIBRARY_PATH", restore + 4, 1);
      } else {
        unsetenv("LD_LIBRARY_PATH");
      }
      unsetenv(kContainerLoaderPath);
    }
    execvp(command[0], command);
    std::fprintf(stderr, "migdra: cannot run %s: %s\n", command[0], std::strerror(errno));
    _exit(127);
  }
  if (g_container < 0) {
    std::fprintf(stderr, "migdra: fork: %s\n", std::strerror(errno));
    g_exit_code = 128;
  }
  close(out[1]);
  close(err[1]);
  OutputPipe pipes[] = {{out[0], "stdout"}, {err[0], "stderr"}};
  bool open[] = {true, true};
  while (g_container > 0 && g_exit_code < 0) {
    pollfd wait[] = {{signals, POLLIN, 0},
                     {open[0] ? out[0] : -1, POLLIN, 0},
                     {open[1] ? err[0] : -1, POLLIN, 0}};
    if (poll(wait, 3, -1) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (wait[i + 1].revents != 0) open[i] = Pump(pipes[i]);
    }
    if (!(wait[0].revents & POLLIN)) continue;
    signalfd_siginfo info{};
    if (read(signals, &info, sizeof info) != sizeof info) continue;
    const int sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
      kill(-g_container, SIGTERM);
    } else if (sig == SIGUSR1) {
      break;
    }
    int status = 0;
    pid_t reaped;
    while ((reaped = waitpid(-1, &status, WNOHANG)) > 0) {
      if (reaped == g_container) g_exit_code = ExitCode(status);
    }
  }
  KillTree(cgroup);
  // Every writer is gone: what the pipes hold is the container's last output. (A writer that
  // escaped the kill would hold a pipe open: the shim stops waiting for it after a second.)
  for (int i = 0; i < 2; ++i) {
    pollfd ready{pipes[i].fd, POLLIN, 0};
    while (open[i] && poll(&ready, 1, 1000) > 0) open[i] = Pump(pipes[i]);
    close(pipes[i].fd);
  }
  if (g_exit_code < 0) g_exit_code = 128 + SIGKILL;
  if (!WriteDurably(attempt_dir + "/" + kExitRecord,
                    std::to_string(g_exit_code) + " " + NowRfc3339() + "\n")) {
    std::fprintf(stderr, "migdra: cannot record the exit status in %s\n", attempt_dir.c_str());
    return 1;
  }
  return 0;
}

}  // namespace migdra::node
