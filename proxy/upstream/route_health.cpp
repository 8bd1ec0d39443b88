#include "proxy/upstream/route_health.hpp"

#include <algorithm>

namespace tlsrelay::proxy {

std::string_view to_string(Health h) {
  switch (h) {
    case Health::Unknown:
      return "unknown";
    case Health::Healthy:
      return "healthy";
    case Health::Degraded:
      return "degraded";
    case Health::Failing:
      return "failing";
  }
  return "unknown";
}

std::optional<double> WindowStats::ratio() const {
  if (attempts == 0) return std::nullopt;
  return static_cast<double>(successes) / static_cast<double>(attempts);
}

namespace {

// Best first: an upstream is as good as its best address.
int rank(Health h) {
  switch (h) {
    case Health::Healthy:
      return 0;
    case Health::Degraded:
      return 1;
    case Health::Unknown:
      return 2;
    case Health::Failing:
      return 3;
  }
  return 3;
}

constexpr auto kSweepInterval = std::chrono::minutes(1);

// Past a cap, evict down to three quarters of it: one sort per cap/4 new addresses while DNS
// keeps rotating, instead of a scan per attempt.
constexpr std::size_t low_water(std::size_t cap) {
  return cap - cap / 4;
}

}  // namespace

bool RouteHealth::is_pinned(const UpstreamState& u, std::string_view address) {
  return address == u.last_address ||
         std::binary_search(u.resolved_sorted.begin(), u.resolved_sorted.end(), address,
                            std::less<>());
}

bool RouteHealth::kept(const UpstreamState& u, std::string_view address, const AddressState& a,
                       SysClock::time_point now) {
  return is_pinned(u, address) || now - a.last_outcome_at <= kAddressTtl;
}

bool RouteHealth::record(const AttemptOutcome& o, SysClock::time_point now) {
  UpstreamState& u = upstreams_[o.upstream];
  if (!o.resolved.empty()) {
    u.resolved = o.resolved;
    u.resolved_sorted = o.resolved;
    std::sort(u.resolved_sorted.begin(), u.resolved_sorted.end());
    u.resolved_at = now;
  }
  u.last_address = o.address;
  const bool ok = o.cls == FailureClass::Ok;
  if (ok) u.last_verified_tls = o.verified_tls;
  // A failure before any address was chosen (DNS) belongs to the upstream as a whole: keep
  // it under "" so that the upstream's view shows it.
  auto [at, created] = u.addresses.try_emplace(o.address);
  if (created) ++address_count_;
  AddressState& a = at->second;
  a.last_outcome_at = now;
  a.outcomes.push_back({now, ok});
  while (!a.outcomes.empty() && (a.outcomes.size() > kMaxOutcomes ||
                                 now - a.outcomes.front().at > std::chrono::hours(1))) {
    a.outcomes.pop_front();
  }
  bool new_incident = false;
  if (ok) {
    a.consecutive_failures = 0;
  } else {
    new_incident = note_incident(a, o.cls, a.consecutive_failures > 0, now);
    if (a.consecutive_failures == 0) a.failing_since = now;
    ++a.consecutive_failures;
    a.last_failure = o.cls;
    a.last_transient = o.transient;
    a.last_hint = o.hint;
    a.last_failure_at = now;
  }
  // A resolver that answers with new addresses every time (a large rotating pool, or a
  // hostile one) must not grow memory, /status and /metrics for ever. Also after the
  // system clock jumped back.
  if (now >= next_sweep_ || next_sweep_ - now > kSweepInterval) {
    forget_expired(now);
    next_sweep_ = now + kSweepInterval;
  }
  if (created) evict_over_caps(u);
  return new_incident;
}

bool RouteHealth::note_incident(AddressState& a, FailureClass cls, bool no_success_since,
                                SysClock::time_point now) {
  while (!a.incidents.empty() && now - a.incidents.front().last > rule_.window) {
    a.incidents.pop_front();
  }
  if (no_success_since && !a.incidents.empty()) {
    Incident& current = a.incidents.back();
    if (current.cls == cls && continues_incident(rule_, current.last, now)) {
      current.last = std::max(current.last, now);
      ++current.failures;
      return false;
    }
  }
  a.incidents.push_back({cls, now, now, 1});
  if (a.incidents.size() > kMaxIncidents) a.incidents.pop_front();
  return true;
}

std::optional<Recurrence> RouteHealth::judge_incidents(const AddressState& a,
                                                       SysClock::time_point now) const {
  std::vector<IncidentSpan> spans;
  spans.reserve(a.incidents.size());
  for (const Incident& i : a.incidents) spans.push_back({i.first, i.last});
  return judge(rule_, spans, now);
}

std::optional<Recurrence> RouteHealth::recurrence(std::string_view upstream,
                                                  std::string_view address,
                                                  SysClock::time_point now) const {
  auto u = upstreams_.find(upstream);
  if (u == upstreams_.end()) return std::nullopt;
  auto a = u->second.addresses.find(address);
  if (a == u->second.addresses.end() || !kept(u->second, address, a->second, now)) {
    return std::nullopt;
  }
  return judge_incidents(a->second, now);
}

void RouteHealth::forget_expired(SysClock::time_point now) {
  for (auto& [name, u] : upstreams_) {
    address_count_ -= std::erase_if(
        u.addresses, [&](const auto& entry) { return !kept(u, entry.first, entry.second, now); });
  }
}

void RouteHealth::evict_over_caps(UpstreamState& u) {
  if (u.addresses.size() > kMaxAddressesPerUpstream) {
    std::vector<Candidate> candidates;
    for (auto it = u.addresses.begin(); it != u.addresses.end(); ++it) {
      candidates.push_back({it->second.last_outcome_at, &u, it, is_pinned(u, it->first)});
    }
    evict(std::move(candidates), kMaxAddressesPerUpstream, low_water(kMaxAddressesPerUpstream));
  }
  if (address_count_ > kMaxAddresses) {
    std::vector<Candidate> candidates;
    for (auto& [name, each] : upstreams_) {
      for (auto it = each.addresses.begin(); it != each.addresses.end(); ++it) {
        candidates.push_back({it->second.last_outcome_at, &each, it, is_pinned(each, it->first)});
      }
    }
    evict(std::move(candidates), kMaxAddresses, low_water(kMaxAddresses));
  }
}

// The least recently tried go first. Addresses of the latest DNS answer (and each upstream's
// latest) are what the next message will use: they go only when the cap cannot be kept
// otherwise, and then only down to the cap.
void RouteHealth::evict(std::vector<Candidate> candidates, std::size_t cap, std::size_t low_water) {
  std::stable_sort(candidates.begin(), candidates.end(), [](const auto& x, const auto& y) {
    return x.last_outcome_at < y.last_outcome_at;
  });
  std::size_t left = candidates.size();
  for (const bool pass_pinned : {false, true}) {
    const std::size_t target = pass_pinned ? cap : low_water;
    for (const Candidate& c : candidates) {
      if (left <= target) break;
      if (c.pinned != pass_pinned) continue;
      c.upstream->addresses.erase(c.address);
      --address_count_;
      --left;
    }
  }
}

HealthView RouteHealth::view(const AddressState& a, SysClock::time_point now) const {
  HealthView v;
  for (const Entry& e : a.outcomes) {
    if (now - e.at <= std::chrono::hours(1)) {
      ++v.last_1h.attempts;
      v.last_1h.successes += e.ok ? 1 : 0;
    }
    if (now - e.at <= kDegradedWindow) {
      ++v.last_5m.attempts;
      v.last_5m.successes += e.ok ? 1 : 0;
    }
  }
  v.consecutive_failures = a.consecutive_failures;
  for (std::size_t i = 0; i < a.incidents.size(); ++i) {
    const Incident& in = a.incidents[i];
    if (now - in.last > rule_.window) continue;
    const bool current = i + 1 == a.incidents.size() && a.consecutive_failures > 0;
    v.incidents.push_back({in.cls, in.first, in.last, in.failures,
                           current && continues_incident(rule_, in.last, now)});
  }
  v.incident_count = v.incidents.size();
  v.recurrence = judge_incidents(a, now);
  if (a.outcomes.empty()) return v;
  v.last_attempt = a.outcomes.back().at;
  const bool recent_failure =
      a.last_failure_at != SysClock::time_point{} && now - a.last_failure_at <= kDegradedWindow;
  if (a.consecutive_failures == 0) {
    v.state = recent_failure ? Health::Degraded : Health::Healthy;
  } else if (!a.last_transient || a.consecutive_failures >= kFailingAfter) {
    v.state = Health::Failing;
  } else {
    v.state = Health::Degraded;
  }
  if (v.state != Health::Healthy) {
    v.cls = a.last_failure;
    v.hint = a.last_hint;
    // While it works again but is still degraded, "since" is the last failure's time.
    v.since = a.consecutive_failures > 0 ? a.failing_since : a.last_failure_at;
  }
  if (v.state == Health::Failing && now < a.last_failure_at + hold_down_) {
    v.held_down_until = a.last_failure_at + hold_down_;
  }
  return v;
}

HealthView RouteHealth::address(std::string_view upstream, std::string_view address,
                                SysClock::time_point now) const {
  auto u = upstreams_.find(upstream);
  if (u == upstreams_.end()) return {};
  auto a = u->second.addresses.find(address);
  if (a == u->second.addresses.end() || !kept(u->second, address, a->second, now)) return {};
  return view(a->second, now);
}

HealthView RouteHealth::upstream(std::string_view upstream, SysClock::time_point now) const {
  auto u = upstreams_.find(upstream);
  if (u == upstreams_.end()) return {};
  HealthView best;
  bool first = true;
  std::optional<SysClock::time_point> latest_failure;
  HealthView latest_failed;
  WindowStats w5, w1;
  std::size_t incidents = 0;
  std::optional<Recurrence> recurrence;
  for (const auto& [addr, a] : u->second.addresses) {
    if (!kept(u->second, addr, a, now)) continue;
    HealthView v = view(a, now);
    incidents += v.incident_count;
    if (v.recurrence && (!recurrence || *v.recurrence == Recurrence::Recurring)) {
      recurrence = v.recurrence;
    }
    w5.attempts += v.last_5m.attempts;
    w5.successes += v.last_5m.successes;
    w1.attempts += v.last_1h.attempts;
    w1.successes += v.last_1h.successes;
    if (first || rank(v.state) < rank(best.state)) best = v;
    first = false;
    if (v.cls && (!latest_failure || a.last_failure_at > *latest_failure)) {
      latest_failure = a.last_failure_at;
      latest_failed = v;
    }
  }
  HealthView out = best;
  out.last_5m = w5;
  out.last_1h = w1;
  out.held_down_until.reset();
  out.incidents.clear();
  out.incident_count = incidents;
  out.recurrence = recurrence;
  if (out.state != Health::Healthy && latest_failure) {
    out.cls = latest_failed.cls;
    out.hint = latest_failed.hint;
    out.since = latest_failed.since;
  }
  for (const auto& [addr, a] : u->second.addresses) {
    if (!kept(u->second, addr, a, now)) continue;
    if (!out.last_attempt || (!a.outcomes.empty() && a.outcomes.back().at > *out.last_attempt)) {
      if (!a.outcomes.empty()) out.last_attempt = a.outcomes.back().at;
    }
  }
  return out;
}

std::vector<std::string> RouteHealth::addresses_of(std::string_view upstream,
                                                   SysClock::time_point now) const {
  std::vector<std::string> out;
  auto u = upstreams_.find(upstream);
  if (u == upstreams_.end()) return out;
  for (const auto& [addr, a] : u->second.addresses) {
    if (kept(u->second, addr, a, now)) out.push_back(addr);
  }
  return out;
}

bool RouteHealth::held_down(std::string_view upstream, std::string_view address,
                            SysClock::time_point now) const {
  return this->address(upstream, address, now).held_down_until.has_value();
}

bool RouteHealth::upstream_held_down(std::string_view upstream, SysClock::time_point now) const {
  auto u = upstreams_.find(upstream);
  if (u == upstreams_.end()) return false;
  bool any = false;
  for (const auto& [addr, a] : u->second.addresses) {
    if (!kept(u->second, addr, a, now)) continue;
    if (!view(a, now).held_down_until) return false;
    any = true;
  }
  return any;
}

std::vector<std::string> RouteHealth::address_order(std::string_view upstream,
                                                    SysClock::time_point now,
                                                    std::chrono::seconds max_age) const {
  auto u = upstreams_.find(upstream);
  if (u == upstreams_.end() || u->second.resolved.empty() ||
      now - u->second.resolved_at > max_age) {
    return {};
  }
  std::vector<std::string> order = u->second.resolved;
  std::stable_partition(order.begin(), order.end(),
                        [&](const std::string& a) { return !held_down(upstream, a, now); });
  return order;
}

std::optional<bool> RouteHealth::last_verified_tls(std::string_view upstream) const {
  auto u = upstreams_.find(upstream);
  if (u == upstreams_.end()) return std::nullopt;
  return u->second.last_verified_tls;
}

}  // namespace tlsrelay::proxy
