#include "config/ip_address.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace tlsrelay::config {

IpAddress IpAddress::v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  IpAddress ip;
  ip.family = Family::V4;
  ip.bytes = {a, b, c, d};
  return ip;
}

bool IpAddress::is_v4_mapped() const {
  if (family != Family::V6) return false;
  for (int i = 0; i < 10; ++i) {
    if (bytes[i] != 0) return false;
  }
  return bytes[10] == 0xff && bytes[11] == 0xff;
}

IpAddress IpAddress::unmapped() const {
  if (!is_v4_mapped()) return *this;
  return v4(bytes[12], bytes[13], bytes[14], bytes[15]);
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  const int af = family == Family::V4 ? AF_INET : AF_INET6;
  if (inet_ntop(af, bytes.data(), buf, sizeof buf) == nullptr) return "?";
  return buf;
}

std::optional<IpAddress> parse_ip_address(std::string_view text) {
  // inet_pton needs a terminated string; anything longer than an IPv6 literal is not one.
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, text.data(), text.size());
  IpAddress ip;
  // inet_pton, unlike inet_aton, refuses "127.1" and octal "010.0.0.1": one spelling, one
  // meaning, so an allow list cannot admit more than it appears to.
  if (text.find(':') == std::string_view::npos) {
    ip.family = IpAddress::Family::V4;
    if (inet_pton(AF_INET, buf, ip.bytes.data()) != 1) return std::nullopt;
  } else {
    ip.family = IpAddress::Family::V6;
    if (inet_pton(AF_INET6, buf, ip.bytes.data()) != 1) return std::nullopt;
  }
  return ip;
}

std::string SocketAddress::to_string() const {
  if (address.family == IpAddress::Family::V6) {
    return "[" + address.to_string() + "]:" + std::to_string(port);
  }
  return address.to_string() + ":" + std::to_string(port);
}

namespace {

std::optional<std::uint16_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

}  // namespace

std::optional<SocketAddress> parse_socket_address(std::string_view text, std::string& why) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      why = "expected [IPv6]:PORT";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.find(':') == std::string_view::npos) {
      why = "brackets are for IPv6 addresses only; write IPv4 as IP:PORT";
      return std::nullopt;
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      why = "expected IP:PORT or [IPv6]:PORT (the port is missing)";
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      why = "an IPv6 address needs brackets: [IPv6]:PORT";
      return std::nullopt;
    }
  }
  auto ip = parse_ip_address(host);
  if (!ip) {
    why = "expected an IP address (not a host name) before the port";
    return std::nullopt;
  }
  auto p = parse_port(port);
  if (!p) {
    why = "the port must be a number 0..65535";
    return std::nullopt;
  }
  return SocketAddress{*ip, *p};
}

}  // namespace tlsrelay::config
