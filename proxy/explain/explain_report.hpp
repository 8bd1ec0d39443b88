// `tlsrelay explain`'s report (issue 20): for each route, worst first, what the log says,
// what it means (the class or its candidates, with the runbook's section), what is true now
// (the live probe) and what to do (the MTA-side fixes, the runbook's first step); a summary
// at the end. Human text (plain ASCII, at most 100 columns) or JSON Lines: one "route"
// object per line, worst first, then one "summary" object (schema in docs/explain.md).
//
// Peer text (details, hints) reaches it printable and bounded (log_event.hpp); it is cut
// again to fit a line. Pure formatting; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/explain/mta_fixes.hpp"
#include "proxy/explain/route_book.hpp"

namespace tlsrelay::explain {

// What the log reader did, as the CLI counts it.
struct ReaderCounts {
  std::uint64_t lines = 0;       // read
  std::uint64_t recognised = 0;  // gave an event
  std::uint64_t skipped = 0;     // not an MTA's TLS or status line
  std::uint64_t events = 0;      // LogEvents given to the route book
};

struct RouteReport {
  RouteSummary route;
  std::optional<LiveCheck> live;  // nullopt: not probed
  std::vector<MtaFix> fixes;      // mta_fixes(route, facts, live)
};

struct Report {
  std::vector<RouteReport> routes;  // worst first (RouteBook::summarize's order)
  ReaderCounts reader;
  BookStats book;
  BookLimits limits;
  std::optional<LogTime> first_line;  // the times the log covers, when it had any
  std::optional<LogTime> last_line;
  bool no_probe = false;       // --no-probe
  bool settings_read = false;  // Postfix's settings were read (else no postconf fixes)
};

struct ReportOptions {
  bool json = false;
};

void write_report(std::ostream& out, const Report& report, const ReportOptions& options);
void write_text(std::ostream& out, const Report& report);
void write_json_lines(std::ostream& out, const Report& report);

// 0: nothing to explain; 1: the log shows failures (on some route, or beyond the route cap).
int exit_status(const Report& report);

// "docs/failures.md#certificate-expired"
std::string runbook_anchor(FailureClass c);
// The runbook's first step for a class on a route, one sentence, the route's names filled
// in ("ask the operator of smtp.example.net to renew and install the certificate").
std::string first_step(FailureClass c, const RouteKey& route);

}  // namespace tlsrelay::explain
