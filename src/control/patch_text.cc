#include "control/patch_text.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/go_json.h"

namespace migdra::control {
namespace {

// The library's lazyNode. A null inside a decoded object or array is a null NodePtr (Go's nil
// *lazyNode); `raw` is empty where Go's raw is nil (an operation whose value is null).
struct Node;
using NodePtr = std::shared_ptr<Node>;

struct Node {
  enum class Form { kRaw, kObject, kArray };
  std::string raw;
  Form form = Form::kRaw;
  std::map<std::string, NodePtr> members;  // kObject, sorted as Go's encoder writes a map
  std::vector<NodePtr> elements;           // kArray
};

NodePtr RawNode(std::string raw) {
  auto node = std::make_shared<Node>();
  node->raw = std::move(raw);
  return node;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t SkipSpace(std::string_view text, size_t i) {
  while (i < text.size() && IsSpace(text[i])) ++i;
  return i;
}

// The end of the JSON value starting at `i` of valid JSON text.
size_t SkipValue(std::string_view text, size_t i) {
  if (i >= text.size()) return i;
  if (text[i] == '"') {
    for (++i; i < text.size() && text[i] != '"'; ++i) {
      if (text[i] == '\\') ++i;
    }
    return i + 1;
  }
  if (text[i] == '{' || text[i] == '[') {
    int depth = 0;
    for (; i < text.size(); ++i) {
      const char c = text[i];
      if (c == '"') {
        i = SkipValue(text, i) - 1;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        return i + 1;
      }
    }
    return i;
  }
  while (i < text.size() && !IsSpace(text[i]) && text[i] != ',' && text[i] != '}' &&
         text[i] != ']') {
    ++i;
  }
  return i;
}

// The members of a JSON object's text, or nullopt when the text is not an object. A key given
// twice keeps its last value, as json.Unmarshal into a Go map does.
std::optional<std::map<std::string, NodePtr>> ObjectMembers(std::string_view text) {
  size_t i = SkipSpace(text, 0);
  if (i >= text.size() || text[i] != '{') return std::nullopt;
  std::map<std::string, NodePtr> members;
  i = SkipSpace(text, i + 1);
  while (i < text.size() && text[i] != '}') {
    const size_t key_end = SkipValue(text, i);
    const nlohmann::json key =
        nlohmann::json::parse(text.substr(i, key_end - i), nullptr, /*allow_exceptions=*/false);
    if (!key.is_string()) return std::nullopt;
    i = SkipSpace(text, SkipSpace(text, key_end) + 1);  // past ':'
    const size_t value_end = SkipValue(text, i);
    const std::string_view value = text.substr(i, value_end - i);
    members[key.get<std::string>()] = value == "null" ? nullptr : RawNode(std::string(value));
    i = SkipSpace(text, value_end);
    if (i < text.size() && text[i] == ',') i = SkipSpace(text, i + 1);
  }
  return members;
}

std::optional<std::vector<NodePtr>> ArrayElements(std::string_view text) {
  size_t i = SkipSpace(text, 0);
  if (i >= text.size() || text[i] != '[') return std::nullopt;
  std::vector<NodePtr> elements;
  i = SkipSpace(text, i + 1);
  while (i < text.size() && text[i] != ']') {
    const size_t value_end = SkipValue(text, i);
    const std::string_view value = text.substr(i, value_end - i);
    elements.push_back(value == "null" ? nullptr : RawNode(std::string(value)));
    i = SkipSpace(text, value_end);
    if (i < text.size() && text[i] == ',') i = SkipSpace(text, i + 1);
  }
  return elements;
}

// intoDoc / intoAry: decodes the node's object (array) one level, once; false when it holds
// something else.
bool IntoObject(Node& node) {
  if (node.form == Node::Form::kObject) return true;
  if (node.raw.empty()) return false;
  std::optional<std::map<std::string, NodePtr>> members = ObjectMembers(node.raw);
  if (!members) return false;
  node.members = std::move(*members);
  node.form = Node::Form::kObject;
  return true;
}

bool IntoArray(Node& node) {
  if (node.form == Node::Form::kArray) return true;
  if (node.raw.empty()) return false;
  std::optional<std::vector<NodePtr>> elements = ArrayElements(node.raw);
  if (!elements) return false;
  node.elements = std::move(*elements);
  node.form = Node::Form::kArray;
  return true;
}

// lazyNode's MarshalJSON as json.Marshal writes it.
std::string Render(const NodePtr& node) {
  if (!node) return "null";
  switch (node->form) {
    case Node::Form::kRaw:
      return node->raw.empty() ? "null" : GoCompactJson(node->raw);
    case Node::Form::kObject: {
      std::string out = "{";
      for (const auto& [key, value] : node->members) {
        if (out.size() > 1) out += ',';
        out += GoJsonText(nlohmann::json(key)) + ":" + Render(value);
      }
      return out + "}";
    }
    case Node::Form::kArray: {
      std::string out = "[";
      for (const NodePtr& element : node->elements) {
        if (out.size() > 1) out += ',';
        out += Render(element);
      }
      return out + "]";
    }
  }
  return "null";
}

Error PatchError(const std::string& message) {
  return MakeError(ErrorReason::kInvalid, "the JSON patch could not be applied: " + message);
}

// strconv.Atoi: an optional sign and decimal digits.
std::optional<int64_t> Atoi(const std::string& text) {
  size_t i = text.empty() || (text[0] != '+' && text[0] != '-') ? 0 : 1;
  if (i == text.size()) return std::nullopt;
  int64_t value = 0;
  for (size_t j = i; j < text.size(); ++j) {
    if (text[j] < '0' || text[j] > '9' || value > (INT64_MAX - 9) / 10) return std::nullopt;
    value = value * 10 + (text[j] - '0');
  }
  return text[0] == '-' ? -value : value;
}

// An array index of `key` for an array of `size` elements, negative indices counted from the
// end (the library's SupportNegativeIndices), or nullopt when out of range.
std::optional<size_t> ArrayIndex(const std::string& key, size_t size) {
  std::optional<int64_t> index = Atoi(key);
  const auto n = static_cast<int64_t>(size);
  if (!index || *index >= n || *index < -n) return std::nullopt;
  return static_cast<size_t>(*index < 0 ? *index + n : *index);
}

// The library's container operations on a decoded object or array.
Result<NodePtr> Get(Node& container, const std::string& key) {
  if (container.form == Node::Form::kObject) {
    auto it = container.members.find(key);
    return it == container.members.end() ? nullptr : it->second;
  }
  std::optional<size_t> index = ArrayIndex(key, container.elements.size());
  if (!index) return PatchError("Unable to access invalid index: " + key);
  return container.elements[*index];
}

Status Add(Node& container, const std::string& key, NodePtr value) {
  if (container.form == Node::Form::kObject) {
    container.members[key] = std::move(value);
    return {};
  }
  auto& elements = container.elements;
  if (key == "-") {
    elements.push_back(std::move(value));
    return {};
  }
  std::optional<size_t> index = ArrayIndex(key, elements.size() + 1);
  if (!index) return PatchError("Unable to access invalid index: " + key);
  elements.insert(elements.begin() + static_cast<std::ptrdiff_t>(*index), std::move(value));
  return {};
}

Status Remove(Node& container, const std::string& key) {
  if (container.form == Node::Form::kObject) {
    if (container.members.erase(key) == 0) {
      return PatchError("Unable to remove nonexistent key: " + key);
    }
    return {};
  }
  std::optional<size_t> index = ArrayIndex(key, container.elements.size());
  if (!index) return PatchError("Unable to access invalid index: " + key);
  container.elements.erase(container.elements.begin() + static_cast<std::ptrdiff_t>(*index));
  return {};
}

// RFC 6901's unescaping, ~1 then ~0, in one pass as strings.NewReplacer does it.
std::string DecodePatchKey(std::string_view key) {
  std::string out;
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i] == '~' && i + 1 < key.size() && (key[i + 1] == '0' || key[i + 1] == '1')) {
      out += key[i + 1] == '1' ? '/' : '~';
      ++i;
    } else {
      out += key[i];
    }
  }
  return out;
}

// findObject: the container the last token of `path` is looked up in, decoding every object and
// array along the way (an array when its text starts with '['), and that token.
std::optional<std::pair<Node*, std::string>> FindObject(Node& root, std::string_view path) {
  std::vector<std::string_view> tokens;
  for (size_t start = 0;;) {
    const size_t slash = path.find('/', start);
    tokens.push_back(path.substr(start, slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (tokens.size() < 2) return std::nullopt;
  Node* container = &root;
  for (size_t i = 1; i + 1 < tokens.size(); ++i) {
    Result<NodePtr> next = Get(*container, DecodePatchKey(tokens[i]));
    if (!next.ok() || !*next || (*next)->raw.empty()) return std::nullopt;
    const size_t first = SkipSpace((*next)->raw, 0);
    const bool array = first < (*next)->raw.size() && (*next)->raw[first] == '[';
    if (!(array ? IntoArray(**next) : IntoObject(**next))) return std::nullopt;
    container = next->get();
  }
  return std::make_pair(container, DecodePatchKey(tokens.back()));
}

// lazyNode.equal, with its effect: the document's side (`node`) is decoded wherever it holds an
// object or array.
bool Equal(Node& node, Node& other) {
  if (node.form == Node::Form::kRaw && !IntoObject(node) && !IntoArray(node)) {
    return other.form == Node::Form::kRaw && GoCompactJson(node.raw) == GoCompactJson(other.raw);
  }
  if (node.form == Node::Form::kObject) {
    if (!IntoObject(other) || node.members.size() != other.members.size()) return false;
    for (auto& [key, value] : node.members) {
      auto it = other.members.find(key);
      if (it == other.members.end() || !value != !it->second) return false;
      if (value && !Equal(*value, *it->second)) return false;
    }
    return true;
  }
  if (!IntoArray(other) || node.elements.size() != other.elements.size()) return false;
  for (size_t i = 0; i < node.elements.size(); ++i) {
    if (!node.elements[i] || !other.elements[i]) return false;
    if (!Equal(*node.elements[i], *other.elements[i])) return false;
  }
  return true;
}

// One operation of a JSON patch: its members' texts.
class Operation {
 public:
  explicit Operation(std::map<std::string, NodePtr> members) : members_(std::move(members)) {}

  std::optional<std::string> String(const std::string& name) const {
    auto it = members_.find(name);
    if (it == members_.end() || !it->second) return std::nullopt;
    const nlohmann::json value = nlohmann::json::parse(it->second->raw, nullptr, false);
    if (!value.is_string()) return std::nullopt;
    return value.get<std::string>();
  }

  bool HasValue() const { return members_.count("value") > 0; }

  // A fresh node of the operation's value, as each use of op.value() makes one.
  NodePtr Value() const {
    auto it = members_.find("value");
    return RawNode(it == members_.end() || !it->second ? "" : it->second->raw);
  }

 private:
  std::map<std::string, NodePtr> members_;
};

// move and copy, in the library's order: "from" is looked up (and, for move, removed) before
// "path" is.
Status MoveOrCopy(Node& root, const Operation& op, const std::string& kind,
                  const std::string& path) {
  const std::optional<std::string> from = op.String("from");
  if (!from) return PatchError(kind + " operation has no from");
  std::optional<std::pair<Node*, std::string>> source = FindObject(root, *from);
  if (!source) return PatchError(kind + " operation does not apply: doc is missing from path");
  Result<NodePtr> value = Get(*source->first, source->second);
  if (!value.ok()) return value.error();
  if (kind == "move") {
    if (Status removed = Remove(*source->first, source->second); !removed.ok()) return removed;
  }
  std::optional<std::pair<Node*, std::string>> target = FindObject(root, path);
  if (!target) return PatchError(kind + " operation does not apply: doc is missing path");
  // A copy is a new node of the value's text (deepCopy).
  NodePtr placed = kind == "move" || !*value ? *value : RawNode(Render(*value));
  return Add(*target->first, target->second, std::move(placed));
}

Status ApplyOperation(NodePtr& root, const Operation& op) {
  const std::string kind = op.String("op").value_or("unknown");
  const std::optional<std::string> path = op.String("path");
  if (!path) return PatchError(kind + " operation has no path");
  if (kind == "replace" && path->empty()) {
    NodePtr value = op.Value();
    if (!IntoObject(*value) && !IntoArray(*value)) {
      return PatchError("replace operation value must be object or array");
    }
    root = value;
    return {};
  }
  if (kind == "test" && path->empty()) {
    NodePtr value = op.Value();
    return Equal(*root, *value) ? Status() : PatchError("testing value failed");
  }
  if (kind == "move" || kind == "copy") return MoveOrCopy(*root, op, kind, *path);
  std::optional<std::pair<Node*, std::string>> target = FindObject(*root, *path);
  if (!target) return PatchError(kind + " operation does not apply: doc is missing path");
  auto& [container, key] = *target;
  if (kind == "add") return Add(*container, key, op.Value());
  if (kind == "remove") return Remove(*container, key);
  if (kind == "replace") {
    if (Result<NodePtr> current = Get(*container, key); !current.ok()) return current.error();
    if (container->form == Node::Form::kObject) return Add(*container, key, op.Value());
    container->elements[*ArrayIndex(key, container->elements.size())] = op.Value();
    return {};
  }
  if (kind == "test") {
    Result<NodePtr> current = Get(*container, key);
    if (!current.ok()) return current.error();
    const bool passed = !*current ? !op.HasValue() || op.Value()->raw.empty()
                                  : op.HasValue() && Equal(**current, *op.Value());
    return passed ? Status() : PatchError("testing value failed");
  }
  return PatchError("Unexpected kind: " + kind);
}

// mergeDocs and its helpers (merge.go).
void PruneNulls(Node& node);

void PruneObjectNulls(Node& node) {
  for (auto it = node.members.begin(); it != node.members.end();) {
    if (!it->second) {
      it = node.members.erase(it);
    } else {
      PruneNulls(*it->second);
      ++it;
    }
  }
}

void PruneNulls(Node& node) {
  if (IntoObject(node)) {
    PruneObjectNulls(node);
  } else if (IntoArray(node)) {
    for (const NodePtr& element : node.elements) {
      if (element) PruneNulls(*element);
    }
  }
}

void MergeObjects(Node& doc, Node& patch);

NodePtr Merge(const NodePtr& current, const NodePtr& patch) {
  if (!IntoObject(*current)) {
    PruneNulls(*patch);
    return patch;
  }
  if (!IntoObject(*patch)) return patch;
  MergeObjects(*current, *patch);
  return current;
}

void MergeObjects(Node& doc, Node& patch) {
  for (const auto& [key, value] : patch.members) {
    if (!value) {
      doc.members.erase(key);
      continue;
    }
    auto it = doc.members.find(key);
    if (it == doc.members.end() || !it->second) {
      PruneNulls(*value);
      doc.members[key] = value;
    } else {
      it->second = Merge(it->second, value);
    }
  }
}

Result<NodePtr> DecodedObject(std::string_view text, const char* what) {
  NodePtr node = RawNode(std::string(text));
  if (!IntoObject(*node)) {
    return MakeError(ErrorReason::kBadRequest, std::string(what) + " is not a JSON object");
  }
  return node;
}

}  // namespace

Result<std::string> JsonPatchedText(std::string_view current, std::string_view patch) {
  Result<NodePtr> root = DecodedObject(current, "the current object");
  if (!root.ok()) return root.error();
  std::optional<std::vector<NodePtr>> operations = ArrayElements(patch);
  if (!operations) return MakeError(ErrorReason::kBadRequest, "JSON patch must be an array");
  for (const NodePtr& element : *operations) {
    if (!element || !IntoObject(*element)) {
      return MakeError(ErrorReason::kBadRequest, "a JSON patch operation must be an object");
    }
    if (Status applied = ApplyOperation(*root, Operation(element->members)); !applied.ok()) {
      return applied.error();
    }
  }
  return Render(*root);
}

Result<std::string> MergePatchedText(std::string_view current, std::string_view patch) {
  Result<NodePtr> doc = DecodedObject(current, "the current object");
  if (!doc.ok()) return doc.error();
  Result<NodePtr> patch_doc = DecodedObject(patch, "merge patch");
  if (!patch_doc.ok()) return patch_doc.error();
  MergeObjects(**doc, **patch_doc);
  return Render(*doc);
}

}  // namespace migdra::control
