// Command-line parsing for tlsrelay-testpeer's subcommands (smtp, dns); gen-certs takes
// only a directory and is parsed in main.cpp.
// Limits: "--opt value" and "--opt=value" forms; no short options.
// Thread-safety: pure functions.
#pragma once

#include "dns_peer.hpp"
#include "smtp_peer.hpp"

#include <stdexcept>
#include <string_view>
#include <vector>

namespace tlsrelay::testpeer {

// A bad command line: main() prints the reason and exits 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

SmtpPeerOptions parse_smtp_options(const std::vector<std::string_view>& args);
DnsPeerOptions parse_dns_options(const std::vector<std::string_view>& args);

std::string usage();

}  // namespace tlsrelay::testpeer
