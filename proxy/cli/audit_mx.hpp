// `tlsrelay audit --mx DOMAIN`: what a sender finds when it delivers to DOMAIN. The MX
// records, MTA-STS (record and policy), TLS-RPT, and per MX host (the first
// kAuditMaxMxHosts, lowest preference first) STARTTLS on port 25, the certificate and DANE
// TLSA; then the full TLS audit (audit_gather.hpp) of the first MX host that speaks TLS.
// Graded by audit_mx_grade.hpp and audit_grade.hpp; printed worst finding first or as one
// JSON document.
//
// Bounds: DNS through the C library's resolver (dns_lookup.hpp), one HTTPS fetch, one
// handshake per MX host checked, then at most kAuditMaxHandshakes; all within the
// audit's overall deadline. Never sends AUTH or MAIL.
#pragma once

#include <ostream>

#include "proxy/cli/audit_gather.hpp"

namespace tlsrelay::proxy {

int audit_mx(const AuditOptions& o, const tls::ClientProfile& relay_profile, std::ostream& out);

}  // namespace tlsrelay::proxy
