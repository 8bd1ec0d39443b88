// Route health (docs/status-api.md "States"), the /status document's route summary, and
// the Prometheus exposition: pure logic, time passed in.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "proxy/status/metrics.hpp"
#include "proxy/status/status_document.hpp"
#include "proxy/status/telemetry.hpp"
#include "proxy/upstream/route_health.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;
using tlsrelay::FailureClass;
using namespace std::chrono_literals;

namespace {

const SysClock::time_point t0 = SysClock::time_point{} + std::chrono::hours(24 * 365 * 56);

AttemptOutcome outcome(std::string address, FailureClass cls, bool transient = false) {
  AttemptOutcome o;
  o.upstream = "primary";
  o.address = std::move(address);
  o.cls = cls;
  o.transient = transient;
  o.hint = cls == FailureClass::Ok ? "" : "the hint";
  o.verified_tls = cls == FailureClass::Ok;
  return o;
}

}  // namespace

TEST_CASE("an address's state follows docs/status-api.md", "[route-health]") {
  RouteHealth h(30s);
  CHECK(h.address("primary", "192.0.2.1", t0).state == Health::Unknown);

  SECTION("ok with no failure in 5 minutes is healthy") {
    h.record(outcome("192.0.2.1", FailureClass::Ok), t0);
    auto v = h.address("primary", "192.0.2.1", t0 + 1s);
    CHECK(v.state == Health::Healthy);
    CHECK_FALSE(v.cls);
    CHECK(v.last_5m.ratio() == Approx(1.0));
  }
  SECTION("a transient failure degrades; three in a row make it failing and held down") {
    h.record(outcome("192.0.2.1", FailureClass::ConnectionReset, true), t0);
    auto v = h.address("primary", "192.0.2.1", t0 + 1s);
    CHECK(v.state == Health::Degraded);
    CHECK(v.cls == FailureClass::ConnectionReset);
    CHECK(v.since == t0);
    CHECK_FALSE(v.held_down_until);
    h.record(outcome("192.0.2.1", FailureClass::ConnectionReset, true), t0 + 2s);
    h.record(outcome("192.0.2.1", FailureClass::Timeout, true), t0 + 3s);
    v = h.address("primary", "192.0.2.1", t0 + 4s);
    CHECK(v.state == Health::Failing);
    CHECK(v.cls == FailureClass::Timeout);
    CHECK(v.since == t0);  // the run of failures began with the first
    CHECK(v.consecutive_failures == 3);
    CHECK(v.held_down_until == t0 + 33s);
    CHECK(h.held_down("primary", "192.0.2.1", t0 + 32s));
    CHECK_FALSE(h.held_down("primary", "192.0.2.1", t0 + 34s));  // hold-down is short
  }
  SECTION("a permanent failure is failing at once") {
    h.record(outcome("192.0.2.1", FailureClass::CertificateExpired), t0);
    auto v = h.address("primary", "192.0.2.1", t0);
    CHECK(v.state == Health::Failing);
    CHECK(v.hint == "the hint");
  }
  SECTION("success after failures is degraded for 5 minutes, then healthy") {
    h.record(outcome("192.0.2.1", FailureClass::CertificateExpired), t0);
    h.record(outcome("192.0.2.1", FailureClass::Ok), t0 + 10s);
    auto v = h.address("primary", "192.0.2.1", t0 + 11s);
    CHECK(v.state == Health::Degraded);
    CHECK(v.cls == FailureClass::CertificateExpired);
    CHECK(v.last_5m.ratio() == Approx(0.5));
    CHECK_FALSE(v.held_down_until);  // it works again: no reason to avoid it
    CHECK(h.address("primary", "192.0.2.1", t0 + 6min).state == Health::Healthy);
  }
  SECTION("outcomes older than an hour leave the windows") {
    h.record(outcome("192.0.2.1", FailureClass::Ok), t0);
    auto v = h.address("primary", "192.0.2.1", t0 + 2h);
    CHECK(v.last_1h.attempts == 0);
    CHECK_FALSE(v.last_1h.ratio());
  }
}

TEST_CASE("an upstream is as good as its best address; held-down addresses go last",
          "[route-health]") {
  RouteHealth h(30s);
  AttemptOutcome first = outcome("2001:db8::1", FailureClass::CertificateExpired);
  first.resolved = {"2001:db8::1", "192.0.2.1", "2001:db8::2"};
  h.record(first, t0);
  CHECK(h.upstream("primary", t0).state == Health::Failing);
  CHECK(h.upstream_held_down("primary", t0));
  CHECK(h.address_order("primary", t0 + 1s, 60s) ==
        std::vector<std::string>{"192.0.2.1", "2001:db8::2", "2001:db8::1"});
  CHECK(h.address_order("primary", t0 + 61s, 60s).empty());  // too old: resolve again

  h.record(outcome("192.0.2.1", FailureClass::Ok), t0 + 1s);
  auto u = h.upstream("primary", t0 + 2s);
  CHECK(u.state == Health::Healthy);
  CHECK(u.last_5m.attempts == 2);
  CHECK_FALSE(h.upstream_held_down("primary", t0 + 2s));
  CHECK(h.last_verified_tls("primary") == true);
}

TEST_CASE("hold-down 0 turns it off", "[route-health]") {
  RouteHealth h(0s);
  h.record(outcome("192.0.2.1", FailureClass::CertificateExpired), t0);
  CHECK(h.address("primary", "192.0.2.1", t0).state == Health::Failing);
  CHECK_FALSE(h.held_down("primary", "192.0.2.1", t0));
}

TEST_CASE("the Prometheus exposition is well formed and label values are escaped", "[metrics]") {
  Metrics m;
  tlsrelay::tls::AttemptFacts facts;
  facts.upstream.name = "we\"ird\\name\n";
  facts.timings.connect = 2.0;
  facts.tls.handshake_done = true;
  facts.tls.version = "TLSv1.3";
  facts.tls.cipher = "TLS_AES_256_GCM_SHA384";
  tlsrelay::tls::Verdict ok;
  m.attempt(facts, ok);
  m.transaction("primary", outcome_of_reply(451));
  m.client_session_opened();
  Metrics::RenderInput in;
  const std::string text = m.render(in);
  CHECK(text.find("# TYPE tlsrelay_upstream_attempts_total counter") != std::string::npos);
  CHECK(text.find(R"(upstream="we\"ird\\name\n")") != std::string::npos);
  CHECK(
      text.find(
          R"(tlsrelay_upstream_phase_duration_seconds_bucket{upstream="we\"ird\\name\n",phase="connect",le="0.0025"} 1)") !=
      std::string::npos);
  CHECK(
      text.find(
          R"(tlsrelay_upstream_phase_duration_seconds_bucket{upstream="we\"ird\\name\n",phase="connect",le="0.001"} 0)") !=
      std::string::npos);
  CHECK(text.find(R"(tlsrelay_transactions_total{upstream="primary",outcome="deferred"} 1)") !=
        std::string::npos);
  CHECK(text.find("tlsrelay_client_sessions 1\n") != std::string::npos);
  // Every sample line is NAME{...} VALUE or NAME VALUE; no raw newline inside a line.
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    INFO(line);
    CHECK(line.rfind("tlsrelay_", 0) == 0);
    CHECK(line.find(' ') != std::string::npos);
  }
}

// Issue 17 item 6: a resolver that answers with new addresses every time (a large rotating
// pool such as Gmail's, or a hostile resolver) must not grow memory, /status or /metrics.
namespace {

// Every address the same length, so that document sizes compare.
std::string rotating(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "2001:db8::1:%04zx", i);
  return buf;
}

// A hostile resolver's answer: one address never seen before, which then fails.
AttemptOutcome fresh_answer(std::size_t i, std::string upstream = "primary") {
  AttemptOutcome o = outcome(rotating(i), FailureClass::ConnectionReset, true);
  o.upstream = std::move(upstream);
  o.resolved = {o.address};
  return o;
}

Routes one_upstream_config() {
  Routes c;
  UpstreamConfig u;
  u.target.name = "primary";
  u.target.host = "smtp.example.net";
  u.target.port = 587;
  c.upstreams.push_back(u);
  return c;
}

std::size_t lines_starting(const std::string& text, const std::string& prefix) {
  std::size_t n = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    if (text.compare(start, prefix.size(), prefix) == 0) ++n;
    const auto end = text.find('\n', start);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return n;
}

}  // namespace

TEST_CASE("10,000 rotating addresses: bounded entries, /status and /metrics series",
          "[route-health][bounded]") {
  const Routes config = one_upstream_config();
  Telemetry telemetry("", 30s);
  Metrics metrics;
  auto status = [&](SysClock::time_point now) {
    return telemetry.read([&](const TelemetryView& v) { return status_document(config, v, now); });
  };
  auto status_size = [&](SysClock::time_point now) { return status(now).dump().size(); };
  auto address_series = [&](SysClock::time_point now) {
    Metrics::RenderInput in;
    in.upstreams = {"primary"};
    in.now = now;
    in.address_labels = true;
    return telemetry.read([&](const TelemetryView& v) {
      in.health = &v.health;
      return metrics.render(in);
    });
  };
  auto addresses_of = [&](SysClock::time_point now) {
    return telemetry.health()->addresses_of("primary", now);
  };
  // One attempt every 10 s: 360 addresses within any hour, far more than the cap.
  constexpr std::size_t kAttempts = 10000;
  std::size_t most_stored = 0;
  std::size_t most_listed = 0;
  std::size_t size_at_cap = 0;
  SysClock::time_point now = t0;
  for (std::size_t i = 0; i < kAttempts; ++i) {
    now = t0 + i * 10s;
    telemetry.health()->record(fresh_answer(i), now);
    most_stored = std::max(most_stored, telemetry.health()->address_count());
    if (i + 1 == RouteHealth::kMaxAddressesPerUpstream) {
      REQUIRE(addresses_of(now).size() == RouteHealth::kMaxAddressesPerUpstream);
      size_at_cap = status_size(now);
    }
    if (i % 97 == 0) most_listed = std::max(most_listed, addresses_of(now).size());
  }
  CHECK(most_stored <= RouteHealth::kMaxAddressesPerUpstream);
  CHECK(most_listed <= RouteHealth::kMaxAddressesPerUpstream);
  const auto listed = addresses_of(now);
  CHECK(listed.size() <= RouteHealth::kMaxAddressesPerUpstream);
  // The latest address is there; the first ones went long ago.
  CHECK(std::find(listed.begin(), listed.end(), rotating(kAttempts - 1)) != listed.end());
  CHECK(std::find(listed.begin(), listed.end(), rotating(0)) == listed.end());

  // /status: no larger than with exactly the cap's worth of addresses.
  const auto doc = status(now);
  CHECK(doc["upstreams"][0]["addresses"].size() <= RouteHealth::kMaxAddressesPerUpstream);
  CHECK(status_size(now) <= size_at_cap);
  CHECK(doc.dump().find(rotating(0)) == std::string::npos);

  // /metrics: four state series per address kept, none for an address forgotten.
  const std::string text = address_series(now);
  CHECK(lines_starting(text, "tlsrelay_route_address_health{") == 4 * addresses_of(now).size());
  CHECK(lines_starting(text, "tlsrelay_route_address_health{") <=
        4 * RouteHealth::kMaxAddressesPerUpstream);
  CHECK(text.find(rotating(0)) == std::string::npos);
}

TEST_CASE("an address leaves an hour after its last outcome unless DNS still returns it",
          "[route-health][bounded]") {
  RouteHealth h(30s);
  SECTION("slow rotation: only the last hour's addresses are kept, in memory too") {
    // One new address every 5 minutes: 13 fall within an hour (both ends included).
    SysClock::time_point now = t0;
    for (std::size_t i = 0; i < 10000; ++i) {
      now = t0 + i * 5min;
      h.record(fresh_answer(i), now);
    }
    CHECK(h.addresses_of("primary", now).size() == 13);
    CHECK(h.address_count() == 13);
  }
  SECTION("the latest DNS answer is kept however old; what it no longer returns goes") {
    AttemptOutcome first = outcome("192.0.2.1", FailureClass::CertificateExpired);
    first.resolved = {"192.0.2.1", "192.0.2.2"};
    h.record(first, t0);
    AttemptOutcome other = outcome("192.0.2.2", FailureClass::Ok);
    h.record(other, t0 + 1s);  // no new answer: the old one stands
    AttemptOutcome moved = outcome("192.0.2.9", FailureClass::Ok);
    moved.resolved = {"192.0.2.9", "192.0.2.1"};
    h.record(moved, t0 + 2s);
    // Two hours later, without a sweep since: 192.0.2.2 is no longer in the answer.
    const auto later = t0 + 2h;
    CHECK(h.addresses_of("primary", later) == std::vector<std::string>{"192.0.2.1", "192.0.2.9"});
    CHECK(h.address("primary", "192.0.2.2", later).state == Health::Unknown);
    CHECK(h.address("primary", "192.0.2.1", later).state == Health::Failing);
    // Another upstream's attempt sweeps: 192.0.2.2 leaves memory too.
    AttemptOutcome backup = outcome("198.51.100.1", FailureClass::Ok);
    backup.upstream = "backup";
    h.record(backup, later);
    CHECK(h.address_count() == 3);
  }
  SECTION("an upstream with a fixed address keeps it (its latest) when it goes quiet") {
    AttemptOutcome fixed = outcome("192.0.2.7", FailureClass::CertificateExpired);
    fixed.upstream = "fixed";
    h.record(fixed, t0);
    const auto later = t0 + 3h;
    h.record(fresh_answer(1), later);  // sweeps
    CHECK(h.addresses_of("fixed", later) == std::vector<std::string>{"192.0.2.7"});
    CHECK(h.upstream("fixed", later).state == Health::Failing);
  }
}

TEST_CASE("past the cap the least recently tried address goes first, the DNS answer's last",
          "[route-health][bounded]") {
  RouteHealth h(30s);
  constexpr std::size_t kCap = RouteHealth::kMaxAddressesPerUpstream;
  // The current answer holds two addresses, tried at the very start.
  AttemptOutcome answer = outcome("192.0.2.1", FailureClass::Ok);
  answer.resolved = {"192.0.2.1", "192.0.2.2"};
  h.record(answer, t0);
  h.record(outcome("192.0.2.2", FailureClass::Ok), t0 + 1s);
  // Then addresses the answer never held (a connect address the policy chose, a resolver
  // that changed its mind without us seeing it), one a second.
  for (std::size_t i = 0; i + 2 < kCap; ++i) {
    h.record(outcome(rotating(i), FailureClass::Ok), t0 + 2s + i * 1s);
  }
  REQUIRE(h.address_count() == kCap);
  h.record(outcome(rotating(0), FailureClass::Ok), t0 + 100s);     // tried again: now recent
  h.record(outcome(rotating(kCap), FailureClass::Ok), t0 + 101s);  // one too many
  const auto kept = h.addresses_of("primary", t0 + 102s);
  CHECK(kept.size() < kCap);
  CHECK(h.address_count() == kept.size());
  auto has = [&](const std::string& a) {
    return std::find(kept.begin(), kept.end(), a) != kept.end();
  };
  CHECK(has("192.0.2.1"));  // the oldest, but in the current answer
  CHECK(has("192.0.2.2"));
  CHECK(has(rotating(0)));  // tried again lately
  CHECK(has(rotating(kCap)));
  CHECK_FALSE(has(rotating(1)));  // the least recently tried
  CHECK_FALSE(has(rotating(2)));
  CHECK(has(rotating(kCap - 3)));
}

TEST_CASE("a DNS answer larger than the cap is cut to the cap, oldest first",
          "[route-health][bounded]") {
  RouteHealth h(30s);
  constexpr std::size_t kCap = RouteHealth::kMaxAddressesPerUpstream;
  std::vector<std::string> huge;
  for (std::size_t i = 0; i < 4 * kCap; ++i) huge.push_back(rotating(i));
  for (std::size_t i = 0; i < huge.size(); ++i) {
    AttemptOutcome o = outcome(huge[i], FailureClass::ConnectionReset, true);
    o.resolved = huge;
    h.record(o, t0 + i * 1s);
  }
  const auto kept = h.addresses_of("primary", t0 + 1h);
  CHECK(kept.size() == kCap);
  CHECK(kept.front() == rotating(3 * kCap));  // the newest kCap
}

TEST_CASE("all upstreams together stay under the overall cap", "[route-health][bounded]") {
  RouteHealth h(30s);
  constexpr std::size_t kUpstreams = 10;
  static_assert(kUpstreams * RouteHealth::kMaxAddressesPerUpstream > RouteHealth::kMaxAddresses);
  std::size_t most = 0;
  SysClock::time_point now = t0;
  for (std::size_t i = 0; i < 10000; ++i) {
    now = t0 + i * 1s;
    h.record(fresh_answer(i, "up" + std::to_string(i % kUpstreams)), now);
    most = std::max(most, h.address_count());
  }
  CHECK(most <= RouteHealth::kMaxAddresses);
  std::size_t listed = 0;
  for (std::size_t u = 0; u < kUpstreams; ++u) {
    const auto a = h.addresses_of("up" + std::to_string(u), now);
    listed += a.size();
    CHECK_FALSE(a.empty());  // every upstream keeps its latest
  }
  CHECK(listed <= RouteHealth::kMaxAddresses);
}
