// A client connection after serve's HTTP server switched protocols (101), as the streaming
// sessions (remote_command.h, port_forward.h) use it: from one thread, without blocking on
// reads, so that one loop can wait on the client and the container's streams together.
#pragma once

#include <string>
#include <string_view>

namespace migdra::stream {

class Transport {
 public:
  virtual ~Transport() = default;
  // Appends what has arrived to `into` without blocking; false once the client closed the
  // connection or it broke.
  virtual bool ReadAvailable(std::string& into) = 0;
  // Whether bytes are buffered (decrypted TLS records) that ReadAvailable returns at once even
  // though the socket does not poll readable.
  virtual bool Buffered() const = 0;
  // The socket to poll for input, and a descriptor that becomes readable when serve stops.
  virtual int fd() const = 0;
  virtual int stop_fd() const = 0;
  // Writes all of `data`; false when the client is gone or took longer than serve's write
  // timeout.
  virtual bool Write(std::string_view data) = 0;
};

}  // namespace migdra::stream
