#include "cel/cost.h"

#include <cmath>
#include <unordered_map>

#include "cel/library.h"

namespace migdra::cel {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
constexpr double kStringTraversalFactor = 0.1;
constexpr double kRegexLengthFactor = 0.25;
constexpr uint64_t kListCreateCost = 10;
constexpr uint64_t kMapCreateCost = 30;

uint64_t AddSat(uint64_t a, uint64_t b) { return a > kMax - b ? kMax : a + b; }
uint64_t MulSat(uint64_t a, uint64_t b) {
  if (a == 0 || b == 0) return 0;
  return a > kMax / b ? kMax : a * b;
}
uint64_t Factor(uint64_t v, double f) {
  if (v == kMax) return kMax;
  double r = std::ceil(static_cast<double>(v) * f);
  return r >= static_cast<double>(kMax) ? kMax : static_cast<uint64_t>(r);
}

CostEstimate Add(CostEstimate a, CostEstimate b) {
  return {AddSat(a.min, b.min), AddSat(a.max, b.max)};
}
CostEstimate Scaled(SizeEstimate s, double f) { return {Factor(s.min, f), Factor(s.max, f)}; }
CostEstimate Times(CostEstimate a, CostEstimate b) {
  return {MulSat(a.min, b.min), MulSat(a.max, b.max)};
}

size_t RuneCount(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

class Coster {
 public:
  Coster(const Program& program, const SizeHints& hints) : program_(program), hints_(hints) {}

  CostEstimate Cost(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kConst:
        return {e.folded_cost, e.folded_cost};
      case Expr::Kind::kIdent:
        PathOfIdent(e);
        return {1, 1};
      case Expr::Kind::kPath: {
        CostEstimate c = Cost(*e.target);
        paths_[&e] = paths_[e.target.get()];
        return c;
      }
      case Expr::Kind::kSelect: {
        CostEstimate c = Cost(*e.target);
        ExtendPath(e, *e.target, e.name);
        if (e.test_only) return c;  // Kubernetes: PresenceTestHasCost(false)
        return Add(c, {1, 1});
      }
      case Expr::Kind::kCall:
        return Call(e);
      case Expr::Kind::kList: {
        CostEstimate c{kListCreateCost, kListCreateCost};
        for (const auto& a : e.args) c = Add(c, Cost(*a));
        return c;
      }
      case Expr::Kind::kMap:
      case Expr::Kind::kStruct: {
        CostEstimate c{kMapCreateCost, kMapCreateCost};
        for (const auto& a : e.args) c = Add(c, Cost(*a));
        return c;
      }
      case Expr::Kind::kComprehension:
        return Comprehension(e);
    }
    return {};
  }

 private:
  void PathOfIdent(const Expr& e) {
    if (e.slot >= 0) {
      for (size_t i = accumulators_.size(); i-- > 0;) {
        if (accumulators_[i].first == e.name) {
          sizes_[&e] = accumulators_[i].second;
          break;
        }
      }
      for (size_t i = iter_vars_.size(); i-- > 0;) {
        if (iter_vars_[i].first == e.name) {
          paths_[&e] = iter_vars_[i].second;
          return;
        }
      }
      return;
    }
    if (e.global >= 0) paths_[&e] = {e.name};
  }

  void ExtendPath(const Expr& e, const Expr& operand, const std::string& element) {
    auto it = paths_.find(&operand);
    if (it == paths_.end() || it->second.empty()) return;
    std::vector<std::string> path = it->second;
    path.push_back(element);
    paths_[&e] = std::move(path);
  }

  SizeEstimate Size(const Expr& e) {
    if (auto it = sizes_.find(&e); it != sizes_.end()) return it->second;
    if (e.kind == Expr::Kind::kConst) {
      const Value& v = e.constant;
      if (v.kind() == Kind::kString) {
        uint64_t n = RuneCount(v.str());
        return {n, n};
      }
      if (v.kind() == Kind::kBytes) return {v.str().size(), v.str().size()};
      if (v.kind() == Kind::kList) return {v.list().elements.size(), v.list().elements.size()};
    }
    if (e.kind == Expr::Kind::kList || e.kind == Expr::Kind::kMap) {
      uint64_t n = e.kind == Expr::Kind::kMap ? e.args.size() / 2 : e.args.size();
      return {n, n};
    }
    if (auto it = paths_.find(&e); it != paths_.end() && hints_) {
      if (auto s = hints_(it->second)) return *s;
    }
    switch (program_.TypeOf(e).kind) {
      case Type::Kind::kBool:
      case Type::Kind::kDouble:
      case Type::Kind::kDuration:
      case Type::Kind::kInt:
      case Type::Kind::kTimestamp:
      case Type::Kind::kUint:
      case Type::Kind::kError:
        return {1, 1};
      default:
        return {0, kMax};
    }
  }

  std::string Name(const Expr& e) const { return e.function ? e.function->name : e.name; }

  CostEstimate Call(const Expr& e) {
    std::vector<const Expr*> args;
    if (e.target) args.push_back(e.target.get());
    for (const auto& a : e.args) args.push_back(a.get());
    std::vector<CostEstimate> costs;
    CostEstimate sum;
    for (const Expr* a : args) {
      costs.push_back(Cost(*a));
      sum = Add(sum, costs.back());
    }
    const std::string name = Name(e);
    if (name == "_[_]" && args.size() == 2) ExtendPath(e, *args[0], "@values");
    const Type::Kind first = args.empty() ? Type::Kind::kDyn : program_.TypeOf(*args[0]).kind;
    const bool on_string = first == Type::Kind::kString || first == Type::Kind::kBytes;
    if (name == "_&&_" || name == "_||_") {
      return {costs[0].min, AddSat(costs[0].max, costs[1].max)};
    }
    if (name == "_?_:_") {
      SizeEstimate a = Size(*args[1]), b = Size(*args[2]);
      sizes_[&e] = {std::min(a.min, b.min), std::max(a.max, b.max)};
      return Add(costs[0],
                 {std::min(costs[1].min, costs[2].min), std::max(costs[1].max, costs[2].max)});
    }
    // `in` a list is linear in its size; cel-go unions the costs of every overload a dyn operand
    // may take, so a dyn container counts as a list.
    const Type::Kind container =
        args.size() == 2 ? program_.TypeOf(*args[1]).kind : Type::Kind::kMap;
    if (name == "@in" && (container == Type::Kind::kList || container == Type::Kind::kDyn)) {
      return Add(Scaled(Size(*args[1]), 1), sum);
    }
    if ((name == "_==_" || name == "_!=_" ||
         ((name == "_<_" || name == "_<=_" || name == "_>_" || name == "_>=_") && on_string)) &&
        args.size() == 2) {
      SizeEstimate l = Size(*args[0]), r = Size(*args[1]);
      uint64_t smallest = std::min(l.max, r.max);
      return Add(Scaled({smallest > 0 ? 1u : 0u, smallest}, kStringTraversalFactor), sum);
    }
    if (name == "_+_" && args.size() == 2 && (on_string || first == Type::Kind::kList)) {
      SizeEstimate l = Size(*args[0]), r = Size(*args[1]);
      SizeEstimate total{AddSat(l.min, r.min), AddSat(l.max, r.max)};
      sizes_[&e] = total;
      return Add(Scaled(total, kStringTraversalFactor), sum);
    }
    if (e.target && args.size() >= 2 &&
        (name == "matches" || name == "find" || name == "findAll")) {
      SizeEstimate s = Size(*args[0]);
      CostEstimate str = Scaled({AddSat(s.min, 1), AddSat(s.max, 1)}, kStringTraversalFactor);
      CostEstimate re = Scaled(Size(*args[1]), kRegexLengthFactor);
      if (name != "matches") sizes_[&e] = {0, s.max};
      return Add(Times(str, re), sum);
    }
    if (!e.target && name == "matches" && args.size() == 2) {
      SizeEstimate s = Size(*args[0]);
      CostEstimate str = Scaled({AddSat(s.min, 1), AddSat(s.max, 1)}, kStringTraversalFactor);
      return Add(Times(str, Scaled(Size(*args[1]), kRegexLengthFactor)), sum);
    }
    if (e.target && (name == "contains") && args.size() == 2) {
      return Add(Times(Scaled(Size(*args[0]), kStringTraversalFactor),
                       Scaled(Size(*args[1]), kStringTraversalFactor)),
                 sum);
    }
    if (e.target && (name == "startsWith" || name == "endsWith") && args.size() == 2) {
      return Add(Scaled(Size(*args[1]), kStringTraversalFactor), sum);
    }
    if (e.target && name == "format" && args.size() == 2) {
      // cel-go's checker (overload string_format): a traversal of the format string, without
      // the call's unit; the result's size is not bounded.
      return Add(Scaled(Size(*args[0]), kStringTraversalFactor), sum);
    }
    if (e.target && name == "split") {
      SizeEstimate s = Size(*args[0]);
      sizes_[&e] = {0, s.max};
      return Add(Scaled(s, 2 * kStringTraversalFactor), sum);
    }
    if (e.target && on_string &&
        (name == "lowerAscii" || name == "upperAscii" || name == "trim" || name == "substring" ||
         name == "replace" || name == "indexOf" || name == "lastIndexOf" || name == "charAt")) {
      SizeEstimate s = Size(*args[0]);
      if (name != "indexOf" && name != "lastIndexOf" && name != "charAt") sizes_[&e] = s;
      return Add(Scaled(s, kStringTraversalFactor), sum);
    }
    if (e.target && first == Type::Kind::kList &&
        (name == "isSorted" || name == "sum" || name == "min" || name == "max" ||
         name == "indexOf" || name == "lastIndexOf")) {
      // Kubernetes: one unit per element, plus a traversal of each string or bytes element (of
      // unknown, so unbounded, size unless the list's path declares it).
      CostEstimate per_element{1, 1};
      if (const auto element = TextElementSize(*args[0])) {
        per_element = Add(per_element, Scaled(*element, kStringTraversalFactor));
      }
      return Add(Times(Scaled(Size(*args[0]), 1), per_element), sum);
    }
    if (e.target && first == Type::Kind::kList && name == "join") {
      // Kubernetes: the traversal of the result, list size times element size plus the
      // separators.
      const SizeEstimate list = Size(*args[0]);
      SizeEstimate result{0, 0};
      if (const auto element = TextElementSize(*args[0])) {
        result = {MulSat(list.min, element->min), MulSat(list.max, element->max)};
      }
      if (args.size() == 2) {
        const SizeEstimate separator = Size(*args[1]);
        const SizeEstimate separators{list.min > 0 ? list.min - 1 : 0,
                                      list.max > 0 ? list.max - 1 : 0};
        result = {AddSat(result.min, MulSat(separator.min, separators.min)),
                  AddSat(result.max, MulSat(separator.max, separators.max))};
      }
      sizes_[&e] = result;
      return Add(Scaled(result, kStringTraversalFactor), sum);
    }
    // cel-go's estimators for ext.Lists v3 and ext.Sets, which take precedence over Kubernetes'.
    if (e.target && first == Type::Kind::kList) {
      if (name == "reverse" && args.size() == 1) {
        return Add(AllocatingList(&e, 1, Size(*args[0])), sum);
      }
      if (name == "slice" && args.size() == 3) {
        const uint64_t start = LiteralAsUint(*args[1], 0);
        const uint64_t end = LiteralAsUint(*args[2], Size(*args[0]).max);
        return Add(AllocatingList(&e, 1, {end - start, end - start}), sum);
      }
      if (name == "flatten" && args.size() <= 2) {
        const uint64_t depth = args.size() == 2 ? LiteralAsUint(*args[1], kMax) : 1;
        return Add(AllocatingList(&e, static_cast<double>(depth), Size(*args[0])), sum);
      }
      if (name == "distinct" && args.size() == 1) {
        return Add(AllocatingList(&e, 2, Squared(Size(*args[0]))), sum);
      }
      if ((name == "sort" && args.size() == 1) ||
          (name == "@sortByAssociatedKeys" && args.size() == 2)) {
        // Quadratic in the keys, with a string traversal per comparison of strings or bytes (the
        // costliest overload when the element type is only known at run time).
        const Expr& keys = *args.back();
        const Type& list = program_.TypeOf(keys);
        const Type::Kind element =
            list.kind == Type::Kind::kList ? list.params[0].kind : Type::Kind::kDyn;
        const bool text = element == Type::Kind::kString || element == Type::Kind::kBytes;
        const bool dyn = element == Type::Kind::kDyn;
        const SizeEstimate squared = Squared(Size(keys));
        CostEstimate c = AllocatingList(&e, text ? 2 + kStringTraversalFactor : 2, squared);
        if (dyn) c.max = AllocatingList(&e, 2 + kStringTraversalFactor, squared).max;
        return Add(c, sum);
      }
    }
    if (!e.target && name == "lists.range" && args.size() == 1) {
      const uint64_t n = LiteralAsUint(*args[0], kMax);
      return Add(AllocatingList(&e, 1, {n, n}), sum);
    }
    if (!e.target && args.size() == 2 &&
        (name == "sets.contains" || name == "sets.intersects" || name == "sets.equivalent")) {
      const SizeEstimate a = Size(*args[0]), b = Size(*args[1]);
      const SizeEstimate product{MulSat(a.min, b.min), MulSat(a.max, b.max)};
      return Add(Add(Scaled(product, name == "sets.equivalent" ? 2 : 1), {1, 1}), sum);
    }
    if (e.target && name == "includes") {
      // DRA: as `arg in target`, bounded by the longest list attribute.
      constexpr uint64_t kMaxAttributeValuesPerDevice = 48;
      return Add({0, kMaxAttributeValuesPerDevice}, sum);
    }
    // Kubernetes prices url() by its string; its cases for the global ip(), cidr(), isIP(),
    // isCIDR(), ip.isCanonical() and quantity() apply to receiver calls only, so these cost one.
    if (!e.target && name == "url" && args.size() == 1) {
      return Add(Scaled(Size(*args[0]), kStringTraversalFactor), sum);
    }
    if (e.target && (name == "containsIP" || name == "containsCIDR") && args.size() == 2) {
      // Two IPv4 or IPv6 byte strings compared, CIDRs masked first; a string operand is parsed.
      const SizeEstimate address{4, 16};
      CostEstimate c = Scaled({8, 32}, kStringTraversalFactor);
      if (name == "containsCIDR") c = Add(Add(c, Scaled(address, kStringTraversalFactor)), {1, 1});
      if (program_.TypeOf(*args[1]).kind == Type::Kind::kString) {
        c = Add(c, Scaled(Size(*args[1]), kStringTraversalFactor));
      }
      return Add(c, sum);
    }
    return Add({1, 1}, sum);
  }

  // The size of the elements of `list` when they are strings or bytes (Kubernetes'
  // listElementNode): declared for the list's path, else unbounded. nullopt for other elements.
  std::optional<SizeEstimate> TextElementSize(const Expr& list) {
    const Type& type = program_.TypeOf(list);
    if (type.kind != Type::Kind::kList || type.params.empty() ||
        (type.params[0].kind != Type::Kind::kString && type.params[0].kind != Type::Kind::kBytes)) {
      return std::nullopt;
    }
    if (auto it = paths_.find(&list); it != paths_.end() && !it->second.empty() && hints_) {
      std::vector<std::string> path = it->second;
      path.push_back("@items");
      if (auto s = hints_(path)) return *s;
    }
    return SizeEstimate{0, kMax};
  }

  // A non-negative int literal's value (negative ones count as 0), else `otherwise`.
  static uint64_t LiteralAsUint(const Expr& e, uint64_t otherwise) {
    if (e.kind != Expr::Kind::kConst || e.constant.kind() != Kind::kInt) return otherwise;
    return e.constant.int_value() < 0 ? 0 : static_cast<uint64_t>(e.constant.int_value());
  }

  static SizeEstimate Squared(SizeEstimate s) {
    return {MulSat(s.min, s.min), MulSat(s.max, s.max)};
  }

  // A call that builds a list of `size` elements at `factor` per element, plus the call and the
  // list's creation (cel-go's estimateAllocatingListCall).
  CostEstimate AllocatingList(const Expr* call, double factor, SizeEstimate size) {
    sizes_[call] = size;
    return Add(Scaled(size, factor), {1 + kListCreateCost, 1 + kListCreateCost});
  }

  CostEstimate Comprehension(const Expr& e) {
    CostEstimate sum = Add(Cost(*e.iter_range), Cost(*e.accu_init));
    // The accumulator is as large as its initial value as far as one iteration's step is
    // concerned (the macros append one element per step), as cel-go estimates.
    accumulators_.push_back({e.accu_var, Size(*e.accu_init)});
    std::vector<std::string> range_path;
    if (auto it = paths_.find(e.iter_range.get()); it != paths_.end()) range_path = it->second;
    const size_t depth = iter_vars_.size();
    if (!range_path.empty()) {
      const bool list = program_.TypeOf(*e.iter_range).kind == Type::Kind::kList;
      std::vector<std::string> first = range_path, second = range_path;
      first.push_back(list && !e.iter_var2.empty() ? "@index" : (list ? "@items" : "@keys"));
      second.push_back(list ? "@items" : "@values");
      iter_vars_.push_back({e.iter_var, first});
      if (!e.iter_var2.empty()) iter_vars_.push_back({e.iter_var2, second});
    }
    CostEstimate loop = Cost(*e.loop_condition);
    CostEstimate step = Cost(*e.loop_step);
    iter_vars_.resize(depth);
    sum = Add(sum, Cost(*e.result));
    accumulators_.pop_back();
    SizeEstimate range = Size(*e.iter_range);
    sizes_[&e] = range;
    return Add(sum, Times({range.min, range.max}, Add(step, loop)));
  }

  const Program& program_;
  const SizeHints& hints_;
  std::unordered_map<const Expr*, std::vector<std::string>> paths_;
  std::unordered_map<const Expr*, SizeEstimate> sizes_;
  std::vector<std::pair<std::string, std::vector<std::string>>> iter_vars_;
  std::vector<std::pair<std::string, SizeEstimate>> accumulators_;
};

}  // namespace

CostEstimate EstimateCost(const Program& program, const SizeHints& hints) {
  return Coster(program, hints).Cost(program.root());
}

}  // namespace migdra::cel
