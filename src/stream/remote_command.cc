#include "stream/remote_command.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "stream/websocket.h"

namespace migdra::stream {
namespace {

constexpr char kStdin = 0;
constexpr char kStdout = 1;
constexpr char kStderr = 2;
constexpr char kError = 3;
constexpr char kResize = 4;
constexpr unsigned char kCloseSignal = 255;
constexpr size_t kReadBytes = 32 * 1024;

void SetNonBlocking(int fd) {
  if (fd >= 0) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// Reads from one of the process's output descriptors into a message for `channel`: false at its
// end (EOF, or EIO from a terminal whose other side closed).
bool Relay(int fd, char channel, WebSocketConnection& ws, bool& client_gone) {
  std::string message(1 + kReadBytes, '\0');
  message[0] = channel;
  const ssize_t n = ::read(fd, message.data() + 1, kReadBytes);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
  if (n <= 0) return false;
  message.resize(1 + static_cast<size_t>(n));
  if (!ws.SendBinary(message)) client_gone = true;
  return true;
}

}  // namespace

std::string ChooseChannelProtocol(const std::vector<std::string_view>& offered) {
  for (std::string_view wanted : {kChannelProtocolV5, kChannelProtocolV4}) {
    for (std::string_view p : offered) {
      if (p == wanted) return std::string(wanted);
    }
  }
  return "";
}

nlohmann::json ExitStatus(const Result<int>& exit_code, const std::vector<std::string>& command) {
  using nlohmann::json;
  if (!exit_code) {
    return json{{"metadata", json::object()},
                {"status", "Failure"},
                {"message", exit_code.error().ToString()},
                {"reason", "InternalError"},
                {"code", 500}};
  }
  if (*exit_code == 0) return json{{"metadata", json::object()}, {"status", "Success"}};
  std::string joined;
  for (const std::string& word : command) joined += (joined.empty() ? "" : " ") + word;
  const std::string code = std::to_string(*exit_code);
  return json{
      {"metadata", json::object()},
      {"status", "Failure"},
      {"message", "command terminated with non-zero exit code: error executing command [" + joined +
                      "], exit code " + code},
      {"reason", "NonZeroExitCode"},
      {"details", {{"causes", json::array({{{"reason", "ExitCode"}, {"message", code}}})}}}};
}

void RunRemoteCommand(Transport& transport, std::string_view protocol, StreamedProcess& process,
                      const std::vector<std::string>& command) {
  WebSocketConnection ws(transport);
  const bool v5 = protocol == kChannelProtocolV5;
  int out = process.stdout_fd();
  int err = process.stderr_fd();
  int in = process.stdin_fd();
  for (int fd : {out, err, in}) SetNonBlocking(fd);
  std::string stdin_pending;
  bool stdin_end = false;
  bool client_gone = false;
  while ((out >= 0 || err >= 0) && !client_gone) {
    pollfd fds[5] = {{transport.fd(), POLLIN, 0},
                     {transport.stop_fd(), POLLIN, 0},
                     {out, POLLIN, 0},
                     {err, POLLIN, 0},
                     {stdin_pending.empty() ? -1 : in, POLLOUT, 0}};
    const int ready = ::poll(fds, 5, transport.Buffered() ? 0 : -1);
    if (ready < 0 && errno != EINTR) break;
    if (fds[1].revents != 0) {
      client_gone = true;
      break;
    }
    if (fds[0].revents != 0 || transport.Buffered()) {
      std::vector<std::string> messages;
      const bool open = ws.Receive(messages);
      for (const std::string& m : messages) {
        if (m.empty()) continue;
        const unsigned char channel = static_cast<unsigned char>(m[0]);
        if (channel == kStdin && in >= 0) {
          stdin_pending.append(m, 1);
        } else if (channel == kResize) {
          const auto size = nlohmann::json::parse(m.substr(1), nullptr, false);
          const auto dimension = [&](const char* key) -> uint16_t {
            if (!size.is_object() || !size.contains(key) || !size[key].is_number_unsigned())
              return 0;
            return static_cast<uint16_t>(std::min<uint64_t>(size[key].get<uint64_t>(), UINT16_MAX));
          };
          process.Resize(dimension("Width"), dimension("Height"));
        } else if (v5 && channel == kCloseSignal && m.size() >= 2 && m[1] == kStdin) {
          stdin_end = true;
        }
      }
      if (!open) client_gone = true;
    }
    if (in >= 0 && !stdin_pending.empty()) {
      const ssize_t n = ::write(in, stdin_pending.data(), stdin_pending.size());
      if (n > 0) {
        stdin_pending.erase(0, static_cast<size_t>(n));
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        stdin_pending.clear();  // the command closed its stdin: the rest has no reader
        stdin_end = true;
      }
    }
    if (in >= 0 && stdin_end && stdin_pending.empty()) {
      process.CloseStdin();
      in = -1;
    }
    if (out >= 0 && (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) != 0 &&
        !Relay(out, kStdout, ws, client_gone)) {
      out = -1;
    }
    if (err >= 0 && (fds[3].revents & (POLLIN | POLLHUP | POLLERR)) != 0 &&
        !Relay(err, kStderr, ws, client_gone)) {
      err = -1;
    }
  }
  // The output ended; the command may still run (a child kept its output open until it closed
  // it, or it closed its output early): wait for it, unless the client or serve goes first.
  while (!client_gone && process.wait_fd() >= 0) {
    pollfd fds[3] = {{process.wait_fd(), POLLIN, 0},
                     {transport.fd(), POLLIN, 0},
                     {transport.stop_fd(), POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0 && errno != EINTR) break;
    if (fds[0].revents != 0) break;
    if (fds[2].revents != 0) {
      client_gone = true;
    } else if (fds[1].revents != 0) {
      std::vector<std::string> ignored;  // late stdin or resizes have no reader now
      client_gone = !ws.Receive(ignored);
    }
  }
  if (client_gone) {
    process.Abandon();
    ws.Close(kWsCloseNormal, "");
    return;
  }
  const std::string status = ExitStatus(process.Wait(), command).dump();
  ws.SendBinary(std::string(1, kError) + status);
  ws.Close(kWsCloseNormal, "");
}

void RefuseRemoteCommand(Transport& transport, const Error& error) {
  WebSocketConnection ws(transport);
  const nlohmann::json status = {{"metadata", nlohmann::json::object()},
                                 {"status", "Failure"},
                                 {"message", error.ToString()},
                                 {"reason", "BadRequest"},
                                 {"code", 400}};
  ws.SendBinary(std::string(1, kError) + status.dump());
  ws.Close(kWsCloseNormal, "");
}

}  // namespace migdra::stream
