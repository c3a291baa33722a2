#include "api/semver.h"

#include <algorithm>

namespace migdra::api {
namespace {

bool AllDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool AllAlphanumericOrHyphen(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
  });
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

// A MAJOR, MINOR or PATCH number, or a numeric pre-release identifier.
Result<uint64_t> ParseNumber(std::string_view s, std::string_view what) {
  if (s.empty()) return MakeError(std::string(what) + " number is empty");
  if (!AllDigits(s)) {
    return MakeError("invalid character(s) found in " + std::string(what) + " number \"" +
                     std::string(s) + "\"");
  }
  if (s.size() > 1 && s[0] == '0') {
    return MakeError(std::string(what) + " number must not contain leading zeroes \"" +
                     std::string(s) + "\"");
  }
  uint64_t value = 0;
  for (char c : s) {
    if (__builtin_mul_overflow(value, uint64_t{10}, &value) ||
        __builtin_add_overflow(value, static_cast<uint64_t>(c - '0'), &value)) {
      return MakeError(std::string(what) + " number is out of range \"" + std::string(s) + "\"");
    }
  }
  return value;
}

}  // namespace

Result<Semver> Semver::Parse(std::string_view text) {
  if (text.empty()) return MakeError("version string empty");
  Semver v;
  size_t first_dot = text.find('.');
  size_t second_dot =
      first_dot == std::string_view::npos ? first_dot : text.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos) {
    return MakeError("no Major.Minor.Patch elements found in \"" + std::string(text) + "\"");
  }
  MIGDRA_ASSIGN_OR_RETURN(v.major_, ParseNumber(text.substr(0, first_dot), "major"));
  MIGDRA_ASSIGN_OR_RETURN(
      v.minor_, ParseNumber(text.substr(first_dot + 1, second_dot - first_dot - 1), "minor"));
  std::string_view rest = text.substr(second_dot + 1);
  if (size_t plus = rest.find('+'); plus != std::string_view::npos) {
    for (std::string_view id : Split(rest.substr(plus + 1), '.')) {
      if (id.empty()) return MakeError("build metadata is empty");
      if (!AllAlphanumericOrHyphen(id)) {
        return MakeError("invalid character(s) found in build metadata \"" + std::string(id) +
                         "\"");
      }
      v.build_.emplace_back(id);
    }
    rest = rest.substr(0, plus);
  }
  if (size_t dash = rest.find('-'); dash != std::string_view::npos) {
    for (std::string_view id : Split(rest.substr(dash + 1), '.')) {
      if (id.empty()) return MakeError("prerelease is empty");
      PrereleaseId pr;
      pr.text = std::string(id);
      if (AllDigits(id)) {
        MIGDRA_ASSIGN_OR_RETURN(pr.number, ParseNumber(id, "prerelease"));
        pr.numeric = true;
      } else if (!AllAlphanumericOrHyphen(id)) {
        return MakeError("invalid character(s) found in prerelease \"" + std::string(id) + "\"");
      }
      v.prerelease_.push_back(std::move(pr));
    }
    rest = rest.substr(0, dash);
  }
  MIGDRA_ASSIGN_OR_RETURN(v.patch_, ParseNumber(rest, "patch"));
  return v;
}

Result<Semver> Semver::ParseNormalized(std::string_view text) {
  if (!text.empty() && text[0] == 'v') text.remove_prefix(1);
  // Up to three leading numeric parts; missing ones are 0 and leading zeros are dropped.
  std::string normalized;
  size_t pos = 0;
  for (int part = 0; part < 3; ++part) {
    size_t start = pos;
    if (part > 0) {
      if (pos >= text.size() || text[pos] != '.' || pos + 1 >= text.size() ||
          !AllDigits(text.substr(pos + 1, 1))) {
        normalized += ".0";
        continue;
      }
      start = ++pos;
    }
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    if (pos == start) return MakeError("invalid semver \"" + std::string(text) + "\"");
    std::string_view digits = text.substr(start, pos - start);
    while (digits.size() > 1 && digits[0] == '0') digits.remove_prefix(1);
    if (part > 0) normalized += '.';
    normalized += digits;
  }
  normalized += text.substr(pos);
  return Parse(normalized);
}

int Semver::Compare(const Semver& other) const {
  if (major_ != other.major_) return major_ < other.major_ ? -1 : 1;
  if (minor_ != other.minor_) return minor_ < other.minor_ ? -1 : 1;
  if (patch_ != other.patch_) return patch_ < other.patch_ ? -1 : 1;
  // A version without pre-release identifiers has higher precedence.
  if (prerelease_.empty() || other.prerelease_.empty()) {
    if (prerelease_.empty() == other.prerelease_.empty()) return 0;
    return prerelease_.empty() ? 1 : -1;
  }
  const size_t n = std::min(prerelease_.size(), other.prerelease_.size());
  for (size_t i = 0; i < n; ++i) {
    const PrereleaseId& a = prerelease_[i];
    const PrereleaseId& b = other.prerelease_[i];
    if (a.numeric && b.numeric) {
      if (a.number != b.number) return a.number < b.number ? -1 : 1;
    } else if (a.numeric != b.numeric) {
      return a.numeric ? -1 : 1;  // numeric identifiers sort before alphanumeric ones
    } else if (int c = a.text.compare(b.text); c != 0) {
      return c < 0 ? -1 : 1;
    }
  }
  if (prerelease_.size() == other.prerelease_.size()) return 0;
  return prerelease_.size() < other.prerelease_.size() ? -1 : 1;
}

std::string Semver::ToString() const {
  std::string out =
      std::to_string(major_) + "." + std::to_string(minor_) + "." + std::to_string(patch_);
  for (size_t i = 0; i < prerelease_.size(); ++i) {
    out += (i == 0 ? "-" : ".") + prerelease_[i].text;
  }
  for (size_t i = 0; i < build_.size(); ++i) out += (i == 0 ? "+" : ".") + build_[i];
  return out;
}

bool IsValidSemver(std::string_view text) { return Semver::Parse(text).ok(); }

}  // namespace migdra::api
