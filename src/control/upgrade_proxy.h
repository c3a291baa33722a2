// Proxying an upgrade request (kubectl exec / attach) to a container runtime's streaming server,
// as kube-apiserver proxies it through the kubelet to the runtime: the client's request goes to
// the runtime's URL with its upgrade fields (not its credentials), the runtime's answer comes
// back — a refusal as the request's error with the runtime's words (kubectl then falls back from
// WebSocket to SPDY, as with a kubelet): BadRequest when the runtime calls the request bad,
// BadGateway for any other refusal and when the runtime cannot be reached; a 101 with the
// runtime's fields — and after the 101 the bytes flow both ways unchanged until either side
// closes or serve stops.
#pragma once

#include <string>

#include "control/http_request.h"
#include "control/http_server.h"

namespace migdra::control {

// `url`: http://HOST:PORT/PATH (the CRI Exec/Attach answer). Connecting and the runtime's
// answer are bounded (10 s); the stream after the 101 is not.
Result<Upgrade> ProxyUpgrade(const RequestHead& head, const std::string& url);

}  // namespace migdra::control
