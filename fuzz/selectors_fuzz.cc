// libFuzzer target: label and field selectors (control/selectors.h). An input is
// "LABEL_SELECTOR\nFIELD_SELECTOR\nOBJECT_JSON": the selectors that parse are evaluated on the
// object (and its metadata.labels), and the object is also read as a metav1.LabelSelector
// ({matchLabels, matchExpressions}). Nothing may crash, and an empty selector matches everything.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "control/api_handler.h"
#include "control/selectors.h"
#include "fuzz_decode.h"

namespace {

using migdra::Result;
using migdra::fuzz::Require;
using migdra::fuzz::TakeUntil;
using nlohmann::json;
namespace control = migdra::control;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string label_text(TakeUntil(input, "\n"));
  const std::string field_text(TakeUntil(input, "\n"));
  json object = json::object();
  if (!control::JsonNestsTooDeep(input)) {
    json parsed = json::parse(input, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_discarded()) object = std::move(parsed);
  }
  const json labels = object.is_object() && object.contains("metadata") &&
                              object["metadata"].is_object() &&
                              object["metadata"].contains("labels")
                          ? object["metadata"]["labels"]
                          : json::object();

  Result<control::LabelSelector> label = control::LabelSelector::Parse(label_text);
  if (label.ok()) {
    const bool matches = label->Matches(labels);
    Require(!label->Empty() || matches, "an empty label selector matches everything");
  }
  Result<control::FieldSelector> field = control::FieldSelector::Parse(field_text);
  if (field.ok()) {
    const bool matches = field->Matches(object);
    Require(!field->Empty() || matches, "an empty field selector matches everything");
    (void)field->RequiredValue("metadata.name");
  }
  for (bool null_matches_all : {false, true}) {
    (void)control::LabelSelector::FromObject(object, null_matches_all).Matches(labels);
  }
  return 0;
}
