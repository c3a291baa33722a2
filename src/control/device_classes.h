// Installs the DeviceClasses of NVIDIA's DRA driver (api/nvidia_classes.h) into the store when
// serve's node starts, as the driver's chart does on a cluster: each class is created through the
// admission path when no class of that name exists; an existing one (a user's edit, or the user's
// own class of that name) is left as it is.
//
// Thread safety: as the Store.
#pragma once

#include <string>
#include <vector>

#include "control/store.h"

namespace migdra::control {

// Returns the names of the classes it created.
std::vector<std::string> InstallNvidiaDeviceClasses(Store& store);

}  // namespace migdra::control
