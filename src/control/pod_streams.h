// The streaming subresources of pods -- exec, attach and portforward -- as serve's HTTP server
// switches protocols for them (http_server.h's UpgradeRoute): what kubectl exec (also -it),
// kubectl attach and kubectl port-forward send.
//
// Contract:
//  - Paths /api/v1/namespaces/NS/pods/NAME/{exec,attach,portforward}, GET or POST, with
//    "Connection: Upgrade". The pod must exist (NotFound) and, for exec and attach, be neither
//    Succeeded nor Failed, and `container` must name one of its containers (the only one when
//    omitted); exec needs at least one `command` (BadRequest otherwise).
//  - Protocols: exec and attach over WebSocket with subprotocol v5.channel.k8s.io or
//    v4.channel.k8s.io (remote_command.h); SPDY for exec/attach is refused (BadRequest) saying so
//    (kubectl 1.30+ speaks WebSocket). portforward over WebSocket with subprotocol
//    SPDY/3.1+portforward.k8s.io (SPDY tunnelled in binary messages) or over "Upgrade:
//    SPDY/3.1" with X-Stream-Protocol-Version portforward.k8s.io (port_forward.h).
//  - A runtime with a streaming server of its own (ContainerStreaming::StreamUrl: containerd)
//    serves exec and attach there: the request is proxied to it (upgrade_proxy.h) with whatever
//    protocol the client and the runtime agree on (WebSocket, or SPDY after kubectl's fallback).
//  - The node's runtime (stream::ContainerStreaming) starts the exec'd command or attaches
//    before the answer: its failure (container not running) is the request's BadRequest and
//    kubectl prints its message. Without a runtime (serve --no-node): ServiceUnavailable.
//  - Errors are Errors with an ErrorReason (common/result.h); the HTTP server answers them.
//
// Thread safety: the route is called on the HTTP server's worker threads.
#pragma once

#include <functional>

#include "control/http_server.h"
#include "control/store.h"
#include "stream/container_streams.h"

namespace migdra::control {

// `streaming` returns the node's runtime, or null while it has none.
UpgradeRoute MakePodStreamRoute(Store& store,
                                std::function<stream::ContainerStreaming*()> streaming);

}  // namespace migdra::control
