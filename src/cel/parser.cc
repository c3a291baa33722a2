#include "cel/parser.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <set>
#include <vector>

#include "common/utf8.h"

namespace migdra::cel {
namespace {

enum class Tok : uint8_t {
  kEnd,
  kIdent,
  kQuotedIdent,  // `field-name`
  kInt,
  kUint,
  kDouble,
  kString,
  kBytes,
  kPunct,
};

struct Token {
  Tok type = Tok::kEnd;
  int32_t pos = 0;
  std::string text;  // identifier, punctuation, or decoded string/bytes contents
  int64_t int_value = 0;
  uint64_t uint_value = 0;
  double double_value = 0;
  bool int_overflow = false;  // decimal int literal equal to 2^63 (valid only when negated)
};

struct SyntaxError {
  int32_t pos;
  std::string message;
};

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int HexValue(char c) {
  if (IsDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  std::optional<SyntaxError> Run(std::vector<Token>* out) {
    while (true) {
      SkipSpace();
      Token t;
      t.pos = static_cast<int32_t>(pos_);
      if (pos_ >= src_.size()) {
        t.type = Tok::kEnd;
        out->push_back(std::move(t));
        return std::nullopt;
      }
      if (auto err = Next(&t)) return err;
      out->push_back(std::move(t));
    }
  }

 private:
  void SkipSpace() {
    while (pos_ < src_.size()) {
      char c = src_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
        ++pos_;
      } else if (c == '/' && pos_ + 1 < src_.size() && src_[pos_ + 1] == '/') {
        while (pos_ < src_.size() && src_[pos_] != '\n') ++pos_;
      } else {
        return;
      }
    }
  }

  std::optional<SyntaxError> Next(Token* t) {
    const char c = src_[pos_];
    // String and bytes literals, with optional r/R and b/B prefixes.
    {
      size_t p = pos_;
      bool raw = false, bytes = false;
      for (int i = 0; i < 2 && p < src_.size(); ++i) {
        char pc = src_[p];
        if ((pc == 'r' || pc == 'R') && !raw) {
          raw = true;
          ++p;
        } else if ((pc == 'b' || pc == 'B') && !bytes) {
          bytes = true;
          ++p;
        } else {
          break;
        }
      }
      if (p < src_.size() && (src_[p] == '"' || src_[p] == '\'')) {
        pos_ = p;
        return LexString(t, raw, bytes);
      }
    }
    if (IsIdentStart(c)) {
      size_t start = pos_;
      while (pos_ < src_.size() && (IsIdentStart(src_[pos_]) || IsDigit(src_[pos_]))) ++pos_;
      t->type = Tok::kIdent;
      t->text = std::string(src_.substr(start, pos_ - start));
      return std::nullopt;
    }
    if (c == '`') {
      size_t start = ++pos_;
      while (pos_ < src_.size() && src_[pos_] != '`') {
        char q = src_[pos_];
        if (!(IsIdentStart(q) || IsDigit(q) || q == '.' || q == '-' || q == '/' || q == ' ')) {
          return SyntaxError{static_cast<int32_t>(pos_), "invalid character in quoted identifier"};
        }
        ++pos_;
      }
      if (pos_ >= src_.size() || pos_ == start) {
        return SyntaxError{static_cast<int32_t>(start - 1), "unterminated quoted identifier"};
      }
      t->type = Tok::kQuotedIdent;
      t->text = std::string(src_.substr(start, pos_ - start));
      ++pos_;
      return std::nullopt;
    }
    if (IsDigit(c) || (c == '.' && pos_ + 1 < src_.size() && IsDigit(src_[pos_ + 1]))) {
      return LexNumber(t);
    }
    static const char* kPuncts[] = {"==", "!=", "<=", ">=", "&&", "||", "<", ">", "=",
                                    "+",  "-",  "*",  "/",  "%",  "!",  "?", ":", "(",
                                    ")",  "[",  "]",  "{",  "}",  ",",  "."};
    for (const char* p : kPuncts) {
      std::string_view ps(p);
      if (src_.substr(pos_, ps.size()) == ps) {
        if (ps == "=") break;
        t->type = Tok::kPunct;
        t->text = std::string(ps);
        pos_ += ps.size();
        return std::nullopt;
      }
    }
    char32_t rune = 0;
    const size_t len = std::max<size_t>(DecodeUtf8Rune(src_, pos_, rune), 1);
    return SyntaxError{static_cast<int32_t>(pos_),
                       "token recognition error at: '" + std::string(src_.substr(pos_, len)) + "'"};
  }

  std::optional<SyntaxError> LexNumber(Token* t) {
    const size_t start = pos_;
    if (src_[pos_] == '0' && pos_ + 1 < src_.size() &&
        (src_[pos_ + 1] == 'x' || src_[pos_ + 1] == 'X')) {
      pos_ += 2;
      size_t digits_start = pos_;
      while (pos_ < src_.size() && IsHex(src_[pos_])) ++pos_;
      if (pos_ == digits_start)
        return SyntaxError{static_cast<int32_t>(start), "invalid hex literal"};
      std::string digits(src_.substr(digits_start, pos_ - digits_start));
      errno = 0;
      unsigned long long v = std::strtoull(digits.c_str(), nullptr, 16);
      bool overflow = errno == ERANGE;
      return FinishInt(t, start, v, overflow);
    }
    while (pos_ < src_.size() && IsDigit(src_[pos_])) ++pos_;
    bool is_double = false;
    if (pos_ + 1 < src_.size() && src_[pos_] == '.' && IsDigit(src_[pos_ + 1])) {
      is_double = true;
      ++pos_;
      while (pos_ < src_.size() && IsDigit(src_[pos_])) ++pos_;
    }
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      size_t p = pos_ + 1;
      if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
      if (p < src_.size() && IsDigit(src_[p])) {
        is_double = true;
        pos_ = p;
        while (pos_ < src_.size() && IsDigit(src_[pos_])) ++pos_;
      }
    }
    std::string text(src_.substr(start, pos_ - start));
    if (is_double) {
      t->type = Tok::kDouble;
      t->double_value = std::strtod(text.c_str(), nullptr);
      return std::nullopt;
    }
    errno = 0;
    unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
    return FinishInt(t, start, v, errno == ERANGE);
  }

  std::optional<SyntaxError> FinishInt(Token* t, size_t start, unsigned long long v,
                                       bool overflow) {
    if (pos_ < src_.size() && (src_[pos_] == 'u' || src_[pos_] == 'U')) {
      ++pos_;
      if (overflow) return SyntaxError{static_cast<int32_t>(start), "invalid uint literal"};
      t->type = Tok::kUint;
      t->uint_value = v;
      return std::nullopt;
    }
    t->type = Tok::kInt;
    if (overflow || v > 9223372036854775808ull) {
      return SyntaxError{static_cast<int32_t>(start), "invalid int literal"};
    }
    if (v == 9223372036854775808ull) {
      t->int_overflow = true;
      t->int_value = std::numeric_limits<int64_t>::min();
    } else {
      t->int_value = static_cast<int64_t>(v);
    }
    return std::nullopt;
  }

  std::optional<SyntaxError> LexString(Token* t, bool raw, bool bytes) {
    const size_t start = pos_;
    const char quote = src_[pos_];
    const bool triple = src_.substr(pos_, 3) == std::string(3, quote);
    pos_ += triple ? 3 : 1;
    std::string out;
    while (true) {
      if (pos_ >= src_.size()) {
        return SyntaxError{static_cast<int32_t>(start), "unterminated string literal"};
      }
      char c = src_[pos_];
      if (triple) {
        if (src_.substr(pos_, 3) == std::string(3, quote)) {
          pos_ += 3;
          break;
        }
      } else if (c == quote) {
        ++pos_;
        break;
      } else if (c == '\n' || c == '\r') {
        return SyntaxError{static_cast<int32_t>(pos_), "newline in string literal"};
      }
      if (c == '\\' && !raw) {
        if (auto err = LexEscape(&out, bytes)) return err;
        continue;
      }
      if (c == '\\' && raw) {
        // A raw string keeps the backslash, but an escaped quote does not end it.
        out.push_back(c);
        ++pos_;
        if (pos_ < src_.size() && src_[pos_] == quote && !triple) {
          out.push_back(src_[pos_]);
          ++pos_;
        }
        continue;
      }
      out.push_back(c);
      ++pos_;
    }
    t->type = bytes ? Tok::kBytes : Tok::kString;
    t->text = std::move(out);
    return std::nullopt;
  }

  std::optional<SyntaxError> LexEscape(std::string* out, bool bytes) {
    const size_t start = pos_;
    ++pos_;  // backslash
    if (pos_ >= src_.size()) return SyntaxError{static_cast<int32_t>(start), "invalid escape"};
    char c = src_[pos_++];
    switch (c) {
      case 'a':
        out->push_back('\a');
        return std::nullopt;
      case 'b':
        out->push_back('\b');
        return std::nullopt;
      case 'f':
        out->push_back('\f');
        return std::nullopt;
      case 'n':
        out->push_back('\n');
        return std::nullopt;
      case 'r':
        out->push_back('\r');
        return std::nullopt;
      case 't':
        out->push_back('\t');
        return std::nullopt;
      case 'v':
        out->push_back('\v');
        return std::nullopt;
      case '\\':
      case '\'':
      case '"':
      case '`':
      case '?':
        out->push_back(c);
        return std::nullopt;
      case 'x':
      case 'X':
      case 'u':
      case 'U': {
        const int n = (c == 'x' || c == 'X') ? 2 : (c == 'u' ? 4 : 8);
        uint32_t v = 0;
        for (int i = 0; i < n; ++i) {
          if (pos_ >= src_.size() || !IsHex(src_[pos_])) {
            return SyntaxError{static_cast<int32_t>(start), "invalid escape sequence"};
          }
          v = v * 16 + HexValue(src_[pos_++]);
        }
        if (n == 2 && bytes) {
          out->push_back(static_cast<char>(v));
        } else {
          if ((v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF) {
            return SyntaxError{static_cast<int32_t>(start), "invalid unicode code point"};
          }
          if (bytes && n != 2) {
            return SyntaxError{static_cast<int32_t>(start), "unicode escape in bytes literal"};
          }
          AppendUtf8(*out, v);
        }
        return std::nullopt;
      }
      default:
        if (c >= '0' && c <= '3') {
          uint32_t v = c - '0';
          for (int i = 0; i < 2; ++i) {
            if (pos_ >= src_.size() || src_[pos_] < '0' || src_[pos_] > '7') {
              return SyntaxError{static_cast<int32_t>(start), "invalid octal escape"};
            }
            v = v * 8 + (src_[pos_++] - '0');
          }
          if (bytes) {
            out->push_back(static_cast<char>(v));
          } else {
            AppendUtf8(*out, v);
          }
          return std::nullopt;
        }
        return SyntaxError{static_cast<int32_t>(start), "invalid escape sequence"};
    }
  }

  std::string_view src_;
  size_t pos_ = 0;
};

const std::set<std::string, std::less<>>& ReservedWords() {
  static const std::set<std::string, std::less<>> words = {
      "as",  "break",  "const", "continue", "else",    "for",       "function",
      "if",  "import", "let",   "loop",     "package", "namespace", "return",
      "var", "void",   "while", "in",       "true",    "false",     "null"};
  return words;
}

using ExprPtr = std::unique_ptr<Expr>;

class Parser {
 public:
  Parser(std::vector<Token> tokens, const ParseOptions& options)
      : toks_(std::move(tokens)), options_(options) {}

  ExprPtr ParseAll() {
    ExprPtr e = ParseExpr();
    if (!error_ && Peek().type != Tok::kEnd)
      Fail(Peek().pos, "mismatched input '" + Describe(Peek()) + "' expecting <EOF>");
    return e;
  }

  const std::optional<SyntaxError>& error() const { return error_; }

 private:
  const Token& Peek(size_t ahead = 0) const {
    size_t i = std::min(idx_ + ahead, toks_.size() - 1);
    return toks_[i];
  }
  bool IsPunct(const char* p, size_t ahead = 0) const {
    const Token& t = Peek(ahead);
    return t.type == Tok::kPunct && t.text == p;
  }
  bool Accept(const char* p) {
    if (IsPunct(p)) {
      ++idx_;
      return true;
    }
    return false;
  }
  static std::string Describe(const Token& t) {
    switch (t.type) {
      case Tok::kEnd:
        return "<EOF>";
      case Tok::kString:
        return "string literal";
      case Tok::kBytes:
        return "bytes literal";
      case Tok::kInt:
      case Tok::kUint:
      case Tok::kDouble:
        return "number";
      default:
        return t.text;
    }
  }
  void Fail(int32_t pos, std::string message) {
    if (!error_) error_ = SyntaxError{pos, std::move(message)};
  }
  bool Expect(const char* p) {
    if (Accept(p)) return true;
    Fail(Peek().pos, "mismatched input '" + Describe(Peek()) + "' expecting '" + p + "'");
    return false;
  }
  ExprPtr NewExpr(Expr::Kind kind, int32_t pos) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->position = pos;
    return e;
  }
  ExprPtr Call(int32_t pos, std::string fn, std::vector<ExprPtr> args, ExprPtr target = nullptr) {
    ExprPtr e = NewExpr(Expr::Kind::kCall, pos);
    e->name = std::move(fn);
    e->args = std::move(args);
    e->target = std::move(target);
    return e;
  }
  template <typename... T>
  std::vector<ExprPtr> Args(T... args) {
    std::vector<ExprPtr> v;
    (v.push_back(std::move(args)), ...);
    return v;
  }
  ExprPtr Ident(int32_t pos, std::string name) {
    ExprPtr e = NewExpr(Expr::Kind::kIdent, pos);
    e->name = std::move(name);
    return e;
  }
  ExprPtr Const(int32_t pos, Value v) {
    ExprPtr e = NewExpr(Expr::Kind::kConst, pos);
    e->constant = std::move(v);
    return e;
  }

  struct DepthGuard {
    Parser* p;
    explicit DepthGuard(Parser* parser) : p(parser) { ++p->depth_; }
    ~DepthGuard() { --p->depth_; }
  };
  bool TooDeep() {
    if (depth_ > options_.max_recursion_depth) {
      Fail(Peek().pos, "expression recursion limit exceeded");
      return true;
    }
    return false;
  }

  ExprPtr ParseExpr() {
    DepthGuard guard(this);
    if (TooDeep()) return nullptr;
    ExprPtr cond = ParseOr();
    if (error_) return cond;
    if (IsPunct("?")) {
      int32_t pos = Peek().pos;
      ++idx_;
      ExprPtr a = ParseOr();
      if (error_ || !Expect(":")) return nullptr;
      ExprPtr b = ParseExpr();
      if (error_) return nullptr;
      return Call(pos, "_?_:_", Args(std::move(cond), std::move(a), std::move(b)));
    }
    return cond;
  }

  ExprPtr ParseOr() {
    ExprPtr left = ParseAnd();
    while (!error_ && IsPunct("||")) {
      int32_t pos = Peek().pos;
      ++idx_;
      ExprPtr right = ParseAnd();
      if (error_) return nullptr;
      left = Call(pos, "_||_", Args(std::move(left), std::move(right)));
    }
    return left;
  }

  ExprPtr ParseAnd() {
    ExprPtr left = ParseRelation();
    while (!error_ && IsPunct("&&")) {
      int32_t pos = Peek().pos;
      ++idx_;
      ExprPtr right = ParseRelation();
      if (error_) return nullptr;
      left = Call(pos, "_&&_", Args(std::move(left), std::move(right)));
    }
    return left;
  }

  ExprPtr ParseRelation() {
    ExprPtr left = ParseAddition();
    while (!error_) {
      const Token& t = Peek();
      std::string fn;
      if (t.type == Tok::kPunct) {
        if (t.text == "<")
          fn = "_<_";
        else if (t.text == "<=")
          fn = "_<=_";
        else if (t.text == ">")
          fn = "_>_";
        else if (t.text == ">=")
          fn = "_>=_";
        else if (t.text == "==")
          fn = "_==_";
        else if (t.text == "!=")
          fn = "_!=_";
      } else if (t.type == Tok::kIdent && t.text == "in") {
        fn = "@in";
      }
      if (fn.empty()) break;
      int32_t pos = t.pos;
      ++idx_;
      ExprPtr right = ParseAddition();
      if (error_) return nullptr;
      left = Call(pos, fn, Args(std::move(left), std::move(right)));
    }
    return left;
  }

  ExprPtr ParseAddition() {
    ExprPtr left = ParseMultiplication();
    while (!error_ && (IsPunct("+") || IsPunct("-"))) {
      int32_t pos = Peek().pos;
      std::string fn = Peek().text == "+" ? "_+_" : "_-_";
      ++idx_;
      ExprPtr right = ParseMultiplication();
      if (error_) return nullptr;
      left = Call(pos, fn, Args(std::move(left), std::move(right)));
    }
    return left;
  }

  ExprPtr ParseMultiplication() {
    ExprPtr left = ParseUnary();
    while (!error_ && (IsPunct("*") || IsPunct("/") || IsPunct("%"))) {
      int32_t pos = Peek().pos;
      std::string fn = "_" + Peek().text + "_";
      ++idx_;
      ExprPtr right = ParseUnary();
      if (error_) return nullptr;
      left = Call(pos, fn, Args(std::move(left), std::move(right)));
    }
    return left;
  }

  ExprPtr ParseUnary() {
    DepthGuard guard(this);
    if (TooDeep()) return nullptr;
    if (IsPunct("!")) {
      int32_t pos = Peek().pos;
      int count = 0;
      while (Accept("!")) ++count;
      ExprPtr operand = ParseMember();
      if (error_) return nullptr;
      if (count % 2 == 0) return operand;
      return Call(pos, "!_", Args(std::move(operand)));
    }
    if (IsPunct("-")) {
      int32_t pos = Peek().pos;
      int count = 0;
      while (IsPunct("-")) {
        // "-<number>" is a negative literal (so -9223372036854775808 is valid).
        const Token& next = Peek(1);
        if ((next.type == Tok::kInt || next.type == Tok::kDouble) && !IsMemberFollow(2)) break;
        ++idx_;
        ++count;
      }
      ExprPtr operand = ParseMember();
      if (error_) return nullptr;
      if (count % 2 == 0) return operand;
      return Call(pos, "-_", Args(std::move(operand)));
    }
    return ParseMember();
  }

  // True when the token `ahead` continues a member expression (so "-1.foo()" negates the call).
  bool IsMemberFollow(size_t ahead) const { return IsPunct(".", ahead) || IsPunct("[", ahead); }

  ExprPtr ParseMember() {
    ExprPtr e = ParsePrimary();
    while (!error_) {
      if (IsPunct(".")) {
        int32_t pos = Peek().pos;
        ++idx_;
        bool optional = Accept("?");
        const Token& id = Peek();
        if (id.type != Tok::kIdent && id.type != Tok::kQuotedIdent) {
          Fail(id.pos, "no viable alternative at input '." + Describe(id) + "'");
          return nullptr;
        }
        std::string field = id.text;
        bool quoted = id.type == Tok::kQuotedIdent;
        ++idx_;
        if (!optional && !quoted && IsPunct("(")) {
          int32_t call_pos = Peek().pos;
          ++idx_;
          std::vector<ExprPtr> args;
          if (!ParseExprList(")", &args)) return nullptr;
          e = ExpandOrCall(call_pos, field, std::move(e), std::move(args));
          continue;
        }
        if (optional) {
          e = Call(pos, "_?._", Args(std::move(e), Const(id.pos, Value::String(field))));
        } else {
          ExprPtr sel = NewExpr(Expr::Kind::kSelect, pos);
          sel->name = field;
          sel->target = std::move(e);
          e = std::move(sel);
        }
      } else if (IsPunct("[")) {
        int32_t pos = Peek().pos;
        ++idx_;
        bool optional = Accept("?");
        ExprPtr index = ParseExpr();
        if (error_ || !Expect("]")) return nullptr;
        e = Call(pos, optional ? "_[?_]" : "_[_]", Args(std::move(e), std::move(index)));
      } else if (IsPunct("{") && e && IsMessageName(*e)) {
        e = ParseStruct(std::move(e));
      } else {
        break;
      }
    }
    return e;
  }

  static bool QualifiedName(const Expr& e, std::string* out) {
    if (e.kind == Expr::Kind::kIdent) {
      *out = e.name;
      return true;
    }
    if (e.kind == Expr::Kind::kSelect && !e.test_only && e.target) {
      std::string prefix;
      if (!QualifiedName(*e.target, &prefix)) return false;
      *out = prefix + "." + e.name;
      return true;
    }
    return false;
  }
  bool IsMessageName(const Expr& e) const {
    std::string name;
    return QualifiedName(e, &name);
  }

  ExprPtr ParseStruct(ExprPtr type_expr) {
    ExprPtr s = NewExpr(Expr::Kind::kStruct, Peek().pos);
    QualifiedName(*type_expr, &s->name);
    ++idx_;  // {
    while (!error_ && !IsPunct("}")) {
      bool optional = Accept("?");
      const Token& id = Peek();
      if (id.type != Tok::kIdent && id.type != Tok::kQuotedIdent) {
        Fail(id.pos, "mismatched input '" + Describe(id) + "' expecting IDENTIFIER");
        return nullptr;
      }
      s->field_names.push_back(id.text);
      ++idx_;
      if (!Expect(":")) return nullptr;
      s->args.push_back(ParseExpr());
      s->optional_entries.push_back(optional);
      if (!Accept(",")) break;
    }
    if (error_ || !Expect("}")) return nullptr;
    return s;
  }

  bool ParseExprList(const char* close, std::vector<ExprPtr>* out) {
    while (!error_ && !IsPunct(close)) {
      out->push_back(ParseExpr());
      if (error_) return false;
      if (!Accept(",")) break;
    }
    return !error_ && Expect(close);
  }

  ExprPtr ParsePrimary() {
    DepthGuard guard(this);
    if (TooDeep()) return nullptr;
    const Token t = Peek();
    switch (t.type) {
      case Tok::kInt:
        ++idx_;
        if (t.int_overflow) {
          Fail(t.pos, "invalid int literal");
          return nullptr;
        }
        return Const(t.pos, Value::Int(t.int_value));
      case Tok::kUint:
        ++idx_;
        return Const(t.pos, Value::Uint(t.uint_value));
      case Tok::kDouble:
        ++idx_;
        return Const(t.pos, Value::Double(t.double_value));
      case Tok::kString:
        ++idx_;
        return Const(t.pos, Value::String(t.text));
      case Tok::kBytes:
        ++idx_;
        return Const(t.pos, Value::Bytes(t.text));
      case Tok::kEnd:
        Fail(t.pos, "mismatched input '<EOF>' expecting expression");
        return nullptr;
      case Tok::kQuotedIdent:
        Fail(t.pos, "unexpected quoted identifier");
        return nullptr;
      case Tok::kPunct:
        break;
      case Tok::kIdent: {
        if (t.text == "true" || t.text == "false") {
          ++idx_;
          return Const(t.pos, Value::Bool(t.text == "true"));
        }
        if (t.text == "null") {
          ++idx_;
          return Const(t.pos, Value::Null());
        }
        return ParseIdentOrCall(false);
      }
    }
    if (t.text == "-" && (Peek(1).type == Tok::kInt || Peek(1).type == Tok::kDouble)) {
      // A negative numeric literal.
      ++idx_;
      const Token num = Peek();
      ++idx_;
      if (num.type == Tok::kDouble) return Const(t.pos, Value::Double(-num.double_value));
      if (num.int_overflow) return Const(t.pos, Value::Int(std::numeric_limits<int64_t>::min()));
      return Const(t.pos, Value::Int(-num.int_value));
    }
    if (t.text == ".") {
      if (Peek(1).type == Tok::kIdent) {
        ++idx_;
        return ParseIdentOrCall(true);
      }
    }
    if (t.text == "(") {
      ++idx_;
      ExprPtr e = ParseExpr();
      if (error_ || !Expect(")")) return nullptr;
      return e;
    }
    if (t.text == "[") {
      ++idx_;
      ExprPtr list = NewExpr(Expr::Kind::kList, t.pos);
      while (!error_ && !IsPunct("]")) {
        bool optional = Accept("?");
        list->args.push_back(ParseExpr());
        list->optional_entries.push_back(optional);
        if (error_) return nullptr;
        if (!Accept(",")) break;
      }
      if (error_ || !Expect("]")) return nullptr;
      return list;
    }
    if (t.text == "{") {
      ++idx_;
      ExprPtr map = NewExpr(Expr::Kind::kMap, t.pos);
      while (!error_ && !IsPunct("}")) {
        bool optional = Accept("?");
        map->args.push_back(ParseExpr());
        if (error_ || !Expect(":")) return nullptr;
        map->args.push_back(ParseExpr());
        map->optional_entries.push_back(optional);
        if (error_) return nullptr;
        if (!Accept(",")) break;
      }
      if (error_ || !Expect("}")) return nullptr;
      return map;
    }
    Fail(t.pos, "mismatched input '" + Describe(t) + "' expecting expression");
    return nullptr;
  }

  ExprPtr ParseIdentOrCall(bool leading_dot) {
    const Token t = Peek();
    ++idx_;
    if (ReservedWords().count(t.text)) {
      Fail(t.pos, "reserved identifier: " + t.text);
      return nullptr;
    }
    std::string name = (leading_dot ? "." : "") + t.text;
    if (IsPunct("(")) {
      int32_t pos = Peek().pos;
      ++idx_;
      std::vector<ExprPtr> args;
      if (!ParseExprList(")", &args)) return nullptr;
      return ExpandOrCall(pos, name, nullptr, std::move(args));
    }
    return Ident(t.pos, name);
  }

  // ---- macros -------------------------------------------------------------------------------

  static constexpr const char* kAccu = "@result";

  bool SimpleIdent(const ExprPtr& e, std::string* name) {
    if (!e || e->kind != Expr::Kind::kIdent || e->name.empty() || e->name[0] == '.') return false;
    *name = e->name;
    return true;
  }

  ExprPtr Comprehension(int32_t pos, std::string iter_var, std::string iter_var2, ExprPtr range,
                        std::string accu_var, ExprPtr init, ExprPtr cond, ExprPtr step,
                        ExprPtr result) {
    ExprPtr c = NewExpr(Expr::Kind::kComprehension, pos);
    c->iter_var = std::move(iter_var);
    c->iter_var2 = std::move(iter_var2);
    c->iter_range = std::move(range);
    c->accu_var = std::move(accu_var);
    c->accu_init = std::move(init);
    c->loop_condition = std::move(cond);
    c->loop_step = std::move(step);
    c->result = std::move(result);
    return c;
  }

  ExprPtr MacroError(int32_t pos, const std::string& message) {
    Fail(pos, message);
    return nullptr;
  }

  ExprPtr ExpandOrCall(int32_t pos, const std::string& fn, ExprPtr target,
                       std::vector<ExprPtr> args) {
    if (!options_.enable_macros) return Call(pos, fn, std::move(args), std::move(target));
    const size_t n = args.size();
    if (!target && fn == "has" && n == 1) {
      if (!args[0] || args[0]->kind != Expr::Kind::kSelect) {
        return MacroError(pos, "invalid argument to has() macro");
      }
      args[0]->test_only = true;
      return std::move(args[0]);
    }
    std::string target_name;
    const bool target_is_ident = target && target->kind == Expr::Kind::kIdent;
    if (target_is_ident) target_name = target->name;
    if (target_is_ident && target_name == "cel" && fn == "bind" && n == 3) {
      std::string var;
      if (!SimpleIdent(args[0], &var))
        return MacroError(pos, "cel.bind() variable name must be a simple identifier");
      return Comprehension(pos, "#unused", "", NewExpr(Expr::Kind::kList, pos), var,
                           std::move(args[1]), Const(pos, Value::Bool(false)), Ident(pos, var),
                           std::move(args[2]));
    }
    if (options_.enable_block_macros && target_is_ident && target_name == "cel" && fn == "block" &&
        n == 2) {
      if (!args[0] || args[0]->kind != Expr::Kind::kList) {
        return MacroError(pos, "cel.block requires a list literal");
      }
      ExprPtr body = std::move(args[1]);
      auto& slots = args[0]->args;
      for (size_t i = slots.size(); i-- > 0;) {
        body = Comprehension(pos, "#unused", "", NewExpr(Expr::Kind::kList, pos),
                             "@index" + std::to_string(i), std::move(slots[i]),
                             Const(pos, Value::Bool(false)),
                             Ident(pos, "@index" + std::to_string(i)), std::move(body));
      }
      return body;
    }
    if (options_.enable_block_macros && target_is_ident && target_name == "cel" &&
        (fn == "index" || fn == "iterVar" || fn == "accuVar")) {
      std::string name = fn == "index" ? "@index" : (fn == "iterVar" ? "@it" : "@ac");
      for (auto& a : args) {
        if (!a || a->kind != Expr::Kind::kConst || a->constant.kind() != Kind::kInt) {
          return MacroError(pos, "cel." + fn + " requires int literals");
        }
        name += (name.back() == 'x' ? "" : ":") + std::to_string(a->constant.int_value());
      }
      return Ident(pos, name);
    }
    if (!target) return Call(pos, fn, std::move(args), nullptr);

    auto not_strictly_false = [&](ExprPtr e) {
      return Call(pos, "@not_strictly_false", Args(std::move(e)));
    };
    auto accu = [&]() { return Ident(pos, kAccu); };
    const bool quantifier =
        fn == "all" || fn == "exists" || fn == "exists_one" || fn == "existsOne";
    if (quantifier && (n == 2 || n == 3)) {
      std::string v1, v2;
      if (!SimpleIdent(args[0], &v1) || (n == 3 && !SimpleIdent(args[1], &v2))) {
        return MacroError(pos, "argument must be a simple name");
      }
      if (v1 == kAccu || v2 == kAccu)
        return MacroError(pos, "iteration variable overwrites accumulator variable");
      if (n == 3 && v1 == v2) return MacroError(pos, "duplicate variable name: " + v1);
      ExprPtr pred = std::move(args[n - 1]);
      if (fn == "all") {
        return Comprehension(pos, v1, v2, std::move(target), kAccu, Const(pos, Value::Bool(true)),
                             not_strictly_false(accu()),
                             Call(pos, "_&&_", Args(accu(), std::move(pred))), accu());
      }
      if (fn == "exists") {
        return Comprehension(pos, v1, v2, std::move(target), kAccu, Const(pos, Value::Bool(false)),
                             not_strictly_false(Call(pos, "!_", Args(accu()))),
                             Call(pos, "_||_", Args(accu(), std::move(pred))), accu());
      }
      return Comprehension(
          pos, v1, v2, std::move(target), kAccu, Const(pos, Value::Int(0)),
          Const(pos, Value::Bool(true)),
          Call(pos, "_?_:_",
               Args(std::move(pred), Call(pos, "_+_", Args(accu(), Const(pos, Value::Int(1)))),
                    accu())),
          Call(pos, "_==_", Args(accu(), Const(pos, Value::Int(1)))));
    }
    if ((fn == "map" && (n == 2 || n == 3)) || (fn == "filter" && n == 2)) {
      std::string v;
      if (!SimpleIdent(args[0], &v)) return MacroError(pos, "argument is not an identifier");
      if (v == kAccu) return MacroError(pos, "iteration variable overwrites accumulator variable");
      ExprPtr step;
      if (fn == "filter") {
        ExprPtr elem = NewExpr(Expr::Kind::kList, pos);
        elem->args.push_back(Ident(pos, v));
        elem->optional_entries.push_back(false);
        step =
            Call(pos, "_?_:_",
                 Args(std::move(args[1]), Call(pos, "_+_", Args(accu(), std::move(elem))), accu()));
      } else {
        ExprPtr elem = NewExpr(Expr::Kind::kList, pos);
        elem->args.push_back(std::move(args[n - 1]));
        elem->optional_entries.push_back(false);
        step = Call(pos, "_+_", Args(accu(), std::move(elem)));
        if (n == 3) step = Call(pos, "_?_:_", Args(std::move(args[1]), std::move(step), accu()));
      }
      return Comprehension(pos, v, "", std::move(target), kAccu, NewExpr(Expr::Kind::kList, pos),
                           Const(pos, Value::Bool(true)), std::move(step), accu());
    }
    if ((fn == "transformList" || fn == "transformMap" || fn == "transformMapEntry") &&
        (n == 3 || n == 4)) {
      std::string v1, v2;
      if (!SimpleIdent(args[0], &v1) || !SimpleIdent(args[1], &v2)) {
        return MacroError(pos, "argument must be a simple name");
      }
      if (v1 == v2) return MacroError(pos, "duplicate variable name: " + v1);
      ExprPtr value = std::move(args[n - 1]);
      ExprPtr step;
      ExprPtr init;
      if (fn == "transformList") {
        ExprPtr elem = NewExpr(Expr::Kind::kList, pos);
        elem->args.push_back(std::move(value));
        elem->optional_entries.push_back(false);
        step = Call(pos, "_+_", Args(accu(), std::move(elem)));
        init = NewExpr(Expr::Kind::kList, pos);
      } else if (fn == "transformMap") {
        step = Call(pos, "cel.@mapInsert", Args(accu(), Ident(pos, v1), std::move(value)));
        init = NewExpr(Expr::Kind::kMap, pos);
      } else {
        step = Call(pos, "cel.@mapInsert", Args(accu(), std::move(value)));
        init = NewExpr(Expr::Kind::kMap, pos);
      }
      if (n == 4) step = Call(pos, "_?_:_", Args(std::move(args[2]), std::move(step), accu()));
      return Comprehension(pos, v1, v2, std::move(target), kAccu, std::move(init),
                           Const(pos, Value::Bool(true)), std::move(step), accu());
    }
    if (fn == "sortBy" && n == 2) {
      // ext.Lists: cel.bind(@__sortBy_input__, target,
      //   @__sortBy_input__.@sortByAssociatedKeys(@__sortBy_input__.map(v, key)))
      switch (target->kind) {
        case Expr::Kind::kList:
        case Expr::Kind::kSelect:
        case Expr::Kind::kIdent:
        case Expr::Kind::kComprehension:
        case Expr::Kind::kCall:
          break;
        default:
          return MacroError(pos,
                            "sortBy can only be applied to a list, identifier, comprehension, "
                            "call or select expression");
      }
      std::string v;
      if (!SimpleIdent(args[0], &v)) return MacroError(pos, "argument is not an identifier");
      if (v == kAccu) return MacroError(pos, "iteration variable overwrites accumulator variable");
      const std::string input = "@__sortBy_input__";
      ExprPtr key = NewExpr(Expr::Kind::kList, pos);
      key->args.push_back(std::move(args[1]));
      key->optional_entries.push_back(false);
      ExprPtr keys = Comprehension(pos, v, "", Ident(pos, input), kAccu,
                                   NewExpr(Expr::Kind::kList, pos), Const(pos, Value::Bool(true)),
                                   Call(pos, "_+_", Args(accu(), std::move(key))), accu());
      return Comprehension(
          pos, "#unused", "", NewExpr(Expr::Kind::kList, pos), input, std::move(target),
          Const(pos, Value::Bool(false)), Ident(pos, input),
          Call(pos, "@sortByAssociatedKeys", Args(std::move(keys)), Ident(pos, input)));
    }
    if ((fn == "optMap" || fn == "optFlatMap") && n == 2) {
      std::string v;
      if (!SimpleIdent(args[0], &v))
        return MacroError(pos, "optMap() variable name must be a simple identifier");
      // target.hasValue() ? <wrap>(cel.bind(v, target.value(), expr)) : optional.none()
      // The target is evaluated once by binding it first.
      const std::string opt_var = "@opt";
      ExprPtr bound =
          Comprehension(pos, "#unused", "", NewExpr(Expr::Kind::kList, pos), v,
                        Call(pos, "value", {}, Ident(pos, opt_var)), Const(pos, Value::Bool(false)),
                        Ident(pos, v), std::move(args[1]));
      if (fn == "optMap") bound = Call(pos, "optional.of", Args(std::move(bound)));
      ExprPtr body = Call(pos, "_?_:_",
                          Args(Call(pos, "hasValue", {}, Ident(pos, opt_var)), std::move(bound),
                               Call(pos, "optional.none", {})));
      return Comprehension(pos, "#unused", "", NewExpr(Expr::Kind::kList, pos), opt_var,
                           std::move(target), Const(pos, Value::Bool(false)), Ident(pos, opt_var),
                           std::move(body));
    }
    return Call(pos, fn, std::move(args), std::move(target));
  }

  std::vector<Token> toks_;
  size_t idx_ = 0;
  int depth_ = 0;
  const ParseOptions& options_;
  std::optional<SyntaxError> error_;
};

}  // namespace

std::string PositionString(std::string_view source, int32_t offset) {
  int line = 1, col = 1;
  for (int32_t i = 0; i < offset && i < static_cast<int32_t>(source.size()); ++i) {
    if (source[i] == '\n') {
      ++line;
      col = 1;
    } else if ((static_cast<unsigned char>(source[i]) & 0xC0) != 0x80) {
      ++col;
    }
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

Result<std::unique_ptr<Expr>> Parse(std::string_view source, const ParseOptions& options) {
  if (source.size() > options.max_expression_length) {
    return MakeError("expression is longer than " + std::to_string(options.max_expression_length) +
                     " characters");
  }
  // cel-go reads the source rune by rune (common.NewTextSource), so a byte where no valid rune
  // starts is a U+FFFD: inside a string or bytes literal it is that character, elsewhere a token
  // recognition error. Positions are offsets into the text so read (see the header).
  std::string replaced;
  if (!IsValidUtf8(source)) {
    replaced = ReplaceInvalidUtf8(source);
    source = replaced;
  }
  std::vector<Token> tokens;
  if (auto err = Lexer(source).Run(&tokens)) {
    return MakeError(PositionString(source, err->pos) + ": Syntax error: " + err->message);
  }
  Parser parser(std::move(tokens), options);
  ExprPtr e = parser.ParseAll();
  if (parser.error()) {
    return MakeError(PositionString(source, parser.error()->pos) +
                     ": Syntax error: " + parser.error()->message);
  }
  if (!e) return MakeError("1:1: Syntax error: empty expression");
  return e;
}

}  // namespace migdra::cel
