// `tlsrelay report`: what an event log says over a time window, as a human summary (top
// failure classes per upstream, with their latest hint) or as an RFC 8460 (SMTP TLS
// Reporting) aggregate report. Pure: records in, text or JSON out; the command in
// report_command.cpp reads the files.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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

struct LogSummary {
  ReportWindow window;
  std::uint64_t records = 0;     // in the window
  std::uint64_t unreadable = 0;  // lines that were not attempt records
  std::vector<UpstreamReport> upstreams;
  std::vector<nlohmann::json> in_window;  // the records themselves, for --tlsrpt
};

// "2026-11-29T10:00:00.123Z" (or without the fraction) to seconds; -1 when malformed.
std::int64_t parse_rfc3339(const std::string& text);

// Reads event-log lines (one JSON attempt record each); others are counted as unreadable.
LogSummary summarize(const std::vector<std::string>& lines, const ReportWindow& window);

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
