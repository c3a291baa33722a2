// What the controllers' files (controllers.cc and one file per controller) share: the finalizer
// and annotation names of dynamic resource allocation and lenient reads of the objects they walk.
// Internal to the controllers; see controllers.h for their contract.
//
// Thread safety: pure functions, except ListAll, which reads the Store (thread-safe).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "alloc/allocator.h"
#include "control/controllers.h"
#include "control/objects.h"
#include "control/resources.h"
#include "control/store.h"

namespace migdra::control {

// The finalizer the scheduler puts on an allocated claim and the claim controller removes once
// the claim is deallocated.
inline constexpr const char* kDeleteProtection = "resource.kubernetes.io/delete-protection";
// The annotation naming the pod.spec.resourceClaims entry a generated claim was made for.
inline constexpr const char* kPodClaimName = "resource.kubernetes.io/pod-claim-name";
// Kubernetes' limit on status.reservedFor.
inline constexpr size_t kMaxReservedFor = 256;

// The served kind with `plural` as its resource name.
const ResourceInfo& Info(const std::string& plural);
// Every object of that kind in every namespace.
std::vector<json> ListAll(Store& store, const std::string& plural);
DeleteOptions BackgroundDelete();
// j[key] when it is an integer that fits an int, else `fallback`.
int IntOr(const json& j, const char* key, int fallback);
// The pod's spec.resourceClaims (empty when absent).
const json& PodClaims(const json& pod);
// The claim name a pod's resourceClaims entry resolves to ("" while not yet created).
std::string ClaimNameFor(const json& pod, const json& entry);

// The scheduler's allocator, kept between passes (controllers.h).
struct Controllers::AllocatorCache {
  std::string inputs;  // "name@resourceVersion;" of every slice and class it indexed
  std::unique_ptr<alloc::Allocator> allocator;
  std::map<std::string, json> committed;  // claim uid -> the status.allocation committed
};

}  // namespace migdra::control
