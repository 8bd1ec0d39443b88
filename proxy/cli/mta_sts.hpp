// A mail domain's published TLS policy, as `tlsrelay audit --mx DOMAIN` reads it: the
// MTA-STS TXT record and policy file (RFC 8461 3.1, 3.2) with its MX patterns (4.1), and
// the TLS-RPT TXT record (RFC 8460 3). Parsers of what the domain publishes: every problem
// is named in `problems` (one line each) rather than thrown; nothing here does I/O.
// Limits: a policy file over kStsPolicyMaxBytes is refused by the fetcher, not here.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsrelay::proxy {

// RFC 8461 3.3: "a body size limit ... of 64 kilobytes" is suggested to senders.
constexpr std::size_t kStsPolicyMaxBytes = 64 * 1024;
// RFC 8461 3.2: max_age is at most 31557600 s (about one year).
constexpr std::int64_t kStsMaxAgeLimit = 31557600;

// One `_mta-sts.DOMAIN` TXT record, "v=STSv1; id=20160831085700Z;".
struct StsRecord {
  bool is_sts = false;  // begins with "v=STSv1" (other TXT records there are not ours)
  bool valid = false;   // is_sts, and an id of 1 to 32 letters and digits
  std::string id;
  std::vector<std::string>
      problems;  // e.g. "id is missing", "id \"...\" is not 1-32 alphanumerics"
};
StsRecord parse_sts_record(std::string_view txt);

enum class StsMode { Enforce, Testing, None };
std::string_view to_string(StsMode m);

// The policy file at https://mta-sts.DOMAIN/.well-known/mta-sts.txt:
//   version: STSv1 / mode: enforce|testing|none / mx: PATTERN (one or more) / max_age: SECONDS
// Lines end in CRLF or LF (RFC 8461 3.2 allows both to be read); unknown keys are ignored.
struct StsPolicy {
  bool valid = false;  // version STSv1, a known mode, max_age present and in range, mx
                       // present unless mode is none
  std::optional<StsMode> mode;
  std::vector<std::string> mx;  // patterns as written, lower-cased
  std::optional<std::int64_t> max_age;
  std::vector<std::string> problems;
};
StsPolicy parse_sts_policy(std::string_view body);

// RFC 8461 4.1: PATTERN is a host name, or "*." and a name, which matches exactly one
// more label on the left ("*.example.com" matches "mx1.example.com", not
// "a.b.example.com" nor "example.com"). Case-insensitive; a trailing dot on host ignored.
bool sts_mx_matches(std::string_view pattern, std::string_view host);

// One `_smtp._tls.DOMAIN` TXT record, "v=TLSRPTv1; rua=mailto:tlsrpt@example.com".
struct TlsRptRecord {
  bool is_tlsrpt = false;  // begins with "v=TLSRPTv1"
  bool valid = false;      // is_tlsrpt and at least one rua URI, each mailto: or https:
  std::vector<std::string> rua;
  std::vector<std::string> problems;
};
TlsRptRecord parse_tlsrpt_record(std::string_view txt);

}  // namespace tlsrelay::proxy
