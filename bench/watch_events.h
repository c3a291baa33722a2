// Splits a watch response into its events as the bytes arrive: the API server sends one JSON
// object a line, and a read from the connection may end anywhere in a line.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace migdra::bench {

class WatchEventReader {
 public:
  // Appends `len` bytes and calls on_object(event["object"]) for each complete line that is a
  // watch event; returns false as soon as on_object does (the caller stops the watch).
  template <typename OnObject>
  bool Feed(const char* data, size_t len, OnObject&& on_object) {
    buffer_.append(data, len);
    size_t newline;
    while ((newline = buffer_.find('\n')) != std::string::npos) {
      nlohmann::json event = nlohmann::json::parse(buffer_.substr(0, newline), nullptr, false);
      buffer_.erase(0, newline + 1);
      if (event.is_discarded() || !event.contains("object")) continue;
      if (!on_object(event["object"])) return false;
    }
    return true;
  }

 private:
  std::string buffer_;
};

}  // namespace migdra::bench
