// What a TLS library's words in an MTA log can mean (issue 20, "what the log alone can
// tell"): OpenSSL reason strings and codes ("error:0A000086:SSL routines::certificate verify
// failed", OpenSSL 1.1's "error:1416F086:SSL routines:tls_process_server_certificate:..."),
// X.509 verify strings ("num=10:certificate has expired") and the GnuTLS strings of Debian's
// Exim, each to the failure classes (../shared/spec/failure-classes.md) it can stand for,
// most likely first. docs/failures.md "What the log alone can tell" is the same table in
// prose; keep the two identical.
//
// Matching is on the reason text first (lower-cased substring; it survives OpenSSL's
// renumbering between 1.1 and 3.x), then on the SSL library's reason number decoded from
// the hex code (so "reason(134)" from a build without strings still maps). Immutable data;
// thread-safe.
#pragma once

#include <initializer_list>
#include <string_view>

#include "common/failure_class.hpp"

namespace tlsrelay::explain {

struct ReasonRow {
  std::string_view text;  // lower-case substring of the logged reason
  int ssl_reason;         // OpenSSL's SSL-library reason number (ERR_GET_REASON), 0 for none
  std::initializer_list<FailureClass> candidates;  // most likely first
  std::string_view why;  // one line for the docs: what tells the candidates apart
};

// Every row, in match order (specific before general).
const ReasonRow* reason_rows_begin();
const ReasonRow* reason_rows_end();

// The first row whose text occurs in `detail` (case-insensitive), else the row whose SSL
// reason number matches an "error:XXXXXXXX:" code in `detail`, else nullptr.
const ReasonRow* match_reason(std::string_view detail);

// OpenSSL's packed error code "0A000086" (3.x) or "1416F086" (1.1) to the SSL library's
// reason number (0x86); -1 when the code is not the SSL library's or not hex.
int ssl_reason_from_code(std::string_view hex8);

}  // namespace tlsrelay::explain
