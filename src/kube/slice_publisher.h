// Keeps the ResourceSlices of one driver on one node in the API server equal to a desired set.
//
// Publish(desired) lists the slices whose spec.driver and spec.nodeName match, then creates the
// missing ones, updates those whose spec differs (with the resourceVersion it listed, retrying
// on conflict) and deletes the ones no longer desired. Slices are matched by metadata.name; a
// desired slice without a name gets "<node>-<driver>-<index>" (dots turned into dashes).
//
// Thread safety: Publish calls must not overlap (the caller owns the publisher).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "kube/client.h"

namespace migdra::kube {

inline constexpr const char* kResourceSlicesPath = "/apis/resource.k8s.io/v1/resourceslices";

struct PublishStats {
  int created = 0;
  int updated = 0;
  int deleted = 0;
  int unchanged = 0;
};

class SlicePublisher {
 public:
  // `client` must outlive the publisher.
  SlicePublisher(Client* client, std::string driver, std::string node_name);

  // `desired`: full ResourceSlice objects (apiVersion, kind, metadata, spec).
  Result<PublishStats> Publish(std::vector<nlohmann::json> desired);

 private:
  Result<PublishStats> PublishOnce(std::vector<nlohmann::json> desired);
  Result<std::vector<nlohmann::json>> ListOwn();

  Client* client_;
  std::string driver_;
  std::string node_name_;
};

}  // namespace migdra::kube
