#include "control/pod_streams.h"

#include <cctype>
#include <memory>
#include <string>
#include <vector>

#include "control/http_request.h"
#include "control/upgrade_proxy.h"
#include "stream/port_forward.h"
#include "stream/remote_command.h"
#include "stream/websocket.h"

namespace migdra::control {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

Error BadRequest(const std::string& message) {
  return MakeError(ErrorReason::kBadRequest, message);
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// The subresource's path parts, or false when the path is not one.
bool ParsePath(const std::string& path, std::string& ns, std::string& pod, std::string& what) {
  const std::string prefix = "/api/v1/namespaces/";
  if (path.rfind(prefix, 0) != 0) return false;
  std::vector<std::string> parts;
  size_t start = prefix.size();
  while (start <= path.size()) {
    const size_t slash = path.find('/', start);
    parts.push_back(
        path.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (parts.size() != 4 || parts[1] != "pods") return false;
  if (parts[3] != "exec" && parts[3] != "attach" && parts[3] != "portforward") return false;
  ns = parts[0];
  pod = parts[2];
  what = parts[3];
  return !ns.empty() && !pod.empty();
}

// The container the request names, checked against the pod.
Result<std::string> ContainerOf(const json& pod, const RequestHead& head) {
  std::vector<std::string> names;
  for (const json& c : pod["spec"].value("containers", json::array())) {
    names.push_back(c.value("name", ""));
  }
  const std::string wanted = QueryValue(head.query, "container").value_or("");
  const std::string pod_name = pod["metadata"].value("name", "");
  if (wanted.empty()) {
    if (names.size() == 1) return names[0];
    std::string list;
    for (const std::string& n : names) list += (list.empty() ? "" : " ") + n;
    return BadRequest("a container name must be specified for pod " + pod_name +
                      ", choose one of: [" + list + "]");
  }
  for (const std::string& n : names) {
    if (n == wanted) return wanted;
  }
  return BadRequest("container " + wanted + " is not valid for pod " + pod_name);
}

// The 101 fields for a WebSocket with `protocol`, or the error.
Result<Fields> WebSocketFields(const RequestHead& head, const std::string& protocol) {
  const std::string key = head.Field("sec-websocket-key");
  if (key.empty() || head.Field("sec-websocket-version") != "13" || head.method != "GET") {
    return BadRequest(
        "a WebSocket upgrade needs GET, Sec-WebSocket-Key and "
        "Sec-WebSocket-Version 13");
  }
  if (protocol.empty()) {
    return BadRequest("none of the offered WebSocket subprotocols is served");
  }
  return Fields{{"Upgrade", "websocket"},
                {"Connection", "Upgrade"},
                {"Sec-WebSocket-Accept", stream::AcceptKey(key)},
                {"Sec-WebSocket-Protocol", protocol}};
}

std::optional<Result<Upgrade>> PortForward(const RequestHead& head,
                                           stream::ContainerStreaming& streaming, const json& pod) {
  const bool websocket = EqualsIgnoringCase(head.Field("upgrade"), "websocket");
  Fields fields;
  if (websocket) {
    std::string protocol;
    for (std::string_view p : head.ListItems("sec-websocket-protocol")) {
      if (p == stream::kTunnelledPortForwardProtocol) protocol = std::string(p);
    }
    Result<Fields> ws = WebSocketFields(head, protocol);
    if (!ws.ok()) return ws.error();
    fields = *ws;
  } else if (EqualsIgnoringCase(head.Field("upgrade"), stream::kSpdyUpgrade)) {
    bool offered = false;
    for (std::string_view p : head.ListItems("x-stream-protocol-version")) {
      offered = offered || p == stream::kPortForwardProtocol;
    }
    if (!offered) return BadRequest("port forwarding needs protocol portforward.k8s.io");
    fields = {{"Connection", "Upgrade"},
              {"Upgrade", std::string(stream::kSpdyUpgrade)},
              {"X-Stream-Protocol-Version", std::string(stream::kPortForwardProtocol)}};
  } else {
    return BadRequest("unsupported upgrade \"" + head.Field("upgrade") + "\"");
  }
  auto shared_pod = std::make_shared<json>(pod);
  Upgrade upgrade;
  upgrade.fields = std::move(fields);
  upgrade.session = [websocket, shared_pod, &streaming](stream::Transport& transport) {
    stream::RunPortForward(transport, websocket,
                           [&](uint16_t port) { return streaming.DialPort(*shared_pod, port); });
  };
  return upgrade;
}

std::optional<Result<Upgrade>> RemoteCommand(const RequestHead& head,
                                             stream::ContainerStreaming& streaming, const json& pod,
                                             bool exec) {
  const std::string phase = pod.contains("status") ? pod["status"].value("phase", "") : "";
  if (phase == "Succeeded" || phase == "Failed") {
    return BadRequest(std::string("cannot ") + (exec ? "exec into" : "attach to") +
                      " a container in a completed pod; current phase is " + phase);
  }
  Result<std::string> container = ContainerOf(pod, head);
  if (!container.ok()) return container.error();
  stream::StreamRequest request;
  request.container = *container;
  for (auto [it, end] = head.query.equal_range("command"); it != end; ++it) {
    request.command.push_back(it->second);
  }
  if (exec && request.command.empty()) {
    return BadRequest("you must specify at least 1 command");
  }
  request.want_stdin = QueryBool(QueryValue(head.query, "stdin"));
  request.want_stdout = QueryBool(QueryValue(head.query, "stdout"));
  request.want_stderr = QueryBool(QueryValue(head.query, "stderr"));
  request.tty = QueryBool(QueryValue(head.query, "tty"));
  if (request.tty) request.want_stderr = false;  // the terminal carries both
  if (!request.want_stdin && !request.want_stdout && !request.want_stderr) {
    return BadRequest("you must specify at least 1 of stdin, stdout, stderr");
  }
  // A runtime with its own streaming server (containerd) speaks with the client itself.
  if (std::optional<Result<std::string>> url = streaming.StreamUrl(pod, request, exec)) {
    if (!url->ok()) return BadRequest(url->error().message);
    return ProxyUpgrade(head, **url);
  }
  if (!EqualsIgnoringCase(head.Field("upgrade"), "websocket")) {
    return BadRequest("exec and attach are served over WebSocket (subprotocol " +
                      std::string(stream::kChannelProtocolV5) +
                      "), not SPDY: use kubectl 1.30 or later");
  }
  const std::string protocol =
      stream::ChooseChannelProtocol(head.ListItems("sec-websocket-protocol"));
  Result<Fields> fields = WebSocketFields(head, protocol);
  if (!fields.ok()) return fields.error();
  Upgrade upgrade;
  upgrade.fields = std::move(*fields);
  auto shared_pod = std::make_shared<json>(pod);
  upgrade.session = [shared_pod, request, protocol, exec,
                     &streaming](stream::Transport& transport) {
    Result<std::unique_ptr<stream::StreamedProcess>> started =
        exec ? streaming.Exec(*shared_pod, request) : streaming.Attach(*shared_pod, request);
    if (!started) {
      stream::RefuseRemoteCommand(transport, started.error());
      return;
    }
    stream::RunRemoteCommand(transport, protocol, **started, request.command);
  };
  return upgrade;
}

}  // namespace

UpgradeRoute MakePodStreamRoute(Store& store,
                                std::function<stream::ContainerStreaming*()> streaming) {
  return [&store, streaming = std::move(streaming)](
             const RequestHead& head) -> std::optional<Result<Upgrade>> {
    std::string ns, name, what;
    if (!ParsePath(head.path, ns, name, what)) return std::nullopt;
    if (head.method != "GET" && head.method != "POST") {
      return MakeError(ErrorReason::kMethodNotAllowed, "method " + head.method + " not allowed");
    }
    std::optional<json> pod = store.Get("pods", ns, name);
    if (!pod) {
      Error missing = MakeError(ErrorReason::kNotFound, "pods \"" + name + "\" not found");
      missing.subject = {name, "", "pods"};
      return missing;
    }
    stream::ContainerStreaming* runtime = streaming();
    if (runtime == nullptr) {
      return MakeError(ErrorReason::kServiceUnavailable,
                       "no node runtime serves pods/" + what + " (serve runs without a node)");
    }
    if (what == "portforward") return PortForward(head, *runtime, *pod);
    return RemoteCommand(head, *runtime, *pod, what == "exec");
  };
}

}  // namespace migdra::control
