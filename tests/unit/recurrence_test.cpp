// One-off or recurring (issue 21 section 4, docs/status-api.md "Incidents"): the shared rule
// (common/recurrence.hpp), incidents in route health, the TLS-Relay-Failure parameter, the
// metrics, the [health.recurrence] keys and `report`'s incidents. Pure logic with a faked
// clock: every time is passed in.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "common/recurrence.hpp"
#include "config/config_error.hpp"
#include "config/loader.hpp"
#include "proxy/server/trace_headers.hpp"
#include "proxy/status/metrics.hpp"
#include "proxy/status/report.hpp"
#include "proxy/upstream/route_health.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;
using namespace std::chrono_literals;

namespace {

const SysClock::time_point t0 = SysClock::time_point{} + std::chrono::hours(24 * 365 * 56);

AttemptOutcome outcome(FailureClass cls, std::string address = "192.0.2.1") {
  AttemptOutcome o;
  o.upstream = "primary";
  o.address = std::move(address);
  o.cls = cls;
  o.transient = true;
  o.resolved = {"192.0.2.1", "192.0.2.2"};  // kept while DNS returns them (route_health.hpp)
  return o;
}

}  // namespace

TEST_CASE("the rule: three incidents within the window, or one long one, are recurring",
          "[recurrence]") {
  const RecurrenceRule rule;  // 3 in 24 h, or 30 min; gap 30 min
  const auto span = [](auto first, auto last) { return IncidentSpan{t0 + first, t0 + last}; };
  CHECK_FALSE(judge(rule, {}, t0));
  std::vector<IncidentSpan> v{span(0s, 10s)};
  CHECK(judge(rule, v, t0 + 1h) == Recurrence::OneOff);
  v.push_back(span(2h, 2h + 5s));
  CHECK(judge(rule, v, t0 + 3h) == Recurrence::OneOff);
  v.push_back(span(4h, 4h));
  CHECK(judge(rule, v, t0 + 5h) == Recurrence::Recurring);
  // The first one leaves the 24-hour window: two are left.
  CHECK(judge(rule, v, t0 + 24h + 11s) == Recurrence::OneOff);
  // And none at all after the window.
  CHECK_FALSE(judge(rule, v, t0 + 4h + 24h + 1s));
  // One incident that lasts 30 minutes is no hiccup.
  CHECK(judge(rule, std::vector{span(0s, 29min)}, t0 + 1h) == Recurrence::OneOff);
  CHECK(judge(rule, std::vector{span(0s, 30min)}, t0 + 1h) == Recurrence::Recurring);
  RecurrenceRule no_duration = rule;
  no_duration.duration = 0s;
  CHECK(judge(no_duration, std::vector{span(0s, 5h)}, t0 + 6h) == Recurrence::OneOff);

  CHECK(continues_incident(rule, t0, t0 + 30min));
  CHECK_FALSE(continues_incident(rule, t0, t0 + 30min + 1s));
  CHECK(continues_incident(rule, t0, t0 - 1h));  // a clock stepped back is no quiet gap
  CHECK(to_string(Recurrence::OneOff) == "one-off");
  CHECK(to_string(Recurrence::Recurring) == "recurring");
}

TEST_CASE("route health: a run of failures of one class on one address is one incident",
          "[recurrence][route-health]") {
  RouteHealth h(30s);
  CHECK(h.record(outcome(FailureClass::Timeout), t0));
  CHECK_FALSE(h.record(outcome(FailureClass::Timeout), t0 + 10min));
  CHECK_FALSE(h.record(outcome(FailureClass::Timeout), t0 + 20min));
  auto v = h.address("primary", "192.0.2.1", t0 + 21min);
  REQUIRE(v.incidents.size() == 1);
  CHECK(v.incidents[0].cls == FailureClass::Timeout);
  CHECK(v.incidents[0].first_seen == t0);
  CHECK(v.incidents[0].last_seen == t0 + 20min);
  CHECK(v.incidents[0].failures == 3);
  CHECK(v.incidents[0].ongoing);
  CHECK(v.recurrence == Recurrence::OneOff);
  CHECK(h.recurrence("primary", "192.0.2.1", t0 + 21min) == Recurrence::OneOff);
  // The other address has its own history.
  CHECK_FALSE(h.recurrence("primary", "192.0.2.2", t0 + 21min));

  SECTION("a success ends it; the next failure is a second incident") {
    CHECK_FALSE(h.record(outcome(FailureClass::Ok), t0 + 22min));
    CHECK_FALSE(h.address("primary", "192.0.2.1", t0 + 23min).incidents[0].ongoing);
    CHECK(h.record(outcome(FailureClass::Timeout), t0 + 23min));
    CHECK(h.address("primary", "192.0.2.1", t0 + 24min).incident_count == 2);
  }
  SECTION("another class starts another incident") {
    CHECK(h.record(outcome(FailureClass::ConnectRefused), t0 + 21min));
    v = h.address("primary", "192.0.2.1", t0 + 22min);
    REQUIRE(v.incidents.size() == 2);
    CHECK_FALSE(v.incidents[0].ongoing);
    CHECK(v.incidents[1].cls == FailureClass::ConnectRefused);
  }
  SECTION("more than the incident gap of quiet starts another incident") {
    CHECK(h.record(outcome(FailureClass::Timeout), t0 + 20min + 30min + 1s));
    CHECK(h.address("primary", "192.0.2.1", t0 + 51min).incident_count == 2);
  }
  SECTION("an incident that goes on for 30 minutes makes the address recurring") {
    CHECK_FALSE(h.record(outcome(FailureClass::Timeout), t0 + 30min));
    CHECK(h.recurrence("primary", "192.0.2.1", t0 + 30min) == Recurrence::Recurring);
  }
}

TEST_CASE("route health: three hiccups in a day are recurring, and it passes",
          "[recurrence][route-health]") {
  RouteHealth h(30s);
  for (int i = 0; i < 3; ++i) {
    const auto at = t0 + std::chrono::hours(4 * i);
    h.record(outcome(FailureClass::ConnectionReset), at);
    CHECK(h.recurrence("primary", "192.0.2.1", at) ==
          (i < 2 ? Recurrence::OneOff : Recurrence::Recurring));
    h.record(outcome(FailureClass::Ok), at + 1s);
  }
  CHECK(h.upstream("primary", t0 + 9h).recurrence == Recurrence::Recurring);
  CHECK(h.upstream("primary", t0 + 9h).incident_count == 3);
  CHECK(h.upstream("primary", t0 + 9h).incidents.empty());  // the list is per address
  // 24 hours after the first, two are left in the window.
  CHECK(h.recurrence("primary", "192.0.2.1", t0 + 24h + 2s) == Recurrence::OneOff);
  CHECK(h.address("primary", "192.0.2.1", t0 + 24h + 2s).incidents.size() == 2);

  SECTION("the rule is configurable") {
    RecurrenceRule two;
    two.incidents = 2;
    h.set_recurrence(two);
    CHECK(h.recurrence("primary", "192.0.2.1", t0 + 24h + 2s) == Recurrence::Recurring);
  }
}

TEST_CASE("route health keeps at most kMaxIncidents incidents an address",
          "[recurrence][route-health][bounded]") {
  RouteHealth h(0s);
  for (int i = 0; i < 1000; ++i) {
    // Classes alternate: every failure is a new incident.
    h.record(outcome(i % 2 ? FailureClass::Timeout : FailureClass::ConnectionReset),
             t0 + std::chrono::seconds(i));
  }
  const auto v = h.address("primary", "192.0.2.1", t0 + 1000s);
  CHECK(v.incidents.size() == RouteHealth::kMaxIncidents);
  CHECK(v.incidents.back().last_seen == t0 + 999s);
  CHECK(v.recurrence == Recurrence::Recurring);
}

TEST_CASE("TLS-Relay-Failure ends with recurrence= when route health judged the attempt",
          "[recurrence][headers]") {
  tls::AttemptFacts up;
  up.upstream.name = "primary";
  up.upstream.host = "mx.test";
  up.network.address = "127.0.0.2";
  FailedAttempt a{up, tls::Verdict{}};
  a.facts.network.address = "127.0.0.1";
  a.verdict.cls = FailureClass::ConnectRefused;
  a.verdict.phase = Phase::Connect;
  FailedAttempt b = a;
  a.recurrence = Recurrence::Recurring;
  auto fields = trace_fields(up, {a, b});
  REQUIRE(fields.size() == 3);
  // As a reader sees them: unfolded, without the line end.
  for (std::string& f : fields) {
    for (std::size_t at; (at = f.find("\r\n ")) != std::string::npos;) f.replace(at, 3, " ");
    if (f.ends_with("\r\n")) f.resize(f.size() - 2);
  }
  INFO(fields[1]);
  CHECK(fields[1].find("; class=connect-refused; phase=connect; time=") != std::string::npos);
  CHECK(fields[1].ends_with("; recurrence=recurring"));
  CHECK(fields[2].find("recurrence=") == std::string::npos);
}

TEST_CASE("metrics: incidents by upstream and class, and the recurring gauge",
          "[recurrence][metrics]") {
  RouteHealth h(30s);
  Metrics m;
  for (int i = 0; i < 3; ++i) {
    if (h.record(outcome(FailureClass::Timeout), t0 + std::chrono::hours(i))) {
      m.incident("primary", FailureClass::Timeout);
    }
    h.record(outcome(FailureClass::Ok), t0 + std::chrono::hours(i) + 1s);
  }
  Metrics::RenderInput in;
  in.upstreams = {"primary", "backup"};
  in.health = &h;
  in.now = t0 + 3h;
  const std::string text = m.render(in);
  CHECK(text.find("# TYPE tlsrelay_route_incidents_total counter") != std::string::npos);
  CHECK(text.find("tlsrelay_route_incidents_total{upstream=\"primary\",class=\"timeout\"} 3") !=
        std::string::npos);
  CHECK(text.find("tlsrelay_route_recurring{upstream=\"primary\"} 1") != std::string::npos);
  CHECK(text.find("tlsrelay_route_recurring{upstream=\"backup\"} 0") != std::string::npos);
}

TEST_CASE("[health.recurrence] sets the rule; bad values are refused with their place",
          "[recurrence][config]") {
  const std::string up = "[[upstream]]\nname = \"u\"\nhost = \"smtp.example.net\"\n";
  CHECK(config::parse_settings(up, "t.toml").health_recurrence == RecurrenceRule{});
  const auto s = config::parse_settings(
      up + "[health.recurrence]\nincidents = 2\nwindow_s = 3600\nduration_s = 0\n"
           "incident_gap_s = 600\n",
      "t.toml");
  CHECK(s.health_recurrence.incidents == 2);
  CHECK(s.health_recurrence.window == 3600s);
  CHECK(s.health_recurrence.duration == 0s);
  CHECK(s.health_recurrence.incident_gap == 600s);
  const auto error_of = [&](const std::string& text) -> std::string {
    try {
      (void)config::parse_settings(up + text, "t.toml");
    } catch (const config::ConfigError& e) {
      return e.what();
    }
    return "";
  };
  CHECK_THAT(error_of("[health.recurrence]\nincidents = 17\n"),
             Catch::Contains("t.toml:5:") && Catch::Contains("incidents must be from 1 to 16"));
  CHECK_THAT(error_of("[health.recurrence]\nwindow = 3600\n"),
             Catch::Contains("unknown key \"window\" in [health.recurrence]"));
  CHECK_THAT(error_of("[health]\nrecurrence = 3\n"), Catch::Contains("must be a table"));
}

namespace {

std::string record(const std::string& time, const std::string& cls, const std::string& address) {
  nlohmann::json r;
  r["time"] = time;
  r["class"] = cls;
  r["rfc8460"] = cls == "ok" ? nlohmann::json(nullptr) : nlohmann::json("validation-failure");
  r["upstream"] = {{"name", "primary"}, {"host", "mx.example.net"}, {"address", address}};
  r["tls"] = {{"version", "TLSv1.3"}};
  return r.dump();
}

}  // namespace

TEST_CASE("report rebuilds incidents from the log with the relay's rule", "[recurrence][report]") {
  const ReportWindow day{parse_rfc3339("2026-11-29T00:00:00Z"),
                         parse_rfc3339("2026-11-30T00:00:00Z")};
  // Out of order on purpose: the union of two logs is read in time order.
  const std::vector<std::string> log = {
      record("2026-11-29T08:00:00.000Z", "certificate-expired", "198.51.100.7"),
      record("2026-11-29T01:00:00.000Z", "timeout", "198.51.100.7"),
      record("2026-11-29T01:10:00.000Z", "timeout", "198.51.100.7"),
      record("2026-11-29T01:20:00.000Z", "ok", "198.51.100.7"),
      record("2026-11-29T04:00:00.000Z", "timeout", "198.51.100.7"),
      record("2026-11-29T04:00:00.000Z", "timeout", "198.51.100.8"),
  };
  const LogSummary s = summarize(log, day);
  REQUIRE(s.routes.size() == 2);
  const RouteIncidents& r = s.routes[0];
  CHECK(r.address == "198.51.100.7");
  CHECK(r.count == 3);
  CHECK(r.recurrence == Recurrence::Recurring);
  REQUIRE(r.latest.size() == 3);
  CHECK(r.latest[0].cls == "timeout");
  CHECK(r.latest[0].failures == 2);
  CHECK(r.latest[2].cls == "certificate-expired");
  CHECK(s.routes[1].recurrence == Recurrence::OneOff);

  const std::string text = summary_text(s);
  CHECK_THAT(text, Catch::Contains("incidents at 198.51.100.7: 3, recurring"));
  CHECK_THAT(text, Catch::Contains("timeout") &&
                       Catch::Contains("2026-11-29T01:00:00Z .. 2026-11-29T01:10:00Z, 2 failures"));
  CHECK_THAT(text, Catch::Contains("incidents at 198.51.100.8: 1, one-off"));

  const auto rpt = tlsrpt_report(s, TlsRptOptions{"org", "c", "id"});
  bool seen = false;
  for (const auto& d : rpt["policies"][0]["failure-details"]) {
    if (d["receiving-ip"] == "198.51.100.7" && d["failure-reason-code"] == "timeout") {
      CHECK(d["x-tlsrelay-incidents"] == 2);
      CHECK(d["x-tlsrelay-recurrence"] == "recurring");
      seen = true;
    }
  }
  CHECK(seen);
}
