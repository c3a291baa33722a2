// What the driver needs to know about a ResourceClaim, and where it reads it from.
//
// The kubelet names claims by namespace, name and UID only; the driver reads each claim from the
// API server (KubeClaimSource over the kube client), checks that the UID still matches, and
// prepares the allocation results that belong to its own driver and pool.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace migdra::kube {
class Client;
}

namespace migdra::driver {

struct ClaimRef {
  std::string namespace_;
  std::string name;
  std::string uid;
};

struct AllocatedResult {
  std::string request;  // "req" or "req/sub"
  std::string driver;
  std::string pool;
  std::string device;
  bool admin_access = false;
};

struct AllocatedConfig {
  std::string source;  // FromClass | FromClaim
  std::vector<std::string> requests;
  std::string driver;
  std::string parameters_json;  // the opaque parameters, raw JSON
};

struct ClaimInfo {
  ClaimRef ref;
  bool allocated = false;
  bool reserved = false;  // status.reservedFor is non-empty
  std::vector<AllocatedResult> results;
  std::vector<AllocatedConfig> configs;
};

// Parses a ResourceClaim in its JSON wire form (resource.k8s.io/v1 or v1beta1/v1beta2, whose
// allocation fields have the same names). Errors name the field that is malformed.
Result<ClaimInfo> ParseClaimJson(const std::string& json);

class ClaimSource {
 public:
  virtual ~ClaimSource() = default;
  virtual Result<ClaimInfo> Get(const std::string& namespace_, const std::string& name) = 0;
  // Every claim in the cluster (used to rebuild a lost checkpoint).
  virtual Result<std::vector<ClaimInfo>> List() = 0;
};

// Reads claims from the API server at `/apis/resource.k8s.io/v1/...`. `client` must outlive it.
class KubeClaimSource : public ClaimSource {
 public:
  explicit KubeClaimSource(kube::Client* client) : client_(client) {}
  Result<ClaimInfo> Get(const std::string& namespace_, const std::string& name) override;
  Result<std::vector<ClaimInfo>> List() override;

 private:
  kube::Client* client_;
};

}  // namespace migdra::driver
