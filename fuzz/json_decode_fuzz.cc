// libFuzzer target: the JSON path of ParseDocuments plus typed decoding, validation and encoding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Every input is read as JSON text: it is wrapped in an array when it does not start like JSON.
  std::string text(reinterpret_cast<const char*>(data), size);
  size_t start = text.find_first_not_of(" \t\r\n");
  if (start == std::string::npos || (text[start] != '{' && text[start] != '[')) {
    text = "[" + text + "]";
  }
  migdra::fuzz::FuzzDocuments(text);
  return 0;
}
