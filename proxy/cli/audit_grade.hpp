// The grading of `tlsrelay audit`: the evidence its handshakes gathered in, findings out,
// each with a severity, what was seen and what to change, judged against RFC 9325 (BCP 195)
// and Mozilla's "intermediate" server configuration (docs/audit.md cites both).
//
// Pure functions over plain data (the scans' facts); no I/O, no clock (the evidence holds
// "now"). Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/modes.hpp"
#include "tls/tls_scan.hpp"

namespace tlsrelay::proxy {

enum class Severity { Ok, Info, Warning, Critical };
std::string_view to_string(Severity s);

struct Finding {
  std::string id;  // stable, e.g. "protocol-tls1.0", "cert-chain" (docs/audit.md lists them)
  Severity severity = Severity::Ok;
  std::string title;     // one line: what was found
  std::string evidence;  // what the handshakes showed
  std::string fix;       // what to change on the server ("" when nothing)
};

Finding make_finding(std::string id, Severity s, std::string title, std::string evidence,
                     std::string fix = {});

// One TLS 1.2 cipher-suite family offered on its own.
struct CipherFamily {
  std::string id;       // "ecdhe-aead", "dhe-aead", "cbc", "rsa-kx", "other", "3des", "null-anon"
  std::string name;     // "ECDHE with AES-GCM or ChaCha20-Poly1305"
  std::string ciphers;  // the OpenSSL cipher list offered
  bool any_cipher = false;
};
// The families the audit offers, in the order it offers them.
const std::vector<CipherFamily>& cipher_families();

// The key-exchange groups the audit offers one at a time: OpenSSL's name for each.
const std::vector<std::string>& audit_groups();

struct AuditEvidence {
  std::string host;
  std::uint16_t port = 25;
  TlsMode mode = TlsMode::Starttls;
  std::int64_t now = 0;  // seconds since the epoch, for days to expiry
  // The relay's own default offer (TLS 1.2 and 1.3, DEFAULT suites, level 2), with SNI.
  tls::ScanOutcome base;
  // The same offer again on the base's context: is the session resumed?
  tls::ScanOutcome resumed;
  // The same offer without SNI.
  tls::ScanOutcome without_sni;
  // One version at a time: "1.0", "1.1", "1.2", "1.3" (index 0..3).
  std::vector<std::pair<std::string, tls::ScanOutcome>> versions;
  // One family at a time under TLS 1.2, in cipher_families() order (id, outcome).
  std::vector<std::pair<std::string, tls::ScanOutcome>> families;
  // The order test: the suite agreed with our own order, and with that suite moved last.
  std::string order_first_choice;
  tls::ScanOutcome order_reversed;
  // With the first choice left out entirely (only when the reversed order chose it again).
  tls::ScanOutcome order_without_first;
  // One group at a time (audit_groups() order).
  std::vector<std::pair<std::string, tls::ScanOutcome>> groups;
  int handshakes = 0;
  int max_handshakes = 0;
  bool deadline_hit = false;  // some scans were skipped: time or handshakes ran out
};

// All findings, worst first (stable within one severity: the order of the checks).
std::vector<Finding> grade(const AuditEvidence& evidence);

Severity worst(const std::vector<Finding>& findings);
// Exit status: 0 when nothing is worse than info, 1 for a warning, 3 for a critical
// finding (2 is a usage error, as for every tlsrelay command).
int audit_exit_status(const std::vector<Finding>& findings);

}  // namespace tlsrelay::proxy
