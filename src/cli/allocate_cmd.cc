// `migdra allocate -f FILE... [--node NAME] [--strategy kubernetes|pack] [-o yaml|json]`: a dry-run
// scheduler over plain objects.
//
// Contract (DESIGN.md): inputs are Node, DeviceClass, ResourceSlice and ResourceClaim objects
// (other kinds are ignored). Claims that carry status.allocation are the allocated state; all the
// others are allocated together, all or nothing, for one node. With --node, that node (its Node
// object's labels apply when the input has one); without, every Node of the input is tried:
// `kubernetes` takes the first that fits in name order, `pack` the best (smallest devices, then
// least blocking, then fullest, then name; alloc/allocator.h). Output on stdout: a
// `List` of the newly allocated claims with status.allocation set (empty when every claim of the
// input is allocated already, or there is none). Exit 0 = allocated; 1 = does not
// fit (the reason on stderr); 2 = error (invalid input named as `FILE: KIND/NAME: field: message`,
// CEL runtime error, ...; on stderr).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include <CLI/CLI.hpp>

#include "alloc/allocator.h"
#include "api/codec.h"
#include "api/validation.h"
#include "cel/cel.h"
#include "cli/command.h"

namespace migdra::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Inputs {
  std::vector<api::Node> nodes;
  std::vector<api::DeviceClass> classes;
  std::vector<api::ResourceSlice> slices;
  std::vector<api::ResourceClaim> allocated;
  std::vector<api::ResourceClaim> pending;
  std::vector<std::string> problems;
};

void ReadText(const std::string& file, const std::string& text,
              const api::ValidationOptions& options, Inputs& in) {
  auto documents = api::ParseDocuments(text);
  if (!documents.ok()) {
    in.problems.push_back(file + ": " + documents.error().ToString());
    return;
  }
  for (const json& document : *documents) {
    if (!document.is_object() || !document.contains("apiVersion") || !document.contains("kind")) {
      continue;
    }
    std::vector<Error> errors;
    auto object = api::DecodeObjectAll(document, errors);
    std::string kind = document["kind"].is_string() ? document["kind"].get<std::string>() : "";
    std::string name;
    if (document.contains("metadata") && document["metadata"].is_object() &&
        document["metadata"].contains("name") && document["metadata"]["name"].is_string()) {
      name = document["metadata"]["name"].get<std::string>();
    }
    if (object.ok()) errors = api::Validate(*object, options);
    for (const Error& e : errors) {
      in.problems.push_back(file + ": " + kind + "/" + name + ": " + e.ToString());
    }
    if (!errors.empty() || !object.ok()) continue;
    std::visit(
        [&](auto&& o) {
          using T = std::decay_t<decltype(o)>;
          if constexpr (std::is_same_v<T, api::Node>) {
            in.nodes.push_back(o);
          } else if constexpr (std::is_same_v<T, api::DeviceClass>) {
            in.classes.push_back(o);
          } else if constexpr (std::is_same_v<T, api::ResourceSlice>) {
            in.slices.push_back(o);
          } else if constexpr (std::is_same_v<T, api::ResourceClaim>) {
            (o.status.allocation ? in.allocated : in.pending).push_back(o);
          }
        },
        *object);
  }
}

bool IsManifestName(const fs::path& path) {
  std::string ext = path.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

void ReadPath(const std::string& arg, const api::ValidationOptions& options, Inputs& in) {
  if (arg == "-") {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    ReadText("-", text, options, in);
    return;
  }
  std::error_code ec;
  if (fs::is_directory(arg, ec)) {
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(arg, ec)) {
      if (entry.is_regular_file() && IsManifestName(entry.path())) {
        files.push_back(entry.path().string());
      }
    }
    if (ec) {
      in.problems.push_back(arg + ": " + ec.message());
      return;
    }
    std::sort(files.begin(), files.end());
    for (const std::string& file : files) ReadPath(file, options, in);
    return;
  }
  std::ifstream file(arg, std::ios::binary);
  if (!file) {
    in.problems.push_back(
        arg + ": cannot open: " + std::error_code(errno, std::generic_category()).message());
    return;
  }
  std::stringstream text;
  text << file.rdbuf();
  ReadText(arg, text.str(), options, in);
}

int RunAllocate(int argc, char** argv) {
  CLI::App app{
      "Dry-run scheduler: allocate devices for ResourceClaims from ResourceSlices.\n\n"
      "Inputs are Node, DeviceClass, ResourceSlice and ResourceClaim objects (files, directories\n"
      "or - for stdin). Claims with status.allocation are the allocated state; all others are\n"
      "allocated together, all or nothing, for one node. Prints a List of those claims with\n"
      "status.allocation set. Exit 0 = allocated, 1 = does not fit (reason on stderr),\n"
      "2 = error (invalid input, CEL runtime error, ...)."};
  std::vector<std::string> files;
  std::string node_name;
  std::string strategy_name = "pack";
  std::string output = "yaml";
  app.add_option("-f,--filename", files, "File, directory or - (stdin); repeatable")->required();
  app.add_option("--node", node_name,
                 "Allocate for this node (default: try every Node of the input; kubernetes takes\n"
                 "the first that fits in name order, pack the one where the claims take the\n"
                 "smallest devices and block the least)");
  app.add_option("--strategy", strategy_name,
                 "kubernetes (upstream first fit) or pack (right-size, anti-fragmentation)")
      ->check(CLI::IsMember({"kubernetes", "pack"}));
  app.add_option("-o,--output", output, "yaml or json")->check(CLI::IsMember({"yaml", "json"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  auto strategy = alloc::ParseStrategy(strategy_name);
  if (!strategy.ok()) {
    std::fprintf(stderr, "error: %s\n", strategy.error().message.c_str());
    return 2;
  }

  api::ValidationOptions options;
  options.check_cel = [](std::string_view expression) -> std::optional<std::string> {
    auto compiled = cel::CompiledSelector::Compile(expression);
    if (compiled.ok()) return std::nullopt;
    return compiled.error().message;
  };
  Inputs in;
  for (const std::string& file : files) ReadPath(file, options, in);
  if (!in.problems.empty()) {
    for (const auto& p : in.problems) std::fprintf(stderr, "%s\n", p.c_str());
    return 2;
  }
  json list = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", json::array()}};
  auto print = [&] {
    std::string text = output == "json" ? api::ToJsonText(list, 2) + "\n" : api::ToYaml(list);
    std::fwrite(text.data(), 1, text.size(), stdout);
  };
  // As the upstream allocator given no claims: an empty result, not an error.
  if (in.pending.empty()) {
    std::fprintf(stderr, "nothing to allocate: every ResourceClaim of the input is allocated\n");
    print();
    return 0;
  }

  std::vector<api::Node> candidates;
  if (!node_name.empty()) {
    auto it = std::find_if(in.nodes.begin(), in.nodes.end(),
                           [&](const api::Node& n) { return n.metadata.name == node_name; });
    if (it != in.nodes.end()) {
      candidates.push_back(*it);
    } else {
      api::Node bare;
      bare.metadata.name = node_name;
      candidates.push_back(bare);
    }
  } else {
    candidates = in.nodes;
    if (candidates.empty()) {
      std::fprintf(stderr, "error: no Node in the input and no --node given\n");
      return 2;
    }
  }

  alloc::AllocatorInput input;
  for (const auto& s : in.slices) input.slices.push_back(&s);
  for (const auto& c : in.classes) input.classes.push_back(&c);
  for (const auto& c : in.allocated) input.allocated_claims.push_back(&c);
  alloc::Options alloc_options;
  alloc_options.strategy = *strategy;
  auto allocator = alloc::Allocator::Create(input, alloc_options);
  if (!allocator.ok()) {
    std::fprintf(stderr, "error: %s\n", allocator.error().ToString().c_str());
    return 2;
  }
  std::vector<const api::Node*> node_ptrs;
  for (const auto& n : candidates) node_ptrs.push_back(&n);
  std::vector<const api::ResourceClaim*> claims;
  for (const auto& c : in.pending) claims.push_back(&c);
  auto choice = (*allocator)->ChooseNode(node_ptrs, claims);
  if (!choice.ok()) {
    std::fprintf(stderr, "error: %s\n", choice.error().ToString().c_str());
    return 2;
  }
  if (!choice->fits) {
    std::string reason = choice->reason;
    while (!reason.empty() && reason.back() == '\n') reason.pop_back();
    std::fprintf(stderr, "does not fit:\n%s\n", reason.c_str());
    return 1;
  }
  for (size_t i = 0; i < in.pending.size(); ++i) {
    api::ResourceClaim claim = in.pending[i];
    claim.status.allocation = choice->allocations[i];
    list["items"].push_back(api::ToJson(claim));
  }
  std::fprintf(stderr, "allocated on node %s (strategy %s)\n",
               candidates[choice->node_index].metadata.name.c_str(), strategy_name.c_str());
  print();
  return 0;
}

}  // namespace

MIGDRA_REGISTER_COMMAND(allocate, "allocate", "Dry-run scheduler: allocate devices for claims",
                        RunAllocate);

}  // namespace migdra::cli
