// migdra discover [--nvml PATH] [--driver-root DIR] [--simulate MODEL[:COUNT][,...]]
//                 [-o yaml|json] [--labels] [--node NAME] [--mig-mode dynamic|static]
//                 [--layout 1.34|1.35] [--driver NAME] [--cdi]
//
// This node's GPUs as the ResourceSlices the driver would publish (or, with --labels, the node
// labels; or, with --cdi, the CDI spec edits every claim on this node shares — the driver
// installation under --driver-root (default /) matched to NVML's driver version, see
// driver/driver_root.h — as one CDI spec document with a device per whole GPU). Real NVML is used
// when it loads; with no GPU, or with --simulate, nvmlsim stands in and a line on stderr says so.
// YAML output is one document per slice; JSON output is a List. Exit codes: 0 ok, 2 bad flags or an
// error reading the GPUs.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "api/codec.h"
#include "cli/command.h"
#include "driver/cdi.h"
#include "driver/driver_root.h"
#include "driver/node_labels.h"
#include "driver/slice_builder.h"
#include "gpu/inventory.h"
#include "gpu/nvml.h"
#include "gpu/simulator.h"

namespace migdra::cli {
namespace {

int RunDiscover(int argc, char** argv) {
  CLI::App app{"This node's GPUs as the ResourceSlices the driver would publish",
               "migdra discover"};
  std::string nvml_path, driver_root, simulate, output = "yaml", node = gpu::LocalNodeName();
  std::string mig_mode = "dynamic", layout = "1.35", driver = "gpu.nvidia.com";
  bool labels = false, cdi = false;
  app.add_option("--nvml", nvml_path, "path of libnvidia-ml.so.1 to load");
  app.add_option("--driver-root", driver_root,
                 "root of the NVIDIA driver (e.g. /run/nvidia/driver)");
  app.add_option("--simulate", simulate, "simulate GPUs with nvmlsim: MODEL[:COUNT][,...]");
  app.add_option("-o,--output", output, "output format")->check(CLI::IsMember({"yaml", "json"}));
  app.add_flag("--labels", labels, "print the node labels instead of the ResourceSlices");
  app.add_flag("--cdi", cdi, "print the CDI spec edits every claim on this node shares");
  app.add_option("--node", node, "node name (pool name of the slices)");
  app.add_option("--mig-mode", mig_mode, "MIG devices to publish")
      ->check(CLI::IsMember({"dynamic", "static"}));
  app.add_option("--layout", layout, "ResourceSlice layout of this Kubernetes version")
      ->check(CLI::IsMember({"1.34", "1.35"}));
  app.add_option("--driver", driver, "DRA driver name");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  std::unique_ptr<gpu::Nvml> nvml;
  if (!simulate.empty()) {
    auto sim = gpu::OpenSimulator(simulate);
    if (!sim.ok()) {
      std::cerr << "migdra discover: " << sim.error().message << "\n";
      return 2;
    }
    nvml = std::move(*sim);
  } else {
    auto real = gpu::Nvml::Open({nvml_path, driver_root});
    if (real.ok()) {
      nvml = std::move(*real);
    } else if (!nvml_path.empty()) {
      std::cerr << "migdra discover: " << real.error().message << "\n";
      return 2;
    } else {
      std::cerr << "migdra discover: no GPU (" << real.error().message << ")\n";
      bool configured = std::getenv("MIGDRA_NVMLSIM_CONFIG") != nullptr ||
                        std::getenv("MIGDRA_NVMLSIM_MODELS") != nullptr;
      // Unless nvmlsim is configured already, the walkthrough's node.
      auto sim = gpu::OpenSimulator(configured ? "" : "a100-80gb:8");
      if (!sim.ok()) {
        std::cerr << "migdra discover: " << sim.error().message << "\n";
        return 2;
      }
      nvml = std::move(*sim);
    }
  }
  if (nvml->simulated()) {
    std::cerr << "migdra discover: simulating " << nvml->simulation_description()
              << " with nvmlsim (" << nvml->library_path() << ")\n";
  }

  auto inventory = gpu::ReadInventory(*nvml, node);
  if (!inventory.ok()) {
    std::cerr << "migdra discover: " << inventory.error().message << "\n";
    return 2;
  }
  if (cdi) {
    // nvmlsim's version is not the installed driver's: then the libraries tell the version.
    auto driver =
        driver::DiscoverDriver({driver_root.empty() ? "/" : driver_root,
                                nvml->simulated() ? std::string() : inventory->driver_version, ""});
    if (!driver.ok()) {
      std::cerr << "migdra discover: " << driver.error().message << "\n";
      return 2;
    }
    if (driver->hook_path.empty()) {
      std::cerr << "migdra discover: no nvidia-cdi-hook under " << driver->root
                << ": library links are bind-mounted, the container's ld cache is not updated\n";
    }
    std::vector<driver::PreparedDevice> gpus;
    for (const auto& g : inventory->gpus) {
      driver::PreparedDevice d;
      d.device = "gpu-" + std::to_string(g.minor);
      d.gpu_minor = static_cast<int>(g.minor);
      d.uuid = g.uuid;
      gpus.push_back(d);
    }
    const std::string dev_root = driver->dev_root == "/" ? "/dev" : driver->dev_root + "/dev";
    nlohmann::json spec = driver::NodeSpec(driver::CommonEdits(*driver), gpus, dev_root);
    std::cout << (output == "json" ? api::ToJsonText(spec, 2) + "\n" : api::ToYaml(spec));
    return 0;
  }
  if (labels) {
    nlohmann::json out = driver::NodeLabels(*inventory);
    std::cout << (output == "json" ? api::ToJsonText(out, 2) + "\n" : api::ToYaml(out));
    return 0;
  }
  driver::SliceOptions options;
  options.driver = driver;
  options.mig = mig_mode == "static" ? driver::MigStrategy::kStatic : driver::MigStrategy::kDynamic;
  options.layout = layout == "1.34" ? driver::SliceLayout::kCombined : driver::SliceLayout::kSplit;
  auto slices = driver::BuildSlices(*inventory, options);
  if (!slices.ok()) {
    std::cerr << "migdra discover: " << slices.error().message << "\n";
    return 2;
  }
  std::vector<nlohmann::json> documents;
  for (const api::ResourceSlice& slice : *slices) documents.push_back(api::ToJson(slice));
  if (output == "json") {
    nlohmann::json list = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", documents}};
    std::cout << api::ToJsonText(list, 2) << "\n";
  } else {
    std::cout << api::ToYaml(documents);
  }
  return 0;
}

}  // namespace
}  // namespace migdra::cli

MIGDRA_REGISTER_COMMAND(discover, "discover", "Print this node's GPUs as ResourceSlices",
                        migdra::cli::RunDiscover);
