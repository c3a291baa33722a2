// migdra top: the partition map in the terminal, read from a migdra API server
// (GET /migdra/v1/partitionmap, the data of serve's /ui/partitions page).
//
//   migdra top [--kubeconfig FILE] [--context NAME] [--watch]
//
// Prints, per node and GPU, the memory slices as a bar (one cell per slice: the partition's
// profile at its first slice, '=' on the rest of it, '.' free, 'x' stranded), then each
// partition with its slices, profile, namespace/pod and age, the profiles that still fit, and
// the pending claims with why they wait. --watch prints the map again after every change to
// ResourceClaims (a watch), until interrupted.
// Exit codes: 0 printed; 1 the server could not be reached or answered an error; 2 bad flags.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "kube/client.h"

namespace migdra::cli {
namespace {

using json = nlohmann::json;

std::string Age(long long seconds) {
  if (seconds < 120) return std::to_string(seconds) + "s";
  if (seconds < 7200) return std::to_string(seconds / 60) + "m";
  if (seconds < 172800) return std::to_string(seconds / 3600) + "h";
  return std::to_string(seconds / 86400) + "d";
}

std::string Render(const json& map) {
  std::ostringstream out;
  for (const json& node : map.value("nodes", json::array())) {
    out << "NODE " << node.value("name", "") << "\n";
    for (const json& gpu : node.value("gpus", json::array())) {
      const json& slices = gpu["slices"];
      std::vector<std::string> cells(slices.size());
      int stranded = 0, free = 0;
      for (size_t i = 0; i < slices.size(); ++i) {
        const std::string state = slices[i].get<std::string>();
        cells[i] = state == "free" ? "." : state == "stranded" ? "x" : "=";
        stranded += state == "stranded";
        free += state != "allocated";
      }
      for (const json& p : gpu["partitions"]) {
        size_t start = p.value("start", 0);
        if (start < cells.size()) cells[start] = p.value("profile", "?");
      }
      out << "GPU " << gpu.value("index", 0) << "  " << gpu.value("product", "") << "  "
          << gpu.value("uuid", "") << "  compute " << gpu.value("computeSlicesAllocated", 0) << "/"
          << gpu.value("computeSlices", 0) << "  memory slices free " << free << ", stranded "
          << stranded << "\n  |";
      for (const std::string& c : cells) out << " " << c << " |";
      out << "\n";
      for (const json& p : gpu["partitions"]) {
        const int start = p.value("start", 0), size = p.value("size", 1);
        out << "  slice " << start;
        if (size > 1) out << "-" << start + size - 1;
        out << "  " << p.value("profile", "") << "  " << p.value("namespace", "") << "/"
            << (p.value("pod", "").empty() ? p.value("claim", "") : p.value("pod", "")) << "  "
            << Age(p.value("ageSeconds", 0LL)) << "\n";
      }
    }
    out << "fits now:";
    bool any = false;
    for (const auto& [profile, n] : node["fits"].items()) {
      if (n.get<int>() == 0) continue;
      out << " " << profile << " x" << n.get<int>();
      any = true;
    }
    out << (any ? "" : " nothing") << "\n\n";
  }
  const json& pending = map["pending"];
  out << "PENDING " << pending.size() << "\n";
  for (const json& p : pending) {
    out << "  " << p.value("namespace", "") << "/" << p.value("claim", "") << "  pod "
        << (p.value("pod", "").empty() ? "-" : p.value("pod", "")) << "  waiting "
        << Age(p.value("waitingSeconds", 0LL)) << "  " << p.value("reason", "") << "\n";
  }
  return out.str();
}

int RunTop(int argc, char** argv) {
  CLI::App app{"Print the GPU partition map of a migdra API server", "migdra top"};
  std::string kubeconfig, context;
  bool watch = false;
  if (const char* k = std::getenv("KUBECONFIG")) kubeconfig = k;
  app.add_option("--kubeconfig", kubeconfig, "kubeconfig file (default $KUBECONFIG)");
  app.add_option("--context", context, "kubeconfig context (default: the current one)");
  app.add_flag("-w,--watch", watch, "print again after every change to ResourceClaims");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (kubeconfig.empty()) {
    const char* home = std::getenv("HOME");
    kubeconfig = std::string(home ? home : ".") + "/.kube/config";
  }
  auto config = kube::LoadKubeconfig(kubeconfig, context);
  if (!config.ok()) {
    std::cerr << "migdra top: " << config.error().message << "\n";
    return 1;
  }
  auto client = kube::Client::Create(*config);
  if (!client.ok()) {
    std::cerr << "migdra top: " << client.error().message << "\n";
    return 1;
  }
  auto print = [&]() -> bool {
    auto response = (*client)->Get("/migdra/v1/partitionmap");
    if (!response.ok() || !response->ok()) {
      std::cerr << "migdra top: GET /migdra/v1/partitionmap: "
                << (response.ok()
                        ? "HTTP " + std::to_string(response->status) + " " + response->body
                        : response.error().message)
                << "\n";
      return false;
    }
    json map = json::parse(response->body, nullptr, false);
    if (map.is_discarded() || !map.is_object()) {
      std::cerr << "migdra top: the server's partition map is not JSON\n";
      return false;
    }
    std::cout << Render(map) << std::flush;
    return true;
  };
  if (!print()) return 1;
  while (watch) {
    auto list = (*client)->Get("/apis/resource.k8s.io/v1/resourceclaims");
    if (!list.ok() || !list->ok()) return 1;
    const json claims = json::parse(list->body, nullptr, false);
    const std::string version =
        claims.is_object() ? claims["metadata"].value("resourceVersion", "") : "";
    Status s = (*client)->Watch(
        "/apis/resource.k8s.io/v1/resourceclaims?watch=1&resourceVersion=" + version,
        [&](const std::string&) {
          std::cout << "\n";
          return print();
        });
    if (!s.ok()) {
      std::cerr << "migdra top: watch: " << s.error().message << "\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace migdra::cli

MIGDRA_REGISTER_COMMAND(top, "top",
                        "Print the GPU partition map (MIG slices, pods, pending claims)",
                        migdra::cli::RunTop);
