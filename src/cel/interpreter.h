// Compiling (parse + plan) and evaluating CEL expressions.
//
// A Program is immutable after Compile and may be evaluated from many threads at once. Variables
// are declared up front in an Env; evaluation takes an Activation that supplies their values by
// declaration index, so no name lookups happen per evaluation.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cel/ast.h"
#include "cel/checker.h"
#include "cel/value.h"
#include "common/result.h"

namespace migdra::cel {

struct Env {
  // Declared variables (may be qualified, e.g. "a.b.c"); an Activation supplies values in this
  // order.
  std::vector<std::string> variables;
  // Namespace for name resolution ("x" makes `y` resolve to `x.y` first).
  std::string container;
  // The variables' types, in the same order (missing entries are dyn).
  std::vector<Type> variable_types;
  // With checking on, the expression is type-checked (checker.h) against `declarations` and
  // `functions`: undeclared variables, unknown functions and overloads and type errors are
  // compile errors. Without it they are runtime errors (as in cel-go with the checker disabled).
  bool check = true;
  Declarations declarations = Declarations::kCelGo;
  std::vector<FunctionDecl> functions;
  // Fields of object types (type name -> field -> type), for selections.
  std::unordered_map<std::string, std::unordered_map<std::string, Type>> object_fields;
  bool homogeneous_aggregate_literals = false;
  bool enable_macros = true;
};

class Activation {
 public:
  virtual ~Activation() = default;
  // The value of declared variable `index`; false when it is not bound.
  virtual bool Get(int index, Value* out) const = 0;
  // Optionally resolves `variable.path[0].path[1]...` (selections or constant string indexes)
  // directly; false means "not handled", and the evaluator walks the path generically (which
  // also produces the errors, with positions).
  virtual bool ResolvePath(int index, const std::vector<std::string_view>& path, Value* out) const {
    return false;
  }
};

// Values for an Env's variables, by index.
class VectorActivation : public Activation {
 public:
  explicit VectorActivation(std::vector<std::pair<bool, Value>> values)
      : values_(std::move(values)) {}
  bool Get(int index, Value* out) const override {
    if (index < 0 || index >= static_cast<int>(values_.size()) || !values_[index].first)
      return false;
    *out = values_[index].second;
    return true;
  }

 private:
  std::vector<std::pair<bool, Value>> values_;
};

struct EvalOptions {
  // Evaluation stops with an error once the cost (roughly one unit per node evaluated, plus
  // the size of strings and lists that functions traverse) exceeds this.
  int64_t cost_limit = std::numeric_limits<int64_t>::max();
};

class Program {
 public:
  // Parses and plans `source`; errors carry "line:column".
  static Result<std::shared_ptr<const Program>> Compile(std::string_view source, const Env& env);

  // Evaluates the program. Runtime errors are returned as Value::Error with the position of the
  // failing sub-expression; the cost actually spent is stored in `cost` when not null. The result
  // may borrow strings from the program or the activation: use it while both live, or keep
  // `result.Owned()`.
  Value Evaluate(const Activation& activation, const EvalOptions& options = {},
                 int64_t* cost = nullptr) const;

  const std::string& source() const { return source_; }
  const std::string& container() const { return container_; }
  const Expr& root() const { return *root_; }
  // The checked type of the expression (dyn when compiled without checking).
  const Type& type() const { return type_; }
  // The checked type of a node of root() (dyn when unknown).
  const Type& TypeOf(const Expr& e) const;
  // "line:column" of an error position.
  std::string Position(int32_t offset) const;

 private:
  friend class Planner;
  std::string source_;
  std::unique_ptr<Expr> root_;
  Type type_;
  std::unordered_map<const Expr*, Type> types_;
  int max_slots_ = 0;
  std::string container_;
};

// Formats an error value as "line:column: message" against the program's source.
std::string ErrorMessage(const Program& program, const Value& error);

}  // namespace migdra::cel
