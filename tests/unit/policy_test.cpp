// The failure policy's decision table (proxy/policy/policy.hpp): what open_route does after
// a failed attempt, without a socket. Each row names the behaviour it protects
// (../shared/spec/interfaces.md "Actions", docs/configuration.md "[policy.rules]").
#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "config/policy_rules.hpp"
#include "proxy/policy/policy.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;
using namespace std::chrono_literals;
using Rule = std::vector<config::Action>;

namespace Catch {
template <>
struct StringMaker<RouteStep> {
  static std::string convert(const RouteStep& s) { return to_string(s); }
};
template <>
struct StringMaker<RouteCursor> {
  static std::string convert(const RouteCursor& c) {
    std::ostringstream o;
    o << "upstream " << c.upstream << "/" << c.upstreams << ", address " << c.address << "/"
      << c.addresses << ", retries " << c.retries << (c.compat ? ", compat" : "")
      << (c.plaintext ? ", plaintext" : "");
    return o.str();
  }
};
}  // namespace Catch

namespace {

using enum config::ActionKind;

RouteStep retry(int n) {
  return {StepKind::Retry, n};
}
const RouteStep kNextAddress{StepKind::NextAddress};
const RouteStep kNextUpstream{StepKind::NextUpstream};
const RouteStep kCompat{StepKind::Compat};
const RouteStep kPlaintext{StepKind::Plaintext};
const RouteStep kDefer{StepKind::Defer};
const RouteStep kReject{StepKind::Reject};

// The first attempt of a route with somewhere left to go: a second upstream, a second
// address, no retry yet, the normal profile.
const RouteCursor kFirst{.upstream = 0, .upstreams = 2, .address = 0, .addresses = 2};

// An upstream where every action could apply: a compat profile, plaintext allowed (hence no
// credentials), STARTTLS.
const UpstreamTraits kCapable{.has_compat = true, .allow_plaintext = true};

// Mid-route on the compat profile: the second of three addresses, two retries done.
const RouteCursor kMid{.upstreams = 3, .address = 1, .addresses = 3, .retries = 2, .compat = true};

const MessageNeeds kAnyMessage{};
const MessageNeeds kRequireTls{.require_tls = true};

// Everything next_step() reads besides the rule; what a row does not name is kFirst on a
// kCapable upstream for any message, within the deadline.
struct Situation {
  RouteCursor at = kFirst;
  UpstreamTraits upstream = kCapable;
  MessageNeeds message = kAnyMessage;
  bool deadline_spent = false;
};

}  // namespace

TEST_CASE("next_step: the first action of the rule that still applies decides", "[policy]") {
  using U = UpstreamTraits;
  using C = RouteCursor;
  auto [protects, rule, given, expected] = GENERATE(table<std::string, Rule, Situation, RouteStep>({
      // ---- each action kind, where it applies ----
      {"retry:N retries the address, numbered from 1 for the backoff", {{Retry, 2}}, {}, retry(1)},
      {"retry:N counts the retries done on this address",
       {{Retry, 2}},
       {.at = C{.upstreams = 2, .addresses = 2, .retries = 1}},
       retry(2)},
      {"next-address goes to the upstream's next known address", {{NextAddress}}, {}, kNextAddress},
      {"next-upstream goes to the next upstream in the order", {{NextUpstream}}, {}, kNextUpstream},
      {"compat tries once more with the upstream's compat profile", {{Compat}}, {}, kCompat},
      {"plaintext tries once more without TLS where the upstream allows it",
       {{Plaintext}},
       {},
       kPlaintext},
      {"plaintext also from an implicit-TLS upstream",
       {{Plaintext}},
       {.upstream = U{.allow_plaintext = true, .tls_mode = TlsMode::Implicit}},
       kPlaintext},
      {"defer answers the client 4xx", {{Defer}}, {}, kDefer},
      {"reject answers the client 5xx", {{Reject}}, {}, kReject},

      // ---- order: the first that applies, not the 'best' ----
      {"an earlier action that applies beats a later one",
       {{NextUpstream}, {Retry, 3}},
       {},
       kNextUpstream},
      {"defer ends the scan: actions after it are never reached",
       {{Defer}, {NextUpstream}},
       {},
       kDefer},
      {"the actions run out without defer or reject: defer",
       {{NextUpstream}},
       {.at = C{.upstream = 1, .upstreams = 2}},
       kDefer},
      {"an empty rule defers (fail safe)", {}, {}, kDefer},

      // ---- skipped because it no longer applies: the next action decides ----
      {"retry exhausted",
       {{Retry, 2}, {NextAddress}},
       {.at = C{.upstreams = 2, .addresses = 2, .retries = 2}},
       kNextAddress},
      {"a later retry:N counts the same retries of the address, not its own",
       {{Retry, 1}, {Compat}, {Retry, 3}},
       {.at = C{.upstreams = 1, .addresses = 1, .retries = 1, .compat = true}},
       retry(2)},
      {"no next address: on the last one",
       {{NextAddress}, {NextUpstream}},
       {.at = C{.upstreams = 2, .address = 1, .addresses = 2}},
       kNextUpstream},
      {"no next address: none known (fixed connect address, or a single DNS answer)",
       {{NextAddress}, {NextUpstream}},
       {.at = C{.upstreams = 2}},
       kNextUpstream},
      {"no next upstream: on the last one",
       {{NextUpstream}, {Reject}},
       {.at = C{.upstream = 1, .upstreams = 2, .addresses = 2}},
       kReject},
      {"no next upstream: the only one",
       {{NextUpstream}, {Reject}},
       {.at = C{.upstreams = 1}},
       kReject},
      {"compat skipped: the upstream has no compat profile",
       {{Compat}, {NextUpstream}},
       {.upstream = U{.allow_plaintext = true}},
       kNextUpstream},
      {"compat skipped: already on the compat profile (once, not a loop)",
       {{Compat}, {NextUpstream}},
       {.at = C{.upstreams = 2, .compat = true}},
       kNextUpstream},
      {"compat skipped: REQUIRETLS never travels on a lowered profile (RFC 8689)",
       {{Compat}, {NextUpstream}},
       {.message = kRequireTls},
       kNextUpstream},
      {"plaintext skipped: the upstream does not allow it",
       {{Plaintext}, {NextUpstream}},
       {.upstream = U{.has_compat = true}},
       kNextUpstream},
      {"plaintext skipped: credentials never travel in clear",
       {{Plaintext}, {NextUpstream}},
       {.upstream = U{.allow_plaintext = true, .has_credentials = true}},
       kNextUpstream},
      {"plaintext skipped: already in plaintext (once, not a loop)",
       {{Plaintext}, {NextUpstream}},
       {.at = C{.upstreams = 2, .plaintext = true}},
       kNextUpstream},
      {"plaintext skipped: the upstream is tls = none, nothing to lower",
       {{Plaintext}, {NextUpstream}},
       {.upstream = U{.allow_plaintext = true, .tls_mode = TlsMode::None}},
       kNextUpstream},
      {"plaintext skipped: REQUIRETLS never goes in clear (RFC 8689)",
       {{Plaintext}, {NextUpstream}},
       {.message = kRequireTls},
       kNextUpstream},
      {"compat already used: plaintext is the next rung of the ladder",
       {{Compat}, {Plaintext}, {Defer}},
       {.at = C{.upstreams = 1, .compat = true}},
       kPlaintext},
      {"REQUIRETLS: neither compat nor plaintext, so the rule defers",
       {{Compat}, {Plaintext}, {Defer}},
       {.at = C{.upstreams = 1}, .message = kRequireTls},
       kDefer},
      {"REQUIRETLS does not stop a retry",
       {{Compat}, {Plaintext}, {Retry, 1}},
       {.message = kRequireTls},
       retry(1)},

      // ---- the deadline ----
      {"deadline spent: defer, though a retry is left",
       {{Retry, 3}, {NextUpstream}},
       {.deadline_spent = true},
       kDefer},
      {"deadline spent: defer, even under a reject rule",
       {{Reject}},
       {.deadline_spent = true},
       kDefer},
  }));
  INFO("protects: " << protects);
  INFO("rule: " << config::to_string(rule));
  INFO("at: " << Catch::StringMaker<RouteCursor>::convert(given.at));
  CHECK(next_step(rule, given.at, given.upstream, given.message, given.deadline_spent) == expected);
}

TEST_CASE("next_step: the built-in rules (docs/configuration.md) per class", "[policy]") {
  auto [protects, failed, at, expected] =
      GENERATE(table<std::string, FailureClass, RouteCursor, RouteStep>({
          {"network: one retry of the same address first", FailureClass::ConnectionReset, kFirst,
           retry(1)},
          {"network: then the next address", FailureClass::ConnectionReset,
           RouteCursor{.upstreams = 2, .addresses = 2, .retries = 1}, kNextAddress},
          {"network: then the next upstream", FailureClass::ConnectRefused,
           RouteCursor{.upstreams = 2, .address = 1, .addresses = 2, .retries = 1}, kNextUpstream},
          {"network: then defer", FailureClass::ConnectionClosed,
           RouteCursor{.upstream = 1, .upstreams = 2, .retries = 1}, kDefer},
          {"connect-timeout: no retry, the next address at once (a broken IPv6 path)",
           FailureClass::ConnectTimeout, kFirst, kNextAddress},
          {"network-unreachable: no retry, the next address at once",
           FailureClass::NetworkUnreachable, kFirst, kNextAddress},
          {"dns: every address shares the answer, so the next upstream", FailureClass::DnsNxdomain,
           kFirst, kNextUpstream},
          {"certificate: never retried, the next upstream", FailureClass::CertificateExpired,
           kFirst, kNextUpstream},
          {"certificate: on the last upstream, defer", FailureClass::CertificateUntrusted,
           RouteCursor{.upstream = 1, .upstreams = 2}, kDefer},
          {"tls: the next upstream", FailureClass::TlsProtocolMismatch, kFirst, kNextUpstream},
          {"starttls-injection: never into the same path again", FailureClass::StarttlsInjection,
           kFirst, kNextUpstream},
          {"auth: the next upstream", FailureClass::AuthFailed, kFirst, kNextUpstream},
          {"smtp: the next upstream", FailureClass::BannerRejected, kFirst, kNextUpstream},
          {"local: the next upstream may not need the broken part", FailureClass::LocalConfig,
           kFirst, kNextUpstream},
          {"no built-in rule offers compat or plaintext", FailureClass::TlsProtocolMismatch,
           RouteCursor{.upstreams = 1}, kDefer},
      }));
  INFO("protects: " << protects);
  const config::PolicySettings builtin;
  CHECK(next_step(builtin, failed, at, kCapable, kAnyMessage, false) == expected);
}

TEST_CASE("next_step: the file's rules over the built-in ones, most specific key first",
          "[policy]") {
  config::PolicySettings policy;
  policy.rules["tls"] = {{Compat}, {Defer}};
  policy.rules["certificate-expired"] = {{Reject}};
  policy.rules["starttls"] = {{Retry, 3}, {Defer}};
  // The class's own key beats the built-in group rule.
  CHECK(next_step(policy, FailureClass::CertificateExpired, kFirst, kCapable, kAnyMessage, false) ==
        kReject);
  // Another class of the group keeps the built-in rule.
  CHECK(next_step(policy, FailureClass::CertificateUntrusted, kFirst, kCapable, kAnyMessage,
                  false) == kNextUpstream);
  // The file's group key replaces the built-in one.
  CHECK(next_step(policy, FailureClass::TlsAlert, kFirst, kCapable, kAnyMessage, false) == kCompat);
  // starttls-injection has a built-in rule of its own: a relaxed group rule does not reach it.
  CHECK(next_step(policy, FailureClass::StarttlsInjection, kFirst, kCapable, kAnyMessage, false) ==
        kNextUpstream);
  CHECK(next_step(policy, FailureClass::StarttlsRejected, kFirst, kCapable, kAnyMessage, false) ==
        retry(1));
}

TEST_CASE("advance: where the attempt a step leads to goes", "[policy]") {
  auto [protects, step, expected] = GENERATE(table<std::string, RouteStep, RouteCursor>({
      {"a retry counts against the address", retry(3),
       RouteCursor{.upstreams = 3, .address = 1, .addresses = 3, .retries = 3, .compat = true}},
      {"the next address starts the count again and keeps the profile", kNextAddress,
       RouteCursor{.upstreams = 3, .address = 2, .addresses = 3, .retries = 0, .compat = true}},
      {"the next upstream starts afresh: normal profile, its addresses not yet known",
       kNextUpstream, RouteCursor{.upstream = 1, .upstreams = 3}},
      {"compat starts the count again on the same address", kCompat,
       RouteCursor{.upstreams = 3, .address = 1, .addresses = 3, .retries = 0, .compat = true}},
      {"plaintext starts the count again on the same address", kPlaintext,
       RouteCursor{.upstreams = 3,
                   .address = 1,
                   .addresses = 3,
                   .retries = 0,
                   .compat = true,
                   .plaintext = true}},
      {"defer leaves the cursor", kDefer, kMid},
      {"reject leaves the cursor", kReject, kMid},
  }));
  INFO("protects: " << protects);
  CHECK(advance(kMid, step) == expected);
}

TEST_CASE("next_step and advance: the built-in network rule walks the whole route", "[policy]") {
  // Two upstreams; the first resolves to three addresses, the second has a fixed one. Every
  // attempt is reset: one retry per address, every address, the next upstream, then defer.
  const config::PolicySettings builtin;
  RouteCursor at{.upstreams = 2, .addresses = 3};
  std::vector<std::string> steps;
  for (int guard = 0; guard < 20; ++guard) {
    const RouteStep step =
        next_step(builtin, FailureClass::ConnectionReset, at, kCapable, kAnyMessage, false);
    steps.push_back(to_string(step));
    if (!moves_on(step.kind)) break;
    at = advance(at, step);
  }
  CHECK(steps == std::vector<std::string>{"retry:1", "next-address", "retry:1", "next-address",
                                          "retry:1", "next-upstream", "retry:1", "defer"});
}

TEST_CASE("to_string(RouteStep): the attempt record's policy_step", "[policy]") {
  auto [step, text, moves] = GENERATE(table<RouteStep, std::string, bool>({
      {retry(1), "retry:1", true},
      {retry(10), "retry:10", true},
      {kNextAddress, "next-address", true},
      {kNextUpstream, "next-upstream", true},
      {kCompat, "compat", true},
      {kPlaintext, "plaintext", true},
      {kDefer, "defer", false},
      {kReject, "reject", false},
  }));
  CHECK(to_string(step) == text);
  CHECK(moves_on(step.kind) == moves);
}

TEST_CASE("backoff_base: backoff_s's entry per retry, the last one repeating", "[policy]") {
  config::PolicySettings p;
  p.backoff = {1s, 4s};
  CHECK(backoff_base(p, 1) == 1s);
  CHECK(backoff_base(p, 2) == 4s);
  CHECK(backoff_base(p, 3) == 4s);
  CHECK(backoff_base(p, 10) == 4s);
  p.backoff = {};
  CHECK(backoff_base(p, 1) == 0s);  // an empty list retries at once
}

TEST_CASE("route_failure_reply: deferral, rejection, or no upstream at all", "[policy]") {
  SECTION("no attempt: no upstream is configured") {
    const Reply r = route_failure_reply({}, 0, StepKind::Defer);
    CHECK(r.code == 451);
    CHECK(r.enhanced == "4.3.5");
  }
  tls::AttemptFacts facts;
  facts.upstream.name = "primary";
  facts.upstream.host = "smtp.example.net";
  facts.upstream.port = 587;
  tls::Verdict first{.cls = FailureClass::ConnectionReset, .hint = "first hint"};
  tls::Verdict last{.cls = FailureClass::CertificateExpired, .hint = "the hint"};
  const std::vector<FailedAttempt> failures{{facts, first}, {facts, last}};
  SECTION("defer: 451 naming the last failure, one attempt per failure") {
    const Reply r = route_failure_reply(failures, 2, StepKind::Defer);
    CHECK(r.code == 451);
    CHECK(r.enhanced == "4.7.5");
    REQUIRE(r.lines.size() == 1);
    CHECK(r.lines.front() ==
          "4.7.5 tlsrelay: primary smtp.example.net:587 certificate-expired: the hint; tried 2 "
          "times over 2 upstreams");
  }
  SECTION("reject: the same text as a permanent 5.7.x") {
    const Reply r = route_failure_reply(failures, 1, StepKind::Reject);
    CHECK(r.code == 554);
    CHECK(r.enhanced == "5.7.5");
    REQUIRE(r.lines.size() == 1);
    CHECK(r.lines.front() ==
          "5.7.5 tlsrelay: primary smtp.example.net:587 certificate-expired: the hint; tried 2 "
          "times over 1 upstream");
  }
}

TEST_CASE("a deferral names every upstream tried, the most important first", "[policy]") {
  auto failed = [](const std::string& name, FailureClass cls, bool transient,
                   const std::string& hint) {
    FailedAttempt f;
    f.facts.upstream.name = name;
    f.facts.upstream.host = name + ".example.net";
    f.facts.upstream.port = 587;
    f.facts.network.address = "192.0.2.1";
    f.verdict.cls = cls;
    f.verdict.transient = transient;
    f.verdict.hint = hint;
    return f;
  };
  const auto expired = failed("gmail", FailureClass::CertificateExpired, false, "renew it");
  const auto timeout = failed("backup", FailureClass::ConnectTimeout, true, "a firewall drops");
  SECTION("one upstream: the spec's form, and the transaction id") {
    const Reply r = deferral_reply({expired, expired}, 1, "1a.3");
    CHECK(r.lines.front() ==
          "4.7.5 tlsrelay: gmail gmail.example.net[192.0.2.1]:587 certificate-expired: renew it; "
          "tried 2 times over 1 upstream; txn 1a.3");
  }
  SECTION("two upstreams: both classes, the lasting failure first even when tried first") {
    const Reply r = deferral_reply({expired, expired, timeout}, 2, "1a.3");
    CHECK(r.enhanced == "4.7.5");
    CHECK(r.lines.front() ==
          "4.7.5 tlsrelay: gmail certificate-expired (2 tries), backup connect-timeout; gmail "
          "gmail.example.net[192.0.2.1]:587: renew it; tried 3 times over 2 upstreams; txn 1a.3");
  }
  SECTION("...and when tried last (a held-down primary is tried after the others)") {
    const Reply r = deferral_reply({timeout, expired}, 2, "");
    CHECK(r.lines.front().rfind("4.7.5 tlsrelay: gmail certificate-expired, backup "
                                "connect-timeout; gmail ",
                                0) == 0);
  }
  SECTION("a long hint gives way; names, count and transaction id stay, within 480 octets") {
    const auto wordy =
        failed("gmail", FailureClass::CertificateExpired, false, std::string(600, 'h'));
    const Reply r = deferral_reply({wordy, timeout}, 2, "1a.3");
    const std::string& line = r.lines.front();
    CHECK(line.size() <= 480);
    CHECK(line.find("backup connect-timeout") != std::string::npos);
    CHECK(line.find("; tried 2 times over 2 upstreams; txn 1a.3") != std::string::npos);
  }
}
