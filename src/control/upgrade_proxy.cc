#include "control/upgrade_proxy.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace migdra::control {
namespace {

constexpr int kHandshakeSeconds = 10;
constexpr size_t kMaxHead = 64 << 10;

Error Unavailable(const std::string& message) {
  return MakeError(ErrorReason::kBadGateway, "the runtime's streaming server: " + message);
}

// The upstream socket, closed with the last owner (the session, or the refused upgrade).
struct Socket {
  int fd = -1;
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }
};

void SetTimeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// After the 101: bytes both ways until either side closes or serve stops.
void Splice(stream::Transport& client, int upstream, const std::string& early) {
  if (!early.empty() && !client.Write(early)) return;
  char buffer[64 << 10];
  for (;;) {
    pollfd fds[3] = {
        {client.fd(), POLLIN, 0}, {upstream, POLLIN, 0}, {client.stop_fd(), POLLIN, 0}};
    if (::poll(fds, 3, client.Buffered() ? 0 : -1) < 0 && errno != EINTR) return;
    if (fds[2].revents) return;
    if ((fds[0].revents != 0) || client.Buffered()) {
      std::string in;
      const bool open = client.ReadAvailable(in);
      if (!in.empty() && !SendAll(upstream, in)) return;
      if (!open) return;
    }
    if (fds[1].revents != 0) {
      const ssize_t n = ::read(upstream, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      if (!client.Write(std::string_view(buffer, static_cast<size_t>(n)))) return;
    }
  }
}

}  // namespace

Result<Upgrade> ProxyUpgrade(const RequestHead& head, const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return Unavailable("unsupported URL " + url);
  const size_t slash = url.find('/', scheme.size());
  const std::string authority = url.substr(
      scheme.size(), slash == std::string::npos ? std::string::npos : slash - scheme.size());
  const std::string path = slash == std::string::npos ? "/" : url.substr(slash);
  const size_t colon = authority.rfind(':');
  if (colon == std::string::npos) return Unavailable("no port in " + url);
  std::string host = authority.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  const std::string port = authority.substr(colon + 1);

  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    return Unavailable("cannot resolve " + authority);
  }
  auto upstream = std::make_shared<Socket>();
  upstream->fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (upstream->fd >= 0) SetTimeouts(upstream->fd, kHandshakeSeconds);
  const bool connected =
      upstream->fd >= 0 && ::connect(upstream->fd, found->ai_addr, found->ai_addrlen) == 0;
  ::freeaddrinfo(found);
  if (!connected) {
    return Unavailable("cannot connect to " + authority + ": " + std::strerror(errno));
  }

  // The client's request, its credentials and framing left out.
  std::string request = head.method + " " + path + " HTTP/1.1\r\nHost: " + authority + "\r\n";
  for (const auto& [name, value] : head.fields) {
    if (name == "host" || name == "authorization" || name == "content-length" ||
        name == "transfer-encoding" || name == "accept-encoding") {
      continue;
    }
    request += name + ": " + value + "\r\n";
  }
  request += "\r\n";
  if (!SendAll(upstream->fd, request)) return Unavailable("the request was not taken");

  std::string received;
  size_t head_end = std::string::npos;
  char buffer[4096];
  while ((head_end = received.find("\r\n\r\n")) == std::string::npos) {
    if (received.size() > kMaxHead) return Unavailable("its answer's head is too large");
    const ssize_t n = ::read(upstream->fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Unavailable("no answer");
    received.append(buffer, static_cast<size_t>(n));
  }
  const std::string answer_head = received.substr(0, head_end);
  std::string rest = received.substr(head_end + 4);
  // "HTTP/1.1 101 Switching Protocols", then the fields.
  const size_t line_end = answer_head.find("\r\n");
  const std::string status_line = answer_head.substr(0, line_end);
  const size_t space = status_line.find(' ');
  const int status = space == std::string::npos ? 0 : std::atoi(status_line.c_str() + space + 1);
  std::vector<std::pair<std::string, std::string>> fields;
  size_t content_length = 0;
  for (size_t at = line_end; at != std::string::npos && at < answer_head.size();) {
    const size_t start = at + 2;
    const size_t end = answer_head.find("\r\n", start);
    const std::string line =
        answer_head.substr(start, end == std::string::npos ? std::string::npos : end - start);
    at = end;
    const size_t sep = line.find(':');
    if (sep == std::string::npos) continue;
    std::string name = line.substr(0, sep);
    std::string value = line.substr(sep + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    const std::string lower = Lower(name);
    if (lower == "content-length") content_length = std::strtoul(value.c_str(), nullptr, 10);
    if (lower == "date" || lower == "cache-control" || lower == "content-length") continue;
    fields.emplace_back(std::move(name), std::move(value));
  }
  if (status != 101) {
    // The runtime refused (e.g. a protocol it does not speak): its words as the error.
    while (rest.size() < std::min(content_length, kMaxHead)) {
      const ssize_t n = ::read(upstream->fd, buffer, sizeof buffer);
      if (n <= 0) break;
      rest.append(buffer, static_cast<size_t>(n));
    }
    while (!rest.empty() && (rest.back() == '\n' || rest.back() == '\r')) rest.pop_back();
    // A request it calls bad (400) is the client's; any other refusal is the runtime's failure.
    return MakeError(status == 400 ? ErrorReason::kBadRequest : ErrorReason::kBadGateway,
                     rest.empty() ? status_line : rest);
  }
  SetTimeouts(upstream->fd, 0);  // the stream has no deadline
  Upgrade upgrade;
  upgrade.fields = std::move(fields);
  upgrade.session = [upstream, rest](stream::Transport& client) {
    Splice(client, upstream->fd, rest);
  };
  return upgrade;
}

}  // namespace migdra::control
