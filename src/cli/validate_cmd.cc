// `migdra validate -f FILE...`: decodes and validates manifests as the API server would.
//
// Contract (DESIGN.md): exit 0 when every object is valid, else 2 with one line per problem,
// `FILE: KIND/NAME: field.path: message`, on stdout and nothing else there. A file that cannot
// be read or parsed gives one line `FILE: <message>` (YAML/JSON errors carry "line L, column C").
// When everything is valid, a summary line goes to stderr. Documents without apiVersion and kind
// (e.g. Helm values files kept beside manifests) are not Kubernetes objects: they are skipped
// silently and counted in the summary. Decoding and validation are serve's admission path
// (control/admission.h): CEL selectors are compiled, so a selector that does not compile is an
// error too.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include <CLI/CLI.hpp>

#include "api/codec.h"
#include "api/install_kinds.h"
#include "cli/command.h"
#include "control/admission.h"

namespace migdra::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Tally {
  int valid = 0;
  int invalid = 0;
  int skipped = 0;
  int problems = 0;
};

void Report(const std::string& line, Tally& tally) {
  std::fprintf(stdout, "%s\n", line.c_str());
  ++tally.problems;
}

std::string StringField(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// "KIND/NAME" from the raw document, so that objects that fail to decode are still named.
std::string ObjectLabel(const json& document) {
  std::string name;
  auto meta = document.find("metadata");
  if (meta != document.end() && meta->is_object()) {
    name = StringField(*meta, "name");
    if (name.empty()) name = StringField(*meta, "generateName");
  }
  return StringField(document, "kind") + "/" + name;
}

void ValidateText(const std::string& file, const std::string& text, Tally& tally) {
  Result<std::vector<json>> documents = api::ParseDocuments(text);
  if (!documents.ok()) {
    Report(file + ": " + documents.error().ToString(), tally);
    ++tally.invalid;
    return;
  }
  for (const json& document : *documents) {
    if (!document.is_object() || !document.contains("apiVersion") || !document.contains("kind")) {
      ++tally.skipped;
      continue;
    }
    const std::string prefix = file + ": " + ObjectLabel(document) + ": ";
    std::vector<Error> errors;
    if (auto install = api::ValidateInstallObject(document)) {
      errors = std::move(*install);
    } else {
      errors = control::ValidateDocument(document);
    }
    for (const Error& error : errors) Report(prefix + error.ToString(), tally);
    ++(errors.empty() ? tally.valid : tally.invalid);
  }
}

bool IsManifestName(const fs::path& path) {
  std::string ext = path.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

void ValidatePath(const std::string& arg, bool recursive, Tally& tally) {
  if (arg == "-") {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    ValidateText("-", text, tally);
    return;
  }
  std::error_code ec;
  if (fs::is_directory(arg, ec)) {
    std::vector<std::string> files;
    auto collect = [&](const fs::directory_entry& entry) {
      if (entry.is_regular_file() && IsManifestName(entry.path()))
        files.push_back(entry.path().string());
    };
    if (recursive) {
      for (const auto& entry : fs::recursive_directory_iterator(arg, ec)) collect(entry);
    } else {
      for (const auto& entry : fs::directory_iterator(arg, ec)) collect(entry);
    }
    if (ec) {
      Report(arg + ": " + ec.message(), tally);
      return;
    }
    std::sort(files.begin(), files.end());
    for (const std::string& file : files) ValidatePath(file, false, tally);
    return;
  }
  std::ifstream in(arg, std::ios::binary);
  if (!in) {
    Report(arg + ": cannot open: " + std::error_code(errno, std::generic_category()).message(),
           tally);
    ++tally.invalid;
    return;
  }
  std::stringstream text;
  text << in.rdbuf();
  ValidateText(arg, text.str(), tally);
}

int RunValidate(int argc, char** argv) {
  CLI::App app{
      "Validate Kubernetes manifests as the API server would (strict decoding, resource.k8s.io/v1 "
      "rules, Pod/Job claim references).\n\n"
      "Exit 0 when every object is valid, else 2 with one line per problem on stdout:\n"
      "  FILE: KIND/NAME: field.path: message\n"
      "A file that cannot be parsed gives `FILE: message` with the line and column.\n"
      "Directories contribute their *.yaml, *.yml and *.json files in name order; `-` is stdin.\n"
      "Documents without apiVersion and kind (e.g. Helm values files) are not Kubernetes objects:\n"
      "they are skipped, and counted in the summary printed on stderr when all is valid.\n"
      "Known kinds: resource.k8s.io/v1 DeviceClass, ResourceClaim, ResourceClaimTemplate,\n"
      "ResourceSlice; v1 Node, Namespace, Pod, ServiceAccount; batch/v1 Job; apps/v1 DaemonSet;\n"
      "rbac.authorization.k8s.io/v1 ClusterRole, ClusterRoleBinding, Role, RoleBinding.\n"
      "Any other kind is an error."};
  std::vector<std::string> files;
  bool recursive = false;
  app.add_option("-f,--filename", files, "File, directory or - (stdin); repeatable")->required();
  app.add_flag("-R,--recursive", recursive, "Descend into subdirectories");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  Tally tally;
  for (const std::string& file : files) ValidatePath(file, recursive, tally);
  if (tally.problems != 0) return 2;
  std::fprintf(stderr, "%d valid, %d skipped (not Kubernetes objects)\n", tally.valid,
               tally.skipped);
  return 0;
}

}  // namespace

MIGDRA_REGISTER_COMMAND(validate, "validate", "Check manifests as the API server would",
                        RunValidate);

}  // namespace migdra::cli
