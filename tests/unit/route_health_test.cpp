// Route health (docs/status-api.md "States"), the /status document's route summary, and
// the Prometheus exposition: pure logic, time passed in.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "proxy/metrics.hpp"
#include "proxy/route_health.hpp"
#include "proxy/status_document.hpp"

using namespace tlsrelay::proxy;
using tlsrelay::tls::FailureClass;
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
