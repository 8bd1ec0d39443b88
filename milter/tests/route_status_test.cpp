// The /status document is read as hostile input: every malformed shape fails the whole
// reading (the milter then fails open), and nothing in it can reach a header raw.
#include <catch2/catch.hpp>

#include "milter/route_status.hpp"

using namespace tlsrelay;
using namespace tlsrelay::milter;

namespace {

std::string doc(const std::string& route) {
  return R"({"version":"0.1.0","now":"2026-11-29T10:00:00Z","route":)" + route +
         R"(,"upstreams":[],"recent":[]})";
}

}  // namespace

TEST_CASE("a route of the contract is read field by field", "[milter][status]") {
  const auto r = parse_status_document(
      doc(R"({"state":"degraded","upstream":"backup","class":"certificate-expired",)"
          R"x("hint":"certificate for smtp.example.net expired 2026-11-01 (notAfter)",)x"
          R"("since":"2026-11-29T09:58:00Z","verified_tls":true})"));
  REQUIRE(r.route);
  CHECK(r.problem.empty());
  CHECK(r.route->state == RouteState::Degraded);
  CHECK(r.route->upstream == "backup");
  CHECK(r.route->failure_class == "certificate-expired");
  CHECK(r.route->hint == "certificate for smtp.example.net expired 2026-11-01 (notAfter)");
  CHECK(r.route->since == "2026-11-29T09:58:00Z");
  CHECK(r.route->verified_tls == true);
}

TEST_CASE("null and absent optional fields are read as unknown", "[milter][status]") {
  auto [route, state] = GENERATE(table<std::string, RouteState>({
      {R"({"state":"healthy","upstream":"primary","class":null,"hint":null,"since":null,"verified_tls":null})",
       RouteState::Healthy},
      {R"({"state":"unknown","upstream":null})", RouteState::Unknown},
      {R"({"state":"failing","upstream":"p"})", RouteState::Failing},
  }));
  const auto r = parse_status_document(doc(route));
  INFO(route);
  REQUIRE(r.route);
  CHECK(r.route->state == state);
  CHECK_FALSE(r.route->failure_class);
  CHECK_FALSE(r.route->hint);
  CHECK_FALSE(r.route->since);
  CHECK_FALSE(r.route->verified_tls);
}

TEST_CASE("a malformed or hostile document gives no route, with the reason", "[milter][status]") {
  auto [what, body, reason] = GENERATE(table<std::string, std::string, std::string>({
      {"empty", "", "not JSON"},
      {"HTML error page", "<html>502 Bad Gateway</html>", "not JSON"},
      {"truncated", R"({"route":{"state":"heal)", "not JSON"},
      {"array", "[1,2]", "not a JSON object"},
      {"no route", R"({"version":"0.1.0"})", "no route object"},
      {"route a string", doc(R"("healthy")"), "no route object"},
      {"state missing", doc(R"({"upstream":"a"})"), "route.state is not a string"},
      {"state a number", doc(R"({"state":1})"), "route.state is not a string"},
      {"state outside the contract", doc(R"({"state":"great"})"), "not a known state"},
      {"state with CRLF", doc(R"({"state":"healthy\r\nX-Evil: 1"})"), "not a known state"},
      {"upstream a number", doc(R"({"state":"healthy","upstream":7})"),
       "route.upstream is not a string or null"},
      {"upstream with CRLF", doc(R"({"state":"healthy","upstream":"a\r\nX-Evil: 1"})"),
       "not an upstream name"},
      {"upstream too long",
       doc(R"({"state":"healthy","upstream":")" + std::string(65, 'a') + "\"}"),
       "not an upstream name"},
      {"class an object", doc(R"({"state":"failing","class":{}})"),
       "route.class is not a string or null"},
      {"class with a space", doc(R"({"state":"failing","class":"a b"})"), "not a failure class id"},
      {"class with a semicolon", doc(R"({"state":"failing","class":"x;state=healthy"})"),
       "not a failure class id"},
      {"since with a LF", doc(R"({"state":"failing","since":"2026\n"})"), "not an RFC 3339 time"},
      {"hint an array", doc(R"({"state":"failing","hint":["a"]})"),
       "route.hint is not a string or null"},
      {"verified_tls a string", doc(R"({"state":"failing","verified_tls":"yes"})"),
       "route.verified_tls is not a boolean or null"},
      {"too large", std::string(kMaxStatusBody + 1, ' '), "too large"},
  }));
  INFO(what);
  const auto r = parse_status_document(body);
  CHECK_FALSE(r.route);
  CHECK_THAT(r.problem, Catch::Contains(reason));
}

TEST_CASE("a hint's CR, LF, NUL and 8-bit bytes cannot leave the hint", "[milter][status]") {
  const auto r = parse_status_document(doc(
      R"({"state":"failing","upstream":"p","hint":"line one\r\nTLS-Relay-Route: state=healthy\u0000\ttab caf\u00e9"})"));
  REQUIRE(r.route);
  REQUIRE(r.route->hint);
  CHECK(*r.route->hint == "line one TLS-Relay-Route: state=healthy tab caf??");
  CHECK(r.route->hint->find_first_of("\r\n\t", 0) == std::string::npos);
}

TEST_CASE("a huge hint is cut to kMaxHint bytes", "[milter][status]") {
  const auto r = parse_status_document(
      doc(R"({"state":"failing","hint":")" + std::string(100000, 'x') + "\"}"));
  REQUIRE(r.route);
  CHECK(r.route->hint->size() == kMaxHint + 3);
  CHECK(r.route->hint->substr(kMaxHint) == "...");
}

TEST_CASE("deep nesting is parsed without recursion trouble", "[milter][status]") {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const auto r = parse_status_document(R"({"x":)" + deep + R"(,"route":{"state":"healthy"}})");
  REQUIRE(r.route);
  CHECK(r.route->state == RouteState::Healthy);
}
