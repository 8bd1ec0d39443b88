// `tlsrelay explain`'s route book (issue 20): LogEvents in, one summary per route out. A
// route is (direction, host, address, port); for each it counts the failed attempts, keeps
// when they began and ended, which failure classes the lines name, the queue ids they cost
// and whether those messages were delivered later, and judges how the failure recurs.
//
// Attribution. Postfix's TLS lines ("SSL_connect error to HOST[ADDR]:PORT") carry the route
// and usually no queue id; its status lines carry the queue id and relay=HOST[ADDR]:PORT. So
// every event is filed under its route key, and a queue id is taken from whichever line has
// one. A status line (deferred/bounced) written within kSameAttempt (5 s) after a diagnostic
// line of the same route concludes that attempt: it adds its queue id, not a failure.
// A line that only sums up, in coarser words, an attempt an earlier line of it described
// (Postfix's "Cannot start TLS: handshake failure" or "Server certificate not verified" in
// the status line after the library's or the verifier's own words; smtpd's "lost connection
// after STARTTLS" after "SSL_accept error") gives no vote when it shares a class with that
// line: it names every class of its kind, and would bury the one the specific line named.
// A deferred/bounced line that names no failure class (greylisting, "mailbox full": a
// recipient's problem, not the route's) is no route failure; it only ends a queue id's wait
// when it bounces. Inbound routes drop the port: a client's source port is ephemeral.
// A "TLS connection established" line counts as a success only when no failure follows on
// the route within kSameAttempt (TLS 1.3 can fail right after it, at EHLO or AUTH).
//
// The recurrence verdict (docs/explain.md "How a verdict is reached"), with G =
// BookLimits::incident_gap (30 minutes by default, common/recurrence.hpp's kIncidentGap,
// which the relay's route health uses for its own incidents):
//   - An incident is a run of failures of one route. A failure starts a new incident when a
//     success came on the route since the previous failure, or when more than G passed since
//     it while no message deferred on the route was still waiting (a message retried by the
//     MTA's back-off, up to 67 min in Postfix, keeps one outage one incident).
//   - ongoing: no success after the route's last failure, and that failure is within G of
//     the end of the log or a message deferred there is still waiting (neither sent nor
//     bounced in the log). Mail is waiting now.
//   - one-off: one incident, not ongoing. Most often a network hiccup.
//   - recurring: two or more incidents, not ongoing: points at the peer's TLS configuration.
//
// Order: add() expects events in log order (oldest first, as the CLI feeds files); an event
// older than its route's last failure is folded into the current incident and counted in
// BookStats::out_of_order.
//
// Bounded memory whatever the log: at most max_routes routes (failures on further routes
// are counted in BookStats::other_*), at most max_queue_ids_per_route queue ids remembered
// per route and max_queue_ids in all (further ones are counted, not remembered), the last
// kKeptIncidents incidents per route. Routes are created by failures only: a log of
// millions of successful deliveries holds no memory here.
//
// Not thread-safe: one book per explain run.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/failure_class.hpp"
#include "proxy/explain/log_event.hpp"

namespace tlsrelay::explain {

struct RouteKey {
  Direction direction = Direction::Outbound;
  std::string host;
  std::string address;
  std::uint16_t port = 0;
  friend auto operator<=>(const RouteKey&, const RouteKey&) = default;
  friend bool operator==(const RouteKey&, const RouteKey&) = default;
};

struct RouteKeyHash {
  std::size_t operator()(const RouteKey& k) const noexcept;
};

// The key an event is filed under (inbound: port 0).
RouteKey route_key(const LogEvent& e);
// "smtp.gmail.com[142.250.102.108]:587", "unknown[203.0.113.9]", "mx.example.net"
std::string route_text(const RouteKey& k);

enum class RoutePattern { Ongoing, Recurring, OneOff };
std::string_view to_string(RoutePattern r);  // "ongoing", "recurring", "one-off"

struct BookLimits {
  std::size_t max_routes = 10'000;
  std::size_t max_queue_ids_per_route = 10'000;
  std::size_t max_queue_ids = 200'000;    // all routes together
  std::int64_t incident_gap_s = 30 * 60;  // G, the relay's too (checked in route_book.cpp)
};

inline constexpr std::int64_t kSameAttempt = 5;  // seconds
inline constexpr std::size_t kKeptIncidents = 3;
inline constexpr std::size_t kShownQueueIds = 5;

// A class the route's lines named: in how many failure lines, and in how many as the only
// candidate (the log decided).
struct ClassCount {
  FailureClass cls = FailureClass::TlsError;
  std::uint64_t lines = 0;
  std::uint64_t confirmed = 0;
  double weight = 0;  // each line's vote split among its candidates: frequent and specific
  std::uint64_t position_sum = 0;  // the places it was named at (0 = most likely first)
};

struct Incident {
  LogTime start;
  LogTime end;
  std::uint64_t failures = 0;
};

struct QueueIdStats {
  std::uint64_t count = 0;            // distinct queue ids deferred/bounced here (remembered)
  std::uint64_t untracked = 0;        // further deferral lines whose id was not remembered (cap)
  std::uint64_t delivered_later = 0;  // of `count`: a status=sent line came later (any route)
  std::uint64_t bounced = 0;          // of `count`: bounced
  std::uint64_t waiting = 0;          // of `count`: neither sent nor bounced by the end of the log
  std::vector<std::string> first;     // the first kShownQueueIds, in log order
};

struct RouteSummary {
  RouteKey key;
  Mta mta = Mta::Postfix;
  std::uint64_t failures = 0;       // failed attempts (see the header on status lines)
  std::uint64_t failure_lines = 0;  // every failure line filed here
  LogTime first_failure;
  LogTime last_failure;
  std::optional<LogTime> last_success;
  // Confirmed first, then by weight, by how many lines, by the places the lines named it at
  // (the reader lists the most likely first); every named class once.
  std::vector<ClassCount> classes;
  // The representative line: the last failure that was not a status line concluding an
  // attempt already counted (the TLS line says more than "Cannot start TLS").
  EventKind kind = EventKind::TlsFailure;
  std::string detail;
  std::string stage;
  std::uint64_t line_no = 0;
  QueueIdStats queue_ids;
  std::uint64_t incidents = 0;
  std::vector<Incident> last_incidents;  // at most kKeptIncidents, oldest first
  RoutePattern verdict = RoutePattern::OneOff;

  // The class the log decided (a line named it alone), if any: the first of `classes`.
  std::optional<FailureClass> decided() const;
};

struct BookStats {
  std::uint64_t events = 0;
  std::uint64_t routes = 0;
  std::uint64_t other_failure_lines = 0;  // failures on routes beyond max_routes
  std::uint64_t other_events = 0;         // every event on those routes
  std::uint64_t out_of_order = 0;         // failures older than their route's last
  std::uint64_t untracked_queue_ids = 0;  // deferral lines whose queue id was not remembered
  bool routes_capped() const { return other_events > 0; }
};

// Worst first: ongoing, recurring, one-off; then messages affected, failures, the latest
// failure; then the key, so that the order is the same on every run.
bool worse(const RouteSummary& a, const RouteSummary& b);

class RouteBook {
 public:
  explicit RouteBook(BookLimits limits = {});

  void add(const LogEvent& e);
  // Every route with at least one failure, worst first, judged at `end_of_log` (the time of
  // the log's last line, or the --until bound).
  std::vector<RouteSummary> summarize(LogTime end_of_log) const;
  const BookStats& stats() const { return stats_; }
  const BookLimits& limits() const { return limits_; }

 private:
  static constexpr std::size_t kClassCount =
      static_cast<std::size_t>(FailureClass::LocalConfig) + 1;

  struct Route {
    RouteKey key;
    Mta mta = Mta::Postfix;
    std::uint64_t failures = 0;
    std::uint64_t failure_lines = 0;
    LogTime first_failure;
    LogTime last_failure;
    std::optional<LogTime> last_diagnostic;     // for pairing status lines with their attempt
    std::vector<FailureClass> attempt_classes;  // what that attempt's diagnostic lines named
    std::optional<LogTime> last_success;
    std::optional<LogTime> pending_established;  // TLS up; a success unless a failure follows
    std::array<ClassCount, kClassCount> classes{};
    EventKind kind = EventKind::TlsFailure;
    std::string detail;
    std::string stage;
    std::uint64_t line_no = 0;
    QueueIdStats queue_ids;
    std::uint64_t incidents = 0;
    std::deque<Incident> recent;  // the current incident last
    bool success_since_last_failure = false;
  };
  // A queue id remembered: the routes it was deferred on, and whether it is done there.
  struct QueueRef {
    std::uint32_t route = 0;
    bool done = false;
  };

  Route* route_for(const LogEvent& e, bool create);
  // The route a message was last tried on, for a line that names no peer (Exim's
  // "== rcpt ... defer (111): Connection refused" after its "H=host [addr] ..." line).
  Route* route_of_message(const std::string& queue_id, Direction direction);
  void failure(Route& r, std::uint32_t index, const LogEvent& e);
  void success(Route& r, LogTime t);
  void commit_pending(Route& r, std::optional<LogTime> before_failure);
  void note_queue_id(Route& r, std::uint32_t index, const std::string& qid, bool bounced);
  void finish_queue_id(const std::string& qid, bool delivered);

  BookLimits limits_;
  BookStats stats_;
  std::vector<Route> routes_;
  std::unordered_map<RouteKey, std::uint32_t, RouteKeyHash> index_;
  std::unordered_map<std::string, std::vector<QueueRef>> queue_ids_;
};

}  // namespace tlsrelay::explain
