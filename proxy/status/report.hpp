// `tlsrelay report`: what an event log says over a time window, as a human summary (top
// failure classes per upstream, with their latest hint) or as an RFC 8460 (SMTP TLS
// Reporting) aggregate report. Pure: records in, text or JSON out; the command in
// report_command.cpp reads the files.
//
// Several logs (several instances, or rotated files) are one union: records are taken in
// time order whatever file they came from. Incidents are rebuilt from the attempts with the
// relay's own rule (common/recurrence.hpp, docs/status-api.md "Incidents"): a run of
// failures of one class on one route (upstream and address), at most kShownIncidents per
// route kept for the text.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/recurrence.hpp"

namespace tlsrelay::proxy {

struct ReportWindow {
  std::int64_t from = 0;  // seconds since the epoch, inclusive
  std::int64_t to = 0;    // exclusive
};

struct ClassCount {
  std::string cls;
  std::string group;
  std::uint64_t count = 0;
  std::string last_time;
  std::string last_hint;
};

struct UpstreamReport {
  std::string name, host;
  std::uint64_t attempts = 0, ok = 0;
  std::vector<ClassCount> failures;  // most frequent first
};

struct ReportIncident {
  std::string cls;
  std::int64_t first = 0, last = 0;  // seconds since the epoch
  std::uint64_t failures = 0;
};

// One route (upstream and address) with at least one failure in the window.
struct RouteIncidents {
  std::string upstream, host, address;   // address "" when it failed before one (DNS)
  std::uint64_t count = 0;               // incidents in the window
  std::vector<ReportIncident> latest;    // the last kShownIncidents, oldest first
  std::optional<Recurrence> recurrence;  // the rule's verdict at the window's end
};

inline constexpr std::size_t kShownIncidents = 5;

struct LogSummary {
  ReportWindow window;
  RecurrenceRule rule;
  std::uint64_t records = 0;     // in the window
  std::uint64_t unreadable = 0;  // lines that were not attempt records
  std::vector<UpstreamReport> upstreams;
  std::vector<nlohmann::json> in_window;  // the records themselves, oldest first, for --tlsrpt
  std::vector<RouteIncidents> routes;     // in the order their first failure came
  // Incidents by (upstream host, address, class), for --tlsrpt's failure details.
  std::map<std::array<std::string, 3>, std::uint64_t> incidents_by_class;
};

// "2026-11-29T10:00:00.123Z" (or without the fraction) to seconds; -1 when malformed.
std::int64_t parse_rfc3339(const std::string& text);

// Reads event-log lines (one JSON attempt record each, any order: they are sorted by time);
// others are counted as unreadable.
LogSummary summarize(const std::vector<std::string>& lines, const ReportWindow& window,
                     const RecurrenceRule& rule = {});

std::string summary_text(const LogSummary& s);

struct TlsRptOptions {
  std::string organization;
  std::string contact;
  std::string report_id;
  std::string info_uri = "file:///usr/share/doc/tlsrelay/docs/failures.md";  // + "#class"
};
// RFC 8460 4.4: one policy per upstream host (policy-type "no-policy-found": the relay
// applies its own verification, not MTA-STS or DANE); sessions are attempts that reached
// TLS, successes those that ended ok, failures those with an RFC 8460 result type.
nlohmann::ordered_json tlsrpt_report(const LogSummary& s, const TlsRptOptions& o);

}  // namespace tlsrelay::proxy
