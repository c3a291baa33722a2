#include "driver/opaque_config.h"

#include <set>

#include <nlohmann/json.hpp>

namespace migdra::driver {
namespace {

using nlohmann::json;

Status OnlyKnownFields(const json& j, const std::set<std::string>& known, const std::string& path) {
  if (!j.is_object()) return MakeError("must be an object", path);
  for (const auto& [key, value] : j.items()) {
    if (known.count(key) == 0) {
      return MakeError("unknown field \"" + key + "\"", path.empty() ? key : path + "." + key);
    }
  }
  return OkStatus();
}

Result<std::string> StringField(const json& j, const std::string& key, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::string();
  if (!it->is_string()) return MakeError("must be a string", path + key);
  return it->get<std::string>();
}

Status CheckMpsConfig(const json& mps, const std::string& path) {
  MIGDRA_RETURN_IF_ERROR(
      OnlyKnownFields(mps,
                      {"defaultActiveThreadPercentage", "defaultPinnedDeviceMemoryLimit",
                       "defaultPerDevicePinnedMemoryLimit"},
                      path));
  if (mps.contains("defaultActiveThreadPercentage") &&
      !mps["defaultActiveThreadPercentage"].is_number_integer()) {
    return MakeError("must be an integer", path + ".defaultActiveThreadPercentage");
  }
  return OkStatus();
}

}  // namespace

Result<OpaqueConfig> DecodeOpaqueConfig(const std::string& parameters_json) {
  json j;
  try {
    j = json::parse(parameters_json);
  } catch (const std::exception& e) {
    return MakeError(std::string("not valid JSON: ") + e.what(), "parameters");
  }
  if (!j.is_object()) return MakeError("must be an object", "parameters");
  MIGDRA_ASSIGN_OR_RETURN(std::string api_version, StringField(j, "apiVersion", ""));
  if (api_version != kOpaqueConfigApiVersion) {
    return MakeError(
        "unsupported apiVersion \"" + api_version + "\" (want " + kOpaqueConfigApiVersion + ")",
        "apiVersion");
  }
  OpaqueConfig out;
  MIGDRA_ASSIGN_OR_RETURN(out.kind, StringField(j, "kind", ""));
  if (out.kind != "GpuConfig" && out.kind != "MigDeviceConfig") {
    return MakeError("unsupported kind \"" + out.kind + "\" (want GpuConfig or MigDeviceConfig)",
                     "kind");
  }
  MIGDRA_RETURN_IF_ERROR(OnlyKnownFields(j, {"apiVersion", "kind", "sharing"}, ""));
  auto sharing = j.find("sharing");
  if (sharing == j.end() || sharing->is_null()) return out;
  const bool gpu = out.kind == "GpuConfig";
  std::set<std::string> known = {"strategy", "mpsConfig"};
  if (gpu) known.insert("timeSlicingConfig");
  MIGDRA_RETURN_IF_ERROR(OnlyKnownFields(*sharing, known, "sharing"));
  MIGDRA_ASSIGN_OR_RETURN(out.strategy, StringField(*sharing, "strategy", "sharing."));
  if (out.strategy != "TimeSlicing" && out.strategy != "MPS") {
    return MakeError("unknown strategy \"" + out.strategy + "\" (want TimeSlicing or MPS)",
                     "sharing.strategy");
  }
  if (sharing->contains("timeSlicingConfig") && !(*sharing)["timeSlicingConfig"].is_null()) {
    const json& ts = (*sharing)["timeSlicingConfig"];
    MIGDRA_RETURN_IF_ERROR(OnlyKnownFields(ts, {"interval"}, "sharing.timeSlicingConfig"));
    MIGDRA_ASSIGN_OR_RETURN(out.interval,
                            StringField(ts, "interval", "sharing.timeSlicingConfig."));
    static const std::set<std::string> kIntervals = {"", "Default", "Short", "Medium", "Long"};
    if (kIntervals.count(out.interval) == 0) {
      return MakeError("unknown interval \"" + out.interval + "\"",
                       "sharing.timeSlicingConfig.interval");
    }
    if (out.strategy != "TimeSlicing") {
      return MakeError("only allowed with strategy TimeSlicing", "sharing.timeSlicingConfig");
    }
  }
  if (sharing->contains("mpsConfig") && !(*sharing)["mpsConfig"].is_null()) {
    MIGDRA_RETURN_IF_ERROR(CheckMpsConfig((*sharing)["mpsConfig"], "sharing.mpsConfig"));
    if (out.strategy != "MPS") {
      return MakeError("only allowed with strategy MPS", "sharing.mpsConfig");
    }
  }
  return out;
}

Status CheckApplicable(const OpaqueConfig& config, bool is_mig, const std::string& device) {
  if (is_mig && config.kind != "MigDeviceConfig") {
    return MakeError(config.kind + " cannot be applied to MIG device " + device +
                     " (use MigDeviceConfig)");
  }
  if (!is_mig && config.kind != "GpuConfig") {
    return MakeError(config.kind + " cannot be applied to GPU " + device + " (use GpuConfig)");
  }
  if (config.strategy == "MPS") {
    return MakeError("sharing strategy MPS for " + device +
                     " is not supported by migdra (it runs no MPS control daemon); use "
                     "TimeSlicing or a separate MIG device per workload");
  }
  if (!config.interval.empty() && config.interval != "Default") {
    return MakeError("time-slice interval " + config.interval + " for " + device +
                     " is not supported by migdra; only Default can be applied");
  }
  return OkStatus();
}

Result<std::vector<OpaqueConfig>> ConfigsForRequest(const std::vector<AllocatedConfig>& configs,
                                                    const std::string& driver,
                                                    const std::string& request) {
  const std::string parent = request.substr(0, request.find('/'));
  std::vector<OpaqueConfig> out;
  // Class configs come first, claim configs after, so that the claim's settings win.
  for (const char* source : {"FromClass", "FromClaim"}) {
    for (size_t i = 0; i < configs.size(); ++i) {
      const AllocatedConfig& c = configs[i];
      if (c.driver != driver) continue;
      if ((c.source == "FromClaim") != (std::string(source) == "FromClaim")) continue;
      bool applies = c.requests.empty();
      for (const auto& r : c.requests) applies = applies || r == request || r == parent;
      if (!applies) continue;
      auto decoded = DecodeOpaqueConfig(c.parameters_json);
      if (!decoded.ok()) {
        Error e = std::move(decoded).error();
        e.Under("status.allocation.devices.config[" + std::to_string(i) + "].opaque.parameters");
        return e;
      }
      out.push_back(std::move(decoded).value());
    }
  }
  return out;
}

}  // namespace migdra::driver
