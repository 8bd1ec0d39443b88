#include "config/cidr.hpp"

namespace tlsrelay::config {
namespace {

int max_prefix(const IpAddress& a) {
  return a.family == IpAddress::Family::V4 ? 32 : 128;
}

// ::ffff:a.b.c.d for an IPv4 address (RFC 4291 2.5.5.2).
IpAddress mapped(const IpAddress& v4) {
  IpAddress m;
  m.family = IpAddress::Family::V6;
  m.bytes[10] = 0xff;
  m.bytes[11] = 0xff;
  for (int i = 0; i < 4; ++i) m.bytes[12 + i] = v4.bytes[i];
  return m;
}

bool same_prefix(const IpAddress& a, const IpAddress& b, int prefix) {
  int i = 0;
  for (; prefix >= 8; prefix -= 8, ++i) {
    if (a.bytes[i] != b.bytes[i]) return false;
  }
  if (prefix == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - prefix));
  return (a.bytes[i] & mask) == (b.bytes[i] & mask);
}

}  // namespace

bool Cidr::contains(const IpAddress& client) const {
  IpAddress c = client;
  if (address.family == IpAddress::Family::V4) {
    // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d; they are IPv4 clients.
    c = client.unmapped();
    if (c.family != IpAddress::Family::V4) return false;
  } else if (client.family == IpAddress::Family::V4) {
    c = mapped(client);
  }
  return same_prefix(address, c, prefix);
}

std::string Cidr::to_string() const {
  return address.to_string() + "/" + std::to_string(prefix);
}

std::optional<Cidr> parse_cidr(std::string_view text, std::string& why) {
  const auto slash = text.find('/');
  const auto addr_text = text.substr(0, slash);
  auto ip = parse_ip_address(addr_text);
  if (!ip) {
    why = "expected ADDRESS/PREFIX with a numeric IPv4 or IPv6 address";
    return std::nullopt;
  }
  const int max = max_prefix(*ip);
  int prefix = max;
  if (slash != std::string_view::npos) {
    const auto p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3) {
      why = "the prefix length must be a number 0.." + std::to_string(max);
      return std::nullopt;
    }
    prefix = 0;
    for (char c : p) {
      if (c < '0' || c > '9') {
        why = "the prefix length must be a number 0.." + std::to_string(max);
        return std::nullopt;
      }
      prefix = prefix * 10 + (c - '0');
    }
    if (prefix > max) {
      why = "the prefix length must be 0.." + std::to_string(max);
      return std::nullopt;
    }
  }
  Cidr cidr{*ip, prefix};
  Cidr masked{*ip, prefix};
  masked.address.bytes = {};
  for (int bit = 0; bit < prefix; ++bit) {
    const auto m = static_cast<std::uint8_t>(0x80 >> (bit % 8));
    masked.address.bytes[bit / 8] |= ip->bytes[bit / 8] & m;
  }
  if (masked.address != cidr.address) {
    why = "host bits are set below the prefix; did you mean " + masked.to_string() + "?";
    return std::nullopt;
  }
  return cidr;
}

}  // namespace tlsrelay::config
