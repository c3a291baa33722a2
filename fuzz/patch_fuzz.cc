// libFuzzer target: the three patch formats (control/patch.h). An input is
// "FORMAT\nTARGET_JSON\nPATCH_JSON" with FORMAT m (merge), j (JSON patch) or s (strategic merge).
// Documents nested deeper than the API's limit are skipped: the API rejects those before it
// patches. Nothing may crash, a merge patch applied a second time changes nothing (RFC 7386
// patches are idempotent), and the patched text as the API server quotes it (patch_text.h) is JSON.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "control/api_handler.h"
#include "control/patch.h"
#include "control/patch_text.h"
#include "fuzz_decode.h"

namespace {

using migdra::Result;
using migdra::fuzz::Require;
using migdra::fuzz::TakeUntil;
using nlohmann::json;
namespace control = migdra::control;

bool ParseLimited(std::string_view text, json& out) {
  if (control::JsonNestsTooDeep(text)) return false;
  out = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return !out.is_discarded();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string_view format = TakeUntil(input, "\n");
  const std::string_view target_text = TakeUntil(input, "\n");
  json target;
  json patch;
  if (!ParseLimited(target_text, target) || !ParseLimited(input, patch)) return 0;
  if (format == "m") {
    Result<json> once = control::ApplyMergePatch(target, patch);
    if (!once.ok()) return 0;
    Result<json> twice = control::ApplyMergePatch(*once, patch);
    Require(twice.ok() && *twice == *once, "a merge patch is idempotent");
  } else if (format == "j") {
    (void)control::ApplyJsonPatch(target, patch);
  } else {
    (void)control::ApplyStrategicMergePatch(target, patch);
  }
  if (format == "m" || format == "j") {
    Result<std::string> text = format == "m" ? control::MergePatchedText(target_text, input)
                                             : control::JsonPatchedText(target_text, input);
    Require(!text.ok() || json::accept(*text), "the patched text is JSON");
  }
  return 0;
}
