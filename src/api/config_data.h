// The data of ConfigMaps and Secrets as bytes, and the rules for their keys and base64 values:
// shared by the API server's validation (control/config_kinds.h) and the pod runner, which reads
// them into environment variables and volumes (node/pod_config.h).
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace migdra::api {

// The messages of upstream's IsConfigMapKey (empty when `key` is valid).
std::vector<std::string> ConfigKeyErrors(std::string_view key);
Result<std::string> Base64Decode(std::string_view text);
std::string Base64Encode(std::string_view bytes);

// A ConfigMap's or Secret's entries as bytes: ConfigMap data and binaryData (decoded), Secret
// data (decoded).
Result<std::vector<std::pair<std::string, std::string>>> ConfigEntries(
    const std::string& resource, const nlohmann::json& object);

}  // namespace migdra::api
