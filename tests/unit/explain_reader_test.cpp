// `tlsrelay explain`'s log reader (proxy/explain/log_reader.hpp): each syslog form, each MTA
// line shape (from the MTAs' format strings, and real Postfix 3.7 lines from the rig's
// maillog_file runs), each row of the OpenSSL reason table, the docs' copy of that table,
// and hostile input that must neither crash nor grow.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "proxy/explain/log_line.hpp"
#include "proxy/explain/log_reader.hpp"
#include "proxy/explain/mta_shapes.hpp"
#include "proxy/explain/openssl_reasons.hpp"

using namespace tlsrelay;
using namespace tlsrelay::explain;
using FC = FailureClass;

namespace {

// 2026-12-07 12:00:00 UTC, the rig's day.
constexpr std::int64_t kLogNow = 1796644800;
constexpr std::int64_t kT = 1796614547;  // 2026-12-07 03:35:47 UTC

void utc() {
  setenv("TZ", "UTC", 1);
  tzset();
}

std::vector<LogEvent> read_all(const std::vector<std::string>& lines, std::int64_t now = kLogNow,
                               LogReader* keep = nullptr) {
  utc();
  LogReader local(ReaderOptions{now});
  LogReader& r = keep ? *keep : local;
  std::vector<LogEvent> out;
  for (const auto& l : lines) r.feed(l, out);
  r.finish(out);
  return out;
}

LogEvent one(const std::string& line) {
  auto ev = read_all({line});
  INFO(line);
  REQUIRE(ev.size() == 1);
  return ev[0];
}

std::string names(const std::vector<FC>& c) {
  std::string s;
  for (FC f : c) s += std::string(to_string(f)) + " ";
  return s;
}

std::string pf(const std::string& msg, const std::string& prog = "smtp", int pid = 12091) {
  return "Dec  7 03:35:47 mta postfix/" + prog + "[" + std::to_string(pid) + "]: " + msg;
}

}  // namespace

// ---- timestamp forms ----------------------------------------------------------------------

TEST_CASE("syslog forms give time, host, program, pid and message", "[explain]") {
  utc();
  using Row = std::tuple<std::string, std::int64_t, int, bool, std::string, std::int64_t>;
  auto [line, unix_s, micros, guessed, host,
        pid] = GENERATE(table<std::string, std::int64_t, int, bool, std::string, std::int64_t>({
      Row{"Dec  7 03:35:47 mta postfix/smtp[12091]: x", kT, 0, true, "mta", 12091},
      // Postfix 3.7 maillog_file (real, rig): zero-padded day.
      Row{"Dec 07 03:35:47 mta postfix/smtp[12091]: x", kT, 0, true, "mta", 12091},
      Row{"2026-12-07T03:35:47.123456+00:00 mta postfix/smtp[12091]: x", kT, 123456, false, "mta",
          12091},
      Row{"2026-12-07T04:35:47.5+01:00 mta postfix/smtp[12091]: x", kT, 500000, false, "mta",
          12091},
      Row{"2026-12-07T03:35:47+0000 mta postfix/smtp[12091]: x", kT, 0, false, "mta", 12091},
      Row{"2026-12-06T22:35:47.000001-0500 mta postfix/smtp[12091]: x", kT, 1, false, "mta", 12091},
      Row{"<22>1 2026-12-07T03:35:47.123Z mta postfix/smtp 12091 - - x", kT, 123000, false, "mta",
          12091},
      Row{"<22>1 2026-12-07T03:35:47Z mta postfix/smtp - - [a b=\"c\\]d\"][e] x", kT, 0, false,
          "mta", -1},
      Row{"<22>Dec  7 03:35:47 mta postfix/smtp[7]: x", kT, 0, true, "mta", 7},
      Row{"2026-12-07 03:35:47 [4242] 1tJabc-000Abc-Xy x", kT, 0, false, "", 4242},
      Row{"2026-12-07 03:35:47.250 1tJabc-000Abc-Xy x", kT, 250000, false, "", -1},
  }));
  INFO(line);
  LineParser p(kLogNow);
  LogLine l;
  std::string scratch;
  REQUIRE(p.parse(line, l, scratch));
  CHECK(l.time.unix_s == unix_s);
  CHECK(l.time.micros == micros);
  CHECK(l.time.year_guessed == guessed);
  CHECK(l.host == host);
  CHECK(l.pid == pid);
  CHECK((l.message == "x" || l.message == "1tJabc-000Abc-Xy x"));
}

TEST_CASE("RFC 3164 years: never in the future of now, and 29 February", "[explain]") {
  utc();
  // Read on 2027-01-02: a December line is from 2026, a January line from 2027.
  const std::int64_t jan2 = 1798761600 + 86400;  // 2027-01-02 00:00:00 UTC
  LineParser p(jan2);
  LogLine l;
  std::string s;
  REQUIRE(p.parse("Dec 31 23:59:59 mta postfix/smtp[1]: x", l, s));
  CHECK(l.time.unix_s == 1798761599);  // 2026-12-31 23:59:59
  REQUIRE(p.parse("Jan  1 00:00:01 mta postfix/smtp[1]: x", l, s));
  CHECK(l.time.unix_s == 1798761601);
  // 29 February read in 2026 (no leap year): the last leap year, 2024.
  REQUIRE(p.parse("Feb 29 12:00:00 mta postfix/smtp[1]: x", l, s));
  CHECK(l.time.unix_s == days_from_civil(2024, 2, 29) * 86400 + 12 * 3600);
}

TEST_CASE("RFC 3164 time is local time through TZ", "[explain]") {
  setenv("TZ", "Europe/Berlin", 1);
  tzset();
  LineParser p(kLogNow);
  LogLine l;
  std::string s;
  REQUIRE(p.parse("Dec  7 04:35:47 mta postfix/smtp[1]: x", l, s));
  CHECK(l.time.unix_s == 1796614547);                                // 03:35:47 UTC
  REQUIRE(p.parse("Jul  7 05:35:47 mta postfix/smtp[1]: x", l, s));  // CEST, +2
  CHECK(l.time.unix_s == days_from_civil(2026, 7, 7) * 86400 + 3 * 3600 + 35 * 60 + 47);
  utc();
}

TEST_CASE("journalctl -o json lines, MESSAGE as text or bytes", "[explain]") {
  auto ev = read_all({
      R"({"__REALTIME_TIMESTAMP":"1796614547123456","_HOSTNAME":"mta","SYSLOG_IDENTIFIER":"postfix/smtp","_PID":"12091","MESSAGE":"connect to mx.test[192.0.2.1]:25: Connection refused"})",
      // "connect to a[192.0.2.2]:25: No route to host" as bytes, with one invalid byte.
      R"({"SYSLOG_IDENTIFIER":"postfix/smtp","SYSLOG_PID":"7","MESSAGE":[99,111,110,110,101,99,116,32,116,111,32,97,91,49,57,50,46,48,46,50,46,50,93,58,50,53,58,32,78,111,32,114,111,117,116,101,32,116,111,32,104,111,115,116,255]})",
      R"({"SYSLOG_IDENTIFIER":"systemd","MESSAGE":"Started Session 4."})",
      R"({"SYSLOG_IDENTIFIER":"postfix/smtp","MESSAGE":[[[[[[1]]]]]]})",
  });
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].time.unix_s == 1796614547);
  CHECK(ev[0].time.micros == 123456);
  CHECK(ev[0].kind == EventKind::ConnectFailure);
  CHECK(ev[0].candidates == std::vector<FC>{FC::ConnectRefused});
  CHECK(ev[1].host == "a");
  CHECK(ev[1].candidates == std::vector<FC>{FC::NetworkUnreachable});
}

// ---- Postfix client shapes (src/tls/tls_client.c, tls_misc.c, tls_verify.c, src/smtp/) ----

TEST_CASE("postfix: SSL_connect error -1 joins the TLS library problem lines after it",
          "[explain]") {
  auto ev = read_all({
      pf("SSL_connect error to smtp.gmail.com[142.250.102.108]:587: -1"),
      pf("warning: TLS library problem: error:0A000086:SSL routines::certificate verify "
         "failed:../ssl/statem/statem_clnt.c:1889:"),
      pf("3F1A2B4C5D: to=<alice@example.org>, relay=smtp.gmail.com[142.250.102.108]:587, "
         "delay=1.2, delays=0.01/0/1.1/0, dsn=4.7.5, status=deferred (Cannot start TLS: "
         "handshake failure)"),
  });
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].kind == EventKind::TlsFailure);
  CHECK(ev[0].host == "smtp.gmail.com");
  CHECK(ev[0].address == "142.250.102.108");
  CHECK(ev[0].port == 587);
  CHECK(ev[0].detail.find("certificate verify failed") != std::string::npos);
  INFO(names(ev[0].candidates));
  CHECK(ev[0].candidates.front() == FC::CertificateExpired);
  CHECK(ev[0].candidates.size() == 8);
  CHECK(ev[1].kind == EventKind::Deferred);
  CHECK(ev[1].queue_id == "3F1A2B4C5D");
  CHECK(ev[1].port == 587);
  CHECK(ev[1].candidates.front() == FC::TlsProtocolMismatch);
}

TEST_CASE("postfix: SSL_connect error with no library line stays a guess", "[explain]") {
  using Row = std::tuple<std::string, FC>;
  auto [tail, cls] = GENERATE(table<std::string, FC>({
      Row{"-1", FC::TlsError},
      Row{"lost connection", FC::ConnectionClosed},
      Row{"Connection reset by peer", FC::ConnectionReset},
      Row{"Connection timed out", FC::Timeout},
  }));
  auto e = one(pf("SSL_connect error to mx.test[2001:db8::1]:25: " + tail));
  CHECK(e.address == "2001:db8::1");
  CHECK(e.port == 25);
  CHECK(e.candidates == std::vector<FC>{cls});
}

TEST_CASE("postfix: the held SSL_connect line is released by time and by the table's cap",
          "[explain]") {
  utc();
  LogReader r(ReaderOptions{kLogNow, 64 * 1024, 2});
  std::vector<LogEvent> out;
  r.feed(pf("SSL_connect error to a[192.0.2.1]:25: -1", "smtp", 1), out);
  r.feed(pf("SSL_connect error to b[192.0.2.2]:25: -1", "smtp", 2), out);
  CHECK(out.empty());
  r.feed(pf("SSL_connect error to c[192.0.2.3]:25: -1", "smtp", 3), out);
  REQUIRE(out.size() == 1);  // the oldest, evicted
  CHECK(out[0].host == "a");
  CHECK(r.stats().evicted == 1);
  r.feed("Dec  7 03:35:59 mta postfix/qmgr[9]: anything", out);  // 12 s later
  CHECK(out.size() == 3);
  r.finish(out);
  CHECK(out.size() == 3);
}

TEST_CASE("postfix: certificate verification lines (real, rig expired-secure)", "[explain]") {
  using Row = std::tuple<std::string, FC, std::size_t>;
  auto [msg, first, n] = GENERATE(table<std::string, FC, std::size_t>({
      Row{"server certificate verification failed for mx.test[127.0.0.1]:43831: certificate has "
          "expired",
          FC::CertificateExpired, 2},
      Row{"server certificate verification failed for mx.test[127.0.0.1]:25: certificate not yet "
          "valid",
          FC::CertificateNotYetValid, 2},
      Row{"certificate verification failed for mx.test[127.0.0.1]:25: untrusted issuer "
          "/C=US/O=Let's Encrypt/CN=R11",
          FC::CertificateChainIncomplete, 3},
      Row{"certificate verification failed for mx.test[127.0.0.1]:25: self-signed certificate",
          FC::CertificateSelfSigned, 1},
      Row{"server certificate verification failed for mx.test[127.0.0.1]:25: num=62:hostname "
          "mismatch",
          FC::CertificateHostMismatch, 1},
  }));
  auto e = one("Dec 07 03:51:23 mta postfix/smtp[1328]: " + msg);
  CHECK(e.kind == EventKind::CertificateIssue);
  CHECK(e.host == "mx.test");
  CHECK(e.stage == "certificate");
  CHECK(e.candidates.front() == first);
  CHECK(e.candidates.size() == n);
}

TEST_CASE("postfix: TLS connection established (real, rig ok-secure / expired-secure)",
          "[explain]") {
  for (std::string status : {"Verified", "Trusted", "Untrusted", "Anonymous"}) {
    auto e = one("Dec 07 03:51:05 mta postfix/smtp[957]: " + status +
                 " TLS connection established to mx.test[127.0.0.1]:39191: TLSv1.3 with cipher "
                 "TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature "
                 "RSA-PSS (2048 bits) server-digest SHA256");
    CHECK(e.kind == EventKind::TlsEstablished);
    CHECK(e.port == 39191);
    CHECK(e.candidates.empty());
  }
}

TEST_CASE("postfix: status lines, sent, deferred and bounced (real, rig)", "[explain]") {
  auto sent =
      one("Dec 07 03:51:05 mta postfix/smtp[957]: 3A2D1A7A38B: to=<rcpt@example.net>, "
          "relay=mx.test[127.0.0.1]:39191, delay=0.23, delays=0.09/0.1/0.02/0.01, dsn=2.0.0, "
          "status=sent (250 2.0.0 Ok: queued as 1)");
  CHECK(sent.kind == EventKind::Sent);
  CHECK(sent.queue_id == "3A2D1A7A38B");
  CHECK(sent.host == "mx.test");
  CHECK(sent.candidates.empty());
  auto deferred =
      one("Dec 07 03:51:23 mta postfix/smtp[1328]: 7BAAFA7A41C: to=<rcpt@example.net>, "
          "relay=mx.test[127.0.0.1]:43831, delay=0.29, delays=0.13/0.13/0.03/0, dsn=4.7.5, "
          "status=deferred (Server certificate not verified)");
  CHECK(deferred.kind == EventKind::Deferred);
  CHECK(deferred.detail == "Server certificate not verified");
  CHECK(deferred.candidates.front() == FC::CertificateChainIncomplete);
  auto bounced =
      one(pf("3F1A2B4C5D: to=<alice@example.org>, relay=none, delay=0.02, delays=0.01/0/0.01/0, "
             "dsn=5.4.4, status=bounced (Host or domain name not found. Name service error for "
             "name=smtp.exmaple.net type=AAAA: Host not found)"));
  CHECK(bounced.kind == EventKind::Bounced);
  CHECK(bounced.host == "smtp.exmaple.net");
  CHECK(bounced.stage == "dns");
  CHECK(bounced.candidates == std::vector<FC>{FC::DnsNxdomain});
}

TEST_CASE("postfix: the reasons inside status=deferred (...)", "[explain]") {
  using Row = std::tuple<std::string, FC, std::string>;
  auto [reason, first, stage] = GENERATE(table<std::string, FC, std::string>({
      Row{"Cannot start TLS: handshake failure", FC::TlsProtocolMismatch, "TLS handshake"},
      Row{"Server certificate not verified", FC::CertificateChainIncomplete, "certificate"},
      Row{"TLS is required, but was not offered by host mx.test[192.0.2.1]", FC::StarttlsNotOffered,
          "EHLO"},
      Row{"TLS is required, but host mx.test[192.0.2.1] refused to start TLS: 454 4.7.0 TLS not "
          "available due to local problem",
          FC::StarttlsRejected, "STARTTLS"},
      Row{"lost connection with mx.test[192.0.2.1] while performing the EHLO handshake",
          FC::TlsClientCertificateRequired, "EHLO handshake"},
      Row{"lost connection with mx.test[192.0.2.1] while receiving the initial server greeting",
          FC::TlsModeMismatch, "initial server greeting"},
      Row{"conversation with mx.test[192.0.2.1] timed out while receiving the initial server "
          "greeting",
          FC::Timeout, "initial server greeting"},
      Row{"lost connection with mx.test[192.0.2.1] while sending MAIL FROM", FC::ConnectionClosed,
          "MAIL FROM"},
      Row{"conversation with mx.test[192.0.2.1] timed out while sending message body", FC::Timeout,
          "message body"},
      Row{"connect to mx.test[192.0.2.1]:25: Connection timed out", FC::ConnectTimeout, "connect"},
      Row{"delivery temporarily suspended: connect to mx.test[192.0.2.1]:25: Connection refused",
          FC::ConnectRefused, "connect"},
      Row{"connect to mx.test[192.0.2.1]:25: Network is unreachable", FC::NetworkUnreachable,
          "connect"},
      Row{"Host or domain name not found. Name service error for name=mx.test type=MX: Host not "
          "found, try again",
          FC::DnsFailure, "dns"},
      Row{"host mx.test[192.0.2.1] said: 454 4.7.0 TLS not available (in reply to STARTTLS "
          "command)",
          FC::StarttlsRejected, ""},
      Row{"host mx.test[192.0.2.1] refused to talk to me: 554 5.7.1 go away", FC::BannerRejected,
          "banner"},
      Row{"SASL authentication failed; server mx.test[192.0.2.1] said: 535 5.7.8 Error: "
          "authentication failed",
          FC::AuthFailed, "auth"},
  }));
  auto e =
      one(pf("3F1A2B4C5D: to=<a@b.example>, relay=mx.test[192.0.2.1]:25, delay=1, "
             "delays=0/0/1/0, dsn=4.4.2, status=deferred (" +
             reason + ")"));
  INFO(reason);
  CHECK(e.kind == EventKind::Deferred);
  REQUIRE_FALSE(e.candidates.empty());
  CHECK(e.candidates.front() == first);
  CHECK(e.stage == stage);
}

TEST_CASE("postfix: a greeting that never came: timeout, implicit TLS, not SMTP; 465 first",
          "[explain]") {
  // Real, rig banner-silent / banner-ssh / implicit-server-plain-client: the same words.
  const std::string timed_out =
      "conversation with mx.test[127.0.0.1] timed out while receiving the initial server "
      "greeting";
  auto e =
      one(pf("87D8BA80100: to=<rcpt@example.net>, relay=mx.test[127.0.0.1]:37821, delay=8.1, "
             "delays=0.06/0.06/8/0, dsn=4.4.2, status=deferred (" +
             timed_out + ")"));
  CHECK(e.candidates == std::vector<FC>{FC::Timeout, FC::TlsModeMismatch, FC::NotSmtp});
  INFO("port 465 is implicit TLS: silence there is most likely the mode mismatch");
  auto smtps =
      one(pf("87D8BA80100: to=<rcpt@example.net>, relay=smtp.gmail.com[142.250.102.108]:465, "
             "delay=300, delays=0/0/300/0, dsn=4.4.2, status=deferred (" +
             timed_out + ")"));
  CHECK(smtps.candidates == std::vector<FC>{FC::TlsModeMismatch, FC::Timeout, FC::NotSmtp});
}

TEST_CASE("postfix: refused to talk to me is the greeting or HELO, by its reply and DSN",
          "[explain]") {
  using Row = std::tuple<std::string, std::vector<FC>, std::string>;
  auto [line, classes, stage] = GENERATE(table<std::string, std::vector<FC>, std::string>({
      // Real, rig banner-554: smtp_skip_5xx_greeting made the 554's DSN 4.7.1.
      Row{"6340FA8006E: to=<rcpt@example.net>, relay=mx.test[127.0.0.1]:41491, delay=0.29, "
          "delays=0.13/0.15/0/0, dsn=4.7.1, status=deferred (host mx.test[127.0.0.1] refused to "
          "talk to me: 554 5.7.1 mx.test ESMTP not accepting connections from you)",
          {FC::BannerRejected},
          "banner"},
      // Real, rig banner-421: a 421 to the greeting, or to EHLO.
      Row{"1BDB3A800B6: to=<rcpt@example.net>, relay=mx.test[127.0.0.1]:39477, delay=0.22, "
          "delays=0.12/0.1/0.01/0, dsn=4.3.2, status=deferred (host mx.test[127.0.0.1] refused "
          "to talk to me: 421 4.3.2 mx.test Service not available, closing channel)",
          {FC::BannerRejected, FC::EhloRejected},
          "banner"},
      // Real, rig ehlo-reject: a 5xx kept its 5.X.X DSN: HELO (or smtp_skip_5xx_greeting = no).
      Row{"7E8D7A80168: to=<rcpt@example.net>, relay=mx.test[127.0.0.1]:32859, delay=0.29, "
          "delays=0.14/0.14/0.01/0, dsn=5.7.1, status=bounced (host mx.test[127.0.0.1] refused "
          "to talk to me: 550 5.7.1 HELO not allowed)",
          {FC::EhloRejected, FC::BannerRejected},
          "EHLO"},
  }));
  INFO(line);
  auto e = one(pf(line, "smtp", 3645));
  CHECK(e.candidates == classes);
  CHECK(e.stage == stage);
}

TEST_CASE("postfix: a 4xx to RCPT is a deferral with no TLS class", "[explain]") {
  auto e =
      one(pf("3F1A2B4C5D: to=<a@b.example>, relay=mx.test[192.0.2.1]:25, delay=1, "
             "delays=0/0/1/0, dsn=4.2.2, status=deferred (host mx.test[192.0.2.1] said: "
             "452 4.2.2 Mailbox full (in reply to RCPT TO command))"));
  CHECK(e.kind == EventKind::Deferred);
  CHECK(e.candidates.empty());
}

TEST_CASE("postfix: standalone connect, DNS and stage lines", "[explain]") {
  using Row = std::tuple<std::string, EventKind, FC>;
  auto [msg, kind, cls] = GENERATE(table<std::string, EventKind, FC>({
      Row{"connect to mx.test[192.0.2.1]:25: Connection refused", EventKind::ConnectFailure,
          FC::ConnectRefused},
      Row{"connect to mx.test[192.0.2.1]:587: Connection timed out", EventKind::ConnectFailure,
          FC::ConnectTimeout},
      Row{"connect to mx.test[2001:db8::1]:25: Network is unreachable", EventKind::ConnectFailure,
          FC::NetworkUnreachable},
      Row{"connect to mx.test[192.0.2.1]:25: No route to host", EventKind::ConnectFailure,
          FC::NetworkUnreachable},
      Row{"Host or domain name not found. Name service error for name=mx.test type=MX: Host not "
          "found, try again",
          EventKind::DnsFailure, FC::DnsFailure},
      Row{"lost connection with mx.test[192.0.2.1] while receiving the STARTTLS response",
          EventKind::LostConnection, FC::ConnectionClosed},
      Row{"TLS is required, but was not offered by host mx.test[192.0.2.1]", EventKind::NoStarttls,
          FC::StarttlsNotOffered},
      Row{"Cannot start TLS: handshake failure", EventKind::TlsFailure, FC::TlsProtocolMismatch},
      Row{"Server certificate not verified", EventKind::CertificateIssue,
          FC::CertificateChainIncomplete},
  }));
  auto e = one(pf(msg));
  CHECK(e.kind == kind);
  CHECK(e.candidates.front() == cls);
}

TEST_CASE("postfix: a connect error that is not connect(2)'s words is not a shape", "[explain]") {
  auto ev =
      read_all({pf("connect to mx.test[192.0.2.1]:25: server dropped connection without "
                   "sending the initial SMTP greeting")});
  CHECK(ev.empty());
}

// ---- Postfix server side (src/tls/tls_server.c, src/smtpd/smtpd.c) ------------------------

TEST_CASE("postfix smtpd: SSL_accept error joins its library line; STARTTLS losses", "[explain]") {
  auto ev = read_all({
      pf("SSL_accept error from mail-wm1-f41.google.com[209.85.128.41]: -1", "smtpd", 900),
      pf("warning: TLS library problem: error:0A00042E:SSL routines::tlsv1 alert protocol "
         "version:../ssl/record/rec_layer_s3.c:1584:SSL alert number 70:",
         "smtpd", 900),
      pf("lost connection after STARTTLS from mail-wm1-f41.google.com[209.85.128.41]", "smtpd",
         900),
      pf("timeout after STARTTLS from unknown[198.51.100.7]", "smtpd", 901),
      pf("SSL_accept error from unknown[198.51.100.8]: lost connection", "smtpd", 902),
  });
  REQUIRE(ev.size() == 4);
  CHECK(ev[0].direction == Direction::Inbound);
  CHECK(ev[0].host == "mail-wm1-f41.google.com");
  CHECK(ev[0].port == 0);
  CHECK(ev[0].candidates == std::vector<FC>{FC::TlsProtocolMismatch});
  CHECK(ev[1].kind == EventKind::LostConnection);
  CHECK(ev[1].direction == Direction::Inbound);
  CHECK(ev[1].stage == "STARTTLS");
  CHECK(ev[2].candidates == std::vector<FC>{FC::Timeout});
  CHECK(ev[3].candidates == std::vector<FC>{FC::ConnectionClosed});
}

TEST_CASE("postfix smtpd: a ClientHello as improper pipelining is implicit TLS to a plain port",
          "[explain]") {
  // Real, rig inbound-implicit-tls-client (the ClientHello cut short here).
  auto ev = read_all({
      pf("connect from localhost[127.0.0.1]", "smtpd", 5825),
      pf("improper command pipelining after CONNECT from localhost[127.0.0.1]: "
         "\\026\\003\\001\\001$\\001\\000\\001 \\003\\003`)\\351\\016-\\372R",
         "smtpd", 5825),
      pf("lost connection after CONNECT from localhost[127.0.0.1]", "smtpd", 5825),
      // Plain commands sent too early are no TLS matter.
      pf("improper command pipelining after EHLO from client.example[192.0.2.7]: MAIL "
         "FROM:<a@b.example>\\r\\n",
         "smtpd", 5826),
  });
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].direction == Direction::Inbound);
  CHECK(ev[0].kind == EventKind::TlsFailure);
  CHECK(ev[0].host == "localhost");
  CHECK(ev[0].address == "127.0.0.1");
  CHECK(ev[0].stage == "CONNECT");
  CHECK(ev[0].candidates == std::vector<FC>{FC::TlsModeMismatch});
}

TEST_CASE("postfix: programs that are not smtp/lmtp/smtpd/tlsproxy are never read", "[explain]") {
  auto ev = read_all({
      "Dec  7 03:35:47 mta postfix/cleanup[1]: warning: header Subject: SSL_connect error to "
      "evil[192.0.2.66]:25: -1",
      "Dec  7 03:35:47 mta postfix/qmgr[1]: 3F1A2B4C5D: from=<a@b>, size=1, nrcpt=1 (queue active)",
      "Dec  7 03:35:47 mta sshd[1]: connect to x[192.0.2.1]:25: Connection refused",
      pf("SSL_connect error to mx.test[192.0.2.1]:465: -1", "tlsproxy"),
      pf("SSL_connect error to mx.test[192.0.2.1]:25: -1", "lmtp"),
      "Dec  7 03:35:47 mta postfix-out/smtp[3]: connect to mx.test[192.0.2.1]:25: Connection "
      "refused",
  });
  REQUIRE(ev.size() == 3);
  CHECK(ev[0].kind == EventKind::ConnectFailure);  // emitted at once; the others held
  CHECK(ev[1].port == 465);
  CHECK(ev[2].port == 25);
}

// ---- Exim 4.96 (src/tls-openssl.c, src/transports/smtp.c, src/deliver.c) ------------------

TEST_CASE("exim: TLS errors, H= lines and delivery lines", "[explain]") {
  auto ev = read_all({
      "2026-12-07 03:35:47 1tJabc-000Abc-Xy H=smtp.gmail.com [142.250.102.108]:587: TLS "
      "session: (SSL_connect): error:0A000086:SSL routines::certificate verify failed",
      "2026-12-07 03:35:47 1tJabc-000Abc-Xy == alice@example.org R=smarthost "
      "T=remote_smtp_smarthost "
      "defer (-37) H=smtp.gmail.com [142.250.102.108]:587: TLS session: (SSL_connect): "
      "error:0A00010B:SSL routines::wrong version number",
      "Dec  7 03:35:47 mta exim[4711]: TLS error on connection to mx.test [192.0.2.1] "
      "(SSL_connect): error:1409442E:SSL routines:ssl3_read_bytes:tlsv1 alert protocol version",
      "2026-12-07 03:35:47 H=mx.test [192.0.2.1] Connection timed out",
      "2026-12-07 03:35:47 1tJabc-000Abc-Xy == bob@example.org R=dnslookup T=remote_smtp defer "
      "(-53): retry time not reached for any host for 'example.org'",
      "2026-12-07 03:35:47 1tJabc-000Abc-Xy => alice@example.org R=smarthost T=remote_smtp "
      "H=smtp.gmail.com [142.250.102.108]:587 X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes C=\"250 "
      "2.0.0 OK\"",
      "2026-12-07 03:35:47 TLS error on connection from mail.example (helo.example) "
      "[198.51.100.7]:4321 I=[192.0.2.10]:25 (SSL_accept): error:0A0000C1:SSL routines::no "
      "shared cipher",
      "2026-12-07 03:35:47 1tJabc-000Abc-Xy H=mx.test [192.0.2.1]: Remote host closed connection "
      "in response to STARTTLS",
      "2026-12-07 03:35:47 1tJabc-000Abc-Xy == carol@example.org R=dnslookup T=remote_smtp defer "
      "(110): Connection timed out H=mx.test [192.0.2.1]",
      "2026-12-07 03:35:47 1tJabc-000Abc-Xy ** dave@example.org R=dnslookup T=remote_smtp "
      "H=mx.test [192.0.2.1]: SMTP error from remote mail server after RCPT TO:<dave@example.org>: "
      "550 5.1.1 no such user",
  });
  REQUIRE(ev.size() == 10);
  CHECK(ev[0].mta == Mta::Exim);
  CHECK(ev[0].kind == EventKind::TlsFailure);
  CHECK(ev[0].queue_id == "1tJabc-000Abc-Xy");
  CHECK(ev[0].port == 587);
  CHECK(ev[0].candidates.front() == FC::CertificateExpired);
  CHECK(ev[1].kind == EventKind::Deferred);
  CHECK(ev[1].host == "smtp.gmail.com");
  CHECK(ev[1].candidates.front() == FC::TlsModeMismatch);
  CHECK(ev[2].host == "mx.test");
  CHECK(ev[2].address == "192.0.2.1");
  CHECK(ev[2].candidates == std::vector<FC>{FC::TlsProtocolMismatch});
  CHECK(ev[3].kind == EventKind::ConnectFailure);
  CHECK(ev[3].candidates == std::vector<FC>{FC::ConnectTimeout});
  CHECK(ev[4].kind == EventKind::Deferred);
  CHECK(ev[4].candidates.empty());
  CHECK(ev[5].kind == EventKind::Sent);
  CHECK(ev[5].port == 587);
  CHECK(ev[6].direction == Direction::Inbound);
  CHECK(ev[6].host == "mail.example");
  CHECK(ev[6].address == "198.51.100.7");
  CHECK(ev[6].candidates == std::vector<FC>{FC::TlsNoSharedCipher});
  CHECK(ev[7].kind == EventKind::LostConnection);
  CHECK(ev[7].candidates.front() == FC::ConnectionClosed);
  CHECK(ev[8].candidates == std::vector<FC>{FC::ConnectTimeout});
  CHECK(ev[9].kind == EventKind::Bounced);
  CHECK(ev[9].candidates.empty());
}

TEST_CASE("exim 4.96 GnuTLS: host name, TLS required, greeting time-out (real, exim-4.96)",
          "[explain]") {
  auto ev = read_all({
      // wronghost.log: verify_certificate() failed the name check, so no text follows.
      "2026-12-07 04:11:33 1xaQ4b-0001im-0U == rcpt@example.net R=smarthost T=remote_smtp defer "
      "(-37) H=mx.test [127.0.0.1]: TLS session: (certificate verification failed)",
      "2026-12-07 04:11:33 1xaQ4b-0001im-0U H=mx.test [127.0.0.1]: TLS session: (certificate "
      "verification failed)",
      // expired.log: a chain failure says "certificate invalid".
      "2026-12-07 04:11:31 1xaQ4Z-0001hu-2A == rcpt@example.net R=smarthost T=remote_smtp defer "
      "(-37) H=mx.test [127.0.0.1]: TLS session: (certificate verification failed): "
      "certificate invalid",
      // starttls-not-offered.log, starttls-masked.log.
      "2026-12-07 04:11:34 1xaQ4c-0001jf-1q H=mx.test [127.0.0.1]: a TLS session is required, but "
      "the server did not offer TLS support",
      "2026-12-07 04:11:34 1xaQ4c-0001jf-1q == rcpt@example.net R=smarthost T=remote_smtp defer "
      "(-38) H=mx.test [127.0.0.1]: a TLS session is required, but the server did not offer TLS "
      "support",
      // implicit-server-plain-client.log: no greeting from an implicit-TLS port.
      "2026-12-07 04:11:45 1xaQ4d-0001kI-1P H=mx.test [127.0.0.1]: SMTP timeout after initial "
      "connection: Connection timed out",
      "2026-12-07 04:11:45 1xaQ4d-0001kI-1P == rcpt@example.net R=smarthost T=remote_smtp defer "
      "(110): Connection timed out H=mx.test [127.0.0.1]: SMTP timeout after initial connection",
      // tls10-require-tls12.log: GnuTLS's name of alert protocol_version.
      "2026-12-07 04:11:34 1xaQ4c-0001jM-0Y == rcpt@example.net R=smarthost T=remote_smtp defer "
      "(-37) H=mx.test [127.0.0.1]: TLS session: (gnutls_handshake): Error in protocol version",
  });
  REQUIRE(ev.size() == 8);
  const std::vector<FC> name = {FC::CertificateHostMismatch, FC::CertificateInvalid};
  CHECK(ev[0].kind == EventKind::Deferred);
  CHECK(ev[0].candidates == name);
  CHECK(ev[1].kind == EventKind::CertificateIssue);
  CHECK(ev[1].candidates == name);
  CHECK(ev[2].candidates.size() == 9);
  CHECK(ev[2].candidates.back() == FC::CertificateInvalid);
  const std::vector<FC> no_starttls = {FC::StarttlsNotOffered, FC::StarttlsStripped};
  CHECK(ev[3].kind == EventKind::NoStarttls);
  CHECK(ev[3].host == "mx.test");
  CHECK(ev[3].candidates == no_starttls);
  CHECK(ev[4].kind == EventKind::Deferred);
  CHECK(ev[4].candidates == no_starttls);
  const std::vector<FC> silent = {FC::Timeout, FC::TlsModeMismatch, FC::NotSmtp};
  CHECK(ev[5].kind == EventKind::LostConnection);
  CHECK(ev[5].candidates == silent);
  CHECK(ev[6].candidates == silent);
  CHECK(ev[7].candidates == std::vector<FC>{FC::TlsProtocolMismatch});
}

// ---- Sendmail 8.17 (sendmail/deliver.c, sendmail/tls.c) -----------------------------------

TEST_CASE("sendmail: STARTTLS=client lines, tls_server ruleset and stat=", "[explain]") {
  auto sm = [](const std::string& m) { return "Dec  7 03:35:47 mta sm-mta[2222]: " + m; };
  auto ev = read_all({
      sm("xB73ZlQ1012091: STARTTLS=client, error: connect failed=-1, reason=certificate verify "
         "failed, SSL_error=1, errno=0, retry=-1, relay=smtp.example.net [192.0.2.1]"),
      sm("xB73ZlQ1012091: STARTTLS=client: 2222:error:0A000086:SSL routines::certificate verify "
         "failed:ssl/statem/statem_clnt.c:1889:"),
      sm("xB73ZlQ1012091: ruleset=tls_server, arg1=SOFTWARE, relay=smtp.example.net, reject=403 "
         "4.7.0 TLS handshake failed."),
      sm("xB73ZlQ1012091: to=<alice@example.org>, delay=00:00:01, xdelay=00:00:01, mailer=esmtp, "
         "pri=120000, relay=smtp.example.net. [192.0.2.1], dsn=4.0.0, stat=Deferred: 403 4.7.0 TLS "
         "handshake failed."),
      sm("STARTTLS=client, relay=smtp.example.net, version=TLSv1.3, verify=FAIL, "
         "cipher=TLS_AES_256_GCM_SHA384, bits=256/256"),
      sm("STARTTLS=client, relay=smtp.gmail.com, version=TLSv1.3, verify=OK, "
         "cipher=TLS_AES_256_GCM_SHA384, bits=256/256"),
      sm("xB73ZlQ1012092: to=<bob@example.org>, delay=00:00:01, xdelay=00:00:01, mailer=esmtp, "
         "pri=120000, relay=smtp.gmail.com. [142.250.102.108], dsn=2.0.0, stat=Sent (OK)"),
      sm("xB73ZlQ1012093: to=<c@example.org>, delay=00:00:01, mailer=esmtp, pri=1, "
         "relay=mx.test, dsn=4.0.0, stat=Deferred: Connection refused by mx.test"),
  });
  REQUIRE(ev.size() == 7);
  CHECK(ev[0].mta == Mta::Sendmail);
  CHECK(ev[0].host == "smtp.example.net");
  CHECK(ev[0].address == "192.0.2.1");
  CHECK(ev[0].queue_id == "xB73ZlQ1012091");
  CHECK(ev[0].candidates.front() == FC::CertificateExpired);
  CHECK(ev[1].kind == EventKind::TlsFailure);
  CHECK(ev[1].candidates.front() == FC::TlsProtocolMismatch);
  CHECK(ev[2].kind == EventKind::Deferred);
  CHECK(ev[2].host == "smtp.example.net");
  CHECK(ev[2].address == "192.0.2.1");
  CHECK(ev[2].candidates.front() == FC::TlsProtocolMismatch);
  CHECK(ev[3].kind == EventKind::CertificateIssue);
  CHECK(ev[4].kind == EventKind::TlsEstablished);
  CHECK(ev[5].kind == EventKind::Sent);
  CHECK(ev[6].candidates == std::vector<FC>{FC::ConnectRefused});
}

// ---- the OpenSSL reason table and its copy in docs/failures.md ----------------------------

TEST_CASE("every reason row is found by its own words", "[explain]") {
  for (const ReasonRow* r = reason_rows_begin(); r != reason_rows_end(); ++r) {
    INFO(r->text);
    const ReasonRow* m = match_reason("x: " + std::string(r->text) + " :y");
    REQUIRE(m != nullptr);
    // A longer row may own these words ("self-signed certificate in certificate chain"
    // before "self-signed certificate"); then it must mean something as specific.
    CHECK(std::string(m->text).find(r->text) != std::string::npos);
    CHECK(r->candidates.size() > 0);
  }
}

TEST_CASE("OpenSSL 3 and 1.1 codes map by reason number when the text is missing", "[explain]") {
  using Row = std::tuple<std::string, FC>;
  auto [detail, first] = GENERATE(table<std::string, FC>({
      Row{"error:0A000086:SSL routines::reason(134)", FC::CertificateExpired},
      Row{"error:1416F086:SSL routines:tls_process_server_certificate:reason(134)",
          FC::CertificateExpired},
      Row{"error:1416F086:SSL routines:tls_process_server_certificate:certificate verify failed",
          FC::CertificateExpired},
      Row{"error:0A00042E:SSL routines::reason(1070)", FC::TlsProtocolMismatch},
      Row{"error:0A000410:SSL routines::sslv3 alert handshake failure", FC::TlsNoSharedCipher},
      Row{"error:0A000410:SSL routines::ssl/tls alert handshake failure", FC::TlsNoSharedCipher},
      Row{"error:1408F10B:SSL routines:ssl3_get_record:wrong version number", FC::TlsModeMismatch},
      Row{"error:0A000126:SSL routines::unexpected eof while reading", FC::ConnectionClosed},
      Row{"error:0A000458:SSL routines::tlsv1 unrecognized name", FC::TlsSniRequired},
      Row{"error:0A000458:SSL routines::tlsv1 alert unrecognized name", FC::TlsSniRequired},
      Row{"error:0A00045C:SSL routines::tlsv13 alert certificate required",
          FC::TlsClientCertificateRequired},
      Row{"error:0A00018A:SSL routines::dh key too small", FC::TlsWeakParameters},
      Row{"error:0A000438:SSL routines::tlsv1 alert internal error", FC::TlsAlert},
      Row{"error:0A0000FF:SSL routines::something new", FC::TlsError},
      Row{"verify error:num=10:certificate has expired", FC::CertificateExpired},
      Row{"(gnutls_handshake): Error in the pull function.", FC::ConnectionReset},
      Row{"(certificate verification failed): certificate invalid", FC::CertificateExpired},
      Row{"error:0A000418:SSL routines::reason(1048)", FC::CertificateUntrusted},
      Row{"(gnutls_handshake): Error in protocol version", FC::TlsProtocolMismatch},
  }));
  INFO(detail);
  const ReasonRow* m = match_reason(detail);
  REQUIRE(m != nullptr);
  CHECK(*m->candidates.begin() == first);
}

TEST_CASE("the reason code decoder reads only the SSL library's codes", "[explain]") {
  CHECK(ssl_reason_from_code("0A000086") == 134);
  CHECK(ssl_reason_from_code("1416F086") == 134);
  CHECK(ssl_reason_from_code("0A00042E") == 1070);
  CHECK(ssl_reason_from_code("80000002") == -1);  // a system error
  CHECK(ssl_reason_from_code("0480006C") == -1);  // PEM routines
  CHECK(ssl_reason_from_code("0A00008") == -1);
  CHECK(ssl_reason_from_code("0A00008G") == -1);
}

TEST_CASE("docs/failures.md lists the reason table row for row", "[explain]") {
  std::ifstream in(std::string(TLSRELAY_SOURCE_DIR) + "/docs/failures.md");
  REQUIRE(in);
  std::string line;
  bool in_section = false;
  std::vector<std::pair<std::string, std::string>> doc;  // text, "a b c"
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) in_section = line == "## What the log alone can tell";
    if (!in_section || line.rfind("| `", 0) != 0) continue;
    const auto a = line.find('`');
    const auto b = line.find('`', a + 1);
    std::string text = line.substr(a + 1, b - a - 1);
    // Third column: [class](#class), ...
    std::size_t col = b;
    for (int i = 0; i < 2; ++i) col = line.find(" | ", col + 1);
    const auto end = line.find(" | ", col + 1);
    std::string cell = line.substr(col + 3, end - col - 3);
    std::string classes;
    for (auto p = cell.find('['); p != std::string::npos; p = cell.find('[', p + 1)) {
      classes += cell.substr(p + 1, cell.find(']', p) - p - 1) + " ";
    }
    doc.emplace_back(text, classes);
  }
  const auto rows = static_cast<std::size_t>(reason_rows_end() - reason_rows_begin());
  REQUIRE(doc.size() == rows);
  std::size_t i = 0;
  for (const ReasonRow* r = reason_rows_begin(); r != reason_rows_end(); ++r, ++i) {
    std::string want;
    for (FC c : r->candidates) want += std::string(to_string(c)) + " ";
    INFO("row " << i << ": " << r->text);
    CHECK(doc[i].first == r->text);
    CHECK(doc[i].second == want);
  }
}

// ---- hostile input -------------------------------------------------------------------------

TEST_CASE("hostile lines: binary, NUL, invalid UTF-8, huge, forged separators", "[explain]") {
  utc();
  LogReader r(ReaderOptions{kLogNow});
  std::vector<LogEvent> out;
  const std::string nul = std::string("Dec  7 03:35:47 mta postfix/smtp[1]: connect to a") + '\0' +
                          "b[192.0.2.1]:25: Connection refused";
  r.feed(nul, out);
  r.feed(std::string(1 << 20, 'A'), out);
  std::string big = pf("SSL_connect error to ") + std::string(1 << 20, 'h') + "[192.0.2.1]:25: -1";
  r.feed(big, out);
  r.feed(pf("connect to \xff\xfe[192.0.2.1]:25: Connection refused"), out);
  r.feed(std::string("\x00\x01\x02\xff{[<", 8), out);
  r.feed("{\"MESSAGE\":", out);
  r.feed(pf("connect to a]b[192.0.2.1]:25: Connection refused"), out);
  r.feed(pf("connect to a[192.0.2.1]:99999: Connection refused"), out);
  r.feed(pf("connect to a[192.0.2.1:25: Connection refused"), out);
  r.feed(pf("connect to a[$(reboot)]:25: Connection refused"), out);
  // A recipient that carries a forged relay= and status=: the real ones win.
  r.feed(pf("3F1A2B4C5D: to=<\"x>, relay=evil[192.0.2.66]:25, status=sent (\"@example.org>, "
            "relay=mx.test[192.0.2.1]:25, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred "
            "(connect to mx.test[192.0.2.1]:25: Connection refused)"),
         out);
  r.finish(out);
  CHECK(r.stats().lines == 11);
  CHECK(r.stats().cut == 2);
  CHECK(r.stats().not_utf8 >= 1);
  for (const auto& e : out) {
    CHECK(e.host.size() <= 255);
    CHECK(e.detail.size() <= 300);
    for (char c : e.host + e.address + e.detail + e.stage + e.queue_id) {
      CHECK((c >= 0x20 && c < 0x7f));
    }
  }
  REQUIRE(out.size() == 3);
  CHECK(out[0].host == "a\\x00b");
  CHECK(out[1].host == "\\xff\\xfe");
  CHECK(out[2].kind == EventKind::Deferred);
  CHECK(out[2].host == "mx.test");
  CHECK(out[2].candidates == std::vector<FC>{FC::ConnectRefused});
}

TEST_CASE("hostile: a million pids never hold more than max_pending events", "[explain]") {
  utc();
  LogReader r(ReaderOptions{kLogNow, 64 * 1024, 64});
  std::vector<LogEvent> out;
  for (int pid = 0; pid < 5000; ++pid) {
    r.feed(pf("SSL_connect error to a[192.0.2.1]:25: -1", "smtp", pid), out);
  }
  CHECK(out.size() == 5000 - 64);
  CHECK(r.stats().evicted == 5000 - 64);
  r.finish(out);
  CHECK(out.size() == 5000);
}

TEST_CASE("hostile: library lines beyond four are not joined", "[explain]") {
  std::vector<std::string> lines{pf("SSL_connect error to a[192.0.2.1]:25: -1")};
  for (int i = 0; i < 100; ++i) {
    lines.push_back(
        pf("warning: TLS library problem: error:0A000438:SSL routines::tlsv1 alert "
           "internal error:x.c:1:"));
  }
  auto ev = read_all(lines);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].detail.size() <= 300);
  CHECK(ev[0].candidates == std::vector<FC>{FC::TlsAlert});
}

// ---- real Postfix 3.7 logs from the rig (tests/data/explain/postfix-3.7) ------------------

TEST_CASE("every TLS line of the rig's real Postfix logs is recognised", "[explain]") {
  // file -> a class the failure events must name among their candidates ("" for ok runs).
  const std::map<std::string, std::string> expect = {
      {"ok-secure.log", ""},
      {"ok-encrypt.log", ""},
      {"ok-may.log", ""},
      {"ok-implicit-wrappermode.log", ""},
      {"expired-may.log", ""},
      {"expired-encrypt.log", ""},
      {"leafonly-encrypt.log", ""},
      {"untrusted-encrypt.log", ""},
      {"expired-secure.log", "certificate-expired"},
      {"expired-secure-loglevel0.log", "certificate-expired"},
      {"leafonly-secure.log", "certificate-chain-incomplete"},
      {"selfsigned-secure.log", "certificate-self-signed"},
      {"untrusted-secure.log", "certificate-untrusted"},
      {"untrusted-noroot-secure.log", "certificate-untrusted"},
      {"ehlo-reject.log", "ehlo-rejected"},
      {"dns-nxdomain-native.log", "dns-nxdomain"},
      {"sni-required.log", "tls-sni-required"},
      {"client-cert-required.log", "tls-client-certificate-required"},
      {"tls10-mandatory-tls12.log", "tls-protocol-mismatch"},
      {"starttls-server-wrappermode.log", "tls-mode-mismatch"},
      {"refused.log", "connect-refused"},
      {"starttls-454-encrypt.log", "starttls-rejected"},
      {"starttls-masked-encrypt.log", "starttls-stripped"},
  };
  for (const auto& [file, cls] : expect) {
    std::ifstream in(std::string(TLSRELAY_SOURCE_DIR) + "/tests/data/explain/postfix-3.7/" + file);
    INFO(file);
    REQUIRE(in);
    utc();
    LogReader r(ReaderOptions{kLogNow});
    std::vector<LogEvent> out;
    std::string line;
    std::size_t tls_lines = 0;
    while (std::getline(in, line)) {
      if (line.find("postfix/smtp[") != std::string::npos &&
          (line.find("TLS") != std::string::npos || line.find("status=") != std::string::npos ||
           line.find("certificate") != std::string::npos ||
           line.find(": connect to ") != std::string::npos)) {
        ++tls_lines;
      }
      r.feed(line, out);
    }
    r.finish(out);
    CHECK(out.size() == tls_lines);
    bool named = cls.empty();
    for (const auto& e : out) {
      for (FC c : e.candidates) named = named || to_string(c) == cls;
      if (cls.empty()) CHECK_FALSE(is_failure(e.kind));
    }
    CHECK(named);
  }
}
