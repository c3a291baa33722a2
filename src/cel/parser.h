// The CEL parser: the full grammar of the CEL specification (literals incl. bytes, raw and
// triple-quoted strings, uint, double and null; operators with CEL precedence; ternary; member,
// index and optional `.?` / `[?]` access; list, map and message literals; backquoted field names)
// with the standard macros (has, all, exists, exists_one, map, filter), the two-variable
// comprehension macros, cel.bind, cel.block, optMap and optFlatMap expanded as cel-go does.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "cel/ast.h"
#include "common/result.h"

namespace migdra::cel {

struct ParseOptions {
  bool enable_macros = true;
  // cel.block / cel.index / cel.iterVar / cel.accuVar, the textual form of cel-go's optimizer
  // output that the conformance suite uses; not a macro of Kubernetes' environment, whose
  // bindings library (version 0) has cel.bind only.
  bool enable_block_macros = true;
  int max_recursion_depth = 250;
  size_t max_expression_length = 100'000;
};

// The error message carries the position: "<line>:<column>: Syntax error: ...". As cel-go reads
// an expression rune by rune, each byte of `source` where no valid UTF-8 rune starts is read as
// U+FFFD (ReplaceInvalidUtf8, common/utf8.h): in a string or bytes literal it is that character,
// elsewhere a token recognition error. Positions are byte offsets into the text so read.
Result<std::unique_ptr<Expr>> Parse(std::string_view source, const ParseOptions& options = {});

// "line:column" (1-based) of byte `offset` in `source`.
std::string PositionString(std::string_view source, int32_t offset);

}  // namespace migdra::cel
