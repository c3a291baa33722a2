#include "control/selectors.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace migdra::control {
namespace {

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// Splits on commas that are not inside parentheses.
std::vector<std::string> SplitTerms(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::vector<std::string> SplitDots(const std::string& path) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : path) {
    if (c == '.') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  return parts;
}

Error BadSelector(const std::string& what, const std::string& text) {
  return MakeError(ErrorReason::kBadRequest, "unable to parse requirement: " + what + ": " + text);
}

// A decimal 64-bit integer, as Go's strconv.ParseInt reads it; one that overflows is not one.
bool ParseInt(const std::string& s, long long* out) {
  const char* end = s.data() + s.size();
  const auto [stop, error] = std::from_chars(s.data(), end, *out);
  return error == std::errc() && stop == end;
}

}  // namespace

Result<LabelSelector> LabelSelector::Parse(const std::string& text) {
  LabelSelector sel;
  if (Trim(text).empty()) return sel;
  for (const std::string& raw : SplitTerms(text)) {
    std::string term = Trim(raw);
    if (term.empty()) return BadSelector("empty term", text);
    Requirement req;
    size_t pos;
    if (term[0] == '!') {
      req.key = Trim(term.substr(1));
      req.op = "!";
    } else if ((pos = term.find(" notin ")) != std::string::npos ||
               (pos = term.find(" in ")) != std::string::npos) {
      bool notin = term.compare(pos, 7, " notin ") == 0;
      req.key = Trim(term.substr(0, pos));
      req.op = notin ? "notin" : "in";
      std::string rest = Trim(term.substr(pos + (notin ? 7 : 4)));
      if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')') {
        return BadSelector("expected (values)", text);
      }
      for (const std::string& v : SplitTerms(rest.substr(1, rest.size() - 2))) {
        req.values.push_back(Trim(v));
      }
    } else if ((pos = term.find("!=")) != std::string::npos) {
      req.key = Trim(term.substr(0, pos));
      req.op = "!=";
      req.values = {Trim(term.substr(pos + 2))};
    } else if ((pos = term.find("==")) != std::string::npos) {
      req.key = Trim(term.substr(0, pos));
      req.op = "=";
      req.values = {Trim(term.substr(pos + 2))};
    } else if ((pos = term.find('=')) != std::string::npos) {
      req.key = Trim(term.substr(0, pos));
      req.op = "=";
      req.values = {Trim(term.substr(pos + 1))};
    } else if ((pos = term.find_first_of("<>")) != std::string::npos) {
      req.key = Trim(term.substr(0, pos));
      req.op = std::string(1, term[pos]);
      req.values = {Trim(term.substr(pos + 1))};
      long long ignored;
      if (!ParseInt(req.values[0], &ignored)) {
        return BadSelector("expected an integer", text);
      }
    } else {
      req.key = term;
      req.op = "exists";
    }
    if (req.key.empty() || req.key.find(' ') != std::string::npos) {
      return BadSelector("invalid label key", text);
    }
    sel.requirements_.push_back(std::move(req));
  }
  return sel;
}

LabelSelector LabelSelector::FromObject(const json& selector, bool null_matches_all) {
  LabelSelector sel;
  if (!selector.is_object()) {
    sel.match_nothing_ = !null_matches_all;
    return sel;
  }
  if (selector.contains("matchLabels") && selector["matchLabels"].is_object()) {
    for (const auto& [k, v] : selector["matchLabels"].items()) {
      sel.requirements_.push_back({k, "=", {v.is_string() ? v.get<std::string>() : v.dump()}});
    }
  }
  if (selector.contains("matchExpressions") && selector["matchExpressions"].is_array()) {
    // Stored objects passed admission, but this also reads what a client sent: a key or
    // operator of another type reads as empty (json::value would throw on it).
    const auto text = [](const json& e, const char* name) {
      return e.is_object() && e.contains(name) && e[name].is_string() ? e[name].get<std::string>()
                                                                      : std::string();
    };
    for (const json& e : selector["matchExpressions"]) {
      Requirement req;
      req.key = text(e, "key");
      std::string op = text(e, "operator");
      req.op = op == "In" ? "in" : op == "NotIn" ? "notin" : op == "Exists" ? "exists" : "!";
      if (e.is_object() && e.contains("values") && e["values"].is_array()) {
        for (const json& v : e["values"])
          req.values.push_back(v.is_string() ? v.get<std::string>() : "");
      }
      sel.requirements_.push_back(std::move(req));
    }
  }
  return sel;
}

bool LabelSelector::Matches(const json& labels) const {
  if (match_nothing_) return false;
  for (const Requirement& req : requirements_) {
    bool has = labels.is_object() && labels.contains(req.key);
    std::string value =
        has && labels[req.key].is_string() ? labels[req.key].get<std::string>() : "";
    auto in = [&] {
      return std::find(req.values.begin(), req.values.end(), value) != req.values.end();
    };
    if (req.op == "=" && !(has && in())) return false;
    if (req.op == "!=" && has && in()) return false;
    if (req.op == "in" && !(has && in())) return false;
    if (req.op == "notin" && has && in()) return false;
    if (req.op == "exists" && !has) return false;
    if (req.op == "!" && has) return false;
    if (req.op == ">" || req.op == "<") {
      long long have, want;
      if (!has || !ParseInt(value, &have) || !ParseInt(req.values[0], &want)) return false;
      if (req.op == ">" ? !(have > want) : !(have < want)) return false;
    }
  }
  return true;
}

std::string FieldValue(const json& object, const std::vector<std::string>& path) {
  const json* cur = &object;
  for (const std::string& part : path) {
    if (!cur->is_object() || !cur->contains(part)) return "";
    cur = &(*cur)[part];
  }
  if (cur->is_string()) return cur->get<std::string>();
  if (cur->is_null()) return "";
  return cur->dump();
}

Result<FieldSelector> FieldSelector::Parse(const std::string& text) {
  FieldSelector sel;
  if (Trim(text).empty()) return sel;
  for (const std::string& raw : SplitTerms(text)) {
    std::string term = Trim(raw);
    Term t;
    size_t pos;
    if ((pos = term.find("!=")) != std::string::npos) {
      t.negate = true;
      t.dotted = Trim(term.substr(0, pos));
      t.value = Trim(term.substr(pos + 2));
    } else if ((pos = term.find("==")) != std::string::npos) {
      t.dotted = Trim(term.substr(0, pos));
      t.value = Trim(term.substr(pos + 2));
    } else if ((pos = term.find('=')) != std::string::npos) {
      t.dotted = Trim(term.substr(0, pos));
      t.value = Trim(term.substr(pos + 1));
    } else {
      return MakeError(ErrorReason::kBadRequest, "invalid field selector: " + text);
    }
    if (t.dotted.empty()) {
      return MakeError(ErrorReason::kBadRequest, "invalid field selector: " + text);
    }
    t.path = SplitDots(t.dotted);
    sel.terms_.push_back(std::move(t));
  }
  return sel;
}

bool FieldSelector::Matches(const json& object) const {
  for (const Term& t : terms_) {
    bool equal = FieldValue(object, t.path) == t.value;
    if (equal == t.negate) return false;
  }
  return true;
}

std::string FieldSelector::RequiredValue(const std::string& path) const {
  for (const Term& t : terms_) {
    if (!t.negate && t.dotted == path) return t.value;
  }
  return "";
}

}  // namespace migdra::control
