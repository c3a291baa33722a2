#include "control/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <strings.h>

#include <cerrno>
#include <climits>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

#include "control/http_request.h"
#include "control/protobuf_body.h"

namespace migdra::control {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kListenId = 0;
constexpr uint64_t kWakeId = 1;
constexpr size_t kReadStep = 64 * 1024;
// Responses from this size on are gzip-compressed for clients that accept it (kube-apiserver's
// threshold).
constexpr size_t kCompressFromBytes = 128 * 1024;
// How long a connection that was answered and is being closed may still send what it had in
// flight: closing a socket with unread bytes resets it, and the reset can overtake the answer.
constexpr auto kLinger = std::chrono::seconds(1);
constexpr auto kSweepInterval = std::chrono::milliseconds(100);
// File descriptors kept for the rest of serve (store, runner, gRPC) out of the open-file limit.
constexpr size_t kReservedFiles = 256;

bool TokenMatches(const std::string& header, const std::string& token) {
  const std::string prefix = "Bearer ";
  if (header.size() != prefix.size() + token.size() ||
      header.compare(0, prefix.size(), prefix) != 0) {
    return false;
  }
  return CRYPTO_memcmp(header.data() + prefix.size(), token.data(), token.size()) == 0;
}

// The health probes (answered anonymously, as Kubernetes does) and the partition map page's
// shell, which holds no data: the page's own API calls carry the token.
bool IsAnonymous(const std::string& path) {
  return path == "/healthz" || path == "/livez" || path == "/readyz" || path.rfind("/ui/", 0) == 0;
}

// Writes to a socket whose peer has gone fail with EPIPE instead of killing the process.
void BlockSigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

std::string ClientAddress(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = "";
  if (address.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(address).sin_addr, text, sizeof text);
  } else if (address.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(address).sin6_addr, text,
              sizeof text);
  }
  std::string out = text;
  if (out.rfind("::ffff:", 0) == 0 && out.find('.') != std::string::npos) out.erase(0, 7);
  return out;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Request Entity Too Large";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

using Fields = std::vector<std::pair<std::string, std::string>>;

std::string ResponseHead(int status, const Fields& fields, bool close) {
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + ReasonPhrase(status) + "\r\n";
  head += "Date: " + std::string(date) + "\r\nCache-Control: no-cache, private\r\n";
  for (const auto& [name, value] : fields) head += name + ": " + value + "\r\n";
  if (close) head += "Connection: close\r\n";
  return head + "\r\n";
}

// Whether the client asks to switch protocols ("Connection: Upgrade" and an Upgrade field).
bool WantsUpgrade(const RequestHead& head) {
  bool connection_upgrade = false;
  for (std::string_view token : head.ListItems("connection")) {
    connection_upgrade =
        connection_upgrade || (token.size() == 7 && strncasecmp(token.data(), "upgrade", 7) == 0);
  }
  return connection_upgrade && !head.Field("upgrade").empty();
}

// A client connection, owned by the front thread while it waits for a request head and by a
// worker while its request is served.
struct Connection {
  Connection(int fd, SSL* ssl, std::string client, std::atomic<size_t>& open)
      : fd(fd), ssl(ssl), client(std::move(client)), open(open) {
    ++open;
  }
  ~Connection() {
    if (ssl != nullptr) SSL_free(ssl);
    ::close(fd);
    --open;
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  uint64_t id = 0;
  const int fd;
  SSL* const ssl;             // null without TLS
  const std::string client;   // the peer's IP address: the key of the per-client limit
  std::atomic<size_t>& open;  // the server's count of open connections
  bool handshaking = false;
  bool authenticated = false;  // one of its requests carried the token
  bool closing = false;        // answered for the last time; draining before it is closed
  bool receiving = false;      // part of a request head has arrived
  Clock::time_point deadline;
  uint32_t watched = 0;  // the epoll events registered for it
  std::string received;  // bytes read and not yet used
};

enum class Io { kDone, kWantRead, kWantWrite, kClosed };

// Reads what has arrived into c.received, until it holds `limit` bytes.
Io ReadAvailable(Connection& c, size_t limit) {
  char buffer[16384];
  while (c.received.size() < limit) {
    const size_t want = std::min(sizeof buffer, limit - c.received.size());
    if (c.ssl != nullptr) {
      size_t got = 0;
      ERR_clear_error();
      if (SSL_read_ex(c.ssl, buffer, want, &got) == 1) {
        c.received.append(buffer, got);
        continue;
      }
      const int error = SSL_get_error(c.ssl, 0);
      ERR_clear_error();
      if (error == SSL_ERROR_WANT_READ) return Io::kWantRead;
      if (error == SSL_ERROR_WANT_WRITE) return Io::kWantWrite;
      return Io::kClosed;
    }
    const ssize_t n = ::recv(c.fd, buffer, want, 0);
    if (n > 0) {
      c.received.append(buffer, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return Io::kWantRead;
    } else {
      return Io::kClosed;
    }
  }
  return Io::kDone;
}

Io WriteSome(Connection& c, std::string_view data, size_t& written) {
  written = 0;
  if (c.ssl != nullptr) {
    ERR_clear_error();
    if (SSL_write_ex(c.ssl, data.data(), data.size(), &written) == 1) return Io::kDone;
    const int error = SSL_get_error(c.ssl, 0);
    ERR_clear_error();
    if (error == SSL_ERROR_WANT_WRITE) return Io::kWantWrite;
    if (error == SSL_ERROR_WANT_READ) return Io::kWantRead;
    return Io::kClosed;
  }
  const ssize_t n = ::send(c.fd, data.data(), data.size(), MSG_NOSIGNAL);
  if (n >= 0) {
    written = static_cast<size_t>(n);
    return Io::kDone;
  }
  if (errno == EINTR) return Io::kDone;
  if (errno == EAGAIN || errno == EWOULDBLOCK) return Io::kWantWrite;
  return Io::kClosed;
}

}  // namespace

class HttpServer::Front {
 public:
  Front(const ApiHandler& handler, const Credentials& credentials, const HttpOptions& options,
        const UpgradeRoute& upgrade_route)
      : handler_(handler),
        credentials_(credentials),
        options_(options),
        upgrade_route_(upgrade_route) {}
  ~Front() { Stop(); }
  Front(const Front&) = delete;
  Front& operator=(const Front&) = delete;

  Result<int> Start();
  void Stop();

 private:
  struct Job {
    std::unique_ptr<Connection> connection;
    RequestHead head;
  };

  // The front thread.
  void Run();
  void Accept();
  void Advance(Connection& c);
  void Dispatch(uint64_t id, RequestHead head);
  void Reject(Connection& c, const Error& error, const Fields& extra = {});
  void StartClosing(Connection& c);
  void Drain(Connection& c);
  void Adopt();
  void Sweep();
  void Watch(Connection& c, uint32_t events);
  void Close(uint64_t id);
  void MarkUnauthenticated(const Connection& c);
  void Forget(const Connection& c);

  // The workers.
  void Work();
  void Serve(std::unique_ptr<Connection> c, const RequestHead& head);
  // The request's body, or the error to answer; nullopt when the connection broke or the client
  // was too slow, so that there is no one to answer.
  std::optional<Result<std::string>> ReadBody(Connection& c, const RequestHead& head,
                                              Clock::time_point deadline);
  void Answer(std::unique_ptr<Connection> c, const RequestHead& head, ApiResponse response,
              bool close);
  void Stream(std::unique_ptr<Connection> c, const RequestHead& head, ApiResponse response);
  void SwitchProtocols(Connection& c, const Upgrade& upgrade);
  bool ReadMore(Connection& c, Clock::time_point deadline) const;
  bool WriteAll(Connection& c, std::string_view data, Clock::time_point deadline) const;
  bool WaitReady(int fd, short events, Clock::time_point deadline) const;
  bool PeerGone(Connection& c) const;
  // Hands a served connection back to the front thread: to wait for its next request, or to be
  // closed (`close`).
  void Return(std::unique_ptr<Connection> c, bool close);

  const ApiHandler& handler_;
  const Credentials credentials_;
  const HttpOptions options_;
  const UpgradeRoute upgrade_route_;
  size_t max_connections_ = 0;
  SSL_CTX* tls_ = nullptr;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // wakes the front thread: connections were returned, or it should stop
  int stop_fd_ = -1;  // readable once the server stops: ends workers' waits on clients
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> open_{0};
  std::atomic<size_t> in_flight_{0};
  std::thread front_thread_;

  // Owned by the front thread.
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::set<uint64_t> unauthenticated_;  // ids grow with time: the first is the oldest
  std::map<std::string, std::set<uint64_t>> unauthenticated_by_client_;
  uint64_t next_id_ = kWakeId + 1;
  bool accepting_ = true;

  std::mutex returned_mu_;
  bool front_running_ = false;
  std::vector<std::pair<std::unique_ptr<Connection>, bool>> returned_;

  std::mutex work_mu_;
  std::condition_variable work_cv_;
  std::deque<Job> jobs_;
  std::vector<std::thread> workers_;
  size_t idle_workers_ = 0;
};

Result<int> HttpServer::Front::Start() {
  if (options_.tls) {
    tls_ = SSL_CTX_new(TLS_server_method());
    if (tls_ == nullptr ||
        SSL_CTX_use_certificate_chain_file(tls_, credentials_.cert_path.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(tls_, credentials_.key_path.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(tls_) != 1) {
      ERR_clear_error();
      return MakeError(ErrorReason::kInternal,
                       "cannot load the serving certificate " + credentials_.cert_path);
    }
    SSL_CTX_set_min_proto_version(tls_, TLS1_2_VERSION);
    SSL_CTX_set_options(tls_, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    // Partial writes let a worker wait for a slow reader with a deadline; released buffers keep
    // idle and unauthenticated connections small.
    SSL_CTX_set_mode(tls_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                               SSL_MODE_RELEASE_BUFFERS);
  }

  const std::string where = options_.host + ":" + std::to_string(options_.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* addresses = nullptr;
  if (getaddrinfo(options_.host.c_str(), std::to_string(options_.port).c_str(), &hints,
                  &addresses) != 0) {
    return MakeError(ErrorReason::kInternal, "cannot resolve the listen address " + where);
  }
  for (addrinfo* a = addresses; a != nullptr && listen_fd_ < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0) {
      listen_fd_ = fd;
    } else {
      ::close(fd);
    }
  }
  freeaddrinfo(addresses);
  if (listen_fd_ < 0) return MakeError(ErrorReason::kInternal, "cannot listen on " + where);
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof bound;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &bound_length);
  const int port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(bound).sin6_port
                                        : reinterpret_cast<sockaddr_in&>(bound).sin_port);

  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  const size_t file_limit = files.rlim_cur == RLIM_INFINITY ? SIZE_MAX : files.rlim_cur;
  max_connections_ =
      std::min(options_.max_connections,
               file_limit > 2 * kReservedFiles ? file_limit - kReservedFiles : file_limit / 2);

  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0 || stop_fd_ < 0) {
    return MakeError(ErrorReason::kInternal, "cannot create the server's event queue");
  }
  epoll_event listen_event{EPOLLIN, {.u64 = kListenId}};
  epoll_event wake_event{EPOLLIN, {.u64 = kWakeId}};
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &listen_event);
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &wake_event);
  front_running_ = true;
  front_thread_ = std::thread([this] { Run(); });
  return port;
}

void HttpServer::Front::Stop() {
  if (stopping_.exchange(true)) return;
  const uint64_t one = 1;
  if (stop_fd_ >= 0) (void)!::write(stop_fd_, &one, sizeof one);
  if (wake_fd_ >= 0) (void)!::write(wake_fd_, &one, sizeof one);
  if (front_thread_.joinable()) front_thread_.join();
  {
    std::lock_guard lock(work_mu_);
    work_cv_.notify_all();
  }
  for (std::thread& worker : workers_) worker.join();
  jobs_.clear();
  for (int fd : {listen_fd_, epoll_fd_, wake_fd_, stop_fd_}) {
    if (fd >= 0) ::close(fd);
  }
  if (tls_ != nullptr) SSL_CTX_free(tls_);
}

void HttpServer::Front::Run() {
  BlockSigpipe();
  epoll_event events[256];
  auto next_sweep = Clock::now() + kSweepInterval;
  while (!stopping_) {
    const int n = epoll_wait(epoll_fd_, events, 256, 100);
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[i].data.u64;
      try {
        if (id == kListenId) {
          Accept();
        } else if (id == kWakeId) {
          Adopt();
        } else if (auto it = connections_.find(id); it != connections_.end()) {
          Advance(*it->second);
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "migdra serve: HTTP: dropping a connection: %s\n", e.what());
        Close(id);
      }
    }
    if (Clock::now() >= next_sweep) {
      Sweep();
      next_sweep = Clock::now() + kSweepInterval;
    }
  }
  std::lock_guard lock(returned_mu_);
  front_running_ = false;
  returned_.clear();
  connections_.clear();
}

void HttpServer::Front::Accept() {
  for (int i = 0; i < 256; ++i) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if ((errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) &&
          !unauthenticated_.empty()) {
        Close(*unauthenticated_.begin());
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        // Out of files with nothing to evict: stop accepting until the next sweep.
        epoll_event none{0, {.u64 = kListenId}};
        epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &none);
        accepting_ = false;
      }
      return;
    }
    if (open_ >= max_connections_) {
      if (unauthenticated_.empty()) {
        ::close(fd);
        continue;
      }
      Close(*unauthenticated_.begin());
    }
    const std::string client = ClientAddress(address);
    if (auto same = unauthenticated_by_client_.find(client);
        same != unauthenticated_by_client_.end() &&
        same->second.size() >= options_.max_unauthenticated_per_client) {
      Close(*same->second.begin());
    }
    if (unauthenticated_.size() >= options_.max_unauthenticated) {
      Close(*unauthenticated_.begin());
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SSL* ssl = nullptr;
    if (tls_ != nullptr) {
      ssl = SSL_new(tls_);
      if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
        if (ssl != nullptr) SSL_free(ssl);
        ERR_clear_error();
        ::close(fd);
        continue;
      }
      SSL_set_accept_state(ssl);
    }
    auto c = std::make_unique<Connection>(fd, ssl, client, open_);
    c->id = next_id_++;
    c->handshaking = ssl != nullptr;
    c->deadline = Clock::now() + options_.header_timeout;
    epoll_event event{EPOLLIN, {.u64 = c->id}};
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
    c->watched = EPOLLIN;
    MarkUnauthenticated(*c);
    connections_.emplace(c->id, std::move(c));
  }
}

void HttpServer::Front::Advance(Connection& c) {
  const uint64_t id = c.id;
  if (c.closing) return Drain(c);
  if (c.handshaking) {
    ERR_clear_error();
    const int result = SSL_do_handshake(c.ssl);
    if (result != 1) {
      const int error = SSL_get_error(c.ssl, result);
      ERR_clear_error();
      if (error == SSL_ERROR_WANT_READ) return Watch(c, EPOLLIN);
      if (error == SSL_ERROR_WANT_WRITE) return Watch(c, EPOLLOUT);
      return Close(id);
    }
    c.handshaking = false;
  }
  const Io io = ReadAvailable(c, options_.max_header_bytes + 1);
  if (!c.received.empty() && !c.receiving) {
    c.receiving = true;
    c.deadline = std::min(c.deadline, Clock::now() + options_.header_timeout);
  }
  const size_t head_length = HeadLength(c.received);
  if (head_length == 0 || head_length > options_.max_header_bytes) {
    if (c.received.size() > options_.max_header_bytes) {
      return Reject(c, MakeError(ErrorReason::kRequestHeaderFieldsTooLarge,
                                 "the request head is larger than " +
                                     std::to_string(options_.max_header_bytes) + " bytes"));
    }
    if (io == Io::kClosed) return Close(id);
    return Watch(c, io == Io::kWantWrite ? EPOLLOUT : EPOLLIN);
  }
  Result<RequestHead> head = ParseRequestHead(std::string_view(c.received).substr(0, head_length));
  c.received.erase(0, head_length);
  c.receiving = !c.received.empty();
  if (!head.ok()) return Reject(c, head.error());
  if (!IsAnonymous(head->path)) {
    if (!TokenMatches(head->Field("authorization"), credentials_.token)) {
      return Reject(c, MakeError(ErrorReason::kUnauthorized, "Unauthorized"));
    }
    c.authenticated = true;
  }
  if (in_flight_ >= options_.max_in_flight) {
    return Reject(
        c, MakeError(ErrorReason::kTooManyRequests, "too many requests in flight; try again later"),
        {{"Retry-After", "1"}});
  }
  Dispatch(id, std::move(*head));
}

void HttpServer::Front::Dispatch(uint64_t id, RequestHead head) {
  auto node = connections_.extract(id);
  std::unique_ptr<Connection> c = std::move(node.mapped());
  Forget(*c);
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd, nullptr);
  c->watched = 0;
  ++in_flight_;
  std::lock_guard lock(work_mu_);
  jobs_.push_back(Job{std::move(c), std::move(head)});
  if (idle_workers_ < jobs_.size()) workers_.emplace_back([this] { Work(); });
  work_cv_.notify_one();
}

void HttpServer::Front::Reject(Connection& c, const Error& error, const Fields& extra) {
  const ApiResponse answer = ErrorResponse(error);
  Fields fields = {{"Content-Type", "application/json"},
                   {"Content-Length", std::to_string(answer.body.size())}};
  fields.insert(fields.end(), extra.begin(), extra.end());
  const std::string response = ResponseHead(answer.status, fields, true) + answer.body;
  // Best effort without blocking: an answer this small fits the socket's buffer.
  size_t offset = 0;
  size_t written = 0;
  while (offset < response.size() &&
         WriteSome(c, std::string_view(response).substr(offset), written) == Io::kDone &&
         written > 0) {
    offset += written;
  }
  StartClosing(c);
}

void HttpServer::Front::StartClosing(Connection& c) {
  if (c.ssl != nullptr) {
    ERR_clear_error();
    SSL_shutdown(c.ssl);
    ERR_clear_error();
  }
  ::shutdown(c.fd, SHUT_WR);
  c.closing = true;
  c.received.clear();
  c.deadline = Clock::now() + kLinger;
  MarkUnauthenticated(c);
  Watch(c, EPOLLIN);
}

void HttpServer::Front::Drain(Connection& c) {
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::recv(c.fd, buffer, sizeof buffer, 0);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    return Close(c.id);
  }
}

void HttpServer::Front::Adopt() {
  uint64_t count = 0;
  (void)!::read(wake_fd_, &count, sizeof count);
  std::vector<std::pair<std::unique_ptr<Connection>, bool>> returned;
  {
    std::lock_guard lock(returned_mu_);
    returned.swap(returned_);
  }
  for (auto& [owned, close] : returned) {
    Connection& c = *owned;
    connections_.emplace(c.id, std::move(owned));
    epoll_event event{EPOLLIN, {.u64 = c.id}};
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &event);
    c.watched = EPOLLIN;
    if (close) {
      StartClosing(c);
      continue;
    }
    c.deadline = Clock::now() + (c.authenticated ? options_.idle_timeout : options_.header_timeout);
    c.receiving = false;
    if (!c.authenticated) MarkUnauthenticated(c);
    if (c.received.capacity() > kReadStep) c.received.shrink_to_fit();
    Advance(c);  // a pipelined request may be here already
  }
}

void HttpServer::Front::Sweep() {
  const auto now = Clock::now();
  std::vector<uint64_t> expired;
  for (const auto& [id, c] : connections_) {
    if (c->deadline <= now) expired.push_back(id);
  }
  for (uint64_t id : expired) Close(id);
  if (!accepting_) {
    epoll_event event{EPOLLIN, {.u64 = kListenId}};
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &event);
    accepting_ = true;
  }
}

void HttpServer::Front::Watch(Connection& c, uint32_t events) {
  if (c.watched == events) return;
  epoll_event event{events, {.u64 = c.id}};
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &event);
  c.watched = events;
}

void HttpServer::Front::Close(uint64_t id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  Forget(*it->second);
  connections_.erase(it);  // closing the socket also removes it from epoll
}

void HttpServer::Front::MarkUnauthenticated(const Connection& c) {
  unauthenticated_.insert(c.id);
  unauthenticated_by_client_[c.client].insert(c.id);
}

void HttpServer::Front::Forget(const Connection& c) {
  unauthenticated_.erase(c.id);
  auto same = unauthenticated_by_client_.find(c.client);
  if (same == unauthenticated_by_client_.end()) return;
  same->second.erase(c.id);
  if (same->second.empty()) unauthenticated_by_client_.erase(same);
}

void HttpServer::Front::Work() {
  BlockSigpipe();
  std::unique_lock lock(work_mu_);
  for (;;) {
    ++idle_workers_;
    work_cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    --idle_workers_;
    if (stopping_) return;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    try {
      Serve(std::move(job.connection), job.head);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "migdra serve: HTTP: %s %s: %s\n", job.head.method.c_str(),
                   job.head.path.c_str(), e.what());
    }
    --in_flight_;
    lock.lock();
  }
}

void HttpServer::Front::Serve(std::unique_ptr<Connection> c, const RequestHead& head) {
  std::optional<Result<std::string>> body =
      ReadBody(*c, head, Clock::now() + options_.request_timeout);
  if (!body) return;  // gone or too slow: no one to answer
  if (!body->ok()) {
    // What is left of the body cannot be told apart from a next request.
    return Answer(std::move(c), head, ErrorResponse(body->error()), true);
  }
  if (upgrade_route_ && WantsUpgrade(head)) {
    std::optional<Result<Upgrade>> upgrade = upgrade_route_(head);
    if (upgrade && !upgrade->ok()) {
      return Answer(std::move(c), head, ErrorResponse(upgrade->error()), !head.KeepAlive());
    }
    if (upgrade) return SwitchProtocols(*c, **upgrade);
  }
  ApiRequest request;
  request.method = head.method;
  request.path = head.path;
  request.query = head.query;
  request.content_type = head.Field("content-type");
  request.accept = head.Field("accept");
  request.body = std::move(**body);
  ApiResponse response;
  try {
    response = handler_.Handle(request);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "migdra serve: HTTP: %s %s: %s\n", head.method.c_str(), head.path.c_str(),
                 e.what());
    response = ErrorResponse(MakeError(ErrorReason::kInternal, "internal error"));
  }
  if (response.watch || response.stream) return Stream(std::move(c), head, std::move(response));
  Answer(std::move(c), head, std::move(response), !head.KeepAlive());
}

std::optional<Result<std::string>> HttpServer::Front::ReadBody(Connection& c,
                                                               const RequestHead& head,
                                                               Clock::time_point deadline) {
  Result<BodyFraming> framing = BodyFramingOf(head, options_.max_body_bytes);
  if (!framing.ok()) return framing.error();
  if (framing->expect_continue && c.received.empty() &&
      !WriteAll(c, "HTTP/1.1 100 Continue\r\n\r\n", deadline)) {
    return std::nullopt;
  }
  std::string body;
  if (framing->kind == BodyFraming::Kind::kLength) {
    const size_t length = framing->length;
    while (c.received.size() < length) {
      if (!ReadMore(c, deadline)) return std::nullopt;
    }
    body = c.received.substr(0, length);
    c.received.erase(0, length);
  } else if (framing->kind == BodyFraming::Kind::kChunked) {
    ChunkedDecoder decoder(options_.max_body_bytes);
    for (;;) {
      Result<bool> done = decoder.Feed(c.received, body);
      if (!done.ok()) return done.error();
      if (*done) break;
      if (!ReadMore(c, deadline)) return std::nullopt;
    }
  }
  return DecodeContent(head.Field("content-encoding"), std::move(body), options_.max_body_bytes);
}

void HttpServer::Front::Answer(std::unique_ptr<Connection> c, const RequestHead& head,
                               ApiResponse response, bool close) {
  Fields fields = {{"Content-Type", response.content_type}};
  fields.insert(fields.end(), response.headers.begin(), response.headers.end());
  if (response.body.size() >= kCompressFromBytes && head.AcceptsGzip()) {
    response.body = GzipCompress(response.body);
    fields.emplace_back("Content-Encoding", "gzip");
    fields.emplace_back("Vary", "Accept-Encoding");
  }
  fields.emplace_back("Content-Length", std::to_string(response.body.size()));
  std::string out = ResponseHead(response.status, fields, close);
  if (head.method != "HEAD") out += response.body;
  if (!WriteAll(*c, out, Clock::now() + options_.write_timeout)) return;
  Return(std::move(c), close);
}

void HttpServer::Front::Stream(std::unique_ptr<Connection> c, const RequestHead& head,
                               ApiResponse response) {
  Fields fields = {{"Content-Type", response.content_type}, {"Transfer-Encoding", "chunked"}};
  fields.insert(fields.end(), response.headers.begin(), response.headers.end());
  if (!WriteAll(*c, ResponseHead(response.status, fields, false),
                Clock::now() + options_.write_timeout)) {
    return;
  }
  bool alive = true;
  auto write = [&](const std::string& line) {
    if (line.empty()) {
      alive = !PeerGone(*c);
    } else {
      char size[24];
      std::snprintf(size, sizeof size, "%zx\r\n", line.size());
      alive = WriteAll(*c, size + line + "\r\n", Clock::now() + options_.write_timeout);
    }
    return alive;
  };
  if (!response.body.empty()) write(response.body);
  if (!alive) return;
  if (response.stream) {
    response.stream(write, stopping_);
  } else {
    handler_.StreamWatch(*response.watch, write, stopping_);
  }
  if (!alive || stopping_) return;
  if (!WriteAll(*c, "0\r\n\r\n", Clock::now() + options_.write_timeout)) return;
  Return(std::move(c), !head.KeepAlive());
}

namespace {

Io ReadMoreOf(Connection& c) { return ReadAvailable(c, c.received.size() + kReadStep); }

// The connection after "101 Switching Protocols", for a session (see stream/transport.h).
class UpgradedConnection : public stream::Transport {
 public:
  UpgradedConnection(
      Connection& c, int stop_fd, std::chrono::seconds write_timeout,
      const std::function<bool(Connection&, std::string_view, Clock::time_point)>& write_all)
      : c_(c), stop_fd_(stop_fd), write_timeout_(write_timeout), write_all_(write_all) {
    fcntl(c_.fd, F_SETFL, fcntl(c_.fd, F_GETFL) | O_NONBLOCK);
  }

  bool ReadAvailable(std::string& into) override {
    if (!c_.received.empty()) {
      into += c_.received;
      c_.received.clear();
    }
    const Io io = ReadMoreOf(c_);
    into += c_.received;
    c_.received.clear();
    return io != Io::kClosed;
  }
  bool Buffered() const override {
    return !c_.received.empty() || (c_.ssl != nullptr && SSL_pending(c_.ssl) > 0);
  }
  int fd() const override { return c_.fd; }
  int stop_fd() const override { return stop_fd_; }
  bool Write(std::string_view data) override {
    return write_all_(c_, data, Clock::now() + write_timeout_);
  }

 private:
  Connection& c_;
  int stop_fd_;
  std::chrono::seconds write_timeout_;
  const std::function<bool(Connection&, std::string_view, Clock::time_point)>& write_all_;
};

}  // namespace

void HttpServer::Front::SwitchProtocols(Connection& c, const Upgrade& upgrade) {
  if (!WriteAll(c, ResponseHead(101, upgrade.fields, false),
                Clock::now() + options_.write_timeout)) {
    return;
  }
  const std::function<bool(Connection&, std::string_view, Clock::time_point)> write_all =
      [this](Connection& target, std::string_view data, Clock::time_point deadline) {
        return WriteAll(target, data, deadline);
      };
  UpgradedConnection transport(c, stop_fd_, options_.write_timeout, write_all);
  upgrade.session(transport);
}  // the connection closes with its owner, the caller's unique_ptr

bool HttpServer::Front::ReadMore(Connection& c, Clock::time_point deadline) const {
  const size_t before = c.received.size();
  for (;;) {
    const Io io = ReadAvailable(c, before + kReadStep);
    if (c.received.size() > before) return true;
    if (io == Io::kClosed || io == Io::kDone) return false;
    if (!WaitReady(c.fd, io == Io::kWantWrite ? POLLOUT : POLLIN, deadline)) return false;
  }
}

bool HttpServer::Front::WriteAll(Connection& c, std::string_view data,
                                 Clock::time_point deadline) const {
  while (!data.empty()) {
    size_t written = 0;
    const Io io = WriteSome(c, data, written);
    data.remove_prefix(written);
    if (io == Io::kDone) continue;
    if (io == Io::kClosed) return false;
    if (!WaitReady(c.fd, io == Io::kWantRead ? POLLIN : POLLOUT, deadline)) return false;
  }
  return true;
}

bool HttpServer::Front::WaitReady(int fd, short events, Clock::time_point deadline) const {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd fds[2] = {{fd, events, 0}, {stop_fd_, POLLIN, 0}};
    const int n = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left + 1, INT_MAX)));
    if (n < 0 && errno != EINTR) return false;
    if (fds[1].revents != 0) return false;
    if (fds[0].revents != 0) return true;
  }
}

bool HttpServer::Front::PeerGone(Connection& c) const {
  pollfd fd{c.fd, POLLIN | POLLRDHUP, 0};
  if (::poll(&fd, 1, 0) <= 0) return false;
  if ((fd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) return true;
  // Bytes from a client that is watching: a TLS alert or its next request (kept, but bounded).
  return ReadAvailable(c, c.received.size() + kReadStep) == Io::kClosed ||
         c.received.size() > options_.max_header_bytes;
}

void HttpServer::Front::Return(std::unique_ptr<Connection> c, bool close) {
  {
    std::lock_guard lock(returned_mu_);
    if (!front_running_) return;
    returned_.emplace_back(std::move(c), close);
  }
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

HttpServer::HttpServer(const ApiHandler& handler, Credentials credentials, HttpOptions options)
    : handler_(handler), credentials_(std::move(credentials)), options_(std::move(options)) {}

HttpServer::~HttpServer() { Stop(); }

Result<int> HttpServer::Start() {
  front_ = std::make_unique<Front>(handler_, credentials_, options_, upgrade_route_);
  Result<int> started = front_->Start();
  if (!started.ok()) front_.reset();
  return started;
}

void HttpServer::Stop() {
  if (front_) front_->Stop();
}

}  // namespace migdra::control
