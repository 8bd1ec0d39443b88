#include "proxy/status/http_host.hpp"

#include <algorithm>

namespace tlsrelay::proxy {

namespace {

// Host names compare case-insensitively, and "name." is the same name as "name" (the
// absolute form a browser keeps in the Host it sends: http://localhost./ is a different
// origin, but this server's name all the same).
std::string normalized(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string out(name);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

bool all_digits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::optional<std::string_view> host_of(std::string_view field) {
  std::string_view host = field;
  std::string_view rest;
  if (!field.empty() && field.front() == '[') {
    const auto close = field.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = field.substr(1, close - 1);
    rest = field.substr(close + 1);
    // An IP-literal holds an IPv6 address (IPvFuture is not ours either).
    auto ip = config::parse_ip_address(host);
    if (!ip || ip->family != config::IpAddress::Family::V6) return std::nullopt;
  } else if (const auto colon = field.find(':'); colon != std::string_view::npos) {
    host = field.substr(0, colon);
    rest = field.substr(colon);
  }
  // RFC 3986 3.2.3: port = *DIGIT (a reg-name holds no ':', so one more is malformed).
  if (!rest.empty() && (rest.front() != ':' || rest.size() > 6 || !all_digits(rest.substr(1)))) {
    return std::nullopt;
  }
  if (host.empty()) return std::nullopt;
  if (std::any_of(host.begin(), host.end(), [](unsigned char c) {
        return c <= 0x20 || c >= 0x7f || c == '/' || c == '@' || c == '\\';
      })) {
    return std::nullopt;
  }
  return host;
}

HostAllowList::HostAllowList(const std::vector<std::string>& names) {
  names_.push_back("localhost");
  for (const std::string& n : names) {
    if (auto ip = config::parse_ip_address(n)) {
      addresses_.push_back(ip->unmapped());
    } else {
      names_.push_back(normalized(n));
    }
  }
}

HostVerdict HostAllowList::check(unsigned http_version,
                                 const std::vector<std::string_view>& host_fields,
                                 const std::vector<config::IpAddress>& own) const {
  if (host_fields.empty()) {
    // HTTP/1.0 has no Host requirement and a browser never leaves Host out (scripts cannot
    // remove it), so a request without one cannot carry a rebinding attack; plain health
    // checks (haproxy's httpchk, printf | nc) still work. HTTP/1.1 requires it.
    return http_version < 11 ? HostVerdict::Allowed : HostVerdict::Invalid;
  }
  if (host_fields.size() > 1) return HostVerdict::Invalid;
  const auto host = host_of(host_fields.front());
  if (!host) return HostVerdict::Invalid;
  if (auto ip = config::parse_ip_address(*host)) {
    const config::IpAddress a = ip->unmapped();
    // A wildcard listen address is nobody's name (browsers reach 0.0.0.0 as this machine).
    if (std::all_of(a.bytes.begin(), a.bytes.end(), [](auto b) { return b == 0; })) {
      return HostVerdict::Forbidden;
    }
    const auto same = [&](const config::IpAddress& b) { return b.unmapped() == a; };
    return std::any_of(own.begin(), own.end(), same) ||
                   std::any_of(addresses_.begin(), addresses_.end(), same)
               ? HostVerdict::Allowed
               : HostVerdict::Forbidden;
  }
  const std::string name = normalized(*host);
  return std::find(names_.begin(), names_.end(), name) != names_.end() ? HostVerdict::Allowed
                                                                       : HostVerdict::Forbidden;
}

}  // namespace tlsrelay::proxy
