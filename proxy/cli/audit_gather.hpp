// The handshakes of `tlsrelay audit` for one server: the plan (the relay's own offer, then
// resumption, SNI, each version, each TLS 1.2 suite family, the suite order, each group),
// made through the scanner (tls/tls_scan.hpp) within one budget of handshakes and time.
// Used by `audit HOST` and, for a domain's primary MX, by `audit --mx DOMAIN`.
// Thread-safety: runs on the caller's executor.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>

#include "proxy/cli/audit_grade.hpp"
#include "tls/attempt.hpp"
#include "tls/client_context.hpp"

namespace tlsrelay::proxy {

struct AuditOptions {
  tls::AttemptOptions attempt;  // target, EHLO name, phase time-out
  std::string ca_file;          // "" = the system store
  std::chrono::milliseconds overall{60000};
  bool json = false;
  std::string mx_domain;  // audit --mx DOMAIN: the domain, else ""
};

// At most kAuditMaxHandshakes (audit_command.hpp) handshakes within `o.overall`.
boost::asio::awaitable<AuditEvidence> gather_audit(AuditOptions o,
                                                   tls::ClientProfile relay_profile);

}  // namespace tlsrelay::proxy
