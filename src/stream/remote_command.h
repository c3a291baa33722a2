// Kubernetes' remote-command streaming protocol over WebSocket (kubectl exec and attach): the
// channel protocols v5.channel.k8s.io and v4.channel.k8s.io.
//
// Wire format: every WebSocket message is binary; its first byte is the channel -- 0 stdin,
// 1 stdout, 2 stderr, 3 error, 4 resize -- and the rest the data. Resize messages are JSON
// {"Width":W,"Height":H}. v5 adds the close signal: a message [255, CHANNEL] ends that channel
// (the client's end of stdin). When the command's output has ended the server writes one
// metav1.Status on the error channel -- Success, or Failure with reason NonZeroExitCode and the
// exit code as the message of a cause of reason ExitCode, which kubectl turns into its own exit
// code -- and closes the WebSocket.
//
// Thread safety: RunRemoteCommand blocks its caller's thread until the session ends.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "stream/container_streams.h"
#include "stream/transport.h"

namespace migdra::stream {

inline constexpr std::string_view kChannelProtocolV5 = "v5.channel.k8s.io";
inline constexpr std::string_view kChannelProtocolV4 = "v4.channel.k8s.io";

// The protocol to answer with from a Sec-WebSocket-Protocol offer (v5 before v4); "" when the
// client offers neither.
std::string ChooseChannelProtocol(const std::vector<std::string_view>& offered);

// The Status written on the error channel for an exit code (`command` names the command in the
// failure message; empty for attach).
nlohmann::json ExitStatus(const Result<int>& exit_code, const std::vector<std::string>& command);

// Relays `process`'s streams over the upgraded connection until its output ends, then writes
// its exit status and closes.
// Writes `error` as a Failure Status on the error channel and closes: the command could not be
// started.
void RefuseRemoteCommand(Transport& transport, const Error& error);

void RunRemoteCommand(Transport& transport, std::string_view protocol, StreamedProcess& process,
                      const std::vector<std::string>& command);

}  // namespace migdra::stream
