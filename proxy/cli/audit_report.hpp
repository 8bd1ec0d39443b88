// The output of `tlsrelay audit`: the human report (worst finding first, each with its
// evidence and fix, then every handshake made) and the one JSON document of --json.
//
// Pure formatting; server text (certificate names, alerts) is escaped. Thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "proxy/cli/audit_grade.hpp"

namespace tlsrelay::proxy {

// Every handshake the evidence holds, labelled ("TLS 1.0 only", "family cbc", ...), in
// the order they were made; skipped ones are left out.
std::vector<std::pair<std::string, const tls::ScanOutcome*>> audit_scans(const AuditEvidence& e);

// Text from servers is cut to this many characters in reports.
constexpr std::size_t kAuditMaxShown = 300;

// The findings, one line each ("CRITICAL  id: title"), with "seen:" and "fix:" lines
// under every one worse than ok.
void print_findings(std::ostream& out, const std::vector<Finding>& findings);
nlohmann::ordered_json findings_json(const std::vector<Finding>& findings);

void print_audit_report(std::ostream& out, const AuditEvidence& e,
                        const std::vector<Finding>& findings, double seconds);
nlohmann::ordered_json audit_json(const AuditEvidence& e, const std::vector<Finding>& findings,
                                  double seconds);

}  // namespace tlsrelay::proxy
