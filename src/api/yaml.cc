// ParseDocuments and ToYaml: YAML / JSON text <-> nlohmann::json, with Kubernetes' YAML rules.
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "api/codec.h"

namespace migdra::api {
namespace {

using json = nlohmann::json;

// Deeper nesting than this is refused: no Kubernetes object comes close, and it bounds the
// recursion of the converters below on hostile input.
constexpr int kMaxDepth = 256;

bool IsDigits(std::string_view s, int base) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = base == 16  ? std::isxdigit(static_cast<unsigned char>(c)) != 0
              : base == 8 ? (c >= '0' && c <= '7')
                          : std::isdigit(static_cast<unsigned char>(c)) != 0;
    if (!ok) return false;
  }
  return true;
}

// An integer of the YAML 1.2 core schema, as json; null json when `s` is not one.
json ResolveInteger(std::string_view s) {
  bool negative = false;
  std::string_view digits = s;
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    base = s[1] == 'x' ? 16 : 8;
    digits = s.substr(2);
  } else {
    if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
      negative = digits[0] == '-';
      digits.remove_prefix(1);
    }
  }
  if (!IsDigits(digits, base)) return nullptr;
  uint64_t magnitude = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (ec == std::errc() && end == digits.data() + digits.size()) {
    if (!negative) {
      if (magnitude <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return static_cast<int64_t>(magnitude);
      }
      return magnitude;
    }
    if (magnitude <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1) {
      return static_cast<int64_t>(0 - magnitude);
    }
  }
  // Out of range of 64 bits: a float, as Go's YAML library does (a string when out of range even
  // for a double).
  double value = std::strtod(std::string(s).c_str(), nullptr);
  if (!std::isfinite(value)) return std::string(s);
  return value;
}

bool IsFloat(std::string_view s) {
  static const std::regex kFloat(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  return std::regex_match(s.begin(), s.end(), kFloat);
}

// The value of a plain (unquoted) scalar under the YAML 1.2 core schema. `.inf` and `.nan` stay
// strings: JSON cannot hold them.
// Out-of-range numbers ("1e999") stay strings, as in Go's YAML library.
json ResolvePlain(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  char c = s[0];
  if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.') {
    json integer = ResolveInteger(s);
    if (!integer.is_null()) return integer;
    if (IsFloat(s)) {
      double value = std::strtod(s.c_str(), nullptr);
      if (std::isfinite(value)) return value;
    }
  }
  return s;
}

std::string Position(const YAML::Mark& mark) {
  if (mark.is_null()) return "yaml: ";
  return "yaml: line " + std::to_string(mark.line + 1) + ", column " +
         std::to_string(mark.column + 1) + ": ";
}

// Resolves a scalar by its tag: "?" is a plain scalar, "!" a quoted one (always a string).
json ResolveScalar(const YAML::Mark& mark, const std::string& tag, const std::string& value);

// Thrown from inside the event handler to stop yaml-cpp at the first problem; never escapes
// ParseYamlText.
struct YamlStop {
  Error error;
};

[[noreturn]] void Stop(const YAML::Mark& mark, const std::string& message) {
  throw YamlStop{MakeError(Position(mark) + message)};
}

json ResolveScalar(const YAML::Mark& mark, const std::string& tag, const std::string& value) {
  if (tag == "?") return ResolvePlain(value);
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return json(value);
  if (tag == "tag:yaml.org,2002:null") return json(nullptr);
  json resolved = ResolvePlain(value);
  bool matches = (tag == "tag:yaml.org,2002:bool" && resolved.is_boolean()) ||
                 (tag == "tag:yaml.org,2002:int" && resolved.is_number_integer()) ||
                 (tag == "tag:yaml.org,2002:float" && resolved.is_number());
  if (!matches) Stop(mark, "cannot decode \"" + value + "\" as " + tag);
  return resolved;
}

// Builds JSON values straight from yaml-cpp's parser events (no intermediate YAML::Node), with
// positions for errors, duplicate-key detection, and limits on nesting and alias expansion.
class JsonBuilder : public YAML::EventHandler {
 public:
  // Values produced per text, counting every node an alias copies: bounds "billion laughs".
  static constexpr size_t kMaxNodes = 1'000'000;

  void OnDocumentStart(const YAML::Mark& /*mark*/) override {
    root_ = nullptr;
    stack_.clear();
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (TakeKey(mark, "null")) return;
    Count(mark, 1);
    Add(mark, json(nullptr), anchor, 1);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) Stop(mark, "alias refers to a node that is not complete");
    if (ExpectingKey()) {
      if (!it->second.value.is_string()) Stop(mark, "mapping keys must be strings");
      TakeKey(mark, it->second.value.get<std::string>());
      return;
    }
    Count(mark, it->second.weight);
    Add(mark, it->second.value, 0, it->second.weight);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    if (TakeKey(mark, value)) {
      if (anchor != 0) anchors_[anchor] = Anchored{json(value), 1};
      return;
    }
    Count(mark, 1);
    Add(mark, ResolveScalar(mark, tag, value), anchor, 1);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value /*style*/) override {
    Open(mark, json::array(), anchor);
  }
  void OnSequenceEnd() override { Close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value /*style*/) override {
    Open(mark, json::object(), anchor);
  }
  void OnMapEnd() override { Close(); }

  json TakeRoot() { return std::move(root_); }

 private:
  struct Frame {
    json value;
    YAML::anchor_t anchor = 0;
    size_t first_node = 0;  // nodes_ when the collection started, for its alias weight
    bool has_key = false;
    std::string key;
  };
  struct Anchored {
    json value;
    size_t weight;
  };

  bool ExpectingKey() const {
    return !stack_.empty() && stack_.back().value.is_object() && !stack_.back().has_key;
  }

  // When a mapping waits for a key, takes `key` (checking for duplicates) and returns true.
  bool TakeKey(const YAML::Mark& mark, const std::string& key) {
    if (!ExpectingKey()) return false;
    Frame& frame = stack_.back();
    if (frame.value.contains(key)) Stop(mark, "duplicate key \"" + key + "\"");
    frame.key = key;
    frame.has_key = true;
    return true;
  }

  void Count(const YAML::Mark& mark, size_t nodes) {
    nodes_ += nodes;
    if (nodes_ > kMaxNodes) Stop(mark, "too many nodes (aliases expand to more than 1000000)");
  }

  void Open(const YAML::Mark& mark, json empty, YAML::anchor_t anchor) {
    if (ExpectingKey()) Stop(mark, "mapping keys must be strings");
    if (stack_.size() >= static_cast<size_t>(kMaxDepth)) Stop(mark, "nesting too deep");
    Count(mark, 1);
    Frame frame;
    frame.value = std::move(empty);
    frame.anchor = anchor;
    frame.first_node = nodes_;
    stack_.push_back(std::move(frame));
  }

  void Close() {
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    Add(YAML::Mark::null_mark(), std::move(frame.value), frame.anchor,
        nodes_ - frame.first_node + 1);
  }

  void Add(const YAML::Mark& mark, json value, YAML::anchor_t anchor, size_t weight) {
    if (anchor != 0) anchors_[anchor] = Anchored{value, weight};
    if (stack_.empty()) {
      root_ = std::move(value);
      return;
    }
    Frame& frame = stack_.back();
    if (frame.value.is_array()) {
      frame.value.push_back(std::move(value));
    } else {
      frame.value[frame.key] = std::move(value);
      frame.has_key = false;
    }
  }

  json root_;
  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, Anchored> anchors_;
  size_t nodes_ = 0;
};

int JsonDepth(const json& value, int depth) {
  if (depth > kMaxDepth) return depth;
  int deepest = depth;
  if (value.is_structured()) {
    for (const json& child : value) {
      deepest = std::max(deepest, JsonDepth(child, depth + 1));
      if (deepest > kMaxDepth) break;
    }
  }
  return deepest;
}

bool IsListDocument(const json& doc) {
  if (!doc.is_object()) return false;
  auto kind = doc.find("kind");
  auto items = doc.find("items");
  if (kind == doc.end() || !kind->is_string() || items == doc.end()) return false;
  const std::string& k = kind->get_ref<const std::string&>();
  return k.size() >= 4 && k.compare(k.size() - 4, 4, "List") == 0;
}

void AppendDocument(json doc, std::vector<json>& out) {
  if (doc.is_null()) return;
  if (IsListDocument(doc)) {
    json& items = doc["items"];
    if (items.is_array()) {
      for (json& item : items) out.push_back(std::move(item));
      return;
    }
    if (items.is_null()) return;
  }
  out.push_back(std::move(doc));
}

Result<std::vector<json>> ParseJsonText(std::string_view text) {
  json value;
  try {
    value = json::parse(text.begin(), text.end());
  } catch (const json::out_of_range& e) {
    return MakeError(std::string("json: ") + e.what());
  } catch (const json::parse_error& e) {
    // nlohmann reports a byte offset; turn it into a line and column.
    size_t offset = std::min<size_t>(e.byte, text.size());
    size_t line = 1, column = 1;
    for (size_t i = 0; i + 1 < offset; ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    std::string what = e.what();
    auto cut = what.find("parse error");
    if (cut != std::string::npos) {
      auto colon = what.find(": ", cut);
      if (colon != std::string::npos) what = what.substr(colon + 2);
    }
    return MakeError("json: line " + std::to_string(line) + ", column " + std::to_string(column) +
                     ": " + what);
  } catch (const std::exception& e) {
    return MakeError(std::string("json: ") + e.what());
  }
  if (JsonDepth(value, 0) > kMaxDepth) return MakeError("json: nesting too deep");
  std::vector<json> documents;
  if (value.is_array()) {
    for (json& item : value) AppendDocument(std::move(item), documents);
  } else {
    AppendDocument(std::move(value), documents);
  }
  return documents;
}

// The length of the UTF-8 sequence starting at text[i], or 0 when it is not valid UTF-8
// (overlong forms, surrogates and code points past U+10FFFF included).
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char low = 0x80, high = 0xbf;  // allowed range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) low = 0xa0;
    if (c == 0xed) high = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) low = 0x90;
    if (c == 0xf4) high = 0x8f;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
  }
  return n;
}

// YAML allows no C0 control characters other than tab, LF and CR (and yaml-cpp can loop forever on
// a NUL), and a stream must be valid UTF-8 (as Kubernetes' YAML reader requires; yaml-cpp would
// pass broken bytes through into strings no emitter can write back). Both are refused up front
// with their position.
Status CheckCharacters(std::string_view text) {
  size_t line = 1, column = 1;
  auto fail = [&](const char* what) {
    return MakeError("yaml: line " + std::to_string(line) + ", column " + std::to_string(column) +
                     ": " + what);
  };
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
      return fail("control characters are not allowed");
    }
    size_t n = Utf8SequenceLength(text, i);
    if (n == 0) return fail("invalid UTF-8");
    if (c == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
    i += n;
  }
  return OkStatus();
}

Result<std::vector<json>> ParseYamlText(std::string_view text) {
  MIGDRA_RETURN_IF_ERROR(CheckCharacters(text));
  std::vector<json> documents;
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    JsonBuilder builder;
    // yaml-cpp 0.7 can report a document forever without consuming input on some malformed
    // streams (upstream #1040); no real stream has more documents than bytes.
    size_t budget = text.size() + 2;
    while (parser.HandleNextDocument(builder)) {
      if (budget-- == 0) return MakeError("yaml: did not find expected node content");
      AppendDocument(builder.TakeRoot(), documents);
    }
  } catch (const YamlStop& stop) {
    return stop.error;
  } catch (const YAML::Exception& e) {
    return MakeError(Position(e.mark) + e.msg);
  } catch (const std::exception& e) {
    return MakeError(std::string("yaml: ") + e.what());
  }
  return documents;
}

// ---- emitting --------------------------------------------------------------------------------

bool IsYaml11Special(const std::string& s) {
  static const char* const kWords[] = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"};
  std::string lower;
  for (char c : s) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  for (const char* w : kWords) {
    if (lower == w) return true;
  }
  return false;
}

// True when `s` can be written as a plain scalar and reads back, in YAML 1.1 and 1.2 readers
// alike, as the same string. Conservative: anything unusual is quoted.
bool CanBePlain(const std::string& s) {
  if (s.empty() || IsYaml11Special(s)) return false;
  unsigned char first = static_cast<unsigned char>(s[0]);
  if (!std::isalpha(first) && first != '/' && first != '_') return false;
  if (s.back() == ' ' || s.back() == ':') return false;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (std::isalnum(c)) continue;
    switch (c) {
      case '-':
      case '.':
      case '_':
      case '/':
      case '+':
      case '=':
      case '@':
      case '(':
      case ')':
      case ',':
      case '\'':
      case '<':
      case '>':
      case '$':
      case '^':
      case ';':
      case '~':
        continue;
      case ':':
        if (i + 1 < s.size() && s[i + 1] != ' ') continue;
        return false;
      case ' ':
        if (i + 1 < s.size() && s[i + 1] != '#' && s[i + 1] != ' ') continue;
        return false;
      default:
        return false;
    }
  }
  return ResolvePlain(s).is_string();
}

std::string Scalar(const json& value) {
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    if (CanBePlain(s)) return s;
  }
  // JSON's string escapes are valid in a YAML double-quoted scalar; numbers, booleans and null
  // are written as JSON writes them.
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  // DEL is not printable in YAML; JSON leaves it unescaped.
  for (size_t at = text.find('\x7f'); at != std::string::npos; at = text.find('\x7f', at)) {
    text.replace(at, 1, "\\u007f");
  }
  return text;
}

bool IsEmptyCollection(const json& value) { return value.is_structured() && value.empty(); }

void EmitValue(const json& value, int indent, std::string& out);

constexpr size_t kMaxImplicitKeyLength = 1000;

void EmitObjectBody(const json& object, int indent, bool first_inline, std::string& out) {
  bool first = true;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (!(first && first_inline)) out.append(indent, ' ');
    first = false;
    std::string key = Scalar(json(it.key()));
    if (key.size() > kMaxImplicitKeyLength) {
      // YAML limits implicit keys to 1024 characters; longer ones need the explicit `? key` form.
      out += "? " + key + '\n';
      out.append(indent, ' ');
    } else {
      out += key;
    }
    out += ':';
    const json& child = it.value();
    if (child.is_object() && !child.empty()) {
      out += '\n';
      EmitObjectBody(child, indent + 2, false, out);
    } else if (child.is_array() && !child.empty()) {
      out += '\n';
      EmitValue(child, indent, out);
    } else {
      out += ' ';
      out += IsEmptyCollection(child) ? (child.is_object() ? "{}" : "[]") : Scalar(child);
      out += '\n';
    }
  }
}

void EmitArrayBody(const json& array, int indent, bool first_inline, std::string& out) {
  bool first = true;
  for (const json& item : array) {
    if (!(first && first_inline)) out.append(indent, ' ');
    first = false;
    out += "- ";
    if (item.is_object() && !item.empty()) {
      EmitObjectBody(item, indent + 2, true, out);
    } else if (item.is_array() && !item.empty()) {
      EmitArrayBody(item, indent + 2, true, out);
    } else {
      out += IsEmptyCollection(item) ? (item.is_object() ? "{}" : "[]") : Scalar(item);
      out += '\n';
    }
  }
}

void EmitValue(const json& value, int indent, std::string& out) {
  if (value.is_object() && !value.empty()) {
    EmitObjectBody(value, indent, false, out);
  } else if (value.is_array() && !value.empty()) {
    EmitArrayBody(value, indent, false, out);
  } else {
    out.append(indent, ' ');
    out += IsEmptyCollection(value) ? (value.is_object() ? "{}" : "[]") : Scalar(value);
    out += '\n';
  }
}

}  // namespace

Result<std::vector<json>> ParseDocuments(std::string_view text) {
  size_t start = text.find_first_not_of(" \t\r\n");
  if (start != std::string_view::npos && (text[start] == '{' || text[start] == '[')) {
    return ParseJsonText(text);
  }
  return ParseYamlText(text);
}

std::string ToYaml(const json& value) {
  std::string out;
  EmitValue(value, 0, out);
  return out;
}

std::string ToYaml(const std::vector<json>& documents) {
  std::string out;
  for (size_t i = 0; i < documents.size(); ++i) {
    if (i > 0) out += "---\n";
    EmitValue(documents[i], 0, out);
  }
  return out;
}

std::string ToJsonText(const json& value, int indent) {
  return value.dump(indent, ' ', false, json::error_handler_t::replace);
}

}  // namespace migdra::api
