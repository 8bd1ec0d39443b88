// IP address literals and "IP:PORT" socket addresses as the configuration writes them.
//
// Only numeric forms: no host names, no IPv6 zone ids ("fe80::1%eth0"), no IPv4 shorthands
// ("127.1"), because a listen or client address must mean exactly one thing. Pure values
// and functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tlsrelay::config {

struct IpAddress {
  enum class Family { V4, V6 };
  Family family = Family::V4;
  std::array<std::uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4

  static IpAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d);
  // ::ffff:a.b.c.d (RFC 4291 2.5.5.2)
  bool is_v4_mapped() const;
  // The IPv4 address inside ::ffff:a.b.c.d, or *this unchanged.
  IpAddress unmapped() const;
  // "192.0.2.1", "2001:db8::1" (RFC 5952 form)
  std::string to_string() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

std::optional<IpAddress> parse_ip_address(std::string_view text);

struct SocketAddress {
  IpAddress address;
  std::uint16_t port = 0;  // 0 lets the kernel choose (tests)
  // "127.0.0.1:10025", "[::1]:10025"
  std::string to_string() const;
  friend bool operator==(const SocketAddress&, const SocketAddress&) = default;
};

// "IP:PORT" or "[IPv6]:PORT"; on failure returns nullopt and sets `why` to what was expected.
std::optional<SocketAddress> parse_socket_address(std::string_view text, std::string& why);

}  // namespace tlsrelay::config
