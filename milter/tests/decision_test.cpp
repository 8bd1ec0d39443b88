// decide(): route status + message facts + [milter] settings -> verdict and header fields,
// table by table. Each row names the behaviour it protects.
#include <algorithm>
#include <catch2/catch.hpp>

#include "milter/decision.hpp"

using namespace tlsrelay;
using namespace tlsrelay::milter;
using tlsrelay::config::MilterPolicy;
using tlsrelay::config::MilterSettings;

namespace {

RouteStatus route(RouteState state, std::optional<bool> verified = true) {
  RouteStatus r;
  r.state = state;
  r.upstream = "primary";
  r.verified_tls = verified;
  if (state != RouteState::Healthy && state != RouteState::Unknown) {
    r.failure_class = "certificate-expired";
    r.hint = "certificate for mx.test expired 2021-01-01 (notAfter)";
    r.since = "2026-11-29T09:58:00Z";
  }
  return r;
}

StatusReading reading(RouteStatus r) {
  return StatusReading{std::move(r), ""};
}

MilterSettings with_policy(MilterPolicy p, bool degraded = false) {
  MilterSettings s;
  s.policy = p;
  s.degraded_is_failing = degraded;
  return s;
}

const HeaderField* field(const Decision& d, std::string_view name) {
  auto it = std::find_if(d.headers.begin(), d.headers.end(),
                         [&](const HeaderField& h) { return h.name == name; });
  return it == d.headers.end() ? nullptr : &*it;
}

std::string unfold(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '\n'), s.end());
  return s;
}

}  // namespace

TEST_CASE("the verdict for each route state, policy and REQUIRETLS", "[milter][decision]") {
  using S = RouteState;
  using P = MilterPolicy;
  using V = Verdict;
  struct Row {
    const char* what;
    S state;
    std::optional<bool> verified;
    P policy;
    bool degraded_is_failing;
    bool requiretls;
    V verdict;
    const char* why;
  };
  auto row = GENERATE(values<Row>({
      {"healthy route: accept", S::Healthy, true, P::Tempfail, false, false, V::Accept,
       "route-healthy"},
      {"no attempt yet is not failing", S::Unknown, std::nullopt, P::Tempfail, false, false,
       V::Accept, "route-unknown"},
      {"degraded is not failing by default", S::Degraded, true, P::Tempfail, false, false,
       V::Accept, "route-degraded"},
      {"degraded counts when configured", S::Degraded, true, P::Tempfail, true, false, V::Tempfail,
       "route-failing"},
      {"failing + accept: accept and tag", S::Failing, true, P::Accept, false, false, V::Accept,
       "route-failing"},
      {"failing + tempfail: 451", S::Failing, true, P::Tempfail, false, false, V::Tempfail,
       "route-failing"},
      {"failing + hold: quarantine", S::Failing, true, P::Hold, false, false, V::Hold,
       "route-failing"},
      {"REQUIRETLS on a failing route: tempfail even under accept", S::Failing, true, P::Accept,
       false, true, V::Tempfail, "requiretls"},
      {"REQUIRETLS on a failing route: tempfail rather than hold", S::Failing, true, P::Hold, false,
       true, V::Tempfail, "requiretls"},
      {"REQUIRETLS, healthy but last delivery unverified: tempfail", S::Healthy, false, P::Accept,
       false, true, V::Tempfail, "requiretls"},
      {"REQUIRETLS, degraded with verified TLS: accept", S::Degraded, true, P::Accept, false, true,
       V::Accept, "route-degraded"},
      {"REQUIRETLS, verified_tls not known yet: accept", S::Unknown, std::nullopt, P::Accept, false,
       true, V::Accept, "route-unknown"},
      {"REQUIRETLS on a healthy verified route: accept", S::Healthy, true, P::Tempfail, false, true,
       V::Accept, "route-healthy"},
      {"no REQUIRETLS, unverified healthy route: accept", S::Healthy, false, P::Tempfail, false,
       false, V::Accept, "route-healthy"},
  }));
  INFO(row.what);
  MessageFacts facts;
  facts.requiretls = row.requiretls;
  const Decision d = decide(reading(route(row.state, row.verified)), facts,
                            with_policy(row.policy, row.degraded_is_failing));
  CHECK(d.verdict == row.verdict);
  CHECK(d.why == row.why);
  CHECK_FALSE(d.fail_open);
  if (d.verdict == Verdict::Tempfail) {
    CHECK(d.reply_code == "451");
    CHECK(d.reply_xcode == "4.7.5");
    CHECK(d.headers.empty());
  } else {
    REQUIRE(field(d, kRouteField));
    CHECK_THAT(unfold(field(d, kRouteField)->value),
               Catch::StartsWith("upstream=primary; state=" + std::string(to_string(row.state))));
  }
  CHECK((d.verdict == Verdict::Hold) == !d.quarantine_reason.empty());
}

TEST_CASE("TLS-Required: No never makes the answer stricter", "[milter][decision]") {
  for (auto state : {RouteState::Healthy, RouteState::Degraded, RouteState::Failing}) {
    for (auto policy : {MilterPolicy::Accept, MilterPolicy::Tempfail, MilterPolicy::Hold}) {
      MessageFacts plain;
      MessageFacts relaxed;
      relaxed.tls_required = TlsRequiredField::No;
      const auto a = decide(reading(route(state, false)), plain, with_policy(policy));
      const auto b = decide(reading(route(state, false)), relaxed, with_policy(policy));
      CHECK(a.verdict == b.verdict);
    }
  }
}

TEST_CASE("the route field: the contract's keys, hint only when not healthy",
          "[milter][decision]") {
  CHECK(route_field_value(route(RouteState::Healthy)) == "upstream=primary; state=healthy");
  CHECK(route_field_value(route(RouteState::Failing)) ==
        "upstream=primary; state=failing; class=certificate-expired; "
        "since=2026-11-29T09:58:00Z; hint=\"certificate for mx.test expired 2021-01-01 "
        "(notAfter)\"");
  RouteStatus healthy_with_hint = route(RouteState::Healthy);
  healthy_with_hint.hint = "stale";
  CHECK(route_field_value(healthy_with_hint) == "upstream=primary; state=healthy");
  RouteStatus nameless = route(RouteState::Unknown);
  nameless.upstream.clear();
  CHECK(route_field_value(nameless) == "upstream=unknown; state=unknown");
}

TEST_CASE("the tempfail text names the upstream, class and hint; '%' is doubled",
          "[milter][decision]") {
  RouteStatus r = route(RouteState::Failing);
  r.hint = "100% of attempts failed";
  const auto d = decide(reading(r), MessageFacts{}, with_policy(MilterPolicy::Tempfail));
  CHECK(d.reply_text ==
        "tlsrelay: upstream primary is failing (certificate-expired: 100%% of attempts "
        "failed); try again later");
}

TEST_CASE("hold gives a quarantine reason with the class and keeps the fields",
          "[milter][decision]") {
  const auto d =
      decide(reading(route(RouteState::Failing)), MessageFacts{}, with_policy(MilterPolicy::Hold));
  CHECK(d.quarantine_reason ==
        "tlsrelay: upstream primary is failing (certificate-expired: certificate for mx.test "
        "expired 2021-01-01 (notAfter))");
  CHECK(field(d, kRouteField));
  CHECK(field(d, kInboundField));
}

TEST_CASE("no status: accept, fail_open, no route field, whatever the policy or REQUIRETLS",
          "[milter][decision]") {
  for (auto policy : {MilterPolicy::Accept, MilterPolicy::Tempfail, MilterPolicy::Hold}) {
    for (bool requiretls : {false, true}) {
      MessageFacts facts;
      facts.requiretls = requiretls;
      const auto d = decide(StatusReading{std::nullopt, "connect: Connection refused"}, facts,
                            with_policy(policy));
      CHECK(d.verdict == Verdict::Accept);
      CHECK(d.fail_open);
      CHECK(d.why == "status-unavailable");
      CHECK_FALSE(field(d, kRouteField));
      CHECK(field(d, kInboundField));  // the MTA's own facts are still true
    }
  }
}

TEST_CASE("route_header and inbound_header switch the fields off", "[milter][decision]") {
  MilterSettings s;
  s.route_header = false;
  auto d = decide(reading(route(RouteState::Healthy)), MessageFacts{}, s);
  CHECK_FALSE(field(d, kRouteField));
  CHECK(field(d, kInboundField));
  s.inbound_header = false;
  d = decide(reading(route(RouteState::Healthy)), MessageFacts{}, s);
  CHECK(d.headers.empty());
}

TEST_CASE("the inbound field from Postfix's macros", "[milter][decision]") {
  InboundFacts in;
  CHECK(inbound_field_value(in) == "tls=none");
  in.auth_authen = "alice";
  CHECK(inbound_field_value(in) == "tls=none; auth=alice");
  in = InboundFacts{"TLSv1.3",
                    "TLS_AES_256_GCM_SHA384",
                    "256",
                    "CN=client.test,O=Example Org",
                    "tlsrelay test intermediate",
                    "alice@example.org"};
  CHECK(inbound_field_value(in) ==
        "tls=TLSv1.3; cipher=TLS_AES_256_GCM_SHA384; bits=256; "
        "cert-subject=\"CN=client.test,O=Example Org\"; "
        "cert-issuer=\"tlsrelay test intermediate\"; auth=alice@example.org");
}

TEST_CASE("client-controlled macro text cannot inject a header line", "[milter][decision]") {
  MessageFacts facts;
  facts.inbound.tls_version = "TLSv1.3";
  facts.inbound.cert_subject = "CN=x\r\nTLS-Relay-Route: state=healthy\"; evil=\\";
  const auto d = decide(reading(route(RouteState::Failing)), facts, MilterSettings{});
  const HeaderField* f = field(d, kInboundField);
  REQUIRE(f);
  CHECK(f->value.find('\r') == std::string::npos);
  for (std::size_t i = f->value.find('\n'); i != std::string::npos;
       i = f->value.find('\n', i + 1)) {
    CHECK(f->value[i + 1] == ' ');
  }
  CHECK_THAT(
      unfold(f->value),
      Catch::Contains("cert-subject=\"CN=x TLS-Relay-Route: state=healthy\\\"; evil=\\\\\""));
}

TEST_CASE("hostile /status text reaches neither a header nor a reply raw", "[milter][decision]") {
  // What parse_status_document would let through for the worst hint: printable, cut.
  RouteStatus r = route(RouteState::Failing);
  r.hint = std::string(kMaxHint, '"') + "...";
  for (auto policy : {MilterPolicy::Accept, MilterPolicy::Tempfail, MilterPolicy::Hold}) {
    const auto d = decide(reading(r), MessageFacts{}, with_policy(policy));
    for (const auto& h : d.headers) {
      CHECK(h.value.find('\r') == std::string::npos);
      std::size_t line = 0;
      for (char c : h.value) {
        line = c == '\n' ? 0 : line + 1;
        CHECK(line < 998);
      }
    }
    CHECK(d.reply_text.find_first_of("\r\n") == std::string::npos);
    CHECK(d.reply_text.size() < 900);
    CHECK(d.quarantine_reason.find_first_of("\r\n") == std::string::npos);
  }
}
