#include "control/patch.h"

#include <algorithm>
#include <map>

namespace migdra::control {
namespace {

json MergePatchValue(const json& target, const json& patch) {
  if (!patch.is_object()) return patch;
  json result = target.is_object() ? target : json::object();
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      result.erase(key);
    } else {
      result[key] = MergePatchValue(result.contains(key) ? result[key] : json(), value);
    }
  }
  return result;
}

// Patch merge keys of the built-in kinds' lists (the `patchMergeKey` struct tags).
const std::map<std::string, std::string>& MergeKeys() {
  static const std::map<std::string, std::string> keys = {
      {"containers", "name"},
      {"initContainers", "name"},
      {"ephemeralContainers", "name"},
      {"env", "name"},
      {"volumes", "name"},
      {"volumeMounts", "mountPath"},
      {"volumeDevices", "devicePath"},
      {"ports", "containerPort"},
      {"imagePullSecrets", "name"},
      {"resourceClaims", "name"},
      {"conditions", "type"},
      {"ownerReferences", "uid"},
      {"hostAliases", "ip"},
      {"topologySpreadConstraints", "topologyKey"},
      {"resourceClaimStatuses", "name"},
  };
  return keys;
}

// Lists of scalars merged as sets.
bool IsPrimitiveMergeList(const std::string& key) { return key == "finalizers"; }

Result<json> Strategic(const json& target, const json& patch);

Result<json> MergeList(const std::string& key, const json& target, const json& patch) {
  auto mk = MergeKeys().find(key);
  if (IsPrimitiveMergeList(key)) {
    json result = target.is_array() ? target : json::array();
    for (const json& v : patch) {
      if (std::find(result.begin(), result.end(), v) == result.end()) result.push_back(v);
    }
    return result;
  }
  if (mk == MergeKeys().end()) {
    // Replace, but strip directives from the elements.
    json result = json::array();
    for (const json& v : patch) {
      if (v.is_object() && v.contains("$patch")) continue;
      result.push_back(v);
    }
    return result;
  }
  const std::string& merge_key = mk->second;
  json result = target.is_array() ? target : json::array();
  for (const json& element : patch) {
    if (element.is_object() && element.value("$patch", "") == "replace") {
      // `[{"$patch": "replace"}, ...]`: the remaining elements replace the list.
      json replaced = json::array();
      for (const json& e : patch) {
        if (!(e.is_object() && e.contains("$patch"))) replaced.push_back(e);
      }
      return replaced;
    }
    if (!element.is_object() || !element.contains(merge_key)) {
      return MakeError(
          ErrorReason::kBadRequest,
          "map: " + element.dump() + " does not contain declared merge key: " + merge_key);
    }
    auto found = std::find_if(result.begin(), result.end(), [&](const json& e) {
      return e.is_object() && e.contains(merge_key) && e[merge_key] == element[merge_key];
    });
    if (element.value("$patch", "") == "delete") {
      if (found != result.end()) result.erase(found);
      continue;
    }
    if (found == result.end()) {
      Result<json> added = Strategic(json::object(), element);
      if (!added.ok()) return added;
      result.push_back(*added);
    } else {
      Result<json> merged = Strategic(*found, element);
      if (!merged.ok()) return merged;
      *found = *merged;
    }
  }
  return result;
}

Result<json> Strategic(const json& target, const json& patch) {
  if (!patch.is_object()) return patch;
  std::string directive = patch.value("$patch", "");
  if (directive == "replace") {
    json replaced = patch;
    replaced.erase("$patch");
    return replaced;
  }
  if (directive == "delete") return json();
  json result = target.is_object() ? target : json::object();
  for (const auto& [key, value] : patch.items()) {
    if (key == "$patch" || key == "$retainKeys" || key.rfind("$setElementOrder/", 0) == 0) {
      continue;
    }
    if (key.rfind("$deleteFromPrimitiveList/", 0) == 0) {
      std::string list = key.substr(std::string("$deleteFromPrimitiveList/").size());
      if (result.contains(list) && result[list].is_array() && value.is_array()) {
        json kept = json::array();
        for (const json& v : result[list]) {
          if (std::find(value.begin(), value.end(), v) == value.end()) kept.push_back(v);
        }
        result[list] = kept;
      }
      continue;
    }
    if (value.is_null()) {
      result.erase(key);
    } else if (value.is_array()) {
      Result<json> merged = MergeList(key, result.contains(key) ? result[key] : json(), value);
      if (!merged.ok()) return merged;
      result[key] = *merged;
    } else if (value.is_object()) {
      Result<json> merged = Strategic(result.contains(key) ? result[key] : json(), value);
      if (!merged.ok()) return merged;
      if (merged->is_null()) {
        result.erase(key);
      } else {
        result[key] = *merged;
      }
    } else {
      result[key] = value;
    }
  }
  if (patch.contains("$retainKeys") && patch["$retainKeys"].is_array()) {
    const json& keep = patch["$retainKeys"];
    for (auto it = result.begin(); it != result.end();) {
      if (std::find(keep.begin(), keep.end(), it.key()) == keep.end()) {
        it = result.erase(it);
      } else {
        ++it;
      }
    }
  }
  return result;
}

}  // namespace

Result<json> ApplyMergePatch(const json& target, const json& patch) {
  if (!patch.is_object()) {
    return MakeError(ErrorReason::kBadRequest, "merge patch must be a JSON object");
  }
  return MergePatchValue(target, patch);
}

Result<json> ApplyJsonPatch(const json& target, const json& patch) {
  if (!patch.is_array()) {
    return MakeError(ErrorReason::kBadRequest, "JSON patch must be an array");
  }
  try {
    return target.patch(patch);
  } catch (const std::exception& e) {
    return MakeError(ErrorReason::kInvalid,
                     std::string("the JSON patch could not be applied: ") + e.what());
  }
}

Result<json> ApplyStrategicMergePatch(const json& target, const json& patch) {
  if (!patch.is_object()) {
    return MakeError(ErrorReason::kBadRequest, "strategic merge patch must be a JSON object");
  }
  return Strategic(target, patch);
}

}  // namespace migdra::control
