// `tlsrelay-testpeer dns`: a tiny authoritative-style UDP DNS server for the tests. Binds,
// prints "ready PORT" on stdout, answers from a DnsZone until SIGTERM/SIGINT or (with
// --watch-stdin) end of stdin.
// Limits: UDP only (no TCP fallback); one question per query; single-threaded.
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
  bool watch_stdin = false;
};

// Returns the process exit status; throws std::runtime_error on a start-up failure.
int run_dns_peer(const DnsPeerOptions& options);

}  // namespace tlsrelay::testpeer
