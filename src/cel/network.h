// IP addresses, prefixes and URLs as Kubernetes' CEL libraries see them: parsing follows Go's
// net/netip (ParseAddr, ParsePrefix) and net/url (Parse, ParseRequestURI), error messages
// included, since the IP, CIDR, URL and format libraries report Go's errors to the user.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace migdra::cel {

struct IpAddress {
  bool v4 = true;
  std::array<uint8_t, 16> bytes{};  // IPv4 in bytes[0..3]
  bool has_zone = false;            // "fe80::1%eth0"

  int bits() const { return v4 ? 32 : 128; }
  // netip.Addr.Is4In6: an IPv6 address of the form ::ffff:a.b.c.d.
  bool Is4In6() const;
  bool IsUnspecified() const;
  bool IsLoopback() const;
  bool IsMulticast() const;
  bool IsLinkLocalMulticast() const;
  bool IsLinkLocalUnicast() const;
  bool IsGlobalUnicast() const;
  // The canonical form (RFC 5952 for IPv6), as netip.Addr.String.
  std::string ToString() const;
  bool operator==(const IpAddress&) const = default;
};

struct IpPrefix {
  IpAddress address;
  int bits = 0;

  // The prefix with the bits after `bits` cleared (netip.Prefix.Masked).
  IpPrefix Masked() const;
  bool Contains(const IpAddress& ip) const;
  std::string ToString() const { return address.ToString() + "/" + std::to_string(bits); }
  bool operator==(const IpPrefix&) const = default;
};

// netip.ParseAddr; the error reads `ParseAddr("in"): message (at "rest")`.
Result<IpAddress> ParseIpAddress(std::string_view text);
// netip.ParsePrefix; the error reads `netip.ParsePrefix("in"): message`.
Result<IpPrefix> ParseIpPrefix(std::string_view text);

struct Url {
  std::string scheme;
  std::string opaque;
  std::string user;  // userinfo, as written
  std::string host;  // host[:port]
  std::string path;  // unescaped
  std::string raw_path;
  std::string raw_query;
  std::string fragment;

  std::string Hostname() const;
  std::string Port() const;
  std::string EscapedPath() const;
  // url.Values: key -> values, in order of appearance (malformed pairs are skipped, as Go does).
  std::map<std::string, std::vector<std::string>> Query() const;
};

// url.Parse (with a fragment) and url.ParseRequestURI (absolute URI or path, no fragment);
// errors read `parse "in": message`.
Result<Url> ParseUrl(std::string_view text);
Result<Url> ParseRequestUri(std::string_view text);

}  // namespace migdra::cel
