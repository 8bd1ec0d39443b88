// Which Host a request to the relay's HTTP server may name: the defence against DNS
// rebinding (issue 17). A page on attacker.example whose name the attacker then points at
// 127.0.0.1 makes the victim's browser send its requests here with "Host: attacker.example";
// answering them would hand /status (addresses, certificates, SMTP transcripts) to that page.
// Only names that are ours are answered: the listen address literal (and, for a wildcard
// listen, the address the connection arrived at), "localhost", and [http] allowed_hosts.
//
// Pure functions and an immutable value; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/ip_address.hpp"

namespace tlsrelay::proxy {

// Allowed: answer. Forbidden: a well-formed Host that is not ours (403). Invalid: no Host on
// HTTP/1.1, more than one, or one that is not uri-host[:port] (RFC 9112 3.2: 400).
enum class HostVerdict { Allowed, Forbidden, Invalid };

// The host of a Host field value ("name", "name:port", "192.0.2.1:80", "[::1]:9325") without
// port and brackets; nullopt when the value is not RFC 9110 7.2's uri-host [":" port].
std::optional<std::string_view> host_of(std::string_view field);

class HostAllowList {
 public:
  // `names`: [http] allowed_hosts, host names or IP addresses (IPv6 without brackets).
  explicit HostAllowList(const std::vector<std::string>& names = {});

  // host_fields: the request's Host field values; http_version: 10 or 11 (Beast's form);
  // own: the listen address and the connection's local address.
  HostVerdict check(unsigned http_version, const std::vector<std::string_view>& host_fields,
                    const std::vector<config::IpAddress>& own) const;

 private:
  std::vector<std::string> names_;  // lower case, no trailing dot; "localhost" first
  std::vector<config::IpAddress> addresses_;
};

}  // namespace tlsrelay::proxy
