// CDI (Container Device Interface) specs: one transient spec file per claim, kind
// `k8s.gpu.nvidia.com/claim`, named `<cdi root>/k8s.gpu.nvidia.com-claim_<claim UID>.json`,
// with one CDI device `<claim UID>-<device name>` per prepared device.
//
// Each device adds its device nodes: /dev/nvidia<minor> and, for a MIG device, the
// /dev/nvidia-caps/nvidia-cap<N> nodes of its GI and CI as /proc/driver/nvidia/capabilities lists
// them (when present). The spec-wide edits add /dev/nvidiactl and /dev/nvidia-uvm{,-tools} and
// set NVIDIA_VISIBLE_DEVICES and CUDA_VISIBLE_DEVICES to the UUIDs of every device of the claim
// (comma-separated), so that a process sees exactly the GPU or MIG devices it was given.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "driver/checkpoint.h"

namespace migdra::driver {

inline constexpr const char* kCdiVendorClass = "k8s.gpu.nvidia.com/claim";

// Claim UIDs become file names, so only [A-Za-z0-9-] (1..128 characters) is accepted.
bool IsValidClaimUid(const std::string& uid);

std::string CdiDeviceName(const std::string& claim_uid, const std::string& device);
std::string CdiDeviceId(const std::string& claim_uid, const std::string& device);

class CdiWriter {
 public:
  // `cdi_root`: where specs go (created if missing); `proc_root`: where to read the MIG
  // capability files ("/proc"); `dev_root`: the device-node prefix written into specs ("/dev").
  CdiWriter(std::string cdi_root, std::string proc_root, std::string dev_root = "/dev");

  std::string SpecPath(const std::string& claim_uid) const;
  // The spec text for a claim's devices (their uuid, gpu_minor, gi_id, ci_id must be set).
  std::string RenderSpec(const std::string& claim_uid,
                         const std::vector<PreparedDevice>& devices) const;
  Status Write(const std::string& claim_uid, const std::vector<PreparedDevice>& devices) const;
  // Removes the claim's spec; succeeds when there is none.
  Status Delete(const std::string& claim_uid) const;

 private:
  std::vector<std::string> MigCapabilityNodes(const PreparedDevice& device) const;

  std::string cdi_root_;
  std::string proc_root_;
  std::string dev_root_;
};

}  // namespace migdra::driver
