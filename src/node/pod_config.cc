#include "node/pod_config.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "api/config_data.h"
#include "control/json_access.h"

namespace migdra::node {

using api::Base64Decode;
using api::ConfigEntries;
using api::ConfigKeyErrors;
using control::Field;
using control::Str;

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr int kDefaultMode = 0644;

bool IsEnvVarName(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') {
      return false;
    }
  }
  return true;
}

const char* KindOf(const std::string& resource) {
  return resource == "configmaps" ? "ConfigMap" : "Secret";
}
const char* LowerKindOf(const std::string& resource) {
  return resource == "configmaps" ? "configmap" : "secret";
}

std::string Namespace(const json& pod) {
  const std::string ns = Str(Field(pod, {"metadata"}), "namespace");
  return ns.empty() ? "default" : ns;
}

// A relative path without "." or ".." parts (an item's path, a subPath).
bool SafeRelative(const std::string& path) {
  if (path.empty() || path.front() == '/') return false;
  for (const auto& part : fs::path(path)) {
    if (part == ".." || part == ".") return false;
  }
  return true;
}

bool SafeName(const std::string& name) {
  return !name.empty() && name.size() <= 63 &&
         name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos;
}

// Whether a JSON value asks for something: not null, not false, not an empty object or array.
bool Set(const json& value) {
  if (value.is_null() || value == false) return false;
  if ((value.is_object() || value.is_array()) && value.empty()) return false;
  return true;
}

Status WriteFile(const fs::path& path, const std::string& bytes, int mode) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return MakeError("cannot write " + path.string() + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) {
      ::close(fd);
      return MakeError("cannot write " + path.string() + ": " + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  ::fchmod(fd, static_cast<mode_t>(mode & 07777));
  ::close(fd);
  return OkStatus();
}

// One configMap or secret volume into `dir`.
Status ProjectConfigVolume(const json& pod, const json& source, const std::string& resource,
                           const std::string& name_key, const ConfigLookup& lookup,
                           const fs::path& dir, const std::string& field) {
  const std::string name = Str(source, name_key.c_str());
  const bool optional = Field(source, {"optional"}) == true;
  const json& default_mode = Field(source, {"defaultMode"});
  const int mode = default_mode.is_number_integer() ? default_mode.get<int>() : kDefaultMode;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return MakeError("cannot create " + dir.string() + ": " + ec.message(), field);
  std::set<fs::path> written;
  // Files of an earlier projection that this one does not write go; the folder itself stays,
  // since running containers of the pod (adopted after a restart) have it mounted.
  const auto remove_others = [&] {
    std::vector<fs::path> stale;
    for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
      if (!entry.is_directory() && written.count(entry.path()) == 0) stale.push_back(entry.path());
    }
    for (const fs::path& path : stale) fs::remove(path, ec);
  };
  std::optional<json> object = lookup ? lookup(resource, name) : std::nullopt;
  if (!object) {
    remove_others();
    if (optional) return OkStatus();
    return MakeError(std::string(LowerKindOf(resource)) + " \"" + name + "\" not found", field);
  }
  Result<std::vector<std::pair<std::string, std::string>>> entries =
      ConfigEntries(resource, *object);
  if (!entries) return MakeError(entries.error().message, field);
  const json& items = Field(source, {"items"});
  if (!items.is_array() || items.empty()) {
    for (const auto& [key, bytes] : *entries) {
      if (!ConfigKeyErrors(key).empty()) continue;  // the API refuses such keys
      if (Status ok = WriteFile(dir / key, bytes, mode); !ok)
        return MakeError(ok.error().message, field);
      written.insert(dir / key);
    }
    remove_others();
    return OkStatus();
  }
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string key = Str(items[i], "key");
    const std::string path = Str(items[i], "path");
    const std::string item_field = field + ".items[" + std::to_string(i) + "]";
    if (!SafeRelative(path)) {
      return MakeError("path \"" + path + "\" must be relative and may not contain '..'",
                       item_field + ".path");
    }
    const std::string* bytes = nullptr;
    for (const auto& [k, v] : *entries) {
      if (k == key) bytes = &v;
    }
    if (bytes == nullptr) {
      if (optional) continue;
      return MakeError(std::string(LowerKindOf(resource)) + " references non-existent " +
                           (resource == "configmaps" ? "config" : "secret") + " key: " + key,
                       item_field + ".key");
    }
    const json& item_mode = Field(items[i], {"mode"});
    const int file_mode = item_mode.is_number_integer() ? item_mode.get<int>() : mode;
    if (Status ok = WriteFile(dir / path, *bytes, file_mode); !ok) {
      return MakeError(ok.error().message, item_field);
    }
    written.insert(dir / path);
  }
  remove_others();
  return OkStatus();
}

void CheckSecurityContext(const json& context, const std::string& field,
                          std::optional<Error>& out) {
  if (out || !context.is_object()) return;
  const json& user = Field(context, {"runAsUser"});
  if (user.is_number_integer() && user.get<long long>() != static_cast<long long>(::geteuid())) {
    out = MakeError("host processes run as serve's user (" + std::to_string(::geteuid()) + ")",
                    field + ".runAsUser");
    return;
  }
  const json& group = Field(context, {"runAsGroup"});
  if (group.is_number_integer() && group.get<long long>() != static_cast<long long>(::getegid())) {
    out = MakeError("host processes run as serve's group (" + std::to_string(::getegid()) + ")",
                    field + ".runAsGroup");
    return;
  }
  if (Field(context, {"runAsNonRoot"}) == true && ::geteuid() == 0) {
    out = MakeError("host processes run as serve's user, root", field + ".runAsNonRoot");
    return;
  }
  for (const char* key : {"readOnlyRootFilesystem", "capabilities", "seccompProfile",
                          "appArmorProfile", "seLinuxOptions", "fsGroup", "supplementalGroups",
                          "sysctls", "procMount", "windowsOptions"}) {
    if (Set(Field(context, {key}))) {
      out = MakeError("host processes cannot be given this security setting", field + "." + key);
      return;
    }
  }
}

void CheckContainer(const json& c, const std::string& field, bool init, std::optional<Error>& out) {
  const auto refuse = [&](const std::string& key, const std::string& why) {
    if (!out) out = MakeError(why, field + "." + key);
  };
  if (Field(c, {"tty"}) == true) refuse("tty", "host processes get no terminal");
  for (const char* probe : {"livenessProbe", "readinessProbe", "startupProbe"}) {
    if (Set(Field(c, {probe}))) refuse(probe, "serve does not run probes");
  }
  if (Set(Field(c, {"lifecycle"}))) refuse("lifecycle", "serve does not run lifecycle hooks");
  if (Set(Field(c, {"resources", "limits"}))) {
    refuse("resources.limits", "serve does not enforce resource limits on host processes");
  }
  if (init && Set(Field(c, {"restartPolicy"}))) {
    refuse("restartPolicy", "serve does not run sidecar (restartable) init containers");
  }
  CheckSecurityContext(Field(c, {"securityContext"}), field + ".securityContext", out);
  const json& mounts = Field(c, {"volumeMounts"});
  if (mounts.is_array()) {
    for (size_t j = 0; j < mounts.size(); ++j) {
      const std::string m = "volumeMounts[" + std::to_string(j) + "]";
      if (Set(Field(mounts[j], {"subPathExpr"}))) refuse(m + ".subPathExpr", "not served");
      const std::string propagation = Str(mounts[j], "mountPropagation");
      if (!propagation.empty() && propagation != "None") {
        refuse(m + ".mountPropagation", "mounts of host processes do not propagate");
      }
      if (Set(Field(mounts[j], {"recursiveReadOnly"})))
        refuse(m + ".recursiveReadOnly", "not served");
    }
  }
  const json& devices = Field(c, {"volumeDevices"});
  if (Set(devices)) refuse("volumeDevices", "serve has no block volumes");
}

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> EnvFromSources(
    const json& pod, const json& container, const ConfigLookup& lookup) {
  std::vector<std::pair<std::string, std::string>> out;
  const json& sources = Field(container, {"envFrom"});
  if (!sources.is_array()) return out;
  for (size_t i = 0; i < sources.size(); ++i) {
    const json& source = sources[i];
    const std::string field = "envFrom[" + std::to_string(i) + "]";
    std::string resource;
    const json* ref = nullptr;
    if (source.contains("configMapRef")) {
      resource = "configmaps";
      ref = &source["configMapRef"];
    } else if (source.contains("secretRef")) {
      resource = "secrets";
      ref = &source["secretRef"];
    } else {
      return MakeError("envFrom needs configMapRef or secretRef", field);
    }
    const std::string name = Str(*ref, "name");
    std::optional<json> object = lookup ? lookup(resource, name) : std::nullopt;
    if (!object) {
      if (Field(*ref, {"optional"}) == true) continue;
      return MakeError(std::string(LowerKindOf(resource)) + " \"" + name + "\" not found", field);
    }
    // envFrom takes a ConfigMap's data only (not binaryData), a Secret's data.
    json only_data = {{"data", Field(*object, {"data"})}};
    Result<std::vector<std::pair<std::string, std::string>>> entries =
        ConfigEntries(resource, only_data);
    if (!entries) return MakeError(entries.error().message, field);
    const std::string prefix = Str(source, "prefix");
    for (auto& [key, value] : *entries) {
      const std::string var = prefix + key;
      if (!IsEnvVarName(var)) continue;  // the kubelet skips them (InvalidEnvironmentVariableNames)
      bool replaced = false;
      for (auto& [existing, v] : out) {
        if (existing == var) {
          v = value;
          replaced = true;
        }
      }
      if (!replaced) out.emplace_back(var, std::move(value));
    }
  }
  return out;
}

Result<std::optional<std::string>> KeyRefValue(const json& pod, const std::string& resource,
                                               const json& ref, const ConfigLookup& lookup) {
  const std::string name = Str(ref, "name");
  const std::string key = Str(ref, "key");
  const bool optional = Field(ref, {"optional"}) == true;
  std::optional<json> object = lookup ? lookup(resource, name) : std::nullopt;
  if (!object) {
    if (optional) return std::optional<std::string>();
    return MakeError(std::string(LowerKindOf(resource)) + " \"" + name + "\" not found");
  }
  Result<std::vector<std::pair<std::string, std::string>>> entries =
      ConfigEntries(resource, *object);
  if (!entries) return entries.error();
  for (auto& [k, v] : *entries) {
    if (k == key) return std::optional<std::string>(std::move(v));
  }
  if (optional) return std::optional<std::string>();
  return MakeError("couldn't find key " + key + " in " + KindOf(resource) + " " + Namespace(pod) +
                   "/" + name);
}

namespace {

// Each volume of the pod as a folder under `volumes_dir` (ConfigMaps and Secrets projected into
// it, emptyDir kept), by volume name.
Result<std::map<std::string, fs::path>> ProjectVolumeFolders(const json& pod,
                                                             const ConfigLookup& lookup,
                                                             const std::string& volumes_dir) {
  std::map<std::string, fs::path> folders;
  const json& volumes = Field(pod, {"spec", "volumes"});
  if (!volumes.is_array()) return folders;
  for (size_t i = 0; i < volumes.size(); ++i) {
    const json& v = volumes[i];
    const std::string field = "spec.volumes[" + std::to_string(i) + "]";
    const std::string name = Str(v, "name");
    if (!SafeName(name)) return MakeError("not a DNS-1123 label", field + ".name");
    const fs::path dir = fs::path(volumes_dir) / name;
    Status ok;
    if (v.contains("configMap")) {
      ok = ProjectConfigVolume(pod, v["configMap"], "configmaps", "name", lookup, dir,
                               field + ".configMap");
    } else if (v.contains("secret")) {
      ok = ProjectConfigVolume(pod, v["secret"], "secrets", "secretName", lookup, dir,
                               field + ".secret");
    } else if (v.contains("emptyDir")) {
      std::error_code ec;  // kept across container restarts, as the kubelet keeps it
      fs::create_directories(dir, ec);
      if (ec) ok = MakeError("cannot create " + dir.string() + ": " + ec.message(), field);
    } else {
      return MakeError("volume type not served", field);
    }
    if (!ok) return ok.error();
    folders[name] = dir;
  }
  return folders;
}

// The bind mount of one volumeMount `m` (at `field`) of the volumes' folders.
Result<BindMount> BindMountOf(const json& m, const std::map<std::string, fs::path>& folders,
                              const std::string& field, bool can_mount) {
  if (!can_mount) {
    return MakeError(
        "host processes get volumes by bind mounts in a private mount namespace, which "
        "needs CAP_SYS_ADMIN, and serve runs without it",
        field);
  }
  auto folder = folders.find(Str(m, "name"));
  if (folder == folders.end()) {
    return MakeError("no volume named \"" + Str(m, "name") + "\"", field + ".name");
  }
  fs::path source = folder->second;
  const std::string sub_path = Str(m, "subPath");
  if (!sub_path.empty()) {
    if (!SafeRelative(sub_path)) {
      return MakeError("must be relative and may not contain '..'", field + ".subPath");
    }
    source /= sub_path;
    std::error_code ec;
    if (!fs::exists(source, ec)) fs::create_directories(source, ec);
  }
  const std::string target = Str(m, "mountPath");
  std::error_code ec;
  const fs::file_status target_status = fs::status(target, ec);
  const bool source_is_dir = fs::is_directory(source, ec);
  if (target.empty() || target.front() != '/' || !fs::exists(target_status) ||
      fs::is_directory(target_status) != source_is_dir) {
    return MakeError("mountPath " + target + " is not an existing " +
                         (source_is_dir ? "directory" : "file") +
                         " on the node: host processes see the node's filesystem, in "
                         "which serve creates nothing; mount at an existing " +
                         (source_is_dir ? "directory" : "file"),
                     field + ".mountPath");
  }
  return BindMount{source.string(), target, Field(m, {"readOnly"}) == true};
}

}  // namespace

Result<std::map<std::string, std::vector<BindMount>>> ProjectVolumes(const json& pod,
                                                                     const ConfigLookup& lookup,
                                                                     const std::string& volumes_dir,
                                                                     bool can_mount) {
  Result<std::map<std::string, fs::path>> folders = ProjectVolumeFolders(pod, lookup, volumes_dir);
  if (!folders) return folders.error();
  std::map<std::string, std::vector<BindMount>> mounts;
  for (const char* list : {"initContainers", "containers"}) {
    const json& containers = Field(pod, {"spec", list});
    if (!containers.is_array()) continue;
    for (size_t c = 0; c < containers.size(); ++c) {
      const json& list_mounts = Field(containers[c], {"volumeMounts"});
      if (!list_mounts.is_array()) continue;
      for (size_t j = 0; j < list_mounts.size(); ++j) {
        const std::string field = std::string("spec.") + list + "[" + std::to_string(c) +
                                  "].volumeMounts[" + std::to_string(j) + "]";
        Result<BindMount> mount = BindMountOf(list_mounts[j], *folders, field, can_mount);
        if (!mount) return mount.error();
        mounts[Str(containers[c], "name")].push_back(std::move(*mount));
      }
    }
  }
  return mounts;
}

std::optional<Error> UnsupportedPodField(const json& pod) {
  std::optional<Error> out;
  const json& spec = Field(pod, {"spec"});
  const json& volumes = Field(spec, {"volumes"});
  if (volumes.is_array()) {
    for (size_t i = 0; i < volumes.size() && !out; ++i) {
      const std::string field = "spec.volumes[" + std::to_string(i) + "]";
      for (const auto& [key, value] : volumes[i].items()) {
        if (key == "name" || key == "configMap" || key == "secret") continue;
        if (key == "emptyDir") {
          if (!Str(value, "medium").empty()) {
            out = MakeError("emptyDir volumes of host processes are folders on disk",
                            field + ".emptyDir.medium");
          } else if (Set(Field(value, {"sizeLimit"}))) {
            out = MakeError("serve does not limit emptyDir sizes", field + ".emptyDir.sizeLimit");
          }
          continue;
        }
        out = MakeError("volume type " + key +
                            " is not served (serve gives configMap, secret "
                            "and emptyDir volumes)",
                        field + "." + key);
        break;
      }
    }
  }
  for (const char* list : {"initContainers", "containers"}) {
    const json& containers = Field(spec, {list});
    if (!containers.is_array()) continue;
    for (size_t c = 0; c < containers.size() && !out; ++c) {
      CheckContainer(containers[c], std::string("spec.") + list + "[" + std::to_string(c) + "]",
                     std::string(list) == "initContainers", out);
    }
  }
  CheckSecurityContext(Field(spec, {"securityContext"}), "spec.securityContext", out);
  if (!out && Set(Field(spec, {"activeDeadlineSeconds"}))) {
    out = MakeError("serve does not enforce pod deadlines", "spec.activeDeadlineSeconds");
  }
  for (const char* key : {"hostAliases", "dnsConfig", "runtimeClassName", "overhead"}) {
    if (!out && Set(Field(spec, {key}))) {
      out = MakeError("not served for host processes", std::string("spec.") + key);
    }
  }
  return out;
}

bool CanMountPrivately() {
  static const bool can = [] {
    const pid_t pid = ::fork();
    if (pid == 0) _exit(::unshare(CLONE_NEWNS) == 0 ? 0 : 1);
    int status = 0;
    return pid > 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0;
  }();
  return can;
}

}  // namespace migdra::node
