// A client address range ("192.0.2.0/24", "2001:db8::/32") for [proxy] allow_clients.
//
// contains() treats an IPv4-mapped IPv6 client (::ffff:192.0.2.7, what a dual-stack socket
// reports) as the IPv4 address it carries, so an IPv4 range admits it and an IPv6 range
// only admits it when the range itself covers ::ffff:0:0/96. Pure values; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/ip_address.hpp"

namespace tlsrelay::config {

struct Cidr {
  IpAddress address;  // host bits are zero
  int prefix = 0;     // 0..32 for IPv4, 0..128 for IPv6

  bool contains(const IpAddress& client) const;
  // "192.0.2.0/24"
  std::string to_string() const;
  friend bool operator==(const Cidr&, const Cidr&) = default;
};

// "ADDRESS/PREFIX", or a bare address meaning that one host (/32, /128). Host bits set
// below the prefix ("192.0.2.7/24") are refused: that is almost always a typo for a
// different range. On failure returns nullopt and sets `why` to what was expected.
std::optional<Cidr> parse_cidr(std::string_view text, std::string& why);

}  // namespace tlsrelay::config
