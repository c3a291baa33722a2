// The `migdra` subcommand registry. Each subcommand lives in its own `<name>_cmd.cc` beside
// main.cc and registers itself with MIGDRA_REGISTER_COMMAND; main() dispatches on argv[1].
//
// A command's Run receives argv with argv[0] = "migdra <name>" and returns the process exit
// code; it never calls exit() itself.
#pragma once

namespace migdra::cli {

struct Command {
  const char* name;
  const char* summary;  // one line for `migdra --help`; nullptr hides an internal command
  int (*run)(int argc, char** argv);
};

// Registers `command`; called from static initialisers only.
bool RegisterCommand(const Command& command);

}  // namespace migdra::cli

#define MIGDRA_REGISTER_COMMAND(ident, name, summary, fn)              \
  [[maybe_unused]] static const bool migdra_registered_##ident =      \
      ::migdra::cli::RegisterCommand(::migdra::cli::Command{name, summary, fn})
