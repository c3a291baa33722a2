// The Kubernetes release whose API migdra speaks: what `migdra serve` reports on /version and in
// its OpenAPI documents, the kubelet version of serve's own Node, and the release whose
// validation (api/validation.h) and allocator semantics (alloc/allocator.h) migdra follows.
//
// 1.36 means, among others, that a ResourceSlice holds counter sets or devices, not both, so
// serve's node publishes the split slice layout (driver/slice_builder.h, SliceLayout::kSplit).
#pragma once

namespace migdra::api {

inline constexpr const char* kKubernetesMajor = "1";
inline constexpr const char* kKubernetesMinor = "36";
// gitVersion as a Kubernetes build reports it; "+migdra" marks the implementation.
inline constexpr const char* kKubernetesGitVersion = "v1.36.0+migdra";

}  // namespace migdra::api
