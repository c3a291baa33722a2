// Request bodies in Kubernetes' protobuf encoding ("application/vnd.kubernetes.protobuf"), which
// kubectl's typed commands send -- `kubectl create configmap`, `create secret`, `create
// namespace` and `create job` among them -- turned into the JSON the API handler reads.
//
// Contract: the envelope is the 4 bytes "k8s\0" and a runtime.Unknown (typeMeta, raw,
// contentEncoding, contentType); raw is decoded for the kinds listed here, with the fields
// kubectl's generators set: v1 ConfigMap and Secret (all their fields), v1 Namespace
// (spec.finalizers) and batch/v1 Job (parallelism, completions, backoffLimit and a pod template
// whose containers have a name, image, command, args, workingDir, ports, env values,
// imagePullPolicy, stdin, stdinOnce and tty; restartPolicy, dnsPolicy, nodeSelector and
// serviceAccountName), each with the ObjectMeta fields a client sets on create (name,
// generateName, namespace, uid, resourceVersion, generation, labels, annotations, finalizers).
// Generated marshallers write every non-pointer field, so a field outside these lists that holds
// its zero value is skipped; any other kind, or such a field with a value, is an error: the caller
// answers UnsupportedMediaType naming it, so that nothing a client sent is silently dropped.
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
