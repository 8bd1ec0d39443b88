#include "proxy/explain/route_book.hpp"

#include <algorithm>
#include <cctype>
#include <functional>
#include <tuple>

#include "common/recurrence.hpp"

namespace tlsrelay::explain {

// One incident gap for explain and the relay's route health (route_book.hpp).
static_assert(BookLimits{}.incident_gap_s == tlsrelay::kIncidentGap.count());

namespace {

bool is_status(EventKind k) {
  return k == EventKind::Deferred || k == EventKind::Bounced;
}

std::int64_t seconds_between(const LogTime& earlier, const LogTime& later) {
  return later.unix_s - earlier.unix_s;
}

int rank(RoutePattern r) {
  switch (r) {
    case RoutePattern::Ongoing:
      return 0;
    case RoutePattern::Recurring:
      return 1;
    case RoutePattern::OneOff:
      return 2;
  }
  return 3;
}

}  // namespace

std::size_t RouteKeyHash::operator()(const RouteKey& k) const noexcept {
  std::size_t h = std::hash<std::string>{}(k.host);
  h = h * 31 + std::hash<std::string>{}(k.address);
  h = h * 31 + k.port;
  return h * 2 + (k.direction == Direction::Inbound ? 1 : 0);
}

RouteKey route_key(const LogEvent& e) {
  RouteKey k;
  k.direction = e.direction;
  k.host = e.host;
  // Host names compare without case (RFC 4343); the MTAs log them as DNS gave them.
  std::transform(k.host.begin(), k.host.end(), k.host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  k.address = e.address;
  // A client's source port is ephemeral: every connection would be a route of its own.
  k.port = e.direction == Direction::Inbound ? 0 : e.port;
  return k;
}

std::string route_text(const RouteKey& k) {
  std::string s = k.host;
  if (!k.address.empty()) s += "[" + k.address + "]";
  if (k.port != 0) s += ":" + std::to_string(k.port);
  if (s.empty()) s = "(unnamed)";
  return s;
}

std::string_view to_string(RoutePattern r) {
  switch (r) {
    case RoutePattern::Ongoing:
      return "ongoing";
    case RoutePattern::Recurring:
      return "recurring";
    case RoutePattern::OneOff:
      return "one-off";
  }
  return "?";
}

std::optional<FailureClass> RouteSummary::decided() const {
  if (classes.empty() || classes.front().confirmed == 0) return std::nullopt;
  return classes.front().cls;
}

bool worse(const RouteSummary& a, const RouteSummary& b) {
  const std::uint64_t affected_a = a.queue_ids.count + a.queue_ids.untracked;
  const std::uint64_t affected_b = b.queue_ids.count + b.queue_ids.untracked;
  if (rank(a.verdict) != rank(b.verdict)) return rank(a.verdict) < rank(b.verdict);
  if (affected_a != affected_b) return affected_a > affected_b;
  if (a.failures != b.failures) return a.failures > b.failures;
  if (a.last_failure != b.last_failure) return a.last_failure > b.last_failure;
  return a.key < b.key;
}

RouteBook::RouteBook(BookLimits limits) : limits_(limits) {}

RouteBook::Route* RouteBook::route_for(const LogEvent& e, bool create) {
  RouteKey key = route_key(e);
  if (auto it = index_.find(key); it != index_.end()) return &routes_[it->second];
  if (!create || routes_.size() >= limits_.max_routes) return nullptr;
  const auto index = static_cast<std::uint32_t>(routes_.size());
  Route& r = routes_.emplace_back();
  r.key = key;
  r.mta = e.mta;
  r.first_failure = e.time;
  r.last_failure = e.time;
  index_.emplace(std::move(key), index);
  stats_.routes = routes_.size();
  return &r;
}

RouteBook::Route* RouteBook::route_of_message(const std::string& queue_id, Direction direction) {
  const auto it = queue_ids_.find(queue_id);
  if (it == queue_ids_.end() || it->second.empty()) return nullptr;
  Route& r = routes_[it->second.back().route];
  return r.key.direction == direction ? &r : nullptr;
}

void RouteBook::add(const LogEvent& e) {
  ++stats_.events;
  if (!is_failure(e.kind)) {
    if (e.kind == EventKind::Sent && !e.queue_id.empty()) finish_queue_id(e.queue_id, true);
    Route* r = route_for(e, false);
    if (r == nullptr) return;
    if (e.kind == EventKind::Sent) {
      commit_pending(*r, std::nullopt);
      success(*r, e.time);
    } else {
      commit_pending(*r, std::nullopt);
      r->pending_established = e.time;
    }
    return;
  }
  // A status line that names no failure class is about a recipient (greylisting, a full
  // mailbox), not the route; only its bounce ends a message's wait.
  if (is_status(e.kind) && e.candidates.empty()) {
    if (e.kind == EventKind::Bounced && !e.queue_id.empty()) finish_queue_id(e.queue_id, false);
    return;
  }
  Route* r = nullptr;
  if (e.host.empty() && e.address.empty() && !e.queue_id.empty()) {
    r = route_of_message(e.queue_id, e.direction);
  }
  if (r == nullptr) r = route_for(e, true);
  if (r == nullptr) {
    ++stats_.other_events;
    ++stats_.other_failure_lines;
    return;
  }
  const auto index = static_cast<std::uint32_t>(r - routes_.data());
  failure(*r, index, e);
}

void RouteBook::success(Route& r, LogTime t) {
  if (!r.last_success || *r.last_success < t) r.last_success = t;
  r.success_since_last_failure = true;
}

// A TLS connection that came up and then failed in the same attempt (an alert after the
// TLS 1.3 handshake, AUTH refused) is no success of the route.
void RouteBook::commit_pending(Route& r, std::optional<LogTime> before_failure) {
  if (!r.pending_established) return;
  const LogTime t = *r.pending_established;
  r.pending_established.reset();
  if (before_failure && *before_failure >= t &&
      seconds_between(t, *before_failure) <= kSameAttempt) {
    return;
  }
  success(r, t);
}

void RouteBook::failure(Route& r, std::uint32_t index, const LogEvent& e) {
  commit_pending(r, e.time);
  ++r.failure_lines;
  if (e.time < r.last_failure) ++stats_.out_of_order;
  if (e.time < r.first_failure) r.first_failure = e.time;

  // Postfix writes the TLS line, then one status line per recipient: one attempt.
  const bool same_attempt = r.last_diagnostic && e.time >= *r.last_diagnostic &&
                            seconds_between(*r.last_diagnostic, e.time) <= kSameAttempt;
  const bool concludes = same_attempt && (is_status(e.kind) || e.sums_up);
  const bool retold =
      concludes && std::any_of(e.candidates.begin(), e.candidates.end(), [&](FailureClass c) {
        return std::find(r.attempt_classes.begin(), r.attempt_classes.end(), c) !=
               r.attempt_classes.end();
      });
  if (!concludes) {
    ++r.failures;
    r.kind = e.kind;
    r.detail = e.detail;
    r.stage = e.stage;
    r.line_no = e.line_no;
    r.mta = e.mta;
  }
  if (!is_status(e.kind) && !concludes) {
    if (!same_attempt) r.attempt_classes.clear();
    for (FailureClass c : e.candidates) {
      if (std::find(r.attempt_classes.begin(), r.attempt_classes.end(), c) ==
          r.attempt_classes.end()) {
        r.attempt_classes.push_back(c);
      }
    }
    r.last_diagnostic = e.time;
  }

  bool starts = r.recent.empty();
  if (!starts && e.time >= r.recent.back().end) {
    const bool quiet_gap = seconds_between(r.recent.back().end, e.time) > limits_.incident_gap_s &&
                           r.queue_ids.waiting == 0;
    starts = r.success_since_last_failure || quiet_gap;
  }
  if (starts) {
    ++r.incidents;
    r.recent.push_back(Incident{e.time, e.time, 0});
    if (r.recent.size() > kKeptIncidents) r.recent.pop_front();
  }
  Incident& current = r.recent.back();
  if (e.time > current.end) current.end = e.time;
  if (!concludes) ++current.failures;
  if (e.time > r.last_failure) r.last_failure = e.time;
  r.success_since_last_failure = false;

  if (!e.candidates.empty() && !retold) {
    const double share = 1.0 / static_cast<double>(e.candidates.size());
    for (std::size_t i = 0; i < e.candidates.size(); ++i) {
      const FailureClass c = e.candidates[i];
      ClassCount& cc = r.classes[static_cast<std::size_t>(c)];
      cc.cls = c;
      ++cc.lines;
      cc.position_sum += i;
      cc.weight += share;
      if (e.candidates.size() == 1) ++cc.confirmed;
    }
  }
  if (!e.queue_id.empty()) note_queue_id(r, index, e.queue_id, e.kind == EventKind::Bounced);
}

void RouteBook::note_queue_id(Route& r, std::uint32_t index, const std::string& qid, bool bounced) {
  auto it = queue_ids_.find(qid);
  const bool known_here =
      it != queue_ids_.end() && std::any_of(it->second.begin(), it->second.end(),
                                            [&](const QueueRef& q) { return q.route == index; });
  if (!known_here) {
    const bool room = r.queue_ids.count < limits_.max_queue_ids_per_route &&
                      (it != queue_ids_.end() || queue_ids_.size() < limits_.max_queue_ids);
    if (!room) {
      ++r.queue_ids.untracked;
      ++stats_.untracked_queue_ids;
      return;
    }
    if (it == queue_ids_.end()) it = queue_ids_.emplace(qid, std::vector<QueueRef>{}).first;
    it->second.push_back(QueueRef{index, false});
    ++r.queue_ids.count;
    ++r.queue_ids.waiting;
    if (r.queue_ids.first.size() < kShownQueueIds) r.queue_ids.first.push_back(qid);
  }
  if (bounced) finish_queue_id(qid, false);
}

void RouteBook::finish_queue_id(const std::string& qid, bool delivered) {
  auto it = queue_ids_.find(qid);
  if (it == queue_ids_.end()) return;
  for (QueueRef& q : it->second) {
    if (q.done) continue;
    q.done = true;
    QueueIdStats& s = routes_[q.route].queue_ids;
    --s.waiting;
    ++(delivered ? s.delivered_later : s.bounced);
  }
}

std::vector<RouteSummary> RouteBook::summarize(LogTime end_of_log) const {
  std::vector<RouteSummary> out;
  out.reserve(routes_.size());
  for (const Route& r : routes_) {
    RouteSummary s;
    s.key = r.key;
    s.mta = r.mta;
    s.failures = r.failures;
    s.failure_lines = r.failure_lines;
    s.first_failure = r.first_failure;
    s.last_failure = r.last_failure;
    s.last_success = r.last_success;
    bool success_after = r.success_since_last_failure;
    // A TLS connection still pending at the end was followed by no failure: a success.
    if (r.pending_established) {
      if (!s.last_success || *s.last_success < *r.pending_established) {
        s.last_success = r.pending_established;
      }
      success_after = true;
    }
    for (const ClassCount& c : r.classes) {
      if (c.lines > 0) s.classes.push_back(c);
    }
    std::sort(s.classes.begin(), s.classes.end(), [](const ClassCount& a, const ClassCount& b) {
      return std::tuple(b.confirmed, b.weight, b.lines, a.position_sum, a.cls) <
             std::tuple(a.confirmed, a.weight, a.lines, b.position_sum, b.cls);
    });
    s.kind = r.kind;
    s.detail = r.detail;
    s.stage = r.stage;
    s.line_no = r.line_no;
    s.queue_ids = r.queue_ids;
    s.incidents = r.incidents;
    s.last_incidents.assign(r.recent.begin(), r.recent.end());

    const std::int64_t since_last =
        std::max<std::int64_t>(0, seconds_between(r.last_failure, end_of_log));
    if (!success_after && (since_last <= limits_.incident_gap_s || r.queue_ids.waiting > 0)) {
      s.verdict = RoutePattern::Ongoing;
    } else if (r.incidents >= 2) {
      s.verdict = RoutePattern::Recurring;
    } else {
      s.verdict = RoutePattern::OneOff;
    }
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), worse);
  return out;
}

}  // namespace tlsrelay::explain
