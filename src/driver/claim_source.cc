#include "driver/claim_source.h"

#include <nlohmann/json.hpp>

#include "kube/client.h"

namespace migdra::driver {
namespace {

using nlohmann::json;

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<ClaimInfo> FromJson(const json& j) {
  if (!j.is_object()) return MakeError("ResourceClaim is not a JSON object");
  ClaimInfo info;
  const json meta = j.value("metadata", json::object());
  info.ref.namespace_ = Str(meta, "namespace");
  info.ref.name = Str(meta, "name");
  info.ref.uid = Str(meta, "uid");
  const json status = j.value("status", json::object());
  info.reserved = status.contains("reservedFor") && status["reservedFor"].is_array() &&
                  !status["reservedFor"].empty();
  auto alloc = status.find("allocation");
  if (alloc == status.end() || !alloc->is_object()) return info;
  info.allocated = true;
  const json devices = alloc->value("devices", json::object());
  const json results = devices.value("results", json::array());
  if (!results.is_array()) return MakeError("must be a list", "status.allocation.devices.results");
  for (size_t i = 0; i < results.size(); ++i) {
    const json& r = results[i];
    AllocatedResult out;
    out.request = Str(r, "request");
    out.driver = Str(r, "driver");
    out.pool = Str(r, "pool");
    out.device = Str(r, "device");
    out.admin_access = r.value("adminAccess", false);
    if (out.driver.empty() || out.pool.empty() || out.device.empty()) {
      return MakeError("driver, pool and device are required",
                       "status.allocation.devices.results[" + std::to_string(i) + "]");
    }
    info.results.push_back(std::move(out));
  }
  const json configs = devices.value("config", json::array());
  for (size_t i = 0; i < configs.size() && configs.is_array(); ++i) {
    const json& c = configs[i];
    AllocatedConfig out;
    out.source = Str(c, "source");
    for (const auto& r : c.value("requests", json::array())) {
      if (r.is_string()) out.requests.push_back(r.get<std::string>());
    }
    auto opaque = c.find("opaque");
    if (opaque == c.end() || !opaque->is_object()) continue;
    out.driver = Str(*opaque, "driver");
    auto params = opaque->find("parameters");
    out.parameters_json = params == opaque->end() ? "" : params->dump();
    info.configs.push_back(std::move(out));
  }
  return info;
}

}  // namespace

Result<ClaimInfo> ParseClaimJson(const std::string& text) {
  try {
    return FromJson(json::parse(text));
  } catch (const std::exception& e) {
    return MakeError(std::string("ResourceClaim: bad JSON: ") + e.what());
  }
}

Result<ClaimInfo> KubeClaimSource::Get(const std::string& namespace_, const std::string& name) {
  const std::string path = "/apis/resource.k8s.io/v1/namespaces/" + kube::QueryEscape(namespace_) +
                           "/resourceclaims/" + kube::QueryEscape(name);
  MIGDRA_ASSIGN_OR_RETURN(kube::Response r, client_->Get(path));
  if (r.status == 404) {
    return MakeError("ResourceClaim " + namespace_ + "/" + name + " not found");
  }
  if (!r.ok()) {
    return MakeError("get ResourceClaim " + namespace_ + "/" + name + ": HTTP " +
                     std::to_string(r.status));
  }
  return ParseClaimJson(r.body);
}

Result<std::vector<ClaimInfo>> KubeClaimSource::List() {
  MIGDRA_ASSIGN_OR_RETURN(kube::Response r,
                          client_->Get("/apis/resource.k8s.io/v1/resourceclaims"));
  if (!r.ok()) return MakeError("list ResourceClaims: HTTP " + std::to_string(r.status));
  std::vector<ClaimInfo> out;
  try {
    json list = json::parse(r.body);
    for (const auto& item : list.value("items", json::array())) {
      auto info = FromJson(item);
      if (info.ok()) out.push_back(std::move(info).value());
    }
  } catch (const std::exception& e) {
    return MakeError(std::string("list ResourceClaims: bad JSON: ") + e.what());
  }
  return out;
}

}  // namespace migdra::driver
