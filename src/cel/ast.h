// The CEL abstract syntax tree, as produced by the parser (macros already expanded into
// comprehensions, as cel-go does) and annotated by the planner (interpreter.cc) with resolved
// variables and functions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cel/value.h"

namespace migdra::cel {

struct FunctionImpl;  // library.h

// Operators and functions the evaluator implements inline (everything else is a library call).
enum class Builtin : uint8_t {
  kNone,
  kAnd,
  kOr,
  kNot,
  kConditional,
  kNotStrictlyFalse,
  kEqual,
  kNotEqual,
  kLess,
  kLessEqual,
  kGreater,
  kGreaterEqual,
  kIn,
  kIndex,
  kOptIndex,
  kOptSelect,
  kAdd,
  kSubtract,
  kMultiply,
  kDivide,
  kModulo,
  kNegate,
};

struct Expr {
  enum class Kind : uint8_t {
    kConst,
    kIdent,
    kSelect,
    kCall,
    kList,
    kMap,
    kStruct,
    kComprehension,
    // A chain of field selections / constant-string indexes on a declared variable
    // (`device.attributes['d'].id`), resolved in one step when the activation can; `target`
    // keeps the original expression for the general path.
    kPath,
  };

  Kind kind = Kind::kConst;
  int32_t position = 0;  // byte offset in the source

  Value constant;  // kConst (borrows from owned_constant after planning)
  // kConst made by folding a call of constants: the call's estimated cost (cost.h), which the
  // evaluation no longer spends but Kubernetes' estimate counts.
  uint32_t folded_cost = 0;
  Value owned_constant;          // kConst: the payload `constant` points into
  std::string name;              // kIdent name, kSelect field, kCall function, kStruct type name
  std::unique_ptr<Expr> target;  // kSelect operand, kCall receiver (null for global calls)
  // kCall arguments; kList elements; kMap keys and values interleaved; kStruct field values.
  std::vector<std::unique_ptr<Expr>> args;
  std::vector<bool> optional_entries;    // kList / kMap: "?x" elements and "?k: v" entries
  std::vector<std::string> field_names;  // kStruct
  bool test_only = false;                // kSelect inside has()

  // kComprehension (cel-go's layout).
  std::string iter_var, iter_var2, accu_var;
  std::unique_ptr<Expr> iter_range, accu_init, loop_condition, loop_step, result;

  // ---- filled by the planner ----
  Builtin builtin = Builtin::kNone;        // kCall
  const FunctionImpl* function = nullptr;  // kCall library function
  int slot = -1;       // kIdent: comprehension variable slot; kComprehension: iter_var slot
  int slot2 = -1;      // kComprehension: iter_var2 slot
  int accu_slot = -1;  // kComprehension
  int global = -1;     // kIdent, kPath: index of the declared variable
  std::vector<std::string_view> path;  // kPath: the keys, borrowed from the original nodes
};

}  // namespace migdra::cel
