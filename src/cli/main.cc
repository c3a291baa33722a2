// migdra: Dynamic Resource Allocation for NVIDIA MIG. Dispatches to the registered subcommands.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/command.h"

namespace migdra::cli {
namespace {

std::vector<Command>& Registry() {
  static std::vector<Command> commands;
  return commands;
}

void PrintUsage(FILE* out) {
  std::fprintf(out,
               "migdra - Dynamic Resource Allocation for NVIDIA Multi-Instance GPUs\n\n"
               "Usage: migdra <command> [flags]\n\nCommands:\n");
  auto commands = Registry();
  std::sort(commands.begin(), commands.end(),
            [](const Command& a, const Command& b) { return std::strcmp(a.name, b.name) < 0; });
  for (const Command& c : commands) {
    if (c.summary) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
  }
  std::fprintf(out, "\nRun 'migdra <command> --help' for the flags of a command.\n");
}

}  // namespace

bool RegisterCommand(const Command& command) {
  Registry().push_back(command);
  return true;
}

}  // namespace migdra::cli

int main(int argc, char** argv) {
  using migdra::cli::Registry;
  if (argc < 2) {
    migdra::cli::PrintUsage(stderr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") {
    migdra::cli::PrintUsage(stdout);
    return 0;
  }
  if (name == "--version" || name == "version") {
    std::printf("migdra %s\n", MIGDRA_VERSION);
    return 0;
  }
  for (const auto& c : Registry()) {
    if (name == c.name) {
      std::string program = std::string("migdra ") + c.name;
      std::vector<char*> args;
      args.push_back(program.data());
      for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
      args.push_back(nullptr);
      return c.run(static_cast<int>(args.size()) - 1, args.data());
    }
  }
  std::fprintf(stderr, "migdra: unknown command '%s'\n\n", name.c_str());
  migdra::cli::PrintUsage(stderr);
  return 2;
}
