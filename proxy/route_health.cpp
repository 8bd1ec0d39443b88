#include "proxy/route_health.hpp"

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

}  // namespace

void RouteHealth::record(const AttemptOutcome& o, SysClock::time_point now) {
  UpstreamState& u = upstreams_[o.upstream];
  if (!o.resolved.empty()) {
    u.resolved = o.resolved;
    u.resolved_at = now;
  }
  const bool ok = o.cls == tls::FailureClass::Ok;
  if (ok) u.last_verified_tls = o.verified_tls;
  // A failure before any address was chosen (DNS) belongs to the upstream as a whole: keep
  // it under "" so that the upstream's view shows it.
  AddressState& a = u.addresses[o.address];
  a.outcomes.push_back({now, ok});
  while (!a.outcomes.empty() && (a.outcomes.size() > kMaxOutcomes ||
                                 now - a.outcomes.front().at > std::chrono::hours(1))) {
    a.outcomes.pop_front();
  }
  if (ok) {
    a.consecutive_failures = 0;
    return;
  }
  if (a.consecutive_failures == 0) a.failing_since = now;
  ++a.consecutive_failures;
  a.last_failure = o.cls;
  a.last_transient = o.transient;
  a.last_hint = o.hint;
  a.last_failure_at = now;
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
  if (a == u->second.addresses.end()) return {};
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
  for (const auto& [addr, a] : u->second.addresses) {
    HealthView v = view(a, now);
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
  if (out.state != Health::Healthy && latest_failure) {
    out.cls = latest_failed.cls;
    out.hint = latest_failed.hint;
    out.since = latest_failed.since;
  }
  for (const auto& [addr, a] : u->second.addresses) {
    if (!out.last_attempt || (!a.outcomes.empty() && a.outcomes.back().at > *out.last_attempt)) {
      if (!a.outcomes.empty()) out.last_attempt = a.outcomes.back().at;
    }
  }
  return out;
}

std::vector<std::string> RouteHealth::addresses_of(std::string_view upstream) const {
  std::vector<std::string> out;
  auto u = upstreams_.find(upstream);
  if (u == upstreams_.end()) return out;
  for (const auto& [addr, a] : u->second.addresses) out.push_back(addr);
  return out;
}

bool RouteHealth::held_down(std::string_view upstream, std::string_view address,
                            SysClock::time_point now) const {
  return this->address(upstream, address, now).held_down_until.has_value();
}

bool RouteHealth::upstream_held_down(std::string_view upstream, SysClock::time_point now) const {
  auto u = upstreams_.find(upstream);
  if (u == upstreams_.end() || u->second.addresses.empty()) return false;
  for (const auto& [addr, a] : u->second.addresses) {
    if (!view(a, now).held_down_until) return false;
  }
  return true;
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
