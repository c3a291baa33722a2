#include "control/go_json.h"

#include <cstdint>
#include <vector>

#include "common/utf8.h"
#include "control/go_fmt.h"

namespace migdra::control {
namespace {

bool IsSpace(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsHex(unsigned char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// The rune of value `c` as UTF-8 (Go's string(rune(c))).
std::string RuneOfByte(unsigned char c) {
  std::string rune;
  AppendUtf8(rune, c);
  return rune;
}

// Go's quoteChar: the byte read as the rune of its value, quoted as strconv.Quote quotes it,
// between single quotes.
std::string QuoteChar(unsigned char c) {
  if (c == '\'') return "'\\''";
  if (c == '"') return "'\"'";
  const std::string quoted = GoQuote(RuneOfByte(c));
  return "'" + quoted.substr(1, quoted.size() - 2) + "'";
}

// A port of the scanner's states: each consumes one byte or fails with Go's message.
class Scanner {
 public:
  std::optional<std::string> Scan(std::string_view text) {
    for (unsigned char c : text) {
      Step(c);
      if (error_) return error_;
    }
    // Go's eof(): a trailing number or literal ends at a virtual space.
    if (state_ != State::kEndTop) Step(' ');
    if (error_) return error_;
    if (state_ != State::kEndTop) return std::string("unexpected end of JSON input");
    return std::nullopt;
  }

 private:
  enum class State {
    kBeginValue,
    kBeginValueOrEmpty,
    kBeginStringOrEmpty,
    kBeginString,
    kEndValue,
    kEndTop,
    kInString,
    kInStringEsc,
    kInStringEscU,
    kInStringEscU1,
    kInStringEscU12,
    kInStringEscU123,
    kNeg,
    k1,
    k0,
    kDot,
    kDot0,
    kE,
    kESign,
    kE0,
    kT,
    kTr,
    kTru,
    kF,
    kFa,
    kFal,
    kFals,
    kN,
    kNu,
    kNul,
  };
  enum class Parse { kObjectKey, kObjectValue, kArrayValue };
  static constexpr size_t kMaxNestingDepth = 10000;  // Go's maxNestingDepth

  void Fail(unsigned char c, const char* context) {
    error_ = "invalid character " + QuoteChar(c) + " " + context;
  }

  void Push(Parse p, unsigned char c) {
    stack_.push_back(p);
    if (stack_.size() > kMaxNestingDepth) Fail(c, "exceeded max depth");
  }

  // Literal letters: `next` on `expected`, else Go's "in literal ... (expecting 'x')".
  void Literal(unsigned char c, char expected, State next, const char* literal) {
    if (c == static_cast<unsigned char>(expected)) {
      state_ = next;
    } else {
      Fail(c, (std::string("in literal ") + literal + " (expecting '" + expected + "')").c_str());
    }
  }

  void BeginValue(unsigned char c) {
    if (IsSpace(c)) return;
    switch (c) {
      case '{':
        state_ = State::kBeginStringOrEmpty;
        Push(Parse::kObjectKey, c);
        return;
      case '[':
        state_ = State::kBeginValueOrEmpty;
        Push(Parse::kArrayValue, c);
        return;
      case '"':
        state_ = State::kInString;
        return;
      case '-':
        state_ = State::kNeg;
        return;
      case '0':
        state_ = State::k0;
        return;
      case 't':
        state_ = State::kT;
        return;
      case 'f':
        state_ = State::kF;
        return;
      case 'n':
        state_ = State::kN;
        return;
      default:
        if (c >= '1' && c <= '9') {
          state_ = State::k1;
          return;
        }
        Fail(c, "looking for beginning of value");
    }
  }

  void EndValue(unsigned char c) {
    if (stack_.empty()) {
      state_ = State::kEndTop;
      EndTop(c);
      return;
    }
    if (IsSpace(c)) {
      state_ = State::kEndValue;
      return;
    }
    switch (stack_.back()) {
      case Parse::kObjectKey:
        if (c == ':') {
          stack_.back() = Parse::kObjectValue;
          state_ = State::kBeginValue;
          return;
        }
        return Fail(c, "after object key");
      case Parse::kObjectValue:
        if (c == ',') {
          stack_.back() = Parse::kObjectKey;
          state_ = State::kBeginString;
          return;
        }
        if (c == '}') {
          stack_.pop_back();
          state_ = State::kEndValue;
          return;
        }
        return Fail(c, "after object key:value pair");
      case Parse::kArrayValue:
        if (c == ',') {
          state_ = State::kBeginValue;
          return;
        }
        if (c == ']') {
          stack_.pop_back();
          state_ = State::kEndValue;
          return;
        }
        return Fail(c, "after array element");
    }
  }

  void EndTop(unsigned char c) {
    if (!IsSpace(c)) Fail(c, "after top-level value");
  }

  void Step(unsigned char c) {
    switch (state_) {
      case State::kBeginValue:
        return BeginValue(c);
      case State::kBeginValueOrEmpty:
        if (IsSpace(c)) return;
        if (c == ']') return EndValue(c);
        return BeginValue(c);
      case State::kBeginStringOrEmpty:
        if (IsSpace(c)) return;
        if (c == '}') {
          stack_.back() = Parse::kObjectValue;
          return EndValue(c);
        }
        [[fallthrough]];
      case State::kBeginString:
        if (IsSpace(c)) return;
        if (c == '"') {
          state_ = State::kInString;
          return;
        }
        return Fail(c, "looking for beginning of object key string");
      case State::kEndValue:
        return EndValue(c);
      case State::kEndTop:
        return EndTop(c);
      case State::kInString:
        if (c == '"') {
          state_ = State::kEndValue;
        } else if (c == '\\') {
          state_ = State::kInStringEsc;
        } else if (c < 0x20) {
          Fail(c, "in string literal");
        }
        return;
      case State::kInStringEsc:
        switch (c) {
          case 'b':
          case 'f':
          case 'n':
          case 'r':
          case 't':
          case '\\':
          case '/':
          case '"':
            state_ = State::kInString;
            return;
          case 'u':
            state_ = State::kInStringEscU;
            return;
          default:
            return Fail(c, "in string escape code");
        }
      case State::kInStringEscU:
        return Hex(c, State::kInStringEscU1);
      case State::kInStringEscU1:
        return Hex(c, State::kInStringEscU12);
      case State::kInStringEscU12:
        return Hex(c, State::kInStringEscU123);
      case State::kInStringEscU123:
        return Hex(c, State::kInString);
      case State::kNeg:
        if (c == '0') {
          state_ = State::k0;
        } else if (c >= '1' && c <= '9') {
          state_ = State::k1;
        } else {
          Fail(c, "in numeric literal");
        }
        return;
      case State::k1:
        if (IsDigit(c)) return;
        [[fallthrough]];
      case State::k0:
        if (c == '.') {
          state_ = State::kDot;
        } else if (c == 'e' || c == 'E') {
          state_ = State::kE;
        } else {
          EndValue(c);
        }
        return;
      case State::kDot:
        if (IsDigit(c)) {
          state_ = State::kDot0;
          return;
        }
        return Fail(c, "after decimal point in numeric literal");
      case State::kDot0:
        if (IsDigit(c)) return;
        if (c == 'e' || c == 'E') {
          state_ = State::kE;
          return;
        }
        return EndValue(c);
      case State::kE:
        if (c == '+' || c == '-') {
          state_ = State::kESign;
          return;
        }
        [[fallthrough]];
      case State::kESign:
        if (IsDigit(c)) {
          state_ = State::kE0;
          return;
        }
        return Fail(c, "in exponent of numeric literal");
      case State::kE0:
        if (IsDigit(c)) return;
        return EndValue(c);
      case State::kT:
        return Literal(c, 'r', State::kTr, "true");
      case State::kTr:
        return Literal(c, 'u', State::kTru, "true");
      case State::kTru:
        return Literal(c, 'e', State::kEndValue, "true");
      case State::kF:
        return Literal(c, 'a', State::kFa, "false");
      case State::kFa:
        return Literal(c, 'l', State::kFal, "false");
      case State::kFal:
        return Literal(c, 's', State::kFals, "false");
      case State::kFals:
        return Literal(c, 'e', State::kEndValue, "false");
      case State::kN:
        return Literal(c, 'u', State::kNu, "null");
      case State::kNu:
        return Literal(c, 'l', State::kNul, "null");
      case State::kNul:
        return Literal(c, 'l', State::kEndValue, "null");
    }
  }

  void Hex(unsigned char c, State next) {
    if (IsHex(c)) {
      state_ = next;
    } else {
      Fail(c, "in \\u hexadecimal character escape");
    }
  }

  State state_ = State::kBeginValue;
  std::vector<Parse> stack_;
  std::optional<std::string> error_;
};

}  // namespace

std::optional<std::string> GoJsonSyntaxError(std::string_view text) { return Scanner().Scan(text); }

std::optional<std::string> GoJsonUnmarshalIntoMapError(std::string_view text) {
  if (std::optional<std::string> syntax = GoJsonSyntaxError(text)) return syntax;
  size_t first = 0;
  while (IsSpace(static_cast<unsigned char>(text[first]))) ++first;
  const char* kind = nullptr;
  switch (text[first]) {
    case '{':
    case 'n':
      return std::nullopt;
    case '[':
      kind = "array";
      break;
    case '"':
      kind = "string";
      break;
    case 't':
    case 'f':
      kind = "bool";
      break;
    default:
      kind = "number";
      break;
  }
  return std::string("json: cannot unmarshal ") + kind +
         " into Go value of type map[string]interface {}";
}

std::string GoCompactJson(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  bool escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (IsSpace(static_cast<unsigned char>(c))) {
      continue;
    } else if (c == '"') {
      in_string = true;
    }
    if (c == '<' || c == '>' || c == '&') {
      out += c == '<' ? "\\u003c" : c == '>' ? "\\u003e" : "\\u0026";
    } else if (text.compare(i, 2, "\xE2\x80") == 0 && i + 2 < text.size() &&
               (text[i + 2] == '\xA8' || text[i + 2] == '\xA9')) {
      out += text[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::string GoJsonText(const nlohmann::json& value) {
  return GoCompactJson(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace migdra::control
