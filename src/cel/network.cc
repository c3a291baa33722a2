#include "cel/network.h"

#include <algorithm>
#include <cstdio>

namespace migdra::cel {
namespace {

// Go's strconv.Quote for the ASCII input these messages carry.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

Error AddrError(std::string_view in, std::string_view msg, std::string_view at = {}) {
  std::string m = "ParseAddr(" + Quote(in) + "): " + std::string(msg);
  if (!at.empty()) m += " (at " + Quote(at) + ")";
  return MakeError(m);
}

// netip's parseIPv4Fields over in[off:end].
Result<std::array<uint8_t, 4>> ParseIpv4Fields(std::string_view in, size_t off, size_t end) {
  std::array<uint8_t, 4> fields{};
  int val = 0, pos = 0, digits = 0;
  std::string_view s = in.substr(off, end - off);
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c >= '0' && c <= '9') {
      if (digits == 1 && val == 0) return AddrError(in, "IPv4 field has octet with leading zero");
      val = val * 10 + (c - '0');
      ++digits;
      if (val > 255) return AddrError(in, "IPv4 field has value >255");
    } else if (c == '.') {
      if (i == 0 || i == s.size() - 1 || s[i - 1] == '.') {
        return AddrError(in, "IPv4 field must have at least one digit", s.substr(i));
      }
      if (pos == 3) return AddrError(in, "IPv4 address too long");
      fields[pos++] = static_cast<uint8_t>(val);
      val = 0;
      digits = 0;
    } else {
      return AddrError(in, "unexpected character", s.substr(i));
    }
  }
  if (pos < 3) return AddrError(in, "IPv4 address too short");
  fields[3] = static_cast<uint8_t>(val);
  return fields;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<IpAddress> ParseIpv6(std::string_view in) {
  std::string_view s = in;
  IpAddress ip;
  ip.v4 = false;
  size_t zone_len = 0;
  if (size_t pct = s.find('%'); pct != std::string_view::npos) {
    zone_len = s.size() - pct - 1;
    s = s.substr(0, pct);
    if (zone_len == 0) return AddrError(in, "zone must be a non-empty string");
    ip.has_zone = true;
  }
  int ellipsis = -1;
  if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
    ellipsis = 0;
    s.remove_prefix(2);
    if (s.empty()) return ip;
  }
  int i = 0;
  while (i < 16) {
    size_t off = 0;
    uint32_t acc = 0;
    for (; off < s.size(); ++off) {
      int h = HexValue(s[off]);
      if (h < 0) break;
      acc = (acc << 4) + static_cast<uint32_t>(h);
      if (off > 3) return AddrError(in, "each group must have 4 or less digits", s);
      if (acc > 0xFFFF) return AddrError(in, "IPv6 field has value >=2^16", s);
    }
    if (off == 0)
      return AddrError(in, "each colon-separated field must have at least one digit", s);
    if (off < s.size() && s[off] == '.') {
      if (ellipsis < 0 && i != 12) {
        return AddrError(in, "embedded IPv4 address must replace the final 2 fields of the address",
                         s);
      }
      if (i + 4 > 16) {
        return AddrError(
            in, "too many hex fields to fit an embedded IPv4 at the end of the address", s);
      }
      size_t end = in.size() - (zone_len ? zone_len + 1 : 0);
      MIGDRA_ASSIGN_OR_RETURN(auto v4, ParseIpv4Fields(in, end - s.size(), end));
      std::copy(v4.begin(), v4.end(), ip.bytes.begin() + i);
      s = {};
      i += 4;
      break;
    }
    ip.bytes[i] = static_cast<uint8_t>(acc >> 8);
    ip.bytes[i + 1] = static_cast<uint8_t>(acc);
    i += 2;
    s.remove_prefix(off);
    if (s.empty()) break;
    if (s[0] != ':') return AddrError(in, "unexpected character, want colon", s);
    if (s.size() == 1) return AddrError(in, "colon must be followed by more characters", s);
    s.remove_prefix(1);
    if (s[0] == ':') {
      if (ellipsis >= 0) return AddrError(in, "multiple :: in address", s);
      ellipsis = i;
      s.remove_prefix(1);
      if (s.empty()) break;
    }
  }
  if (!s.empty()) return AddrError(in, "trailing garbage after address", s);
  if (i < 16) {
    if (ellipsis < 0) return AddrError(in, "address string too short");
    const int n = 16 - i;
    for (int j = i - 1; j >= ellipsis; --j) ip.bytes[j + n] = ip.bytes[j];
    std::fill(ip.bytes.begin() + ellipsis, ip.bytes.begin() + ellipsis + n, 0);
  } else if (ellipsis >= 0) {
    return AddrError(in, "the :: must expand to at least one field of zeros", s);
  }
  return ip;
}

}  // namespace

bool IpAddress::Is4In6() const {
  if (v4) return false;
  for (int i = 0; i < 10; ++i) {
    if (bytes[i] != 0) return false;
  }
  return bytes[10] == 0xff && bytes[11] == 0xff;
}

bool IpAddress::IsUnspecified() const {
  const int n = v4 ? 4 : 16;
  return std::all_of(bytes.begin(), bytes.begin() + n, [](uint8_t b) { return b == 0; });
}

bool IpAddress::IsLoopback() const {
  if (v4) return bytes[0] == 127;
  for (int i = 0; i < 15; ++i) {
    if (bytes[i] != 0) return false;
  }
  return bytes[15] == 1;
}

bool IpAddress::IsMulticast() const { return v4 ? (bytes[0] & 0xf0) == 0xe0 : bytes[0] == 0xff; }

bool IpAddress::IsLinkLocalMulticast() const {
  if (v4) return bytes[0] == 224 && bytes[1] == 0 && bytes[2] == 0;
  return bytes[0] == 0xff && (bytes[1] & 0x0f) == 0x02;
}

bool IpAddress::IsLinkLocalUnicast() const {
  if (v4) return bytes[0] == 169 && bytes[1] == 254;
  return bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80;
}

bool IpAddress::IsGlobalUnicast() const {
  if (v4) {
    const bool broadcast = bytes[0] == 255 && bytes[1] == 255 && bytes[2] == 255 && bytes[3] == 255;
    if (IsUnspecified() || broadcast) return false;
  } else if (IsUnspecified()) {
    return false;
  }
  return !IsLoopback() && !IsMulticast() && !IsLinkLocalUnicast();
}

std::string IpAddress::ToString() const {
  if (v4) {
    return std::to_string(bytes[0]) + "." + std::to_string(bytes[1]) + "." +
           std::to_string(bytes[2]) + "." + std::to_string(bytes[3]);
  }
  // RFC 5952: the longest run of two or more zero groups becomes "::" (the first of equals).
  uint16_t groups[8];
  for (int g = 0; g < 8; ++g)
    groups[g] = static_cast<uint16_t>(bytes[2 * g] << 8 | bytes[2 * g + 1]);
  int best_start = -1, best_len = 0;
  for (int g = 0; g < 8;) {
    if (groups[g] != 0) {
      ++g;
      continue;
    }
    int start = g;
    while (g < 8 && groups[g] == 0) ++g;
    if (g - start > best_len && g - start >= 2) {
      best_start = start;
      best_len = g - start;
    }
  }
  std::string out;
  char buf[8];
  for (int g = 0; g < 8; ++g) {
    if (g == best_start) {
      out += "::";
      g += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::snprintf(buf, sizeof(buf), "%x", groups[g]);
    out += buf;
  }
  return out;
}

IpPrefix IpPrefix::Masked() const {
  IpPrefix out = *this;
  const int n = address.v4 ? 4 : 16;
  for (int i = 0; i < n; ++i) {
    const int keep = std::clamp(bits - 8 * i, 0, 8);
    out.address.bytes[i] &= static_cast<uint8_t>(0xff << (8 - keep));
  }
  return out;
}

bool IpPrefix::Contains(const IpAddress& ip) const {
  if (ip.v4 != address.v4 || ip.has_zone) return false;
  IpPrefix other{ip, bits};
  return other.Masked().address == Masked().address;
}

Result<IpAddress> ParseIpAddress(std::string_view text) {
  for (char c : text) {
    if (c == '.') {
      MIGDRA_ASSIGN_OR_RETURN(auto fields, ParseIpv4Fields(text, 0, text.size()));
      IpAddress ip;
      std::copy(fields.begin(), fields.end(), ip.bytes.begin());
      return ip;
    }
    if (c == ':') return ParseIpv6(text);
    if (c == '%') return AddrError(text, "missing IPv6 address");
  }
  return AddrError(text, "unable to parse IP");
}

Result<IpPrefix> ParseIpPrefix(std::string_view text) {
  auto fail = [&](const std::string& msg) {
    return MakeError("netip.ParsePrefix(" + Quote(text) + "): " + msg);
  };
  size_t slash = text.rfind('/');
  if (slash == std::string_view::npos) return fail("no '/'");
  auto ip = ParseIpAddress(text.substr(0, slash));
  if (!ip.ok()) return fail(ip.error().message);
  if (!ip->v4 && ip->has_zone) return fail("IPv6 zones cannot be present in a prefix");
  std::string_view bits_text = text.substr(slash + 1);
  const std::string bad = "bad bits after slash: " + Quote(bits_text);
  if (bits_text.empty() || (bits_text.size() > 1 && (bits_text[0] < '1' || bits_text[0] > '9')))
    return fail(bad);
  int bits = 0;
  for (char c : bits_text) {
    if (c < '0' || c > '9' || bits > 1000) return fail(bad);
    bits = bits * 10 + (c - '0');
  }
  if (bits > ip->bits()) return fail("prefix length out of range");
  return IpPrefix{*ip, bits};
}

// ---- URLs ---------------------------------------------------------------------------------------

namespace {

enum class Encoding { kPath, kHost, kQueryComponent };

bool ShouldEscapePath(unsigned char c) {
  if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') return false;
  switch (c) {
    case '$':
    case '&':
    case '+':
    case ',':
    case '/':
    case ':':
    case ';':
    case '=':
    case '@':
      return false;
    default:
      return true;
  }
}

// net/url's validEncoded for paths: only characters a path may hold unescaped, or escapes.
bool ValidEncodedPath(std::string_view s) {
  for (unsigned char c : s) {
    if (std::string_view("!$&'()*+,;=:@[]%").find(static_cast<char>(c)) != std::string_view::npos)
      continue;
    if (ShouldEscapePath(c)) return false;
  }
  return true;
}

std::string EscapePath(std::string_view s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (ShouldEscapePath(c)) {
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

Result<std::string> Unescape(std::string_view s, Encoding mode) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size() || HexValue(s[i + 1]) < 0 || HexValue(s[i + 2]) < 0) {
        std::string_view bad = s.substr(i, std::min<size_t>(3, s.size() - i));
        return MakeError("invalid URL escape " + Quote(bad));
      }
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else if (s[i] == '+' && mode == Encoding::kQueryComponent) {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

bool ValidOptionalPort(std::string_view port) {
  if (port.empty()) return true;
  if (port[0] != ':') return false;
  for (char c : port.substr(1)) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

Result<std::string> ParseHost(std::string_view host) {
  if (!host.empty() && host[0] == '[') {
    size_t close = host.rfind(']');
    if (close == std::string_view::npos) return MakeError("missing ']' in host");
    std::string_view port = host.substr(close + 1);
    if (!ValidOptionalPort(port)) return MakeError("invalid port " + Quote(port) + " after host");
  } else if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    std::string_view port = host.substr(colon);
    if (!ValidOptionalPort(port)) return MakeError("invalid port " + Quote(port) + " after host");
  }
  return Unescape(host, Encoding::kHost);
}

Result<Url> ParseInternal(std::string_view raw, bool via_request) {
  for (unsigned char c : raw) {
    if (c < 0x20 || c == 0x7f) return MakeError("net/url: invalid control character in URL");
  }
  if (raw.empty() && via_request) return MakeError("empty url");
  Url url;
  if (raw == "*") {
    url.path = "*";
    return url;
  }
  std::string_view rest = raw;
  for (size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (std::isalpha(static_cast<unsigned char>(c))) continue;
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.') {
      if (i == 0) break;
      continue;
    }
    if (c == ':') {
      if (i == 0) return MakeError("missing protocol scheme");
      url.scheme = std::string(raw.substr(0, i));
      std::transform(url.scheme.begin(), url.scheme.end(), url.scheme.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      rest = raw.substr(i + 1);
    }
    break;
  }
  if (!rest.empty() && rest.back() == '?' && std::count(rest.begin(), rest.end(), '?') == 1) {
    rest.remove_suffix(1);
  } else if (size_t q = rest.find('?'); q != std::string_view::npos) {
    url.raw_query = std::string(rest.substr(q + 1));
    rest = rest.substr(0, q);
  }
  if (rest.empty() || rest[0] != '/') {
    if (!url.scheme.empty()) {
      url.opaque = std::string(rest);
      return url;
    }
    if (via_request) return MakeError("invalid URI for request");
    std::string_view segment = rest.substr(0, rest.find('/'));
    if (segment.find(':') != std::string_view::npos)
      return MakeError("first path segment in URL cannot contain colon");
  }
  const bool starts_authority = rest.substr(0, 2) == "//";
  if ((!url.scheme.empty() || (!via_request && rest.substr(0, 3) != "///")) && starts_authority) {
    std::string_view authority = rest.substr(2);
    rest = {};
    if (size_t slash = authority.find('/'); slash != std::string_view::npos) {
      rest = authority.substr(slash);
      authority = authority.substr(0, slash);
    }
    size_t at = authority.rfind('@');
    MIGDRA_ASSIGN_OR_RETURN(
        url.host, ParseHost(at == std::string_view::npos ? authority : authority.substr(at + 1)));
    if (at != std::string_view::npos) url.user = std::string(authority.substr(0, at));
  }
  MIGDRA_ASSIGN_OR_RETURN(url.path, Unescape(rest, Encoding::kPath));
  if (EscapePath(url.path) != rest) url.raw_path = std::string(rest);
  return url;
}

Error UrlError(std::string_view in, const Error& e) {
  return MakeError("parse " + Quote(in) + ": " + e.message);
}

}  // namespace

std::string Url::Hostname() const {
  std::string_view h = host;
  size_t colon = h.rfind(':');
  if (colon != std::string_view::npos && ValidOptionalPort(h.substr(colon))) h = h.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  return std::string(h);
}

std::string Url::Port() const {
  std::string_view h = host;
  size_t colon = h.rfind(':');
  if (colon != std::string_view::npos && ValidOptionalPort(h.substr(colon)))
    return std::string(h.substr(colon + 1));
  return "";
}

std::string Url::EscapedPath() const {
  if (!raw_path.empty() && ValidEncodedPath(raw_path)) {
    auto unescaped = Unescape(raw_path, Encoding::kPath);
    if (unescaped.ok() && *unescaped == path) return raw_path;
  }
  if (path == "*") return "*";
  return EscapePath(path);
}

std::map<std::string, std::vector<std::string>> Url::Query() const {
  std::map<std::string, std::vector<std::string>> out;
  std::string_view rest = raw_query;
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty() || pair.find(';') != std::string_view::npos) continue;
    size_t eq = pair.find('=');
    auto key = Unescape(pair.substr(0, eq), Encoding::kQueryComponent);
    auto value = Unescape(eq == std::string_view::npos ? "" : pair.substr(eq + 1),
                          Encoding::kQueryComponent);
    if (!key.ok() || !value.ok()) continue;
    out[*key].push_back(*value);
  }
  return out;
}

Result<Url> ParseUrl(std::string_view text) {
  size_t hash = text.find('#');
  std::string_view without = text.substr(0, hash);
  auto url = ParseInternal(without, false);
  if (!url.ok()) return UrlError(without, url.error());
  if (hash != std::string_view::npos) {
    auto fragment = Unescape(text.substr(hash + 1), Encoding::kPath);
    if (!fragment.ok()) return UrlError(text, fragment.error());
    url->fragment = *fragment;
  }
  return url;
}

Result<Url> ParseRequestUri(std::string_view text) {
  auto url = ParseInternal(text, true);
  if (!url.ok()) return UrlError(text, url.error());
  return url;
}

}  // namespace migdra::cel
