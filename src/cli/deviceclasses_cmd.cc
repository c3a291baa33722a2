// `migdra deviceclasses`: prints the DeviceClasses NVIDIA's DRA driver installs and `migdra serve`
// creates (api/nvidia_classes.h) as YAML, one document per class in name order, so manifests
// elsewhere can be checked against the one table.
#include <cstdio>
#include <vector>

#include <CLI/CLI.hpp>

#include "api/codec.h"
#include "api/nvidia_classes.h"
#include "cli/command.h"

namespace migdra::cli {
namespace {

int RunDeviceClasses(int argc, char** argv) {
  CLI::App app{
      "Print the DeviceClasses of NVIDIA's DRA driver (gpu.nvidia.com, mig.nvidia.com, ...) as "
      "YAML, as `migdra serve` installs them."};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  std::vector<nlohmann::json> documents;
  for (const api::DeviceClass& c : api::NvidiaDeviceClasses()) documents.push_back(api::ToJson(c));
  std::fputs(api::ToYaml(documents).c_str(), stdout);
  return 0;
}

}  // namespace

MIGDRA_REGISTER_COMMAND(deviceclasses, "deviceclasses",
                        "Print the DeviceClasses of NVIDIA's DRA driver that serve installs",
                        RunDeviceClasses);

}  // namespace migdra::cli
