// The fault plan language: what parses to what, what is refused with which column, and that
// the schedule is a fixed function of the plan, the connection number and the seed.
#include <catch2/catch.hpp>
#include <tuple>

#include "integration/faultinject/plan.hpp"

using namespace tlsrelay::faultinject;

namespace {

Plan must_parse(const std::string& spec) {
  std::string error;
  auto p = parse_plan(spec, error);
  INFO(spec << " -> " << error);
  REQUIRE(p.has_value());
  return *p;
}

}  // namespace

TEST_CASE("plan: one rule of each point parses to its trigger", "[plan]") {
  auto [spec, action, point, n, offset] = GENERATE(table<std::string, Action, Point, int, int>({
      {"1:reset@connect", Action::Reset, Point::Connect, 0, 0},
      {"1:close", Action::Close, Point::Connect, 0, 0},
      {"1:reset@banner", Action::Reset, Point::Banner, 0, 0},
      {"1:close@banner+10", Action::Close, Point::Banner, 0, 10},
      {"1:stall@ehlo", Action::Stall, Point::Ehlo, 0, 0},
      {"1:reset@starttls", Action::Reset, Point::Starttls, 0, 0},
      {"1:reset@starttls-reply", Action::Reset, Point::StarttlsReply, 0, 0},
      {"1:reset@clienthello", Action::Reset, Point::ClientHello, 0, 0},
      {"1:reset@handshake+3", Action::Reset, Point::ClientHello, 0, 3},
      {"1:stall@serverhello+700", Action::Stall, Point::ServerHello, 0, 700},
      {"1:reset@tls-ehlo", Action::Reset, Point::Flight, 1, 0},
      {"1:reset@auth", Action::Reset, Point::Flight, 2, 0},
      {"1:reset@mail", Action::Reset, Point::Flight, 3, 0},
      {"1:reset@rcpt", Action::Reset, Point::Flight, 4, 0},
      {"1:reset@data", Action::Reset, Point::Flight, 5, 0},
      {"1:reset@body+100", Action::Reset, Point::Flight, 6, 100},
      {"1:reset@after-dot", Action::Reset, Point::Reply, 6, 0},
      {"1:stall-down@reply=11", Action::StallDown, Point::Reply, 11, 0},
      {"1:stall-up@flight=9+5", Action::StallUp, Point::Flight, 9, 5},
      {"1:stall@after-bytes-up=300", Action::Stall, Point::BytesUp, 300, 0},
      {"1:close-up@bytes-up=0", Action::CloseUp, Point::BytesUp, 0, 0},
      {"1:close-down@bytes-down=42", Action::CloseDown, Point::BytesDown, 42, 0},
      {"1:pass", Action::Pass, Point::Connect, 0, 0},
  }));
  Plan p = must_parse(spec);
  REQUIRE(p.rules.size() == 1);
  CHECK(p.rules[0].action == action);
  CHECK(p.rules[0].trigger.point == point);
  CHECK(p.rules[0].trigger.n == static_cast<std::uint64_t>(n));
  CHECK(p.rules[0].trigger.offset == static_cast<std::uint64_t>(offset));
  CHECK(p.rules[0].text == spec);
}

TEST_CASE("plan: bad specs are refused with the column and what was expected", "[plan]") {
  auto [spec, column, expected] = GENERATE(table<std::string, int, std::string>({
      {"", 1, "a rule"},
      {"1reset", 2, "':' after the selector"},
      {"1:explode", 3, "an action"},
      {"1:reset@nowhere", 9, "a point"},
      {"1:reset@flight", 15, "'=N' after flight"},
      {"1:reset@flight=0", 17, "counted from 1"},
      {"1:reset@flight=x", 16, "a number after '='"},
      {"0:reset", 2, "connection numbers start at 1"},
      {"5-3:reset", 4, "whose end is not below its start"},
      {"%0=0:reset", 3, "a modulus of at least 1"},
      {"%4=4:reset", 5, "a remainder below the modulus"},
      {"%4:reset", 3, "'=' after the modulus"},
      {"p1.5:reset", 2, "a probability between 0 and 1"},
      {"1:pass@banner", 8, "no '@' after pass"},
      {"1:stall-up@connect", 19, "at connect"},
      {"1:reset@connect+5", 17, "no '+BYTES' after connect"},
      {"1:reset,", 9, "a selector"},
      {"1:reset;2:close", 8, "',' between rules"},
  }));
  std::string error;
  auto p = parse_plan(spec, error);
  INFO("spec '" << spec << "' -> " << error);
  CHECK_FALSE(p.has_value());
  CHECK(error.find("at column " + std::to_string(column) + ":") == 0);
  CHECK(error.find(expected) != std::string::npos);
}

TEST_CASE("plan: the first matching rule wins; no match is a pass", "[plan]") {
  Plan p = must_parse("1:reset@connect, 2-3:close@banner ,5+:stall@ehlo,%2=0:reset@auth");
  REQUIRE(p.rules.size() == 4);
  CHECK(match(p, 1, 1).action == Action::Reset);
  CHECK(match(p, 2, 1).action == Action::Close);
  CHECK(match(p, 3, 1).action == Action::Close);
  CHECK(match(p, 4, 1).trigger.point == Point::Flight);  // only %2=0 matches 4
  CHECK(match(p, 5, 1).action == Action::Stall);
  CHECK(match(p, 1000, 1).action == Action::Stall);
  Plan q = must_parse("%3=1:reset@banner");
  CHECK(match(q, 1, 1).action == Action::Reset);
  CHECK(match(q, 2, 1).action == Action::Pass);
  CHECK(match(q, 4, 1).action == Action::Reset);
}

TEST_CASE("plan: probabilities are fixed by the seed and near their rate", "[plan]") {
  Plan p = must_parse("p0.25:reset@banner,*:pass");
  int hits = 0;
  for (std::uint64_t n = 1; n <= 4000; ++n) {
    const bool a = match(p, n, 7).action == Action::Reset;
    CHECK(a == (match(p, n, 7).action == Action::Reset));  // same seed, same answer
    hits += a;
  }
  CHECK(hits > 850);
  CHECK(hits < 1150);
  int differ = 0;
  for (std::uint64_t n = 1; n <= 200; ++n) {
    differ += (match(p, n, 7).action == Action::Reset) != (match(p, n, 8).action == Action::Reset);
  }
  CHECK(differ > 0);  // another seed, another schedule
  CHECK(match(must_parse("p0:reset"), 5, 1).action == Action::Pass);
  CHECK(match(must_parse("p1:reset"), 5, 1).action == Action::Reset);
}

TEST_CASE("plan: to_string names the trigger as written", "[plan]") {
  CHECK(to_string(must_parse("1:reset@after-dot").rules[0].trigger) == "reply=6");
  CHECK(to_string(must_parse("1:reset@body+9").rules[0].trigger) == "flight=6+9");
  CHECK(to_string(Action::StallDown) == "stall-down");
}
