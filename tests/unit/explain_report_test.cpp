// `tlsrelay explain` between the reader and the command line: the route book (grouping, the
// queue-id tie between TLS and status lines, delivered later, the recurrence verdict and
// its boundaries, order, caps), the MTA-side fixes (and where none may be given), and the
// report (text and JSON Lines). LogEvents are built by hand: the reader is tested apart.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <set>
#include <sstream>

#include "proxy/explain/explain_report.hpp"
#include "proxy/explain/mta_fixes.hpp"
#include "proxy/explain/route_book.hpp"

using namespace tlsrelay;
using namespace tlsrelay::explain;
using FC = FailureClass;
using EK = EventKind;

namespace {

constexpr std::int64_t T0 = 1'795'000'000;  // 2026-11-18 11:06:40 UTC
constexpr std::int64_t kMin = 60;
constexpr std::int64_t G = 30 * kMin;

LogTime at(std::int64_t t) {
  return LogTime{t, 0, false};
}

struct Ev {
  LogEvent e;
  Ev(EK kind, std::int64_t t) {
    e.kind = kind;
    e.time = at(t);
    e.host = "smtp.example.net";
    e.address = "192.0.2.10";
    e.port = 587;
    if (is_failure(kind)) e.candidates = {FC::TlsError};
  }
  Ev& host(std::string h, std::string a, std::uint16_t p) {
    e.host = std::move(h);
    e.address = std::move(a);
    e.port = p;
    return *this;
  }
  Ev& qid(std::string q) {
    e.queue_id = std::move(q);
    return *this;
  }
  Ev& classes(std::vector<FC> c) {
    e.candidates = std::move(c);
    return *this;
  }
  Ev& detail(std::string d, std::string stage = "") {
    e.detail = std::move(d);
    e.stage = std::move(stage);
    return *this;
  }
  Ev& line(std::uint64_t n) {
    e.line_no = n;
    return *this;
  }
  Ev& inbound() {
    e.direction = Direction::Inbound;
    return *this;
  }
  operator const LogEvent&() const { return e; }
};

std::vector<RouteSummary> one_route(const RouteBook& book, std::int64_t end) {
  auto s = book.summarize(at(end));
  REQUIRE(s.size() == 1);
  return s;
}

}  // namespace

// --- the route book --------------------------------------------------------------------

TEST_CASE("routes are told apart by direction, host, address and port", "[explain]") {
  RouteBook book;
  book.add(Ev(EK::TlsFailure, T0));
  book.add(Ev(EK::TlsFailure, T0 + 1).host("SMTP.Example.NET", "192.0.2.10", 587));
  book.add(Ev(EK::TlsFailure, T0 + 2).host("smtp.example.net", "192.0.2.11", 587));
  book.add(Ev(EK::TlsFailure, T0 + 3).host("smtp.example.net", "192.0.2.10", 465));
  book.add(Ev(EK::TlsFailure, T0 + 4).host("unknown", "203.0.113.9", 50123).inbound());
  book.add(Ev(EK::TlsFailure, T0 + 5).host("unknown", "203.0.113.9", 50999).inbound());
  const auto routes = book.summarize(at(T0 + 10 * 3600));
  REQUIRE(routes.size() == 4);
  std::set<std::string> names;
  for (const auto& r : routes) names.insert(route_text(r.key));
  CHECK(names == std::set<std::string>{"smtp.example.net[192.0.2.10]:587",
                                       "smtp.example.net[192.0.2.11]:587",
                                       "smtp.example.net[192.0.2.10]:465", "unknown[203.0.113.9]"});
  for (const auto& r : routes) {
    if (r.key.direction == Direction::Inbound) {
      INFO("a client's ephemeral source port must not split its route");
      CHECK(r.failures == 2);
      CHECK(r.key.port == 0);
    }
    if (r.key.port == 587 && r.key.address == "192.0.2.10") {
      INFO("host names compare without case");
      CHECK(r.failures == 2);
    }
  }
}

TEST_CASE("a status line right after the TLS line is the same attempt: its queue id counts",
          "[explain]") {
  RouteBook book;
  book.add(Ev(EK::TlsFailure, T0)
               .classes({FC::CertificateExpired})
               .detail("error:0A000086:SSL routines::certificate verify failed", "TLS handshake")
               .line(10));
  // Postfix: one status line per recipient, without the TLS reason.
  book.add(Ev(EK::Deferred, T0)
               .qid("3F1A2B4C5D")
               .classes({FC::TlsProtocolMismatch, FC::TlsAlert})
               .detail("Cannot start TLS: handshake failure")
               .line(11));
  book.add(Ev(EK::Deferred, T0 + 1)
               .qid("3F1A2B4C5D")
               .classes({FC::TlsProtocolMismatch, FC::TlsAlert})
               .line(12));
  const auto r = one_route(book, T0 + 5 * kMin).front();
  CHECK(r.failures == 1);
  CHECK(r.failure_lines == 3);
  CHECK(r.queue_ids.count == 1);
  CHECK(r.queue_ids.first == std::vector<std::string>{"3F1A2B4C5D"});
  INFO("the representative line is the TLS line, which says more than the status line");
  CHECK(r.line_no == 10);
  CHECK(r.stage == "TLS handshake");
  CHECK(r.detail.find("certificate verify failed") != std::string::npos);

  SECTION("a status line later than kSameAttempt is an attempt of its own") {
    book.add(Ev(EK::Deferred, T0 + kSameAttempt + 1).qid("4B7C8D9E0F").line(13));
    const auto r2 = one_route(book, T0 + 5 * kMin).front();
    CHECK(r2.failures == 2);
    CHECK(r2.queue_ids.count == 2);
    CHECK(r2.line_no == 13);
  }
}

TEST_CASE("a line that sums up its attempt in coarser words does not bury the specific one",
          "[explain]") {
  // Real, rig expired-secure: the verifier's line, then the status line's generic words.
  const std::vector<FC> every_certificate_class = {FC::CertificateChainIncomplete,
                                                   FC::CertificateUntrusted,
                                                   FC::CertificateSelfSigned,
                                                   FC::CertificateHostMismatch,
                                                   FC::CertificateExpired,
                                                   FC::CertificateNotYetValid,
                                                   FC::ClientClockSkew,
                                                   FC::CertificateWeak,
                                                   FC::CertificateRevoked,
                                                   FC::CertificateInvalid};
  RouteBook book;
  book.add(Ev(EK::CertificateIssue, T0)
               .classes({FC::CertificateExpired, FC::ClientClockSkew})
               .detail("certificate has expired", "certificate"));
  book.add(Ev(EK::Deferred, T0)
               .qid("8542BA7A7ED")
               .classes(every_certificate_class)
               .detail("Server certificate not verified"));
  auto r = one_route(book, T0 + kMin).front();
  CHECK(r.failures == 1);
  REQUIRE(r.classes.size() == 2);
  CHECK(r.classes[0].cls == FC::CertificateExpired);
  CHECK(r.classes[1].cls == FC::ClientClockSkew);

  SECTION("inbound: smtpd's lost connection after STARTTLS, flagged as a summary") {
    RouteBook in;
    in.add(Ev(EK::TlsFailure, T0)
               .inbound()
               .classes({FC::CertificateUntrusted, FC::CertificateChainIncomplete,
                         FC::CertificateSelfSigned, FC::TlsAlert})
               .line(2));
    Ev lost(EK::LostConnection, T0);
    lost.inbound().classes({FC::ConnectionClosed, FC::TlsAlert}).line(4);
    lost.e.sums_up = true;
    in.add(lost);
    auto s = one_route(in, T0 + kMin).front();
    CHECK(s.failures == 1);
    CHECK(s.line_no == 2);
    CHECK(s.classes.size() == 4);
    CHECK(s.classes[0].cls == FC::CertificateUntrusted);
  }
  SECTION("a summary alone is the only evidence: it votes") {
    RouteBook alone;
    alone.add(Ev(EK::Deferred, T0).qid("8542BA7A7ED").classes(every_certificate_class));
    CHECK(one_route(alone, T0 + kMin).front().classes.size() == every_certificate_class.size());
  }
  SECTION("a status line that names another cause still votes") {
    book.add(Ev(EK::Deferred, T0 + 1).qid("8542BA7A7ED").classes({FC::ConnectionClosed}));
    r = one_route(book, T0 + kMin).front();
    CHECK(r.classes.size() == 3);
  }
}

TEST_CASE("a status line that names no class is a recipient's problem, not the route's",
          "[explain]") {
  RouteBook book;
  book.add(Ev(EK::Deferred, T0).qid("AAAAAA1").classes({}).detail("450 4.2.0 Greylisted"));
  CHECK(book.summarize(at(T0)).empty());
}

TEST_CASE("delivered later: a queue id deferred on the route and sent afterwards, anywhere",
          "[explain]") {
  RouteBook book;
  book.add(Ev(EK::Sent, T0).qid("SENTFIRST1"));  // sent before any deferral: not "later"
  book.add(Ev(EK::Deferred, T0 + 1).qid("SENTFIRST1"));
  book.add(Ev(EK::Deferred, T0 + 2).qid("B1"));
  book.add(Ev(EK::Deferred, T0 + 3).qid("B2"));
  book.add(Ev(EK::Deferred, T0 + 4).qid("B3"));
  book.add(Ev(EK::Sent, T0 + 600).qid("B1").host("backup.example.net", "192.0.2.20", 587));
  book.add(Ev(EK::Bounced, T0 + 700).qid("B2").classes({}));
  const auto r = one_route(book, T0 + 800).front();
  CHECK(r.queue_ids.count == 4);
  CHECK(r.queue_ids.delivered_later == 1);
  CHECK(r.queue_ids.bounced == 1);
  CHECK(r.queue_ids.waiting == 2);
  INFO("a success elsewhere is no success of this route");
  CHECK_FALSE(r.last_success.has_value());
}

TEST_CASE("verdict ongoing: the last failure within G of the end, no success after it",
          "[explain]") {
  RouteBook book;  // G = 30 min by default
  book.add(Ev(EK::TlsFailure, T0));
  CHECK(one_route(book, T0 + G).front().verdict == RoutePattern::Ongoing);
  CHECK(one_route(book, T0 + G + 1).front().verdict == RoutePattern::OneOff);
  CHECK(one_route(book, T0 - 5).front().verdict == RoutePattern::Ongoing);  // --until before it

  SECTION("a success after the last failure ends it") {
    book.add(Ev(EK::Sent, T0 + 60).qid("X1"));
    const auto r = one_route(book, T0 + 61).front();
    CHECK(r.verdict == RoutePattern::OneOff);
    REQUIRE(r.last_success);
    CHECK(r.last_success->unix_s == T0 + 60);
  }
}

TEST_CASE("verdict ongoing: a message deferred on the route still waits at the end", "[explain]") {
  RouteBook book;
  book.add(Ev(EK::Deferred, T0).qid("W1"));
  CHECK(one_route(book, T0 + 5 * 3600).front().verdict == RoutePattern::Ongoing);
  book.add(Ev(EK::Sent, T0 + 3600).qid("W1").host("other.example.net", "192.0.2.30", 587));
  const auto r = one_route(book, T0 + 5 * 3600).front();
  CHECK(r.verdict == RoutePattern::OneOff);
  CHECK(r.queue_ids.delivered_later == 1);
}

TEST_CASE("incidents: a gap of more than G with nothing waiting starts a new one", "[explain]") {
  const std::int64_t end = T0 + 24 * 3600;
  SECTION("exactly G apart: one incident, a one-off") {
    RouteBook book;
    book.add(Ev(EK::TlsFailure, T0));
    book.add(Ev(EK::TlsFailure, T0 + G));
    const auto r = one_route(book, end).front();
    CHECK(r.incidents == 1);
    CHECK(r.verdict == RoutePattern::OneOff);
  }
  SECTION("G + 1 s apart: two incidents, recurring") {
    RouteBook book;
    book.add(Ev(EK::TlsFailure, T0));
    book.add(Ev(EK::TlsFailure, T0 + G + 1));
    const auto r = one_route(book, end).front();
    CHECK(r.incidents == 2);
    CHECK(r.verdict == RoutePattern::Recurring);
    REQUIRE(r.last_incidents.size() == 2);
    CHECK(r.last_incidents[1].start.unix_s == T0 + G + 1);
  }
  SECTION("G is a parameter") {
    RouteBook book(BookLimits{.incident_gap_s = 10 * kMin});
    book.add(Ev(EK::TlsFailure, T0));
    book.add(Ev(EK::TlsFailure, T0 + 11 * kMin));
    CHECK(one_route(book, end).front().incidents == 2);
    CHECK(one_route(book, T0 + 21 * kMin).front().verdict == RoutePattern::Ongoing);
    CHECK(one_route(book, T0 + 21 * kMin + 1).front().verdict == RoutePattern::Recurring);
  }
}

TEST_CASE("incidents: a message retried by the MTA's back-off keeps one outage one incident",
          "[explain]") {
  RouteBook book;
  // Postfix retries a deferred message after up to maximal_backoff_time (4000 s).
  for (int i = 0; i < 5; ++i) {
    book.add(Ev(EK::TlsFailure, T0 + i * 4000));
    book.add(Ev(EK::Deferred, T0 + i * 4000).qid("RETRY1"));
  }
  book.add(Ev(EK::Sent, T0 + 5 * 4000).qid("RETRY1"));
  const auto r = one_route(book, T0 + 48 * 3600).front();
  CHECK(r.incidents == 1);
  CHECK(r.failures == 5);
  CHECK(r.verdict == RoutePattern::OneOff);
  CHECK(r.queue_ids.delivered_later == 1);
}

TEST_CASE("incidents: a success between two failures separates them, however close", "[explain]") {
  RouteBook book;
  book.add(Ev(EK::TlsFailure, T0));
  book.add(Ev(EK::Sent, T0 + 60).qid("OK1"));
  book.add(Ev(EK::TlsFailure, T0 + 120));
  const auto r = one_route(book, T0 + 24 * 3600).front();
  CHECK(r.incidents == 2);
  CHECK(r.verdict == RoutePattern::Recurring);
}

TEST_CASE("TLS established then a failure in the same attempt is no success", "[explain]") {
  RouteBook book;
  for (int i = 0; i < 3; ++i) {
    book.add(Ev(EK::TlsEstablished, T0 + i * 300));
    book.add(Ev(EK::LostConnection, T0 + i * 300 + 1)
                 .classes({FC::TlsClientCertificateRequired, FC::ConnectionClosed})
                 .detail("lost connection", "EHLO handshake"));
  }
  auto r = one_route(book, T0 + 24 * 3600).front();
  CHECK(r.incidents == 1);
  CHECK_FALSE(r.last_success.has_value());
  CHECK(one_route(book, T0 + 601 + 60).front().verdict == RoutePattern::Ongoing);

  SECTION("a TLS connection that no failure follows is a success") {
    book.add(Ev(EK::TlsEstablished, T0 + 700));
    r = one_route(book, T0 + 710).front();
    REQUIRE(r.last_success);
    CHECK(r.last_success->unix_s == T0 + 700);
    CHECK(r.verdict == RoutePattern::OneOff);
  }
}

TEST_CASE("classes: one a line decided comes first; then the most frequent, most specific",
          "[explain]") {
  RouteBook book;
  const std::vector<FC> many = {FC::CertificateChainIncomplete, FC::CertificateUntrusted,
                                FC::CertificateSelfSigned};
  for (int i = 0; i < 5; ++i) book.add(Ev(EK::CertificateIssue, T0 + i).classes(many));
  book.add(Ev(EK::CertificateIssue, T0 + 10)
               .classes({FC::CertificateUntrusted, FC::CertificateSelfSigned}));
  auto r = one_route(book, T0 + 20).front();
  CHECK_FALSE(r.decided());
  REQUIRE(r.classes.size() == 3);
  CHECK(r.classes[0].cls == FC::CertificateUntrusted);  // named by more lines, with more weight
  CHECK(r.classes[0].lines == 6);
  CHECK(r.classes[2].cls == FC::CertificateChainIncomplete);

  book.add(Ev(EK::CertificateIssue, T0 + 30).classes({FC::CertificateSelfSigned}));
  r = one_route(book, T0 + 40).front();
  CHECK(r.decided() == FC::CertificateSelfSigned);
  CHECK(r.classes[0].confirmed == 1);
}

TEST_CASE("routes come worst first: ongoing, recurring, one-off, then messages, failures",
          "[explain]") {
  RouteBook book;
  const std::int64_t end = T0 + 10 * 3600;
  // one-off with many failures
  for (int i = 0; i < 10; ++i)
    book.add(Ev(EK::TlsFailure, T0 + i).host("a.example", "192.0.2.1", 25));
  // recurring
  book.add(Ev(EK::TlsFailure, T0).host("b.example", "192.0.2.2", 25));
  book.add(Ev(EK::TlsFailure, T0 + 3 * 3600).host("b.example", "192.0.2.2", 25));
  // ongoing
  book.add(Ev(EK::TlsFailure, end - 60).host("c.example", "192.0.2.3", 25));
  // one-off with a message: before the one-off without
  book.add(Ev(EK::Deferred, T0).host("d.example", "192.0.2.4", 25).qid("D1"));
  book.add(Ev(EK::Sent, T0 + 600).host("d.example", "192.0.2.4", 25).qid("D1"));
  const auto routes = book.summarize(at(end));
  REQUIRE(routes.size() == 4);
  CHECK(routes[0].key.host == "c.example");
  CHECK(routes[1].key.host == "b.example");
  CHECK(routes[2].key.host == "d.example");
  CHECK(routes[3].key.host == "a.example");
}

TEST_CASE("caps: routes beyond the cap are counted in the other bucket", "[explain]") {
  RouteBook book(BookLimits{.max_routes = 3});
  for (int i = 0; i < 5; ++i) {
    book.add(
        Ev(EK::TlsFailure, T0 + i).host("h" + std::to_string(i) + ".example", "192.0.2.1", 25));
  }
  book.add(Ev(EK::Sent, T0 + 9).host("h4.example", "192.0.2.1", 25));  // no route: no memory
  CHECK(book.summarize(at(T0 + 10)).size() == 3);
  CHECK(book.stats().routes == 3);
  CHECK(book.stats().other_failure_lines == 2);
  CHECK(book.stats().routes_capped());
}

TEST_CASE("caps: queue ids beyond the cap are counted, not remembered", "[explain]") {
  SECTION("per route") {
    RouteBook book(BookLimits{.max_queue_ids_per_route = 2});
    for (int i = 0; i < 5; ++i)
      book.add(Ev(EK::Deferred, T0 + i * 10).qid("Q" + std::to_string(i)));
    const auto r = one_route(book, T0 + 100).front();
    CHECK(r.queue_ids.count == 2);
    CHECK(r.queue_ids.untracked == 3);
    CHECK(book.stats().untracked_queue_ids == 3);
  }
  SECTION("in all") {
    RouteBook book(BookLimits{.max_queue_ids = 3});
    for (int i = 0; i < 4; ++i) {
      book.add(Ev(EK::Deferred, T0 + i * 10)
                   .qid("Q" + std::to_string(i))
                   .host("r" + std::to_string(i) + ".example", "192.0.2.1", 25));
    }
    std::uint64_t counted = 0, untracked = 0;
    for (const auto& r : book.summarize(at(T0 + 100))) {
      counted += r.queue_ids.count;
      untracked += r.queue_ids.untracked;
    }
    CHECK(counted == 3);
    CHECK(untracked == 1);
  }
  SECTION("the same queue id again on its route is not counted twice") {
    RouteBook book(BookLimits{.max_queue_ids_per_route = 2});
    for (int i = 0; i < 5; ++i) book.add(Ev(EK::Deferred, T0 + i * 10).qid("SAME"));
    CHECK(one_route(book, T0 + 100).front().queue_ids.count == 1);
  }
}

TEST_CASE("an event older than its route's last failure is counted as out of order", "[explain]") {
  RouteBook book;
  book.add(Ev(EK::TlsFailure, T0 + 3600));
  book.add(Ev(EK::TlsFailure, T0));
  const auto r = one_route(book, T0 + 24 * 3600).front();
  CHECK(book.stats().out_of_order == 1);
  CHECK(r.first_failure.unix_s == T0);
  CHECK(r.last_failure.unix_s == T0 + 3600);
  CHECK(r.incidents == 1);
}

// --- fixes on Postfix's side -------------------------------------------------------------

namespace {

RouteSummary route(std::uint16_t port, std::vector<FC> classes,
                   RoutePattern verdict = RoutePattern::Ongoing) {
  RouteSummary s;
  s.key = RouteKey{Direction::Outbound, "smtp.example.net", "192.0.2.10", port};
  s.failures = 3;
  s.verdict = verdict;
  for (FC c : classes) s.classes.push_back(ClassCount{c, 3, classes.size() == 1 ? 3u : 0u, 1.0});
  return s;
}

MtaFacts postfix(PostfixParams p) {
  MtaFacts f;
  f.postfix = std::move(p);
  return f;
}

std::vector<std::string> commands(const std::vector<MtaFix>& fixes) {
  std::vector<std::string> out;
  for (const auto& f : fixes) {
    if (f.kind != FixKind::Note) out.push_back(f.command);
  }
  return out;
}

LiveCheck live_fail(FC c) {
  return LiveCheck{true, false, c, "hint", "", ""};
}

LiveCheck live_ok(std::string tls) {
  return LiveCheck{true, true, FC::Ok, "", std::move(tls), ""};
}

}  // namespace

TEST_CASE("fix: 465 without smtp_tls_wrappermode, and wrappermode towards 587", "[explain]") {
  const auto greeting = route(465, {FC::TlsModeMismatch, FC::Timeout, FC::BannerRejected});
  SECTION("465 and the relayhost: wrappermode and the level it requires") {
    const auto fixes = mta_fixes(
        greeting,
        postfix({{"relayhost", "[smtp.example.net]:465"}, {"smtp_tls_security_level", "may"}}),
        nullptr);
    REQUIRE(fixes.size() >= 2);
    CHECK(fixes[0].command == "postconf -e 'smtp_tls_wrappermode = yes'");
    CHECK(fixes[0].condition.empty());
    CHECK(fixes[1].command == "postconf -e 'smtp_tls_security_level = encrypt'");
  }
  SECTION("a level of encrypt or stronger is left alone") {
    const auto fixes = mta_fixes(
        greeting,
        postfix({{"relayhost", "[smtp.example.net]:465"}, {"smtp_tls_security_level", "secure"}}),
        nullptr);
    CHECK(commands(fixes) == std::vector<std::string>{"postconf -e 'smtp_tls_wrappermode = yes'",
                                                      "tlsrelay setup --smarthost "
                                                      "smtp.example.net:465 --user ACCOUNT"});
  }
  SECTION("not the relayhost: the fix says it applies to every smtp delivery") {
    const auto fixes =
        mta_fixes(greeting, postfix({{"smtp_tls_security_level", "encrypt"}}), nullptr);
    REQUIRE(fixes.size() == 1);
    CHECK(fixes[0].condition.find("master.cf") != std::string::npos);
  }
  SECTION("wrappermode already on: nothing about it") {
    const auto fixes = mta_fixes(
        greeting,
        postfix({{"smtp_tls_wrappermode", "yes"}, {"smtp_tls_security_level", "encrypt"}}),
        nullptr);
    CHECK(commands(fixes).empty());
  }
  SECTION("the reverse: wrappermode towards 587") {
    const auto fixes = mta_fixes(route(587, {FC::TlsModeMismatch, FC::StarttlsInjection}),
                                 postfix({{"smtp_tls_wrappermode", "yes"}}), nullptr);
    REQUIRE_FALSE(fixes.empty());
    CHECK(fixes[0].command == "postconf -e 'smtp_tls_wrappermode = no'");
  }
  SECTION("no mode mismatch in the log: no mode fix, even on 465") {
    CHECK(commands(mta_fixes(route(465, {FC::CertificateExpired}),
                             postfix({{"smtp_tls_security_level", "encrypt"}}), nullptr))
              .empty());
  }
}

TEST_CASE("fix: a CA file that does not exist, a CApath outside the chroot, no CA at all",
          "[explain]") {
  const auto cert = route(
      587, {FC::CertificateChainIncomplete, FC::CertificateUntrusted, FC::CertificateSelfSigned});
  const std::string bundle = "postconf -e 'smtp_tls_CAfile = /etc/ssl/certs/ca-certificates.crt'";
  SECTION("missing CAfile") {
    auto f = postfix({{"smtp_tls_CAfile", "/etc/postfix/cacert.pem"}});
    f.cafile_exists = false;
    const auto fixes = mta_fixes(cert, f, nullptr);
    REQUIRE_FALSE(fixes.empty());
    CHECK(fixes[0].command == bundle);
    CHECK(fixes[0].reason.find("/etc/postfix/cacert.pem") != std::string::npos);
    f.cafile_exists = std::nullopt;  // unknown: no claim that it is missing
    for (const auto& fix : mta_fixes(cert, f, nullptr)) {
      CHECK(fix.reason.find("does not exist") == std::string::npos);
    }
  }
  SECTION("CApath missing inside the chroot") {
    auto f = postfix({{"smtp_tls_CApath", "/etc/ssl/certs"}});
    f.smtp_chrooted = true;
    f.capath_in_chroot = false;
    auto fixes = mta_fixes(cert, f, nullptr);
    REQUIRE_FALSE(fixes.empty());
    CHECK(fixes[0].command == bundle);
    CHECK(fixes[0].reason.find("/var/spool/postfix") != std::string::npos);
    f.smtp_chrooted = false;
    CHECK(commands(mta_fixes(cert, f, nullptr)).empty());
  }
  SECTION("no CAfile, no CApath, no default CAs") {
    CHECK(commands(mta_fixes(cert, postfix({{"smtp_tls_security_level", "may"}}), nullptr)) ==
          std::vector<std::string>{bundle});
    CHECK(commands(mta_fixes(cert, postfix({{"tls_append_default_CA", "yes"}}), nullptr)).empty());
  }
  SECTION("a CAfile that is not the system bundle, with certificate-untrusted") {
    auto f = postfix({{"smtp_tls_CAfile", "/etc/postfix/private-ca.pem"}});
    f.cafile_exists = true;
    auto fixes = mta_fixes(cert, f, nullptr);  // the log lists candidates only
    REQUIRE(fixes.size() == 1);
    CHECK(fixes[0].command == bundle);
    CHECK_FALSE(fixes[0].condition.empty());
    const LiveCheck untrusted = live_fail(FC::CertificateUntrusted);
    fixes = mta_fixes(cert, f, &untrusted);
    REQUIRE(fixes.size() == 1);
    CHECK(fixes[0].condition.empty());
    const LiveCheck incomplete = live_fail(FC::CertificateChainIncomplete);
    INFO("the probe names the server's fault: no CA change");
    CHECK(commands(mta_fixes(cert, f, &incomplete)).empty());
    f.postfix["smtp_tls_CAfile"] = "/etc/ssl/certs/ca-certificates.crt";
    CHECK(commands(mta_fixes(cert, f, &untrusted)).empty());
  }
  SECTION("no certificate failure: no CA fix") {
    CHECK(commands(mta_fixes(route(587, {FC::ConnectTimeout}),
                             postfix({{"smtp_tls_security_level", "may"}}), nullptr))
              .empty());
  }
}

TEST_CASE("fix: protocols that allow nothing the server speaks", "[explain]") {
  const auto mismatch = route(587, {FC::TlsProtocolMismatch, FC::TlsNoSharedCipher});
  SECTION("mandatory protocols at level encrypt") {
    const auto fixes = mta_fixes(mismatch,
                                 postfix({{"smtp_tls_security_level", "encrypt"},
                                          {"smtp_tls_mandatory_protocols", "<=TLSv1.1"}}),
                                 nullptr);
    REQUIRE_FALSE(fixes.empty());
    CHECK(fixes[0].command == "postconf -e 'smtp_tls_mandatory_protocols = >=TLSv1.2'");
    CHECK(fixes[0].reason.find("TLSv1, TLSv1.1") != std::string::npos);
  }
  SECTION("opportunistic protocols at level may") {
    const auto fixes = mta_fixes(
        mismatch,
        postfix({{"smtp_tls_security_level", "may"}, {"smtp_tls_protocols", "!TLSv1.2, !TLSv1.3"}}),
        nullptr);
    REQUIRE_FALSE(fixes.empty());
    CHECK(fixes[0].command == "postconf -e 'smtp_tls_protocols = >=TLSv1.2'");
  }
  SECTION("the probe's version decides") {
    const LiveCheck v13 = live_ok("TLSv1.3 TLS_AES_256_GCM_SHA384");
    const auto f = postfix(
        {{"smtp_tls_security_level", "encrypt"}, {"smtp_tls_mandatory_protocols", "TLSv1.2"}});
    const auto fixes = mta_fixes(mismatch, f, &v13);
    REQUIRE(fixes.size() == 1);
    CHECK(fixes[0].reason.find("speaks TLSv1.3 (probed now)") != std::string::npos);
  }
  SECTION("Postfix before 3.6: the exclusion syntax") {
    const auto fixes = mta_fixes(mismatch,
                                 postfix({{"smtp_tls_security_level", "encrypt"},
                                          {"smtp_tls_mandatory_protocols", "TLSv1"},
                                          {"mail_version", "3.5.18"}}),
                                 nullptr);
    REQUIRE_FALSE(fixes.empty());
    CHECK(fixes[0].command ==
          "postconf -e 'smtp_tls_mandatory_protocols = !SSLv2, !SSLv3, !TLSv1, !TLSv1.1'");
  }
  SECTION("Postfix allows TLS 1.2 and 1.3: the server is old, nothing to change here") {
    CHECK(commands(mta_fixes(mismatch, postfix({{"smtp_tls_security_level", "encrypt"}}), nullptr))
              .empty());
  }
}

TEST_CASE("Postfix's protocol lists read as Postfix reads them", "[explain]") {
  auto [list, bits] = GENERATE(table<std::string, unsigned>({
      {"", 15},
      {">=TLSv1", 15},
      {">=TLSv1.2", 12},
      {"<=TLSv1.1", 3},
      {"!SSLv2, !SSLv3, !TLSv1, !TLSv1.1", 12},
      {"!SSLv2:!SSLv3", 15},
      {"TLSv1.2 TLSv1.3", 12},
      {"TLSv1.3", 8},
      {">=0x0303", 12},
      {">=TLSv1.2, <=TLSv1.2", 4},
      {">=TLSv1.3 <=TLSv1.2", 0},
      {"bogus", 15},
  }));
  INFO(list);
  CHECK(postfix_tls_versions(list) == bits);
}

TEST_CASE("no STARTTLS at a mandatory level: no downgrade, a note on whose fault it is",
          "[explain]") {
  const auto nostarttls = route(587, {FC::StarttlsNotOffered, FC::StarttlsStripped});
  const auto f =
      postfix({{"relayhost", "[smtp.example.net]:587"}, {"smtp_tls_security_level", "encrypt"}});
  SECTION("the log alone") {
    const auto fixes = mta_fixes(nostarttls, f, nullptr);
    REQUIRE(fixes.size() >= 1);
    CHECK(fixes[0].kind == FixKind::Note);
    CHECK(fixes[0].reason.find("Do not lower smtp_tls_security_level") != std::string::npos);
    for (const auto& fix : fixes) {
      INFO(fix.command);
      CHECK(fix.command.find("security_level = may") == std::string::npos);
      CHECK(fix.command.find("security_level = none") == std::string::npos);
    }
    INFO("the relayhost may move to implicit TLS, on condition");
    REQUIRE(fixes.size() >= 3);
    CHECK(fixes[1].command == "postconf -e 'relayhost = [smtp.example.net]:465'");
    CHECK_FALSE(fixes[1].condition.empty());
  }
  SECTION("the probe saw STARTTLS stripped: the middlebox is named") {
    const LiveCheck stripped = live_fail(FC::StarttlsStripped);
    const auto fixes = mta_fixes(nostarttls, f, &stripped);
    REQUIRE_FALSE(fixes.empty());
    CHECK(fixes[0].reason.find("middlebox") != std::string::npos);
  }
  SECTION("level may: Postfix sends in clear already, nothing to say") {
    CHECK(mta_fixes(nostarttls,
                    postfix({{"relayhost", "[smtp.example.net]:587"},
                             {"smtp_tls_security_level", "may"}}),
                    nullptr)
              .size() == 1);  // only the tlsrelay line
  }
}

TEST_CASE("tlsrelay setup is advised for a relayhost whose failures recur or go on", "[explain]") {
  auto f = postfix({{"relayhost", "[smtp.example.net]:587"}});
  CHECK(
      commands(mta_fixes(route(587, {FC::ConnectionReset}, RoutePattern::Recurring), f, nullptr)) ==
      std::vector<std::string>{"tlsrelay setup --smarthost smtp.example.net:587 --user ACCOUNT"});
  f.sasl_user = "alice@example.org";
  CHECK(
      commands(mta_fixes(route(587, {FC::ConnectionReset}, RoutePattern::Recurring), f, nullptr)) ==
      std::vector<std::string>{
          "tlsrelay setup --smarthost smtp.example.net:587 --user alice@example.org"});
  INFO("a one-off, a route that is not the relayhost, a route that works now: no advice");
  CHECK(mta_fixes(route(587, {FC::ConnectionReset}, RoutePattern::OneOff), f, nullptr).empty());
  CHECK(mta_fixes(route(25, {FC::ConnectionReset}), f, nullptr).empty());
  const LiveCheck ok = live_ok("TLSv1.3 TLS_AES_256_GCM_SHA384");
  CHECK(mta_fixes(route(587, {FC::ConnectionReset}), f, &ok).empty());
}

TEST_CASE("no fixes for Exim, Sendmail and inbound routes", "[explain]") {
  auto r = route(465, {FC::TlsModeMismatch});
  const auto f = postfix({{"relayhost", "[smtp.example.net]:465"}});
  r.mta = Mta::Exim;
  CHECK(mta_fixes(r, f, nullptr).empty());
  r.mta = Mta::Postfix;
  r.key.direction = Direction::Inbound;
  CHECK(mta_fixes(r, f, nullptr).empty());
}

TEST_CASE("commands are quoted for the shell, whatever the log's names", "[explain]") {
  CHECK(postconf_line("relayhost", "[smtp.example.net]:465") ==
        "postconf -e 'relayhost = [smtp.example.net]:465'");
  CHECK(postconf_line("x", "a'b") == "postconf -e 'x = a'\\''b'");
  CHECK(shell_word("smtp.example.net:587") == "smtp.example.net:587");
  CHECK(shell_word("evil;rm -rf /") == "'evil;rm -rf /'");
}

// --- the report ----------------------------------------------------------------------------

namespace {

Report sample_report() {
  RouteBook book;
  book.add(Ev(EK::TlsFailure, T0)
               .host("smtp.gmail.com", "142.250.102.108", 465)
               .classes({FC::TlsModeMismatch, FC::Timeout, FC::BannerRejected})
               .detail("conversation with smtp.gmail.com[142.250.102.108] timed out while "
                       "receiving the initial server greeting",
                       "banner")
               .line(41));
  book.add(Ev(EK::Deferred, T0 + 1)
               .host("smtp.gmail.com", "142.250.102.108", 465)
               .qid("3F1A2B4C5D")
               .classes({FC::TlsModeMismatch, FC::Timeout, FC::BannerRejected}));
  book.add(Ev(EK::CertificateIssue, T0 - 7200)
               .host("mx.example.org", "198.51.100.7", 25)
               .classes({FC::CertificateExpired})
               .detail("num=10:certificate has expired")
               .line(3));
  book.add(Ev(EK::Deferred, T0 - 7200)
               .host("mx.example.org", "198.51.100.7", 25)
               .qid("7C8D9E0F1A")
               .classes({FC::CertificateExpired}));
  book.add(Ev(EK::Sent, T0 - 3600).host("mx.example.org", "198.51.100.7", 25).qid("7C8D9E0F1A"));

  Report report;
  report.limits = book.limits();
  report.book = book.stats();
  report.reader = ReaderCounts{1000, 5, 995, 5};
  report.first_line = at(T0 - 8000);
  report.last_line = at(T0 + 60);
  report.settings_read = true;
  const MtaFacts facts =
      postfix({{"relayhost", "[smtp.gmail.com]:465"}, {"smtp_tls_security_level", "may"}});
  for (auto& s : book.summarize(*report.last_line)) {
    RouteReport rr;
    rr.route = s;
    if (s.key.port == 465) rr.live = live_fail(FC::TlsModeMismatch);
    if (s.key.port == 25) rr.live = live_ok("TLSv1.3 TLS_AES_256_GCM_SHA384");
    rr.fixes = mta_fixes(s, facts, rr.live ? &*rr.live : nullptr);
    report.routes.push_back(std::move(rr));
  }
  return report;
}

}  // namespace

TEST_CASE("the text report: worst route first, four parts each, ASCII within 100 columns",
          "[explain]") {
  const Report report = sample_report();
  std::ostringstream out;
  write_report(out, report, ReportOptions{});
  const std::string text = out.str();
  INFO(text);
  const auto first = text.find("1. smtp.gmail.com[142.250.102.108]:465");
  const auto second = text.find("2. mx.example.org[198.51.100.7]:25");
  REQUIRE(first != std::string::npos);
  REQUIRE(second != std::string::npos);
  CHECK(first < second);
  for (const char* part :
       {"What the log says", "What it means", "What is true now", "What to do"}) {
    CHECK(text.find(part, first) < second);
    CHECK(text.find(part, second) != std::string::npos);
  }
  CHECK(text.find("ONGOING") != std::string::npos);
  CHECK(text.find("docs/failures.md#tls-mode-mismatch") != std::string::npos);
  CHECK(text.find("postconf -e 'smtp_tls_wrappermode = yes'") != std::string::npos);
  CHECK(text.find("postconf -e 'smtp_tls_security_level = encrypt'") != std::string::npos);
  CHECK(text.find("fixed since 2026-11-18 09:06:40 UTC") != std::string::npos);
  CHECK(text.find("3F1A2B4C5D") != std::string::npos);
  CHECK(text.find("1 delivered later") != std::string::npos);
  CHECK(text.find("Summary: 2 routes with failures (1 ongoing, 0 recurring, 1 one-off)") !=
        std::string::npos);
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    INFO(line);
    CHECK(line.size() <= 100);
    for (char c : line) CHECK((c >= 0x20 && c < 0x7f));
  }
}

TEST_CASE("the text report says what was not probed, and when there is nothing to explain",
          "[explain]") {
  Report report = sample_report();
  report.no_probe = true;
  for (auto& r : report.routes) r.live.reset();
  std::ostringstream out;
  write_text(out, report);
  CHECK(out.str().find("not probed (--no-probe)") != std::string::npos);
  CHECK(exit_status(report) == 1);

  Report empty;
  std::ostringstream none;
  write_text(none, empty);
  CHECK(none.str().find("nothing to explain") != std::string::npos);
  CHECK(exit_status(empty) == 0);
  empty.book.other_failure_lines = 1;
  CHECK(exit_status(empty) == 1);
}

TEST_CASE("JSON Lines: one route object a line, worst first, then the summary", "[explain]") {
  const Report report = sample_report();
  std::ostringstream out;
  write_report(out, report, ReportOptions{.json = true});
  std::istringstream in(out.str());
  std::vector<nlohmann::json> objects;
  for (std::string line; std::getline(in, line);) objects.push_back(nlohmann::json::parse(line));
  REQUIRE(objects.size() == 3);
  const auto& r = objects[0];
  for (const char* key :
       {"type",           "rank",          "route",        "direction",    "host",
        "address",        "port",          "mta",          "verdict",      "failures",
        "failure_lines",  "first_failure", "last_failure", "last_success", "incidents",
        "last_incidents", "class",         "candidates",   "line",         "queue_ids",
        "live",           "fixes",         "first_step"}) {
    INFO(key);
    CHECK(r.contains(key));
  }
  CHECK(r["type"] == "route");
  CHECK(r["rank"] == 1);
  CHECK(r["route"] == "smtp.gmail.com[142.250.102.108]:465");
  CHECK(r["port"] == 465);
  CHECK(r["verdict"] == "ongoing");
  CHECK(r["first_failure"] == "2026-11-18T11:06:40Z");
  CHECK(r["last_success"].is_null());
  CHECK(r["class"].is_null());  // the log lists candidates
  CHECK(r["candidates"][0]["class"] == "tls-mode-mismatch");
  CHECK(r["candidates"][0]["runbook"] == "docs/failures.md#tls-mode-mismatch");
  CHECK(r["line"]["number"] == 41);
  CHECK(r["queue_ids"]["first"][0] == "3F1A2B4C5D");
  CHECK(r["queue_ids"]["waiting"] == 1);
  CHECK(r["live"]["class"] == "tls-mode-mismatch");
  CHECK(r["fixes"][0]["kind"] == "postconf");
  CHECK(r["fixes"][0]["command"] == "postconf -e 'smtp_tls_wrappermode = yes'");
  CHECK(r["fixes"][0]["condition"].is_null());

  const auto& fixed = objects[1];
  CHECK(fixed["verdict"] == "one-off");
  CHECK(fixed["class"] == "certificate-expired");
  CHECK(fixed["live"]["ok"] == true);
  CHECK(fixed["live"]["tls"] == "TLSv1.3 TLS_AES_256_GCM_SHA384");
  CHECK(fixed["queue_ids"]["delivered_later"] == 1);
  CHECK(fixed["first_step"].is_null());

  const auto& s = objects[2];
  CHECK(s["type"] == "summary");
  CHECK(s["routes"] == 2);
  CHECK(s["ongoing"] == 1);
  CHECK(s["one_off"] == 1);
  CHECK(s["lines"] == 1000);
  CHECK(s["incident_gap_s"] == 1800);
  CHECK(s["exit"] == 1);
}

TEST_CASE("every class has a runbook anchor and a first step with the route filled in",
          "[explain]") {
  const RouteKey key{Direction::Outbound, "smtp.example.net", "192.0.2.10", 587};
  for (auto* c = all_classes_begin(); c != all_classes_end(); ++c) {
    INFO(c->name);
    CHECK(runbook_anchor(c->id) == "docs/failures.md#" + std::string(c->name));
    const std::string step = first_step(c->id, key);
    CHECK_FALSE(step.empty());
    CHECK(step.find('{') == std::string::npos);
    CHECK(step.size() < 200);
  }
  CHECK(first_step(FC::CertificateExpired, key) ==
        "ask the operator of smtp.example.net to renew and install the certificate");
}

TEST_CASE("a line that names no peer joins the route its message was tried on", "[explain]") {
  // Exim: "1rX-0001 H=mx.test [127.0.0.1] Connection refused", then
  // "1rX-0001 == rcpt@example.net R=smarthost T=smtp defer (111): Connection refused".
  RouteBook book;
  book.add(Ev(EK::ConnectFailure, T0)
               .host("mx.test", "127.0.0.1", 0)
               .qid("1rX-0001")
               .classes({FC::ConnectRefused}));
  book.add(Ev(EK::Deferred, T0).host("", "", 0).qid("1rX-0001").classes({FC::ConnectRefused}));
  const auto s = one_route(book, T0 + 60);
  CHECK(s[0].key.host == "mx.test");
  CHECK(s[0].queue_ids.count == 1);
  // A line with no peer and no message tried before still makes a route of its own.
  book.add(Ev(EK::Deferred, T0 + 1).host("", "", 0).qid("1rX-0002").classes({FC::ConnectRefused}));
  CHECK(book.summarize(at(T0 + 60)).size() == 2);
}
