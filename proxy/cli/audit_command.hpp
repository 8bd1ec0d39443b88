// `tlsrelay audit`: does a smarthost's TLS meet modern standards? A bounded series of
// handshakes (at most kAuditMaxHandshakes, within one overall deadline) through the
// scanner (tls/tls_scan.hpp), graded by audit_grade.hpp, printed worst finding first or as
// one JSON document. Never sends AUTH or MAIL.
//
// Exit status: 0 when nothing is worse than info, 1 for a warning, 3 for a critical
// finding, 2 on a usage error.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace tlsrelay::proxy {

inline constexpr int kAuditMaxHandshakes = 20;

int audit_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
const char* audit_usage();

}  // namespace tlsrelay::proxy
