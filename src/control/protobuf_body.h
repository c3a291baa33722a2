// Request bodies in Kubernetes' protobuf encoding ("application/vnd.kubernetes.protobuf"), which
// kubectl's typed commands send -- `kubectl create configmap` and `kubectl create secret`
// among them -- turned into the JSON the API handler reads.
//
// Contract: the envelope is the 4 bytes "k8s\0" and a runtime.Unknown (typeMeta, raw,
// contentEncoding, contentType); raw is decoded for the kinds listed here -- v1 ConfigMap and
// v1 Secret, with the ObjectMeta fields a client sets on create (name, generateName,
// namespace, uid, resourceVersion, generation, labels, annotations, finalizers). Any other kind,
// or a field outside that list, is an error: the caller answers UnsupportedMediaType naming the
// kind, so that nothing a client sent is silently dropped.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace migdra::control {

inline constexpr std::string_view kProtobufContentType = "application/vnd.kubernetes.protobuf";

// The JSON text of a protobuf-encoded object.
Result<std::string> ProtobufBodyToJson(std::string_view body);

}  // namespace migdra::control
