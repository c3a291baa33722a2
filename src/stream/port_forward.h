// Kubernetes' port-forward protocol (portforward.k8s.io) over SPDY/3.1 (spdy.h): kubectl
// port-forward, either after "Upgrade: SPDY/3.1" or tunnelled in WebSocket binary messages
// (subprotocol "SPDY/3.1+portforward.k8s.io", what kubectl 1.31+ tries first).
//
// Wire format: for each connection it forwards, the client opens two streams carrying the
// headers streamtype ("error", then "data"), port and requestid (the same for both). The server
// answers each SYN_STREAM with a SYN_REPLY, connects to the port once both streams of a request
// are there, and relays the data stream's bytes both ways; the client's FIN on the data stream
// half-closes the connection to the port. When the port's side ends, the data stream is ended
// (FIN) and then the error stream -- empty on success, with the failure's text otherwise (a
// connection refused) -- because the client reads the error stream to its end before it lets
// the connection go. RST_STREAM from the client drops that request; PING is answered; GOAWAY or
// a closed connection ends the session and every forwarded connection.
//
// Thread safety: RunPortForward blocks its caller's thread until the session ends.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "stream/transport.h"

namespace migdra::stream {

inline constexpr std::string_view kPortForwardProtocol = "portforward.k8s.io";
inline constexpr std::string_view kSpdyUpgrade = "SPDY/3.1";
inline constexpr std::string_view kTunnelledPortForwardProtocol = "SPDY/3.1+portforward.k8s.io";

// Connects to a port of the pod: the connected socket, or why not.
using PortDialer = std::function<Result<int>(uint16_t port)>;

// `tunnelled`: SPDY frames travel in WebSocket binary messages; otherwise directly.
void RunPortForward(Transport& transport, bool tunnelled, const PortDialer& dial);

}  // namespace migdra::stream
