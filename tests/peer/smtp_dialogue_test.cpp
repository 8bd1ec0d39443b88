// Self-test of the SMTP dialogue state machine (no sockets): each misbehaviour answers as
// documented, STARTTLS/AUTH are offered only where they should be, and AUTH checks work.

#include "smtp_dialogue.hpp"
#include "base64.hpp"
#include "smtp_behaviour.hpp"

#include <catch2/catch.hpp>

using namespace tlsrelay;
using namespace tlsrelay::testpeer;
using Next = SmtpDialogue::Next;

namespace {

DialogueConfig config(std::string_view behaviour, TlsMode mode = TlsMode::StartTls,
                      bool credentials = true) {
  DialogueConfig c;
  c.behaviour = *parse_behaviour(behaviour);
  c.tls_mode = mode;
  if (credentials) c.credentials = Credentials{"alice", "s3cret"};
  return c;
}

bool lists(const std::string& reply, std::string_view keyword) {
  return reply.find("250-" + std::string(keyword) + "\r\n") != std::string::npos ||
         reply.find("250 " + std::string(keyword) + "\r\n") != std::string::npos;
}

// "\0alice\0s3cret" in base64
constexpr std::string_view kPlainGood = "AGFsaWNlAHMzY3JldA==";

}  // namespace

TEST_CASE("normal: STARTTLS before TLS, AUTH only after it, EHLO again required", "[smtp]") {
  SmtpDialogue d(config("normal"));
  CHECK(d.greeting().reply == "220 mx.test ESMTP tlsrelay-testpeer\r\n");
  const auto ehlo = d.on_line("EHLO client").reply;
  CHECK(ehlo.rfind("250-mx.test\r\n", 0) == 0);
  CHECK(lists(ehlo, "STARTTLS"));
  CHECK(lists(ehlo, "SIZE 10240000"));
  CHECK(lists(ehlo, "ENHANCEDSTATUSCODES"));
  CHECK_FALSE(lists(ehlo, "AUTH PLAIN LOGIN XOAUTH2"));
  CHECK(d.on_line("AUTH PLAIN " + std::string(kPlainGood)).reply.rfind("503 ", 0) == 0);

  const auto starttls = d.on_line("STARTTLS");
  CHECK(starttls.reply == "220 2.0.0 Ready to start TLS\r\n");
  CHECK(starttls.next == Next::StartTls);
  d.on_tls_started();
  CHECK(d.on_line("MAIL FROM:<a@b>").reply.rfind("503 5.5.1", 0) == 0);
  const auto ehlo2 = d.on_line("EHLO client").reply;
  CHECK_FALSE(lists(ehlo2, "STARTTLS"));
  CHECK(lists(ehlo2, "AUTH PLAIN LOGIN XOAUTH2"));
  CHECK(d.on_line("STARTTLS").reply.rfind("554 ", 0) == 0);
}

TEST_CASE("a whole transaction: MAIL, RCPT, DATA, the lone dot, QUIT", "[smtp]") {
  SmtpDialogue d(config("normal", TlsMode::None));
  d.greeting();
  CHECK(d.on_line("HELO client").reply == "250 mx.test\r\n");
  CHECK(d.on_line("DATA").reply.rfind("503 ", 0) == 0);
  CHECK(d.on_line("MAIL FROM:<a@b>").reply.rfind("250 ", 0) == 0);
  CHECK(d.on_line("RCPT TO:<c@d>").reply.rfind("250 ", 0) == 0);
  CHECK(d.on_line("DATA").reply.rfind("354 ", 0) == 0);
  CHECK(d.on_line("Subject: x").reply.empty());
  CHECK(d.on_line("..leading dot").reply.empty());
  CHECK(d.on_line(".").reply.rfind("250 2.0.0 Ok: queued as ", 0) == 0);
  CHECK(d.on_line("NOOP").reply == "250 2.0.0 Ok\r\n");
  CHECK(d.on_line("FOO").reply == "502 5.5.2 Error: command not recognized\r\n");
  const auto quit = d.on_line("quit");
  CHECK(quit.reply == "221 2.0.0 Bye\r\n");
  CHECK(quit.next == Next::Close);
}

TEST_CASE("STARTTLS misbehaviours answer as documented", "[smtp]") {
  auto [behaviour, listed, keyword, answer, next] =
      GENERATE(table<const char*, bool, const char*, const char*, Next>({
          {"no-starttls", false, "STARTTLS", "502 5.5.1 Error: command not implemented\r\n",
           Next::Continue},
          {"starttls-masked", true, "XXXXXXXA", "502 5.5.2 Error: command not recognized\r\n",
           Next::Continue},
          {"starttls-454", true, "STARTTLS", "454 4.7.0 TLS not available due to local problem\r\n",
           Next::Continue},
          {"starttls-injection", true, "STARTTLS",
           "220 2.0.0 Ready to start TLS\r\n250-mx.test\r\n250 AUTH LOGIN\r\n", Next::StartTls},
      }));
  INFO(behaviour);
  SmtpDialogue d(config(behaviour));
  d.greeting();
  const auto ehlo = d.on_line("EHLO c").reply;
  CHECK(lists(ehlo, keyword) == listed);
  if (std::string_view(keyword) != "STARTTLS") CHECK_FALSE(lists(ehlo, "STARTTLS"));
  const auto step = d.on_line("STARTTLS");
  CHECK(step.reply == answer);
  CHECK(step.next == next);
}

TEST_CASE("greeting misbehaviours", "[smtp]") {
  SmtpDialogue refused(config("banner-554"));
  CHECK(refused.greeting().reply.rfind("554 5.7.1 mx.test ESMTP", 0) == 0);
  CHECK(refused.on_line("EHLO c").reply.rfind("503 ", 0) == 0);
  CHECK(refused.on_line("QUIT").next == Next::Close);

  SmtpDialogue busy(config("banner-421"));
  const auto greeting = busy.greeting();
  CHECK(greeting.reply.rfind("421 4.3.2 mx.test", 0) == 0);
  CHECK(greeting.next == Next::Close);

  SmtpDialogue picky(config("ehlo-reject"));
  picky.greeting();
  CHECK(picky.on_line("EHLO c").reply == "550 5.7.1 EHLO not allowed\r\n");
  CHECK(picky.on_line("HELO c").reply == "550 5.7.1 HELO not allowed\r\n");
}

TEST_CASE("AUTH PLAIN and LOGIN: right, wrong, continuation, cancel", "[smtp]") {
  auto [label, lines, last] = GENERATE(table<const char*, std::vector<std::string>, const char*>({
      {"PLAIN initial", {"AUTH PLAIN " + std::string(kPlainGood)}, "235 2.7.0"},
      {"PLAIN continuation", {"AUTH PLAIN", std::string(kPlainGood)}, "235 2.7.0"},
      {"PLAIN wrong", {"AUTH PLAIN AGFsaWNlAG5vcGU="}, "535 5.7.8"},
      {"PLAIN no NULs", {"AUTH PLAIN YWxpY2U="}, "535 5.7.8"},
      {"LOGIN", {"AUTH LOGIN", "YWxpY2U=", "czNjcmV0"}, "235 2.7.0"},
      {"LOGIN initial user", {"AUTH LOGIN YWxpY2U=", "czNjcmV0"}, "235 2.7.0"},
      {"LOGIN wrong", {"AUTH LOGIN", "YWxpY2U=", "d3Jvbmc="}, "535 5.7.8"},
      {"cancel", {"AUTH LOGIN", "*"}, "501 5.7.0"},
      {"bad base64", {"AUTH PLAIN", "!!!"}, "501 5.5.2"},
      {"unknown mechanism", {"AUTH CRAM-MD5"}, "504 5.5.4"},
  }));
  INFO(label);
  SmtpDialogue d(config("normal"));
  d.greeting();
  d.on_tls_started();
  d.on_line("EHLO c");
  std::string reply;
  for (const auto& line : lines) reply = d.on_line(line).reply;
  CHECK(reply.rfind(last, 0) == 0);
  CHECK_FALSE(d.expects_secret());
}

TEST_CASE("auth-fail refuses right credentials; no-auth-after-tls hides AUTH in TLS", "[smtp]") {
  SmtpDialogue failing(config("auth-fail", TlsMode::StartTls, false));
  failing.greeting();
  failing.on_tls_started();
  CHECK(lists(failing.on_line("EHLO c").reply, "AUTH PLAIN LOGIN XOAUTH2"));
  CHECK(failing.on_line("AUTH PLAIN " + std::string(kPlainGood)).reply ==
        "535 5.7.8 Username and Password not accepted\r\n");

  SmtpDialogue bait(config("no-auth-after-tls"));
  bait.greeting();
  CHECK(lists(bait.on_line("EHLO c").reply, "AUTH PLAIN LOGIN XOAUTH2"));
  bait.on_line("STARTTLS");
  bait.on_tls_started();
  CHECK_FALSE(lists(bait.on_line("EHLO c").reply, "AUTH PLAIN LOGIN XOAUTH2"));
  CHECK(bait.on_line("AUTH PLAIN " + std::string(kPlainGood)).reply.rfind("503 ", 0) == 0);
}

TEST_CASE("behaviour names parse, and bad ones are refused", "[smtp]") {
  CHECK(parse_behaviour("partial-flight:1400")->flight_bytes == 1400);
  CHECK(parse_behaviour("alert:access_denied")->alert == 49);
  CHECK(parse_behaviour("alert:112")->alert == 112);
  CHECK(to_string(*parse_behaviour("alert:80")) == "alert:internal_error");
  for (const char* bad : {"", "nope", "partial-flight", "partial-flight:x", "alert:", "alert:300",
                          "normal:1", "alert:bogus"}) {
    INFO(bad);
    CHECK_FALSE(parse_behaviour(bad).has_value());
  }
}

TEST_CASE("base64 decoding", "[smtp]") {
  CHECK(base64_decode("") == std::string());
  CHECK(base64_decode("YQ==") == std::string("a"));
  CHECK(base64_decode("YWI=") == std::string("ab"));
  CHECK(base64_decode("YWJj") == std::string("abc"));
  CHECK(base64_decode(kPlainGood) == std::string("\0alice\0s3cret", 13));
  for (const char* bad : {"Y", "YQ=", "Y===", "Y Q=", "YQ==YQ==", "=YQ="}) {
    INFO(bad);
    CHECK_FALSE(base64_decode(bad).has_value());
  }
}
