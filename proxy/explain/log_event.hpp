// The vocabulary of `tlsrelay explain` (issue 20): what one MTA log line says about a TLS
// route, once recognised. The reader (log_reader.hpp) turns lines into LogEvents; the route
// book (route_book.hpp) groups them by route and judges how often a failure came back; the
// report (explain_report.hpp) says what it means and what to do.
//
// Plain values; no I/O. Everything taken from a log line is printable ASCII and bounded
// (common/text.hpp printable()), since logs are written by peers as much as by us.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/failure_class.hpp"

namespace tlsrelay::explain {

enum class Mta { Postfix, Exim, Sendmail };
// Outbound: our MTA is the client (smtp(8), Exim's transport, Sendmail's STARTTLS=client).
// Inbound: our MTA is the server and the peer failed against it (SSL_accept error from ...).
enum class Direction { Outbound, Inbound };

// When a line was written: seconds since the epoch (UTC) and microseconds. RFC 3164 lines
// carry no year and no zone: the reader guesses the year and takes them as local time, and
// says so.
struct LogTime {
  std::int64_t unix_s = 0;
  int micros = 0;
  bool year_guessed = false;
  friend auto operator<=>(const LogTime&, const LogTime&) = default;
};

enum class EventKind {
  TlsFailure,        // SSL_connect error, TLS library problem, verify failed, Cannot start TLS
  CertificateIssue,  // "Server certificate not verified", "certificate verification failed for"
  NoStarttls,        // TLS is required, but was not offered by host ...
  ConnectFailure,    // connect to ...: Connection timed out / refused / Network is unreachable
  DnsFailure,        // Host or domain name not found ...
  LostConnection,    // lost connection with ... while <stage>
  Deferred,          // status=deferred (...) with relay=
  Bounced,           // status=bounced (...)
  Sent,              // status=sent: the route carried this message
  TlsEstablished,    // "... TLS connection established to ...": the route worked then
};

// One recognised line.
struct LogEvent {
  LogTime time;
  Mta mta = Mta::Postfix;
  Direction direction = Direction::Outbound;
  EventKind kind = EventKind::TlsFailure;
  std::string host;        // "smtp.gmail.com" (the peer's name as logged; "unknown" kept)
  std::string address;     // "142.250.102.108", "2a00:1450:400c:c0a::6c"; "" when not logged
  std::uint16_t port = 0;  // 0 when not logged
  std::string queue_id;    // Postfix queue id, Exim message id, Sendmail qid; "" for none
  std::string stage;       // "EHLO handshake", "STARTTLS", "TLS handshake", ...; "" for none
  std::string detail;      // the reason as logged, printable, at most 300 octets
  // The failure classes (../shared/spec/failure-classes.md) this line can mean, most likely
  // first; empty for Sent and TlsEstablished. One class when the log decides.
  std::vector<FailureClass> candidates;
  // The line only sums up an attempt another line described (Shape::sums_up): its
  // candidates add nothing to that line's (route_book.hpp).
  bool sums_up = false;
  std::uint64_t line_no = 0;  // the line's number in its input (from 1), for the report
};

std::string_view to_string(Mta m);        // "postfix", "exim", "sendmail"
std::string_view to_string(Direction d);  // "outbound", "inbound"
std::string_view to_string(EventKind k);  // "tls-failure", ..., "tls-established"

// A failure is every kind but Sent and TlsEstablished.
bool is_failure(EventKind k);

}  // namespace tlsrelay::explain
