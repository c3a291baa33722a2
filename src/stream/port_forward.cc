#include "stream/port_forward.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <optional>
#include <vector>

#include "stream/spdy.h"
#include "stream/websocket.h"

namespace migdra::stream {
namespace {

constexpr size_t kReadBytes = 32 * 1024;

// The SPDY byte stream, directly on the transport or inside WebSocket binary messages.
class SpdyLink {
 public:
  SpdyLink(Transport& transport, bool tunnelled) : transport_(transport), tunnelled_(tunnelled) {
    if (tunnelled_) ws_.emplace(transport_);
  }
  // Appends what arrived to `into`; false once the client is gone.
  bool Receive(std::string& into) {
    if (!tunnelled_) return transport_.ReadAvailable(into);
    std::vector<std::string> messages;
    const bool open = ws_->Receive(messages);
    for (const std::string& m : messages) into += m;
    return open;
  }
  bool Send(std::string_view bytes) {
    return tunnelled_ ? ws_->SendBinary(bytes) : transport_.Write(bytes);
  }
  void Close() {
    if (tunnelled_) ws_->Close(kWsCloseNormal, "");
  }

 private:
  Transport& transport_;
  bool tunnelled_;
  std::optional<WebSocketConnection> ws_;
};

// One forwarded connection: the client's pair of streams and the socket to the pod's port.
struct Forward {
  uint32_t error_stream = 0;
  uint32_t data_stream = 0;
  std::string port;
  int socket = -1;
  bool started = false;
  bool port_done = false;  // the port's side ended: both streams were ended
};

class Session {
 public:
  Session(Transport& transport, bool tunnelled, const PortDialer& dial)
      : transport_(transport), link_(transport, tunnelled), dial_(dial) {}
  ~Session() {
    for (auto& [id, f] : forwards_) {
      if (f.socket >= 0) ::close(f.socket);
    }
  }

  void Run() {
    bool open = true;
    while (open) {
      std::vector<pollfd> fds = {{transport_.fd(), POLLIN, 0}, {transport_.stop_fd(), POLLIN, 0}};
      std::vector<std::string> ids;
      for (auto& [id, f] : forwards_) {
        if (f.socket >= 0 && !f.port_done) {
          fds.push_back({f.socket, POLLIN, 0});
          ids.push_back(id);
        }
      }
      if (::poll(fds.data(), fds.size(), transport_.Buffered() ? 0 : -1) < 0 && errno != EINTR) {
        return;
      }
      if (fds[1].revents != 0) return;
      if (fds[0].revents != 0 || transport_.Buffered()) {
        open = link_.Receive(received_);
        if (!Frames()) return;
      }
      for (size_t i = 0; i < ids.size(); ++i) {
        if (fds[i + 2].revents != 0 && forwards_.count(ids[i]) != 0) FromPort(forwards_[ids[i]]);
      }
    }
  }

 private:
  // Handles the complete frames received; false when the session must end.
  bool Frames() {
    for (;;) {
      Result<std::optional<SpdyFrame>> next = codec_.Next(received_);
      if (!next) {
        link_.Send(SpdyCodec::GoAway(last_stream_, kSpdyGoAwayProtocolError));
        link_.Close();
        return false;
      }
      if (!next->has_value()) return true;
      SpdyFrame& frame = **next;
      if (!frame.control) {
        OnData(frame);
        continue;
      }
      switch (frame.type) {
        case kSpdySynStream:
          if (!OnSynStream(frame)) return false;
          break;
        case kSpdyRstStream:
          Drop(frame.stream_id);
          break;
        case kSpdyPing:
          if (!link_.Send(SpdyCodec::Ping(frame.value))) return false;
          break;
        case kSpdyGoAway:
          return false;
        default:
          break;  // SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do
      }
    }
  }

  bool OnSynStream(const SpdyFrame& frame) {
    last_stream_ = frame.stream_id;
    const std::string type = frame.Header("streamtype");
    const std::string request = frame.Header("requestid");
    if ((type != "error" && type != "data") || request.empty()) {
      return link_.Send(SpdyCodec::RstStream(frame.stream_id, kSpdyRstRefusedStream));
    }
    if (!link_.Send(codec_.SynReply(frame.stream_id, {}))) return false;
    Forward& f = forwards_[request];
    (type == "error" ? f.error_stream : f.data_stream) = frame.stream_id;
    f.port = frame.Header("port");
    if (f.error_stream != 0 && f.data_stream != 0 && !f.started) Connect(f);
    return true;
  }

  void Connect(Forward& f) {
    f.started = true;
    char* end = nullptr;
    const unsigned long port = std::strtoul(f.port.c_str(), &end, 10);
    Result<int> socket = (f.port.empty() || *end != '\0' || port == 0 || port > 65535)
                             ? Result<int>(MakeError("invalid port \"" + f.port + "\""))
                             : dial_(static_cast<uint16_t>(port));
    if (!socket) {
      EndStreams(f, "error forwarding port " + f.port + ": " + socket.error().ToString());
      return;
    }
    f.socket = *socket;
    // A port that stops reading may hold the session's thread at most this long per write.
    const timeval send_timeout{30, 0};
    ::setsockopt(f.socket, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
    for (const std::string& bytes : early_[f.data_stream]) WriteToPort(f, bytes);
    early_.erase(f.data_stream);
  }

  // Ends both streams of `f` (data first: the client reads the error stream to its end).
  void EndStreams(Forward& f, const std::string& error) {
    f.port_done = true;
    if (f.socket >= 0) ::close(f.socket);
    f.socket = -1;
    link_.Send(SpdyCodec::Data(f.data_stream, "", true));
    link_.Send(SpdyCodec::Data(f.error_stream, error, true));
  }

  Forward* ByDataStream(uint32_t stream) {
    for (auto& [id, f] : forwards_) {
      if (f.data_stream == stream) return &f;
    }
    return nullptr;
  }

  void OnData(const SpdyFrame& frame) {
    Forward* f = ByDataStream(frame.stream_id);
    if (f == nullptr) return;  // the error stream's FIN, or a stream already dropped
    if (f->socket < 0) {
      if (!f->started) early_[frame.stream_id].push_back(frame.data);
      return;
    }
    if (!frame.data.empty()) WriteToPort(*f, frame.data);
    if (frame.fin()) ::shutdown(f->socket, SHUT_WR);
  }

  void WriteToPort(Forward& f, std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(f.socket, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // the port's side is gone: its reader notices and ends the streams
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }

  void FromPort(Forward& f) {
    char buffer[kReadBytes];
    const ssize_t n = ::recv(f.socket, buffer, sizeof buffer, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n > 0) {
      link_.Send(SpdyCodec::Data(f.data_stream, std::string_view(buffer, n), false));
      return;
    }
    EndStreams(f, "");
  }

  void Drop(uint32_t stream) {
    for (auto it = forwards_.begin(); it != forwards_.end(); ++it) {
      if (it->second.data_stream == stream || it->second.error_stream == stream) {
        if (it->second.socket >= 0) ::close(it->second.socket);
        early_.erase(it->second.data_stream);
        forwards_.erase(it);
        return;
      }
    }
  }

  Transport& transport_;
  SpdyLink link_;
  const PortDialer& dial_;
  SpdyCodec codec_;
  std::string received_;
  uint32_t last_stream_ = 0;
  std::map<std::string, Forward> forwards_;             // by request id
  std::map<uint32_t, std::vector<std::string>> early_;  // data before the connection was made
};

}  // namespace

void RunPortForward(Transport& transport, bool tunnelled, const PortDialer& dial) {
  Session(transport, tunnelled, dial).Run();
}

}  // namespace migdra::stream
