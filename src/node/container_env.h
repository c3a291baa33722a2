// A container's environment and command line as the kubelet builds them from the pod spec, for
// the pod runner (runner.h), which runs containers as host processes.
//
// - `env` entries in order: `value`, in which `$(NAME)` names a variable defined earlier in the
//   list and is replaced by its value (`$$` is a literal `$`; a reference to an undefined name
//   stays as written), or `valueFrom.fieldRef`, the downward API's pod fields: metadata.name,
//   metadata.namespace, metadata.uid, metadata.labels['KEY'], metadata.annotations['KEY'],
//   spec.nodeName, spec.serviceAccountName, status.hostIP, status.hostIPs, status.podIP,
//   status.podIPs.
// - `command` and `args` with `$(NAME)` replaced from the container's environment.
// - What migdra cannot serve is an error naming the container, the variable and the source:
//   ConfigMaps and Secrets (serve has neither), resourceFieldRef, unknown field paths. The runner
//   then keeps the pod Pending with reason CreateContainerConfigError, as a kubelet does.
//
// Thread safety: pure functions.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace migdra::node {

// Replaces `$(NAME)` in `text` with `vars[NAME]` the way the kubelet does.
std::string ExpandReferences(std::string_view text, const std::map<std::string, std::string>& vars);

struct ContainerCommand {
  std::vector<std::pair<std::string, std::string>> env;  // in spec order
  std::vector<std::string> argv;                         // command then args, expanded
};

Result<ContainerCommand> BuildContainerCommand(const nlohmann::json& pod,
                                               const nlohmann::json& container);

}  // namespace migdra::node
