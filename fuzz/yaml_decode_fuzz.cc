// libFuzzer target: the YAML path of ParseDocuments plus typed decoding, validation and encoding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  // Keep the input on the YAML path (JSON-looking text is handled by json_decode_fuzz).
  if (text.find_first_not_of(" \t\r\n") != std::string::npos) {
    char first = text[text.find_first_not_of(" \t\r\n")];
    if (first == '{' || first == '[') text.insert(0, "# yaml\n");
  }
  migdra::fuzz::FuzzDocuments(text);
  return 0;
}
