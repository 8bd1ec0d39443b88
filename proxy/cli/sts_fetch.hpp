// The MTA-STS policy fetch of `tlsrelay audit --mx` (RFC 8461 3.3): HTTPS GET of
// https://mta-sts.DOMAIN/.well-known/mta-sts.txt, the certificate verified for that name
// (PKIX, SNI sent), redirects not followed, the body bounded.
// Limits: one connection, HTTP/1.1, a deadline over all of it; bodies over
// kStsPolicyMaxBytes are refused. Thread-safety: runs on the caller's executor.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>

namespace tlsrelay::proxy {

struct StsFetch {
  bool ok = false;  // HTTP 200 with a body within the limit over verified TLS
  std::string url;
  std::string address;  // the address connected to, "" when none
  int http_status = 0;  // 0 when no response
  std::string content_type;
  std::string body;
  std::string error;  // why not ok, one line ("certificate does not verify: ...")
};

// `ca_file` "" means the system store; `connect` "" means resolve the host; `port` is 443
// except in tests.
boost::asio::awaitable<StsFetch> fetch_sts_policy(std::string domain, std::string ca_file,
                                                  std::string connect, std::uint16_t port,
                                                  std::chrono::milliseconds deadline);

}  // namespace tlsrelay::proxy
