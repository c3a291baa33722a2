#include "control/go_fmt.h"

#include <cstdint>
#include <limits>

#include "common/go_strconv.h"

namespace migdra::control {
namespace {

void Format(const json& v, std::string& out) {
  switch (v.type()) {
    case json::value_t::null:
      out += "<nil>";
      return;
    case json::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      return;
    case json::value_t::string:
      out += v.get_ref<const std::string&>();
      return;
    case json::value_t::number_integer:
      out += std::to_string(v.get<int64_t>());
      return;
    case json::value_t::number_unsigned: {
      // The decoder keeps an integer as int64 only when it fits; a larger one is a float64.
      const uint64_t u = v.get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        out += std::to_string(u);
      } else {
        out += GoFormatFloat(static_cast<double>(u));
      }
      return;
    }
    case json::value_t::number_float:
      out += GoFormatFloat(v.get<double>());
      return;
    case json::value_t::array: {
      out += '[';
      bool first = true;
      for (const json& item : v) {
        if (!first) out += ' ';
        first = false;
        Format(item, out);
      }
      out += ']';
      return;
    }
    case json::value_t::object: {
      // json keeps object keys sorted bytewise, as fmt sorts a map's string keys.
      out += "map[";
      bool first = true;
      for (const auto& item : v.items()) {
        if (!first) out += ' ';
        first = false;
        out += item.key();
        out += ':';
        Format(item.value(), out);
      }
      out += ']';
      return;
    }
    default:
      return;  // binary and discarded values do not come from JSON text
  }
}

}  // namespace

std::string GoFormatValue(const json& value) {
  std::string out;
  Format(value, out);
  return out;
}

}  // namespace migdra::control
