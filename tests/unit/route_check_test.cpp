// Route checks and certificate expiry, the pure parts: the check schedule (soon after the
// start, then once an interval of inactivity, jittered within ±10% and stable), the
// expiry thresholds (one warning per threshold crossed, the lowest reached only), and the
// [health] section of the configuration.
#include <catch2/catch.hpp>
#include <set>

#include "config/config_error.hpp"
#include "config/loader.hpp"
#include "proxy/status/certificate_expiry.hpp"
#include "proxy/upstream/check_schedule.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;
using namespace std::chrono_literals;

namespace {

const SysClock::time_point kStart = SysClock::from_time_t(1800000000);

std::string error_of(const std::string& text) {
  try {
    (void)config::parse_settings(text, "t.toml");
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "";
}

constexpr const char* kCheckedUpstream =
    "[[upstream]]\nname = \"u\"\nhost = \"smtp.example.net\"\n";

}  // namespace

TEST_CASE("a route never tried is checked soon after the start (5-15% of the interval)",
          "[route-checks]") {
  const CheckSchedule s(42);
  std::set<SysClock::time_point> seen;
  for (const std::string route : {"a 192.0.2.1", "a 192.0.2.2", "b ", "c 2001:db8::1"}) {
    const auto due = s.due(route, std::nullopt, kStart, 300s);
    INFO(route);
    CHECK(due >= kStart + 15s);
    CHECK(due <= kStart + 45s);
    seen.insert(due);
  }
  CHECK(seen.size() == 4);  // spread, not all in one instant
  const auto short_one = s.due("a 192.0.2.1", std::nullopt, kStart, 1s);
  CHECK(short_one >= kStart + 50ms);
  CHECK(short_one <= kStart + 150ms);
}

TEST_CASE("a route is due one interval after its last attempt, jittered within 10%",
          "[route-checks]") {
  const CheckSchedule s(7);
  double low = 2, high = 0;
  for (int i = 0; i < 2000; ++i) {
    const auto last = kStart + std::chrono::seconds(i * 37);
    const auto due = s.due("mx 192.0.2.1", last, kStart, 300s);
    const double factor = std::chrono::duration<double>(due - last).count() / 300.0;
    low = std::min(low, factor);
    high = std::max(high, factor);
    // Stable: the same question gets the same answer (the loop asks at every wake-up).
    REQUIRE(s.due("mx 192.0.2.1", last, kStart, 300s) == due);
  }
  CHECK(low >= 0.9);
  CHECK(high <= 1.1);
  CHECK(low < 0.92);  // the jitter really spreads
  CHECK(high > 1.08);
  // Another seed (another relay) puts the same route elsewhere.
  const CheckSchedule other(8);
  CHECK(other.due("mx 192.0.2.1", kStart, kStart, 300s) !=
        s.due("mx 192.0.2.1", kStart, kStart, 300s));
}

TEST_CASE("expiry warnings: the lowest threshold reached, once each", "[route-checks]") {
  const std::vector<int> t{30, 14, 7, 1};
  // (days left, already warned, expected warning)
  using Row = std::tuple<double, std::optional<int>, std::optional<int>>;
  auto [left, warned, expected] = GENERATE(table<double, std::optional<int>, std::optional<int>>({
      Row{400, std::nullopt, std::nullopt},  // far away: nothing
      Row{30.5, std::nullopt, std::nullopt},
      Row{30, std::nullopt, 30},
      Row{20, std::nullopt, 30},
      Row{5, std::nullopt, 7},  // first seen at 5 days: the 7-day warning, not 30 and 14
      Row{5, 30, 7},            // crossed 14 and 7 since the last: the lower one only
      Row{5, 7, std::nullopt},  // already warned of 7
      Row{6.9, 7, std::nullopt},
      Row{0.5, 7, 1},
      Row{-3, 1, std::nullopt},  // expired, and already warned of the last threshold
      Row{-3, std::nullopt, 1},
  }));
  INFO("days left " << left);
  CHECK(threshold_crossed(t, left, warned) == expected);
  CHECK(threshold_crossed({}, left, warned) == std::nullopt);  // no thresholds: no warnings
}

TEST_CASE("a route's certificate warns once per threshold, afresh when renewed", "[route-checks]") {
  CertificateExpiry e({30, 14, 7, 1});
  const auto now = kStart;
  const std::int64_t in5days = SysClock::to_time_t(now) + 5 * 86400;
  CHECK(e.record("mx", "192.0.2.1", in5days, now) == 7);
  CHECK(e.record("mx", "192.0.2.1", in5days, now + 1h) == std::nullopt);  // only once
  CHECK(e.record("mx", "192.0.2.2", in5days, now) == 7);                  // per route
  CHECK(e.record("mx", "192.0.2.1", in5days, now + 96h + 1min) == 1);     // next threshold
  // Renewed: a year ahead, nothing; when that one nears, its own warnings.
  const std::int64_t renewed = SysClock::to_time_t(now) + 365 * 86400;
  CHECK(e.record("mx", "192.0.2.1", renewed, now + 97h) == std::nullopt);
  REQUIRE(e.find("mx", "192.0.2.1") != nullptr);
  CHECK(e.find("mx", "192.0.2.1")->not_after == renewed);
  CHECK(e.find("mx", "192.0.2.9") == nullptr);
  // Our own certificate the same way.
  CHECK(e.record_own(in5days, now) == 7);
  CHECK(e.record_own(in5days, now) == std::nullopt);
  CHECK(e.record_own(std::nullopt, now) == std::nullopt);
  CHECK_FALSE(e.own().has_value());
}

TEST_CASE("the expiry table stays bounded under rotating addresses", "[route-checks]") {
  CertificateExpiry e({7});
  for (int i = 0; i < 5000; ++i) {
    (void)e.record("mx", "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256),
                   SysClock::to_time_t(kStart) + 100 * 86400, kStart + std::chrono::seconds(i));
  }
  CHECK(e.find("mx", "10.0.19.135") != nullptr);  // the latest is kept
  CHECK(e.find("mx", "10.0.0.0") == nullptr);     // the oldest went
}

TEST_CASE("the earliest notAfter of a chain", "[route-checks]") {
  std::vector<tls::CertFacts> chain(3);
  chain[0].not_after_epoch = 2000;
  chain[1].not_after_epoch = 1500;
  chain[2].not_after_epoch = 0;  // unreadable: no evidence
  CHECK(earliest_not_after(chain) == 1500);
  CHECK(earliest_not_after({}) == std::nullopt);
}

TEST_CASE("[health] keys: defaults, values, and errors with file:line:col", "[route-checks]") {
  const auto d = config::parse_settings(kCheckedUpstream, "t.toml");
  CHECK(d.health.interval == 300s);
  CHECK_FALSE(d.health.auth);
  CHECK(d.health.concurrency == 2);
  CHECK(d.health.certificate_warn_days == std::vector<int>{30, 14, 7, 1});

  const auto s = config::parse_settings(std::string(kCheckedUpstream) +
                                            "[health]\ninterval_s = 0\nauth = true\nconcurrency = "
                                            "4\ncertificate_warn_days = [3, 21]\n",
                                        "t.toml");
  CHECK(s.health.interval == 0s);
  CHECK(s.health.auth);
  CHECK(s.health.concurrency == 4);
  CHECK(s.health.certificate_warn_days == std::vector<int>{21, 3});
  // [health.recurrence] belongs to another reader (loader.cpp): not an unknown key here.
  CHECK(error_of(std::string(kCheckedUpstream) +
                 "[health]\ninterval_s = 5\n[health.recurrence]\n") == "");

  using Row = std::pair<std::string, std::string>;
  auto [line, expected] = GENERATE(table<std::string, std::string>({
      Row{"intervall_s = 5", "t.toml:5:1: unknown key \"intervall_s\" in [health]"},
      Row{"interval_s = 0.5",
          "t.toml:5:14: [health] interval_s must be 0 (off) or at least 1 second"},
      Row{"interval_s = -1", "t.toml:5:14: [health] interval_s must be from 0 to 86400 seconds"},
      Row{"concurrency = 0", "t.toml:5:15: [health] concurrency must be from 1 to 64, not 0"},
      Row{"auth = \"yes\"", "t.toml:5:8: [health] auth must be true or false"},
      Row{"certificate_warn_days = [7, 0]",
          "t.toml:5:29: [health] certificate_warn_days[1] must be a whole number of days"},
      Row{"certificate_warn_days = [7, 7]",
          "t.toml:5:29: [health] certificate_warn_days[1] 7 is listed twice"},
  }));
  INFO(line);
  CHECK_THAT(error_of(std::string(kCheckedUpstream) + "[health]\n" + line + "\n"),
             Catch::Contains(expected));
}
