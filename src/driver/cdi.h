// CDI (Container Device Interface) specs: one transient spec file per claim, kind
// `k8s.gpu.nvidia.com/claim`, named `<cdi root>/k8s.gpu.nvidia.com-claim_<claim UID>.json`,
// with one CDI device `<claim UID>-<device name>` per prepared device.
//
// Each device adds its device nodes: /dev/nvidia<minor> and, for a MIG device, the
// /dev/nvidia-caps/nvidia-cap<N> nodes of its GI and CI as /proc/driver/nvidia/capabilities lists
// them (when present). With a device root other than /dev, nodes keep their /dev/… path in the
// container and name the node on the host in `hostPath`.
//
// The spec-wide edits are the node's common edits (computed once per node, not per claim) plus
// NVIDIA_VISIBLE_DEVICES and CUDA_VISIBLE_DEVICES set to the UUIDs of every device of the claim
// (comma-separated), so that a process sees exactly the GPU or MIG devices it was given. The
// common edits of a discovered driver installation (CommonEdits) are what NVIDIA's nvcdi puts in
// a spec: the control device nodes, read-only bind mounts of the driver's libraries, utility
// binaries and GSP firmware and of the IPC sockets that exist (container paths with the driver
// root stripped), NVIDIA_CTK_LIBCUDA_DIR, and — when nvidia-cdi-hook exists under the driver
// root, named by that path — its createContainer hooks `create-symlinks` (the libraries'
// soname and .so links) and `update-ldcache` (the library folders). Without the hook binary the
// links are bind-mounted instead, so that images which use the standard library folders or set
// LD_LIBRARY_PATH find libcuda.so.1. Without a discovered installation (BasicCommonEdits) only
// /dev/nvidiactl and /dev/nvidia-uvm{,-tools} are added (enough for host processes).
//
// Every spec declares the lowest CDI version whose features it uses (MinimumCdiVersion).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "driver/checkpoint.h"
#include "driver/driver_root.h"

namespace migdra::driver {

inline constexpr const char* kCdiVendorClass = "k8s.gpu.nvidia.com/claim";

// Claim UIDs become file names, so only [A-Za-z0-9-] (1..128 characters) is accepted.
bool IsValidClaimUid(const std::string& uid);

std::string CdiDeviceName(const std::string& claim_uid, const std::string& device);
std::string CdiDeviceId(const std::string& claim_uid, const std::string& device);

// The containerEdits every claim's spec on this node shares, from its driver installation.
nlohmann::json CommonEdits(const DriverInstallation& driver);
// The containerEdits for a node whose driver installation was not discovered.
nlohmann::json BasicCommonEdits(const std::string& dev_root);
// The lowest CDI specification version ("0.3.0", "0.4.0", "0.5.0") whose features `spec` uses,
// by the rules of the CDI reference library (a device name starting with a digit or a device
// node's hostPath needs 0.5.0, a mount type 0.4.0).
std::string MinimumCdiVersion(const nlohmann::json& spec);
// The edits of one device of a claim (its device nodes).
nlohmann::json DeviceEdits(const PreparedDevice& device, const std::string& proc_root,
                           const std::string& dev_root);

// The node's common part as a CDI spec document (`migdra discover --cdi`): `common_edits` as the
// spec-wide edits and one device per whole GPU, named by its device name (gpu-<minor>), with the
// edits a claim of it gets.
nlohmann::json NodeSpec(const nlohmann::json& common_edits, const std::vector<PreparedDevice>& gpus,
                        const std::string& dev_root);

class CdiWriter {
 public:
  // `cdi_root`: where specs go (created if missing); `proc_root`: where to read the MIG
  // capability files ("/proc"); `dev_root`: where the device nodes are on the host ("/dev");
  // `common_edits`: the node's common edits (default: BasicCommonEdits(dev_root)).
  CdiWriter(std::string cdi_root, std::string proc_root, std::string dev_root = "/dev",
            std::optional<nlohmann::json> common_edits = std::nullopt);

  std::string SpecPath(const std::string& claim_uid) const;
  // The spec text for a claim's devices (their uuid, gpu_minor, gi_id, ci_id must be set).
  std::string RenderSpec(const std::string& claim_uid,
                         const std::vector<PreparedDevice>& devices) const;
  Status Write(const std::string& claim_uid, const std::vector<PreparedDevice>& devices) const;
  // Removes the claim's spec; succeeds when there is none.
  Status Delete(const std::string& claim_uid) const;

 private:
  std::string cdi_root_;
  std::string proc_root_;
  std::string dev_root_;
  nlohmann::json common_edits_;
};

}  // namespace migdra::driver
