// Fail-open events: counted, logged at once, then at most once a minute.
#include <catch2/catch.hpp>

#include "milter/fail_open_log.hpp"

using namespace tlsrelay;
using namespace tlsrelay::milter;
using namespace std::chrono_literals;

TEST_CASE("the first fail-open is logged, then one line a minute with the count",
          "[milter][failopen]") {
  FailOpenLog log(60s);
  const FailOpenLog::Clock::time_point t0{};
  auto first = log.record("connect 127.0.0.1:9325: Connection refused", t0);
  REQUIRE(first);
  CHECK(first->text() ==
        "event=fail-open reason=\"connect 127.0.0.1:9325: Connection refused\" "
        "accepted_since_last_line=1 fail_open_total=1 action=accept");
  for (int i = 1; i <= 50; ++i) CHECK_FALSE(log.record("refused", t0 + i * 1s));
  auto next = log.record("refused", t0 + 60s);
  REQUIRE(next);
  CHECK_THAT(next->text(), Catch::Contains("accepted_since_last_line=51 fail_open_total=52"));
  CHECK(log.total() == 52);
}

TEST_CASE("recovery is logged once, and the next outage at once", "[milter][failopen]") {
  FailOpenLog log(60s);
  const FailOpenLog::Clock::time_point t0{};
  CHECK_FALSE(log.recovered(t0));  // nothing to recover from
  CHECK(log.record("x", t0));
  CHECK_FALSE(log.record("x", t0 + 1s));
  auto back = log.recovered(t0 + 2s);
  REQUIRE(back);
  CHECK(back->text() == "event=status-recovered accepted_since_last_line=1 fail_open_total=2");
  CHECK_FALSE(log.recovered(t0 + 3s));
  CHECK(log.record("x", t0 + 4s));
}

TEST_CASE("a hostile problem text stays on one line", "[milter][failopen]") {
  FailOpenLog log;
  auto line = log.record("bad\r\nevent=forged", {});
  REQUIRE(line);
  CHECK(line->text().find_first_of("\r\n") == std::string::npos);
  CHECK_THAT(line->text(), Catch::Contains("reason=\"bad event=forged\""));
}
