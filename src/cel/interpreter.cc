#include "cel/interpreter.h"

#include <cmath>
#include <limits>
#include <map>

#include "cel/library.h"
#include "cel/parser.h"
#include "cel/time_util.h"
#include "common/utf8.h"

namespace migdra::cel {

std::string FormatKey(const Value& key);

namespace {

const std::map<std::string_view, Builtin>& Builtins() {
  static const std::map<std::string_view, Builtin> builtins = {
      {"_&&_", Builtin::kAnd},
      {"_||_", Builtin::kOr},
      {"!_", Builtin::kNot},
      {"_?_:_", Builtin::kConditional},
      {"@not_strictly_false", Builtin::kNotStrictlyFalse},
      {"_==_", Builtin::kEqual},
      {"_!=_", Builtin::kNotEqual},
      {"_<_", Builtin::kLess},
      {"_<=_", Builtin::kLessEqual},
      {"_>_", Builtin::kGreater},
      {"_>=_", Builtin::kGreaterEqual},
      {"@in", Builtin::kIn},
      {"_[_]", Builtin::kIndex},
      {"_[?_]", Builtin::kOptIndex},
      {"_?._", Builtin::kOptSelect},
      {"_+_", Builtin::kAdd},
      {"_-_", Builtin::kSubtract},
      {"_*_", Builtin::kMultiply},
      {"_/_", Builtin::kDivide},
      {"_%_", Builtin::kModulo},
      {"-_", Builtin::kNegate},
  };
  return builtins;
}

const std::map<std::string_view, std::string_view>& TypeNames() {
  static const std::map<std::string_view, std::string_view> types = {
      {"int", "int"},
      {"uint", "uint"},
      {"double", "double"},
      {"bool", "bool"},
      {"string", "string"},
      {"bytes", "bytes"},
      {"list", "list"},
      {"map", "map"},
      {"null_type", "null_type"},
      {"type", "type"},
      {"optional_type", "optional_type"},
      {"google.protobuf.Duration", "google.protobuf.Duration"},
      {"google.protobuf.Timestamp", "google.protobuf.Timestamp"},
      {"kubernetes.Quantity", "kubernetes.Quantity"},
      {"kubernetes.Semver", "kubernetes.Semver"},
      {"net.IP", "net.IP"},
      {"net.CIDR", "net.CIDR"},
      {"kubernetes.URL", "kubernetes.URL"},
      {"kubernetes.NamedFormat", "kubernetes.NamedFormat"},
  };
  return types;
}

bool QualifiedName(const Expr& e, std::string* out) {
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

}  // namespace

class Planner {
 public:
  Planner(const Env& env, std::string_view source) : env_(env), source_(source) {}

  Status Plan(std::unique_ptr<Expr>& e) {
    switch (e->kind) {
      case Expr::Kind::kConst:
        BorrowConstant(*e);
        return OkStatus();
      case Expr::Kind::kIdent:
        return PlanIdent(*e);
      case Expr::Kind::kSelect: {
        if (!e->test_only) {
          std::string qualified;
          if (QualifiedName(*e, &qualified) && RootIsGlobal(*e)) {
            int global = -1;
            std::string_view type;
            if (ResolveGlobal(qualified, &global, &type)) {
              ReplaceWithResolvedIdent(e, qualified, global, type);
              return OkStatus();
            }
          }
        }
        MIGDRA_RETURN_IF_ERROR(Plan(e->target));
        MakePath(e);
        return OkStatus();
      }
      case Expr::Kind::kCall:
        MIGDRA_RETURN_IF_ERROR(PlanCall(e));
        if (e->kind == Expr::Kind::kCall && e->builtin == Builtin::kIndex) MakePath(e);
        return OkStatus();
      case Expr::Kind::kPath:
        return OkStatus();
      case Expr::Kind::kList:
      case Expr::Kind::kMap:
      case Expr::Kind::kStruct:
        for (auto& a : e->args) MIGDRA_RETURN_IF_ERROR(Plan(a));
        return OkStatus();
      case Expr::Kind::kComprehension: {
        MIGDRA_RETURN_IF_ERROR(Plan(e->iter_range));
        MIGDRA_RETURN_IF_ERROR(Plan(e->accu_init));
        const size_t depth = scopes_.size();
        e->accu_slot = Push(e->accu_var);
        e->slot = Push(e->iter_var);
        if (!e->iter_var2.empty()) e->slot2 = Push(e->iter_var2);
        MIGDRA_RETURN_IF_ERROR(Plan(e->loop_condition));
        MIGDRA_RETURN_IF_ERROR(Plan(e->loop_step));
        scopes_.resize(depth);
        Push(e->accu_var);  // the result sees the accumulator in the same slot
        MIGDRA_RETURN_IF_ERROR(Plan(e->result));
        scopes_.resize(depth);
        return OkStatus();
      }
    }
    return OkStatus();
  }

  int max_slots() const { return max_slots_; }

 private:
  // Wraps a selection/index chain rooted at a declared variable into a kPath node.
  static void MakePath(std::unique_ptr<Expr>& e) {
    std::vector<std::string_view> reversed;
    const Expr* node = e.get();
    int global = -1;
    while (true) {
      if (node->kind == Expr::Kind::kSelect && !node->test_only) {
        reversed.push_back(node->name);
        node = node->target.get();
      } else if (node->kind == Expr::Kind::kCall && node->builtin == Builtin::kIndex &&
                 node->args[1]->kind == Expr::Kind::kConst &&
                 node->args[1]->constant.kind() == Kind::kString) {
        reversed.push_back(node->args[1]->constant.str());
        node = node->args[0].get();
      } else if (node->kind == Expr::Kind::kPath) {
        reversed.insert(reversed.end(), node->path.rbegin(), node->path.rend());
        global = node->global;
        break;
      } else if (node->kind == Expr::Kind::kIdent && node->global >= 0 && node->slot < 0) {
        global = node->global;
        break;
      } else {
        return;
      }
    }
    if (global < 0 || reversed.empty()) return;
    auto path = std::make_unique<Expr>();
    path->kind = Expr::Kind::kPath;
    path->position = e->position;
    path->global = global;
    path->path.assign(reversed.rbegin(), reversed.rend());
    path->target = std::move(e);
    e = std::move(path);
  }

  // Constants are returned by a borrowed copy, so evaluation never touches reference counts.
  static void BorrowConstant(Expr& e) {
    e.owned_constant = e.constant.Owned();
    e.constant = e.owned_constant.Borrowed();
  }

 public:
  // Calls of library functions whose arguments are all constants (`quantity('8Gi')`,
  // `semver('1.2.3')`) are evaluated once, after checking (the checker types the call, not the
  // folded value). Failing calls are left to fail at run time, with their position.
  static void FoldConstants(std::unique_ptr<Expr>& e) {
    if (!e) return;
    for (std::unique_ptr<Expr>* child : {&e->target, &e->iter_range, &e->accu_init,
                                         &e->loop_condition, &e->loop_step, &e->result}) {
      FoldConstants(*child);
    }
    for (auto& a : e->args) FoldConstants(a);
    if (e->kind == Expr::Kind::kCall) FoldConstantCall(e);
  }

 private:
  static void FoldConstantCall(std::unique_ptr<Expr>& e) {
    if (!e->function || e->args.size() > 4) return;
    // lists.range(n) builds n elements: left to run time, where the cost estimate (n) has
    // already rejected a large n, instead of being built while compiling.
    if (e->function->name == "lists.range") return;
    Value args[5];
    size_t n = 0;
    uint32_t cost = 1;
    if (e->target) {
      if (e->target->kind != Expr::Kind::kConst) return;
      args[n++] = e->target->constant;
      cost += e->target->folded_cost;
    }
    for (const auto& a : e->args) {
      if (a->kind != Expr::Kind::kConst) return;
      args[n++] = a->constant;
      cost += a->folded_cost;
    }
    CallContext ctx;
    Value result = e->function->fn(args, n, ctx);
    if (result.is_error()) return;
    auto folded = std::make_unique<Expr>();
    folded->kind = Expr::Kind::kConst;
    folded->position = e->position;
    folded->constant = result.Owned();
    folded->folded_cost = cost;
    BorrowConstant(*folded);
    e = std::move(folded);
  }

  int Push(const std::string& name) {
    scopes_.push_back(name);
    max_slots_ = std::max(max_slots_, static_cast<int>(scopes_.size()));
    return static_cast<int>(scopes_.size()) - 1;
  }

  int FindLocal(std::string_view name) const {
    for (size_t i = scopes_.size(); i-- > 0;) {
      if (scopes_[i] == name) return static_cast<int>(i);
    }
    return -1;
  }

  // Candidate names for `name` in the container, most qualified first.
  std::vector<std::string> Candidates(std::string_view name) const {
    if (!name.empty() && name[0] == '.') return {std::string(name.substr(1))};
    std::vector<std::string> out;
    std::string container = env_.container;
    while (!container.empty()) {
      out.push_back(container + "." + std::string(name));
      size_t dot = container.rfind('.');
      container = dot == std::string::npos ? "" : container.substr(0, dot);
    }
    out.emplace_back(name);
    return out;
  }

  bool ResolveGlobal(std::string_view name, int* global, std::string_view* type) const {
    for (const std::string& candidate : Candidates(name)) {
      for (size_t i = 0; i < env_.variables.size(); ++i) {
        if (env_.variables[i] == candidate) {
          *global = static_cast<int>(i);
          return true;
        }
      }
    }
    for (const std::string& candidate : Candidates(name)) {
      auto it = TypeNames().find(candidate);
      if (it != TypeNames().end()) {
        *type = it->second;
        return true;
      }
    }
    return false;
  }

  // True when the root identifier of a select chain is not a comprehension variable.
  bool RootIsGlobal(const Expr& e) const {
    const Expr* root = &e;
    while (root->kind == Expr::Kind::kSelect) root = root->target.get();
    return root->kind == Expr::Kind::kIdent && (root->name[0] == '.' || FindLocal(root->name) < 0);
  }

  void ReplaceWithResolvedIdent(std::unique_ptr<Expr>& e, const std::string& name, int global,
                                std::string_view type) {
    auto ident = std::make_unique<Expr>();
    ident->position = e->position;
    if (global >= 0) {
      ident->kind = Expr::Kind::kIdent;
      ident->name = name;
      ident->global = global;
    } else {
      ident->kind = Expr::Kind::kConst;
      ident->constant = Value::Type(type);
    }
    e = std::move(ident);
  }

  Status PlanIdent(Expr& e) {
    if (e.name[0] != '.') {
      e.slot = FindLocal(e.name);
      if (e.slot >= 0) return OkStatus();
    }
    int global = -1;
    std::string_view type;
    if (ResolveGlobal(e.name, &global, &type)) {
      if (global >= 0) {
        e.global = global;
      } else {
        e.kind = Expr::Kind::kConst;
        e.constant = Value::Type(type);
      }
      return OkStatus();
    }
    if (env_.check) {
      return MakeError(PositionString(source_, e.position) + ": undeclared reference to '" +
                       e.name + "' (in container '" + env_.container + "')");
    }
    return OkStatus();  // evaluates to an "undeclared reference" error
  }

  Status PlanCall(std::unique_ptr<Expr>& e) {
    if (!e->target) {
      auto it = Builtins().find(e->name);
      if (it != Builtins().end()) {
        e->builtin = it->second;
        for (auto& a : e->args) MIGDRA_RETURN_IF_ERROR(Plan(a));
        return OkStatus();
      }
      for (const std::string& candidate : Candidates(e->name)) {
        if ((e->function = FindFunction(candidate, false, env_.declarations))) break;
      }
    } else {
      std::string qualified;
      if (QualifiedName(*e->target, &qualified) && RootIsGlobal(*e->target)) {
        int global = -1;
        std::string_view type;
        if (!ResolveGlobal(qualified, &global, &type) || global < 0) {
          for (const std::string& candidate : Candidates(qualified + "." + e->name)) {
            if ((e->function = FindFunction(candidate, false, env_.declarations))) break;
          }
          // A qualified function the checked environment does not declare (math.greatest in
          // Kubernetes') stays a member call on its target, whose unknown name is then the error
          // cel-go reports first.
          if (e->function && env_.check && !Declared(e->function->name)) e->function = nullptr;
          if (e->function) {
            e->target.reset();
            e->name = e->function->name;
          }
        }
      }
      if (!e->function) e->function = FindFunction(e->name, true, env_.declarations);
      if (e->target) MIGDRA_RETURN_IF_ERROR(Plan(e->target));
    }
    // An unknown function is reported by the checker (with checking on) or fails at run time.
    for (auto& a : e->args) MIGDRA_RETURN_IF_ERROR(Plan(a));
    return OkStatus();
  }

  bool Declared(const std::string& name) const {
    for (const FunctionDecl& f : env_.functions) {
      if (f.name == name) return true;
    }
    return IsDeclared(name, env_.declarations);
  }

  const Env& env_;
  std::string_view source_;
  std::vector<std::string> scopes_;
  int max_slots_ = 0;
};

namespace {

constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

Value NoSuchOverload(std::string_view op, const Value& a) { return NoMatchingOverload(op, &a, 1); }
Value NoSuchOverload(std::string_view op, const Value& a, const Value& b) {
  Value args[2] = {a, b};
  return NoMatchingOverload(op, args, 2);
}

Value Overflow() { return Value::Error("return error for overflow"); }

Value Add(const Value& a, const Value& b) {
  const Kind ka = a.kind(), kb = b.kind();
  if (ka == kb) {
    switch (ka) {
      case Kind::kInt: {
        int64_t r;
        if (__builtin_add_overflow(a.int_value(), b.int_value(), &r)) return Overflow();
        return Value::Int(r);
      }
      case Kind::kUint: {
        uint64_t r;
        if (__builtin_add_overflow(a.uint_value(), b.uint_value(), &r)) return Overflow();
        return Value::Uint(r);
      }
      case Kind::kDouble:
        return Value::Double(a.double_value() + b.double_value());
      case Kind::kString:
        return Value::String(std::string(a.str()) + std::string(b.str()));
      case Kind::kBytes:
        return Value::Bytes(std::string(a.str()) + std::string(b.str()));
      case Kind::kList: {
        if (b.list().elements.empty()) return a;
        if (a.list().elements.empty()) return b;
        std::vector<Value> out;
        out.reserve(a.list().elements.size() + b.list().elements.size());
        out.insert(out.end(), a.list().elements.begin(), a.list().elements.end());
        out.insert(out.end(), b.list().elements.begin(), b.list().elements.end());
        return Value::List(std::move(out));
      }
      case Kind::kDuration: {
        Int128 r = a.duration_nanos() + b.duration_nanos();
        if (!DurationInRange(r)) return Value::Error("duration out of range");
        return Value::Duration(r);
      }
      default:
        break;
    }
  }
  if ((ka == Kind::kTimestamp && kb == Kind::kDuration) ||
      (ka == Kind::kDuration && kb == Kind::kTimestamp)) {
    const Value& ts = ka == Kind::kTimestamp ? a : b;
    const Value& d = ka == Kind::kTimestamp ? b : a;
    Int128 total = static_cast<Int128>(ts.seconds()) * 1000000000 + ts.nanos() + d.duration_nanos();
    if (!TimestampInRange(total)) return Value::Error("timestamp out of range");
    int64_t secs = static_cast<int64_t>(total / 1000000000);
    int32_t nanos = static_cast<int32_t>(total % 1000000000);
    if (nanos < 0) {
      nanos += 1000000000;
      --secs;
    }
    return Value::Timestamp(secs, nanos);
  }
  return NoSuchOverload("_+_", a, b);
}

Value Subtract(const Value& a, const Value& b) {
  const Kind ka = a.kind(), kb = b.kind();
  if (ka == kb) {
    switch (ka) {
      case Kind::kInt: {
        int64_t r;
        if (__builtin_sub_overflow(a.int_value(), b.int_value(), &r)) return Overflow();
        return Value::Int(r);
      }
      case Kind::kUint: {
        uint64_t r;
        if (__builtin_sub_overflow(a.uint_value(), b.uint_value(), &r)) return Overflow();
        return Value::Uint(r);
      }
      case Kind::kDouble:
        return Value::Double(a.double_value() - b.double_value());
      case Kind::kDuration: {
        Int128 r = a.duration_nanos() - b.duration_nanos();
        if (!DurationInRange(r)) return Value::Error("duration out of range");
        return Value::Duration(r);
      }
      case Kind::kTimestamp: {
        Int128 r =
            (static_cast<Int128>(a.seconds()) - b.seconds()) * 1000000000 + a.nanos() - b.nanos();
        // cel-go represents the difference as a Go time.Duration (int64 nanoseconds).
        if (r > kInt64Max || r < kInt64Min) return Value::Error("duration out of range");
        return Value::Duration(r);
      }
      default:
        break;
    }
  }
  if (ka == Kind::kTimestamp && kb == Kind::kDuration) {
    Int128 total = static_cast<Int128>(a.seconds()) * 1000000000 + a.nanos() - b.duration_nanos();
    if (!TimestampInRange(total)) return Value::Error("timestamp out of range");
    int64_t secs = static_cast<int64_t>(total / 1000000000);
    int32_t nanos = static_cast<int32_t>(total % 1000000000);
    if (nanos < 0) {
      nanos += 1000000000;
      --secs;
    }
    return Value::Timestamp(secs, nanos);
  }
  return NoSuchOverload("_-_", a, b);
}

Value Arith(Builtin op, const Value& a, const Value& b) {
  const Kind ka = a.kind(), kb = b.kind();
  const char* name = op == Builtin::kMultiply ? "_*_" : (op == Builtin::kDivide ? "_/_" : "_%_");
  if (ka != kb) return NoSuchOverload(name, a, b);
  if (ka == Kind::kInt) {
    int64_t x = a.int_value(), y = b.int_value(), r;
    switch (op) {
      case Builtin::kMultiply:
        if (__builtin_mul_overflow(x, y, &r)) return Overflow();
        return Value::Int(r);
      case Builtin::kDivide:
        if (y == 0) return Value::Error("division by zero");
        if (x == kInt64Min && y == -1) return Overflow();
        return Value::Int(x / y);
      default:
        if (y == 0) return Value::Error("modulus by zero");
        if (x == kInt64Min && y == -1) return Overflow();
        return Value::Int(x % y);
    }
  }
  if (ka == Kind::kUint) {
    uint64_t x = a.uint_value(), y = b.uint_value(), r;
    switch (op) {
      case Builtin::kMultiply:
        if (__builtin_mul_overflow(x, y, &r)) return Overflow();
        return Value::Uint(r);
      case Builtin::kDivide:
        if (y == 0) return Value::Error("division by zero");
        return Value::Uint(x / y);
      default:
        if (y == 0) return Value::Error("modulus by zero");
        return Value::Uint(x % y);
    }
  }
  if (ka == Kind::kDouble && op != Builtin::kModulo) {
    return Value::Double(op == Builtin::kMultiply ? a.double_value() * b.double_value()
                                                  : a.double_value() / b.double_value());
  }
  return NoSuchOverload(name, a, b);
}

bool IsMapKeyKind(Kind k) {
  return k == Kind::kBool || k == Kind::kInt || k == Kind::kUint || k == Kind::kString;
}

// Converts a list index (int, uint, or an integral double) to int64.
bool ListIndex(const Value& index, int64_t* out) {
  switch (index.kind()) {
    case Kind::kInt:
      *out = index.int_value();
      return true;
    case Kind::kUint:
      if (index.uint_value() > static_cast<uint64_t>(kInt64Max)) return false;
      *out = static_cast<int64_t>(index.uint_value());
      return true;
    case Kind::kDouble: {
      double d = index.double_value();
      if (d != std::trunc(d) || d < -9.2e18 || d > 9.2e18) return false;
      *out = static_cast<int64_t>(d);
      return true;
    }
    default:
      return false;
  }
}

std::string KeyString(const Value& key) {
  return key.kind() == Kind::kString ? std::string(key.str()) : FormatKey(key);
}

// Looks up `key` in a container; `found` false means absent (no error).
Value LookupIndex(const Value& container, const Value& key, bool* found) {
  *found = true;
  if (container.kind() == Kind::kList) {
    int64_t i;
    if (!ListIndex(key, &i)) {
      if (key.kind() == Kind::kDouble) return Value::Error("unsupported index value");
      return NoSuchOverload("_[_]", container, key);
    }
    const auto& elems = container.list().elements;
    if (i < 0 || i >= static_cast<int64_t>(elems.size())) {
      *found = false;
      return Value::Error("index out of bounds: " + std::to_string(i));
    }
    return elems[static_cast<size_t>(i)];
  }
  if (container.kind() == Kind::kMap) {
    if (!IsMapKeyKind(key.kind()) && key.kind() != Kind::kDouble) {
      return Value::Error("unsupported key type: " + std::string(key.TypeName()));
    }
    Value out;
    if (container.map().Find(key, &out)) return out;
    *found = false;
    return Value::Error("no such key: " + KeyString(key));
  }
  return NoSuchOverload("_[_]", container, key);
}

class Evaluator {
 public:
  Evaluator(const Program& program, const Activation& activation, const EvalOptions& options,
            Value* slots)
      : program_(program), activation_(activation), limit_(options.cost_limit), slots_(slots) {
    ctx_.limit = limit_;
  }

  Value Eval(const Expr& e) {
    ctx_.cost += NodeCost(e);
    if (ctx_.cost > limit_) return CostExceeded(e);
    switch (e.kind) {
      case Expr::Kind::kConst:
        return e.constant;
      case Expr::Kind::kIdent:
        return EvalIdent(e);
      case Expr::Kind::kSelect:
        return EvalSelect(e);
      case Expr::Kind::kCall:
        return e.builtin != Builtin::kNone ? EvalBuiltin(e) : EvalCall(e);
      case Expr::Kind::kList:
        return EvalList(e);
      case Expr::Kind::kMap:
        return EvalMap(e);
      case Expr::Kind::kStruct:
        return At(e,
                  Value::Error("unknown type '" + e.name + "': message types are not supported"));
      case Expr::Kind::kComprehension:
        return EvalComprehension(e);
      case Expr::Kind::kPath: {
        Value out;
        if (activation_.ResolvePath(e.global, e.path, &out)) return out;
        return Eval(*e.target);
      }
    }
    return Value::Error("unknown expression kind");
  }

  int64_t cost() const { return ctx_.cost; }

 private:
  // The cost of evaluating node `e` itself, in cel-go's runtime units: literals are free,
  // identifiers, selections and calls cost 1 (library functions add what they traverse), list
  // and map creation 10 and 30, the logical operators and comprehensions nothing of their own.
  // So the actual cost stays within the checker's estimate (cost.h), as upstream's does.
  static int64_t NodeCost(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kConst:
      case Expr::Kind::kComprehension:
        return 0;
      case Expr::Kind::kList:
        return 10;
      case Expr::Kind::kMap:
      case Expr::Kind::kStruct:
        return 30;
      case Expr::Kind::kCall:
        return e.builtin == Builtin::kAnd || e.builtin == Builtin::kOr ||
                       e.builtin == Builtin::kConditional
                   ? 0
                   : 1;
      default:
        return 1;
    }
  }

  // Evaluates `e`, referring to constants in place instead of copying them.
  const Value& EvalRef(const Expr& e, Value& storage) {
    if (e.kind == Expr::Kind::kConst) return e.constant;
    storage = Eval(e);
    return storage;
  }

  Value CostExceeded(const Expr& e) {
    return At(e, Value::Error("operation cancelled: actual cost limit exceeded"));
  }

  // Attaches the position of `e` to an error that has none.
  static Value At(const Expr& e, Value v) {
    if (v.is_error() && v.error().position < 0) return Value::Error(v.error().message, e.position);
    return v;
  }

  Value EvalIdent(const Expr& e) {
    if (e.slot >= 0) return slots_[e.slot];
    Value out;
    if (e.global >= 0 && activation_.Get(e.global, &out)) return out;
    if (e.global >= 0) return At(e, Value::Error("no such attribute: '" + e.name + "'"));
    return At(e, Value::Error("undeclared reference to '" + e.name + "' (in container '" +
                              program_.container() + "')"));
  }

  Value SelectField(const Expr& e, const Value& target, const std::string& field) {
    switch (target.kind()) {
      case Kind::kMap: {
        Value out;
        if (target.map().Find(Value::StringView(field), &out)) return out;
        return At(e, Value::Error("no such key: " + field));
      }
      case Kind::kOptional: {
        if (!target.has_value()) return target;
        const Value& inner = target.optional_value();
        if (inner.kind() == Kind::kMap) {
          Value out;
          if (inner.map().Find(Value::StringView(field), &out)) return Value::Optional(out);
          return Value::OptionalNone();
        }
        return At(e, SelectField(e, inner, field));
      }
      case Kind::kError:
        return target;
      default:
        return At(e, Value::Error("type '" + std::string(target.TypeName()) +
                                  "' does not support field selection"));
    }
  }

  Value EvalSelect(const Expr& e) {
    Value target = Eval(*e.target);
    if (target.is_error()) return target;
    if (e.test_only) {
      switch (target.kind()) {
        case Kind::kMap: {
          Value out;
          return Value::Bool(target.map().Find(Value::StringView(e.name), &out));
        }
        case Kind::kOptional: {
          if (!target.has_value()) return Value::Bool(false);
          const Value& inner = target.optional_value();
          if (inner.kind() == Kind::kMap) {
            Value out;
            return Value::Bool(inner.map().Find(Value::StringView(e.name), &out));
          }
          break;
        }
        default:
          break;
      }
      return At(
          e, Value::Error("invalid type for field selection: " + std::string(target.TypeName())));
    }
    return SelectField(e, target, e.name);
  }

  Value EvalList(const Expr& e) {
    std::vector<Value> elems;
    elems.reserve(e.args.size());
    for (size_t i = 0; i < e.args.size(); ++i) {
      Value v = Eval(*e.args[i]);
      if (v.is_error()) return v;
      if (e.optional_entries[i]) {
        if (v.kind() != Kind::kOptional)
          return At(*e.args[i], NoSuchOverload("optional list element", v));
        if (v.has_value()) elems.push_back(v.optional_value());
        continue;
      }
      elems.push_back(std::move(v));
    }
    return Value::List(std::move(elems));
  }

  Value EvalMap(const Expr& e) {
    auto map = std::make_shared<StandardMap>();
    for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
      Value k = Eval(*e.args[i]);
      if (k.is_error()) return k;
      Value v = Eval(*e.args[i + 1]);
      if (v.is_error()) return v;
      if (!IsMapKeyKind(k.kind())) {
        return At(*e.args[i], Value::Error("unsupported key type: " + std::string(k.TypeName())));
      }
      if (e.optional_entries[i / 2]) {
        if (v.kind() != Kind::kOptional)
          return At(*e.args[i + 1], NoSuchOverload("optional map entry", v));
        if (!v.has_value()) continue;
        v = v.optional_value();
      }
      if (!map->Insert(std::move(k), std::move(v))) {
        return At(*e.args[i], Value::Error("Failed with repeated key"));
      }
    }
    return Value::Map(std::move(map));
  }

  Value EvalComprehension(const Expr& e) {
    Value range = Eval(*e.iter_range);
    if (range.is_error()) return range;
    Value accu = Eval(*e.accu_init);
    if (accu.is_error()) return accu;
    std::vector<Value> map_keys;
    size_t count = 0;
    if (range.kind() == Kind::kList) {
      count = range.list().elements.size();
    } else if (range.kind() == Kind::kMap) {
      range.map().Keys(&map_keys);
      count = map_keys.size();
    } else {
      return At(e, Value::Error("expression of type '" + std::string(range.TypeName()) +
                                "' cannot be range of a comprehension"));
    }
    slots_[e.accu_slot] = std::move(accu);
    for (size_t i = 0; i < count; ++i) {
      if (ctx_.cost > limit_) return CostExceeded(e);
      if (range.kind() == Kind::kList) {
        if (e.slot2 >= 0) {
          slots_[e.slot] = Value::Int(static_cast<int64_t>(i));
          slots_[e.slot2] = range.list().elements[i];
        } else {
          slots_[e.slot] = range.list().elements[i];
        }
      } else {
        slots_[e.slot] = map_keys[i];
        if (e.slot2 >= 0) range.map().Find(map_keys[i], &slots_[e.slot2]);
      }
      Value cond = Eval(*e.loop_condition);
      if (cond.kind() == Kind::kBool && !cond.bool_value()) break;
      if (cond.is_error()) return cond;
      if (cond.kind() != Kind::kBool)
        return At(*e.loop_condition, NoSuchOverload("loop condition", cond));
      Value next = Eval(*e.loop_step);
      slots_[e.accu_slot] = std::move(next);
    }
    return Eval(*e.result);
  }

  Value EvalCall(const Expr& e) {
    Value stack_args[4];
    std::vector<Value> heap_args;
    const size_t n = e.args.size() + (e.target ? 1 : 0);
    Value* args = stack_args;
    if (n > 4) {
      heap_args.resize(n);
      args = heap_args.data();
    }
    size_t k = 0;
    const bool strict = !e.function || e.function->strict;
    if (e.target) {
      args[k] = Eval(*e.target);
      if (strict && args[k].is_error()) return args[k];
      ++k;
    }
    for (const auto& a : e.args) {
      args[k] = Eval(*a);
      if (strict && args[k].is_error()) return args[k];
      ++k;
    }
    if (!e.function) {
      return At(e, Value::Error("no matching overload for '" + e.name + "'"));
    }
    Value result = e.function->fn(args, n, ctx_);
    // What the function charged counts at once, as cel-go's cost tracker checks after each call.
    if (ctx_.cost > limit_) return CostExceeded(e);
    return At(e, std::move(result));
  }

  Value EvalLogic(const Expr& e, bool is_and) {
    Value a = Eval(*e.args[0]);
    if (a.kind() == Kind::kBool && a.bool_value() != is_and) return a;
    Value b = Eval(*e.args[1]);
    if (b.kind() == Kind::kBool && b.bool_value() != is_and) return b;
    if (a.kind() == Kind::kBool && b.kind() == Kind::kBool) return a;
    if (a.is_error()) return a;
    if (b.is_error()) return b;
    return At(e, NoSuchOverload(is_and ? "_&&_" : "_||_", a, b));
  }

  Value EvalBuiltin(const Expr& e) {
    switch (e.builtin) {
      case Builtin::kAnd:
        return EvalLogic(e, true);
      case Builtin::kOr:
        return EvalLogic(e, false);
      case Builtin::kConditional: {
        Value c = Eval(*e.args[0]);
        if (c.kind() == Kind::kBool) return Eval(*e.args[c.bool_value() ? 1 : 2]);
        if (c.is_error()) return c;
        return At(e, NoSuchOverload("_?_:_", c));
      }
      case Builtin::kNotStrictlyFalse: {
        Value v = Eval(*e.args[0]);
        return Value::Bool(v.kind() != Kind::kBool || v.bool_value());
      }
      default:
        break;
    }
    if (e.args.size() == 1) {
      Value a = Eval(*e.args[0]);
      if (a.is_error()) return a;
      if (e.builtin == Builtin::kNot) {
        if (a.kind() == Kind::kBool) return Value::Bool(!a.bool_value());
        return At(e, NoSuchOverload("!_", a));
      }
      if (e.builtin == Builtin::kNegate) {
        if (a.kind() == Kind::kInt) {
          if (a.int_value() == kInt64Min) return At(e, Overflow());
          return Value::Int(-a.int_value());
        }
        if (a.kind() == Kind::kDouble) return Value::Double(-a.double_value());
        return At(e, NoSuchOverload("-_", a));
      }
      return At(e, Value::Error("bad builtin arity"));
    }
    Value a_storage, b_storage;
    const Value& a = EvalRef(*e.args[0], a_storage);
    if (a.is_error()) return a;
    const Value& b = EvalRef(*e.args[1], b_storage);
    if (b.is_error()) return b;
    switch (e.builtin) {
      case Builtin::kEqual:
        return Value::Bool(ValuesEqual(a, b));
      case Builtin::kNotEqual:
        return Value::Bool(!ValuesEqual(a, b));
      case Builtin::kLess:
      case Builtin::kLessEqual:
      case Builtin::kGreater:
      case Builtin::kGreaterEqual: {
        int c = CompareValues(a, b);
        if (c == 3) {
          if (a.kind() == Kind::kQuantity || a.kind() == Kind::kSemver) {
            // Kubernetes' quantity and semver types are compared with methods, not operators.
          }
          return At(e, NoSuchOverload(e.name, a, b));
        }
        if (c == 2) return Value::Bool(false);
        switch (e.builtin) {
          case Builtin::kLess:
            return Value::Bool(c < 0);
          case Builtin::kLessEqual:
            return Value::Bool(c <= 0);
          case Builtin::kGreater:
            return Value::Bool(c > 0);
          default:
            return Value::Bool(c >= 0);
        }
      }
      case Builtin::kIn: {
        if (b.kind() == Kind::kList) {
          for (const Value& v : b.list().elements) {
            if (ValuesEqual(a, v)) return Value::Bool(true);
          }
          return Value::Bool(false);
        }
        if (b.kind() == Kind::kMap) {
          if (!IsMapKeyKind(a.kind()) && a.kind() != Kind::kDouble) return Value::Bool(false);
          return Value::Bool(b.map().Contains(a));
        }
        return At(e, NoSuchOverload("@in", a, b));
      }
      case Builtin::kIndex: {
        if (a.kind() == Kind::kOptional) {
          if (!a.has_value()) return a;
          bool found;
          Value v = LookupIndex(a.optional_value(), b, &found);
          if (!found) return Value::OptionalNone();
          return v.is_error() ? At(e, std::move(v)) : Value::Optional(std::move(v));
        }
        bool found;
        return At(e, LookupIndex(a, b, &found));
      }
      case Builtin::kOptIndex: {
        Value container = a;
        if (a.kind() == Kind::kOptional) {
          if (!a.has_value()) return a;
          container = a.optional_value();
        }
        if (container.kind() != Kind::kList && container.kind() != Kind::kMap) {
          return At(e, NoSuchOverload("_[?_]", a, b));
        }
        bool found;
        Value v = LookupIndex(container, b, &found);
        if (!found) return Value::OptionalNone();
        return v.is_error() ? At(e, std::move(v)) : Value::Optional(std::move(v));
      }
      case Builtin::kOptSelect: {
        Value container = a;
        if (a.kind() == Kind::kOptional) {
          if (!a.has_value()) return a;
          container = a.optional_value();
        }
        if (container.kind() != Kind::kMap) return At(e, NoSuchOverload("_?._", a, b));
        Value out;
        if (container.map().Find(b, &out)) return Value::Optional(std::move(out));
        return Value::OptionalNone();
      }
      case Builtin::kAdd:
        return At(e, Add(a, b));
      case Builtin::kSubtract:
        return At(e, Subtract(a, b));
      case Builtin::kMultiply:
      case Builtin::kDivide:
      case Builtin::kModulo:
        return At(e, Arith(e.builtin, a, b));
      default:
        return At(e, Value::Error("unsupported operator " + e.name));
    }
  }

  const Program& program_;
  const Activation& activation_;
  const int64_t limit_;
  Value* slots_;
  CallContext ctx_;
};

}  // namespace

std::string FormatKey(const Value& key) {
  switch (key.kind()) {
    case Kind::kBool:
      return key.bool_value() ? "true" : "false";
    case Kind::kInt:
      return std::to_string(key.int_value());
    case Kind::kUint:
      return std::to_string(key.uint_value()) + "u";
    case Kind::kDouble: {
      std::string s = std::to_string(key.double_value());
      return s;
    }
    case Kind::kString:
      return std::string(key.str());
    default:
      return std::string(key.TypeName());
  }
}

Result<std::shared_ptr<const Program>> Program::Compile(std::string_view source, const Env& env) {
  ParseOptions options;
  options.enable_macros = env.enable_macros;
  options.enable_block_macros = env.declarations == Declarations::kCelGo;
  auto program = std::make_shared<Program>();
  // The source as the parser reads it, whose offsets the positions are.
  program->source_ = ReplaceInvalidUtf8(source);
  MIGDRA_ASSIGN_OR_RETURN(std::unique_ptr<Expr> root, Parse(program->source_, options));
  program->container_ = env.container;
  Planner planner(env, program->source_);
  MIGDRA_RETURN_IF_ERROR(planner.Plan(root));
  if (env.check) {
    CheckInput input;
    input.declarations = env.declarations;
    input.extra_functions = &env.functions;
    input.variable_types = &env.variable_types;
    input.object_fields = &env.object_fields;
    input.homogeneous_aggregate_literals = env.homogeneous_aggregate_literals;
    input.container = env.container;
    MIGDRA_ASSIGN_OR_RETURN(CheckResult checked, Check(*root, program->source_, input));
    program->type_ = std::move(checked.type);
    program->types_ = std::move(checked.types);
  }
  Planner::FoldConstants(root);
  program->root_ = std::move(root);
  program->max_slots_ = planner.max_slots();
  return std::shared_ptr<const Program>(std::move(program));
}

Value Program::Evaluate(const Activation& activation, const EvalOptions& options,
                        int64_t* cost) const {
  auto run = [&](Value* slots) {
    Evaluator evaluator(*this, activation, options, slots);
    Value result = evaluator.Eval(*root_);
    if (cost) *cost = evaluator.cost();
    return result;
  };
  constexpr int kInlineSlots = 8;
  if (max_slots_ == 0) return run(nullptr);
  if (max_slots_ <= kInlineSlots) {
    Value inline_slots[kInlineSlots];
    return run(inline_slots);
  }
  std::vector<Value> heap_slots(max_slots_);
  return run(heap_slots.data());
}

const Type& Program::TypeOf(const Expr& e) const {
  static const Type kDyn = Type::Dyn();
  auto it = types_.find(&e);
  return it == types_.end() ? kDyn : it->second;
}

std::string Program::Position(int32_t offset) const { return PositionString(source_, offset); }

std::string ErrorMessage(const Program& program, const Value& error) {
  if (!error.is_error()) return "";
  if (error.error().position < 0) return error.error().message;
  return program.Position(error.error().position) + ": " + error.error().message;
}

}  // namespace migdra::cel
