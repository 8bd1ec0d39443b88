// One blocking HTTP/1.1 GET of the relay's /status, bounded by a deadline from the first
// connect to the last body byte.
//
// Limits: plain http (the endpoint is local), at most kMaxStatusBody bytes of body, 16 KiB
// of header; only status 200 counts. Host names are resolved with getaddrinfo, which the
// deadline does not bound: use an IP address (or a name in /etc/hosts) in status_url.
// Reentrant; each call uses its own socket.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tlsrelay::milter {

struct HttpTarget {
  std::string host;  // IP address (no brackets) or name
  std::uint16_t port = 80;
  std::string target = "/status";
};

struct HttpResult {
  bool ok = false;      // status 200 and a whole body
  std::string body;     // when ok
  std::string problem;  // when !ok: "connect 127.0.0.1:9325: Connection refused", ...
};

HttpResult http_get(const HttpTarget& target, std::chrono::milliseconds timeout);

}  // namespace tlsrelay::milter
