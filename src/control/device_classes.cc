#include "control/device_classes.h"

#include "api/codec.h"
#include "api/nvidia_classes.h"
#include "control/objects.h"

namespace migdra::control {

std::vector<std::string> InstallNvidiaDeviceClasses(Store& store) {
  const ResourceInfo* info = FindResource("resource.k8s.io", "v1", "deviceclasses");
  std::vector<std::string> created;
  for (const api::DeviceClass& c : api::NvidiaDeviceClasses()) {
    if (store.Get(info->StoreKey(), "", c.metadata.name)) continue;
    if (CreateObject(store, *info, api::ToJson(c)).ok()) created.push_back(c.metadata.name);
  }
  return created;
}

}  // namespace migdra::control
