// What a pod takes from ConfigMaps and Secrets, and its volumes, as the kubelet provides them --
// for the pod runner (runner.h), which runs containers as host processes.
//
// - Environment (container_env.h calls these): `envFrom` sources (configMapRef / secretRef with
//   `prefix`, in order; keys that are not environment variable names are skipped, as the
//   kubelet does) and `env[].valueFrom.configMapKeyRef / secretKeyRef`. A missing object or key
//   is an error naming it ("configmap \"x\" not found", "couldn't find key K in ConfigMap
//   NS/NAME") unless the reference is `optional`, when the variable (or source) is left out.
// - Volumes (ProjectVolumes): configMap and secret volumes are written under
//   DATA_DIR/runner/pods/POD_UID/volumes/NAME/ -- all keys, or `items` (key, path, mode), with
//   `defaultMode` (0644) -- and emptyDir volumes are empty folders there; nothing is written
//   outside that folder (item paths are relative without ".."). A missing object or key fails
//   unless `optional` (then the volume is empty).
// - Mounts: host processes see the node's filesystem. A container's volumeMounts are bind
//   mounts in a private mount namespace of the container (runner_process.h), made only where
//   that is safe: serve can create mount namespaces (CAP_SYS_ADMIN) and the mountPath already
//   exists on the node (a directory, or a file for a subPath that is a file). serve never
//   creates directories in the node's filesystem; otherwise the pod stays Pending with a reason
//   naming the mount.
// - UnsupportedPodField names the first field of the pod that serve cannot give (see the .cc
//   for the list): the runner keeps such a pod Pending with that reason instead of running it
//   without it.
//
// Thread safety: pure functions, except ProjectVolumes (writes files) and the lookup's store
// reads.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace migdra::node {

// A ConfigMap ("configmaps") or Secret ("secrets") of the pod's namespace by name.
using ConfigLookup = std::function<std::optional<nlohmann::json>(const std::string& resource,
                                                                 const std::string& name)>;

// The variables `envFrom` defines, in order (later sources win on equal names).
Result<std::vector<std::pair<std::string, std::string>>> EnvFromSources(
    const nlohmann::json& pod, const nlohmann::json& container, const ConfigLookup& lookup);

// The value of `valueFrom.configMapKeyRef` or `secretKeyRef` (`ref` is that object); nullopt
// when an optional reference finds nothing.
Result<std::optional<std::string>> KeyRefValue(const nlohmann::json& pod,
                                               const std::string& resource,
                                               const nlohmann::json& ref,
                                               const ConfigLookup& lookup);

struct BindMount {
  std::string source;  // a path under the pod's volumes folder
  std::string target;  // the mountPath on the node
  bool read_only = false;
};

// Writes the pod's volumes under `volumes_dir` and returns each container's bind mounts (by
// container name). Errors name the volume or the mount (Error::field is its path in the pod).
Result<std::map<std::string, std::vector<BindMount>>> ProjectVolumes(const nlohmann::json& pod,
                                                                     const ConfigLookup& lookup,
                                                                     const std::string& volumes_dir,
                                                                     bool can_mount);

// Why serve cannot run `pod` (Error::field names the field), or nullopt.
std::optional<Error> UnsupportedPodField(const nlohmann::json& pod);

// Whether this process may create mount namespaces (checked in a child, once).
bool CanMountPrivately();

}  // namespace migdra::node
