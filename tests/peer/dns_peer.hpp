// `tlsrelay-testpeer dns`: a tiny authoritative-style DNS server for the tests. Binds UDP and
// (unless --no-tcp) TCP on the same port, prints "ready PORT" on stdout, answers from a
// DnsZone until SIGTERM/SIGINT or (with --watch-stdin) end of stdin.
// Limits: one question per query; single-threaded, so one TCP client at a time, and UDP
// waits while it is served (each read bounded by a 3 s idle deadline, 16 queries at most).
// Thread-safety: run_dns_peer() is called once, from main(), before any other thread.
#pragma once

#include "dns_zone.hpp"
#include "endpoint.hpp"

#include <string>

namespace tlsrelay::testpeer {

struct DnsPeerOptions {
  Endpoint listen;
  std::string listen_text = "127.0.0.1:0";
  DnsZone zone;
  bool tcp = true;  // also listen on TCP, for the stub's retry after TC (RFC 7766)
  bool watch_stdin = false;
};

// Returns the process exit status; throws std::runtime_error on a start-up failure.
int run_dns_peer(const DnsPeerOptions& options);

}  // namespace tlsrelay::testpeer
