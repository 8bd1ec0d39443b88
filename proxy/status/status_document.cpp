#include "proxy/status/status_document.hpp"

#include <cmath>

#include "common/time_format.hpp"

#include "tls/attempt_record.hpp"
#include "tls/build_info.hpp"

namespace tlsrelay::proxy {

namespace {

using nlohmann::ordered_json;

ordered_json time_or_null(const std::optional<SysClock::time_point>& t) {
  return t ? ordered_json(iso8601_seconds(*t)) : ordered_json(nullptr);
}

ordered_json ratio_or_null(const WindowStats& w) {
  auto r = w.ratio();
  return r ? ordered_json(*r) : ordered_json(nullptr);
}

void put_view(ordered_json& j, const HealthView& v) {
  j["state"] = to_string(v.state);
  j["class"] = v.cls ? ordered_json(std::string(to_string(*v.cls))) : ordered_json(nullptr);
  j["hint"] = v.cls ? ordered_json(v.hint) : ordered_json(nullptr);
  j["meaning"] = v.cls ? ordered_json(std::string(info(*v.cls).meaning)) : ordered_json(nullptr);
  j["since"] = time_or_null(v.since);
  j["last_attempt"] = time_or_null(v.last_attempt);
}

// ---- [health] (issue 21): certificate expiry and route checks ----

// "certificate_not_after" and "certificate_expires_in_days" (whole days, rounded down;
// negative once expired), both null without a certificate seen.
void put_expiry(ordered_json& j, std::optional<std::int64_t> not_after, SysClock::time_point now) {
  if (!not_after) {
    j["certificate_not_after"] = nullptr;
    j["certificate_expires_in_days"] = nullptr;
    return;
  }
  j["certificate_not_after"] = iso8601_seconds(*not_after);
  j["certificate_expires_in_days"] =
      static_cast<std::int64_t>(std::floor(days_left(*not_after, now)));
}

// "checks" (the [health] settings in force) and "certificate" (our own [proxy] tls_cert).
void put_health_checks(ordered_json& doc, const Routes& config, const TelemetryView& telemetry,
                       SysClock::time_point now) {
  ordered_json checks;
  checks["interval_s"] = std::chrono::duration<double>(config.health.interval).count();
  checks["auth"] = config.health.auth;
  doc["checks"] = std::move(checks);
  ordered_json own;
  const auto& mine = telemetry.certificates.own();
  put_expiry(own, mine ? std::optional<std::int64_t>(mine->not_after) : std::nullopt, now);
  doc["certificate"] = mine ? std::move(own) : ordered_json(nullptr);
}

// ---- end of [health] ----

void put_windows(ordered_json& j, const HealthView& v) {
  j["success_ratio_5m"] = ratio_or_null(v.last_5m);
  j["success_ratio_1h"] = ratio_or_null(v.last_1h);
  j["attempts_5m"] = v.last_5m.attempts;
  j["attempts_1h"] = v.last_1h.attempts;
}

void put_recurrence(ordered_json& j, const HealthView& v) {
  j["recurrence"] =
      v.recurrence ? ordered_json(std::string(to_string(*v.recurrence))) : ordered_json(nullptr);
  j["incident_count"] = v.incident_count;
}

// docs/status-api.md "Incidents": those within the recurrence window, oldest first.
ordered_json incidents_json(const HealthView& v) {
  ordered_json out = ordered_json::array();
  for (const IncidentView& i : v.incidents) {
    ordered_json j;
    j["class"] = to_string(i.cls);
    j["first_seen"] = iso8601_seconds(i.first_seen);
    j["last_seen"] = iso8601_seconds(i.last_seen);
    j["failures"] = i.failures;
    j["ongoing"] = i.ongoing;
    out.push_back(std::move(j));
  }
  return out;
}

// One upstream and its addresses (docs/status-api.md "upstreams").
ordered_json upstream_json(const UpstreamConfig& u, const HealthView& v, const RouteHealth& health,
                           const CertificateExpiry& certificates, SysClock::time_point now) {
  const std::string& name = u.target.name;
  ordered_json j;
  j["name"] = name;
  j["host"] = u.target.host;
  j["port"] = u.target.port;
  j["tls"] = to_string(u.target.tls_mode);
  put_view(j, v);
  put_windows(j, v);
  put_recurrence(j, v);
  ordered_json addresses = ordered_json::array();
  std::optional<std::int64_t> earliest;
  for (const std::string& a : health.addresses_of(name, now)) {
    std::optional<std::int64_t> not_after;
    if (const auto* e = certificates.find(name, a)) not_after = e->not_after;
    if (not_after && (!earliest || *not_after < *earliest)) earliest = not_after;
    HealthView av = health.address(name, a, now);
    ordered_json aj;
    aj["address"] = a.empty() ? ordered_json(nullptr) : ordered_json(a);
    aj["port"] = u.target.port;
    put_view(aj, av);
    aj["held_down_until"] = time_or_null(av.held_down_until);
    aj["consecutive_failures"] = av.consecutive_failures;
    put_windows(aj, av);
    put_expiry(aj, not_after, now);
    put_recurrence(aj, av);
    aj["incidents"] = incidents_json(av);
    addresses.push_back(std::move(aj));
  }
  put_expiry(j, earliest, now);
  j["addresses"] = std::move(addresses);
  return j;
}

// The route: what the next message meets (docs/status-api.md "route"), from the upstreams'
// views in the configured order.
ordered_json route_json(const Routes& config, const std::vector<HealthView>& views,
                        const RouteHealth& health) {
  ordered_json route;
  std::size_t chosen = 0;
  bool all_failing = !views.empty();
  bool any_attempt = false;
  for (std::size_t i = 0; i < views.size(); ++i) {
    if (views[i].state != Health::Unknown) any_attempt = true;
    if (views[i].state != Health::Failing) all_failing = false;
  }
  for (std::size_t i = 0; i < views.size(); ++i) {
    if (views[i].state != Health::Failing) {
      chosen = i;
      break;
    }
  }
  Health state = Health::Degraded;
  if (views.empty() || !any_attempt) {
    state = Health::Unknown;
  } else if (all_failing) {
    state = Health::Failing;
  } else if (chosen == 0 && views[0].state == Health::Healthy) {
    state = Health::Healthy;
  }
  route["state"] = to_string(state);
  route["upstream"] =
      views.empty() ? ordered_json(nullptr) : ordered_json(config.upstreams[chosen].target.name);
  if (state == Health::Healthy || state == Health::Unknown || views.empty()) {
    route["class"] = nullptr;
    route["hint"] = nullptr;
    route["meaning"] = nullptr;
    route["since"] = nullptr;
  } else {
    // The reason mail does not take its normal path: the first upstream's trouble, or (when
    // the first one is fine but the route is still not healthy) the chosen upstream's.
    const HealthView& why = views[0].state != Health::Healthy ? views[0] : views[chosen];
    route["class"] =
        why.cls ? ordered_json(std::string(to_string(*why.cls))) : ordered_json(nullptr);
    route["hint"] = why.cls ? ordered_json(why.hint) : ordered_json(nullptr);
    route["meaning"] =
        why.cls ? ordered_json(std::string(info(*why.cls).meaning)) : ordered_json(nullptr);
    route["since"] = time_or_null(why.since);
  }
  std::optional<bool> verified;
  if (!views.empty()) verified = health.last_verified_tls(config.upstreams[chosen].target.name);
  route["verified_tls"] = verified ? ordered_json(*verified) : ordered_json(nullptr);
  return route;
}

}  // namespace

ordered_json status_document(const Routes& config, const TelemetryView& telemetry,
                             SysClock::time_point now) {
  const RouteHealth& health = telemetry.health;
  ordered_json doc;
  doc["version"] = tls::kVersion;
  doc["now"] = iso8601_seconds(now);
  doc["started"] = iso8601_seconds(telemetry.started);

  std::vector<HealthView> views;
  ordered_json upstreams = ordered_json::array();
  for (const UpstreamConfig& u : config.upstreams) {
    views.push_back(health.upstream(u.target.name, now));
    upstreams.push_back(upstream_json(u, views.back(), health, telemetry.certificates, now));
  }
  doc["route"] = route_json(config, views, health);
  doc["upstreams"] = std::move(upstreams);
  put_health_checks(doc, config, telemetry, now);

  ordered_json recent = ordered_json::array();
  for (const auto& r : telemetry.recent) recent.push_back(r);
  doc["recent"] = std::move(recent);
  return doc;
}

nlohmann::json timeline_document(const TelemetryView& telemetry, SysClock::time_point now) {
  nlohmann::json doc;
  doc["now"] = iso8601_seconds(now);
  nlohmann::json attempts = nlohmann::json::array();
  for (const TimelineEntry& e : telemetry.timeline) {
    const auto& ci = info(e.cls);
    attempts.push_back(
        {{"age_s", std::chrono::duration<double>(now - e.at).count()},
         {"upstream", e.upstream},
         {"class", ci.name},
         {"group", ci.group == FailureGroup::None ? std::string_view("ok") : to_string(ci.group)}});
  }
  doc["attempts"] = std::move(attempts);
  return doc;
}

}  // namespace tlsrelay::proxy
