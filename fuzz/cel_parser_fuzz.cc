// Fuzzes the CEL front end, type checker and evaluator: any input must parse or fail with an
// error, never crash; what compiles is evaluated (bounded by a cost limit) both generically and
// as a DRA selector against a MIG device.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cel/cel.h"
#include "cel/interpreter.h"
#include "cel/parser.h"

namespace {

const migdra::api::Device& FuzzDevice() {
  static const migdra::api::Device device = [] {
    migdra::api::Device d;
    d.name = "gpu-0-mig-1g10gb-19-6";
    d.attributes["type"].string_value = "mig";
    d.attributes["profile"].string_value = "1g.10gb";
    d.attributes["driverVersion"].version_value = "580.95.5";
    d.attributes["resource.kubernetes.io/numaNode"].int_value = 0;
    d.attributes["gpu.nvidia.com/mig"].bool_value = true;
    d.capacity["memory"].value = *migdra::api::Quantity::Parse("9728Mi");
    return d;
  }();
  return device;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)migdra::cel::Parse(text);

  migdra::cel::Env env;
  env.variables = {"x", "y"};
  env.check = false;
  auto program = migdra::cel::Program::Compile(text, env);
  if (program.ok()) {
    migdra::cel::VectorActivation activation(
        {{true, migdra::cel::Value::Int(7)}, {true, migdra::cel::Value::String("seven")}});
    migdra::cel::EvalOptions options;
    options.cost_limit = 100'000;
    migdra::cel::Value result = (*program)->Evaluate(activation, options);
    (void)migdra::cel::DebugString(result);
  }

  // The type checker over the declarations of both environments.
  migdra::cel::Env checked;
  checked.variables = {"x"};
  checked.variable_types = {migdra::cel::Type::List(migdra::cel::Type::Dyn())};
  (void)migdra::cel::Program::Compile(text, checked);
  checked.declarations = migdra::cel::Declarations::kKubernetes;
  checked.homogeneous_aggregate_literals = true;
  (void)migdra::cel::Program::Compile(text, checked);

  auto selector = migdra::cel::CompiledSelector::Compile(text);
  if (selector.ok()) (void)selector->Matches(FuzzDevice(), "gpu.nvidia.com");
  return 0;
}
