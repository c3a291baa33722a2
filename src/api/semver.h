// Semantic versions (semver.org 2.0.0): parsing, validity and precedence.
//
// Used by validation (a DRA "version" attribute must be a valid semantic version) and by the CEL
// semver library (`semver()`, `isSemver()`, `compareTo()` ...), which mirrors the Kubernetes
// library built on github.com/blang/semver/v4.
//
// Thread safety: an immutable value type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace migdra::api {

class Semver {
 public:
  // One dot-separated pre-release identifier: numeric ("1") or alphanumeric ("rc").
  struct PrereleaseId {
    std::string text;
    bool numeric = false;
    uint64_t number = 0;
  };

  Semver() = default;  // 0.0.0

  // Strict semver 2.0.0: MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], no leading zeros in numeric
  // parts, no "v" prefix. The error says what is wrong.
  static Result<Semver> Parse(std::string_view text);
  // Kubernetes' relaxed form (`semver(s, true)`): an optional leading "v", missing minor/patch
  // parts default to 0, and leading zeros are accepted ("v1.02" == "1.2.0").
  static Result<Semver> ParseNormalized(std::string_view text);

  // <0, 0, >0 by semver precedence (build metadata is ignored).
  int Compare(const Semver& other) const;
  bool operator==(const Semver& other) const { return Compare(other) == 0; }
  bool operator<(const Semver& other) const { return Compare(other) < 0; }

  uint64_t major() const { return major_; }
  uint64_t minor() const { return minor_; }
  uint64_t patch() const { return patch_; }
  const std::vector<PrereleaseId>& prerelease() const { return prerelease_; }
  const std::vector<std::string>& build() const { return build_; }

  // "1.2.3-rc.1+build.5".
  std::string ToString() const;

 private:
  uint64_t major_ = 0;
  uint64_t minor_ = 0;
  uint64_t patch_ = 0;
  std::vector<PrereleaseId> prerelease_;
  std::vector<std::string> build_;
};

// True when `text` is a valid semver 2.0.0 version (Semver::Parse succeeds).
bool IsValidSemver(std::string_view text);

}  // namespace migdra::api
