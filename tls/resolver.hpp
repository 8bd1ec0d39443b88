// Name resolution that tells "the name does not exist" (NXDOMAIN) from "the resolver
// failed" (SERVFAIL, time-out) and from "no A/AAAA records".
//
// getaddrinfo(3) (which honours /etc/hosts and nsswitch) finds the addresses; when it says
// EAI_NONAME, a direct DNS query (res_nquery) reads the response code, because getaddrinfo
// folds NXDOMAIN and NODATA together. Both block, so they run on a small worker pool; the
// coroutine resumes on its own executor. Thread-safe.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <string>
#include <vector>

namespace tlsrelay::tls {

struct ResolveResult {
  enum class Status { Ok, NxDomain, NoAddress, Failure };
  Status status = Status::Failure;
  std::vector<boost::asio::ip::address> addresses;  // IPv6 and IPv4 alternating, in order
  std::string detail;                               // resolver's own words for failures
};

boost::asio::awaitable<ResolveResult> resolve_host(std::string host);

// The blocking part, exposed for tests.
ResolveResult resolve_host_blocking(const std::string& host);

}  // namespace tlsrelay::tls
