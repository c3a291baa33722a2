#include "api/nvidia_classes.h"

#include <string>

namespace migdra::api {
namespace {

DeviceClass Class(const std::string& name, const std::string& expression,
                  const std::string& extended_resource_name = "") {
  DeviceClass c;
  c.metadata.name = name;
  DeviceSelector selector;
  selector.cel = CELDeviceSelector{expression};
  c.spec.selectors.push_back(std::move(selector));
  c.spec.extended_resource_name = extended_resource_name;
  return c;
}

std::string GpuType(const std::string& type) {
  return "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == '" +
         type + "'";
}

std::string ComputeDomainType(const std::string& type) {
  return "device.driver == 'compute-domain.nvidia.com' && "
         "device.attributes['compute-domain.nvidia.com'].type == '" +
         type + "'";
}

}  // namespace

std::vector<DeviceClass> NvidiaDeviceClasses() {
  return {
      Class("compute-domain-daemon.nvidia.com", ComputeDomainType("daemon")),
      Class("compute-domain-default-channel.nvidia.com",
            ComputeDomainType("channel") +
                " && device.attributes['compute-domain.nvidia.com'].id == 0"),
      Class("gpu.nvidia.com", GpuType("gpu"), "nvidia.com/gpu"),
      Class("mig.nvidia.com", GpuType("mig")),
      Class("vfio.gpu.nvidia.com", GpuType("vfio")),
  };
}

}  // namespace migdra::api
