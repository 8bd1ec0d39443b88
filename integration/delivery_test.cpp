// Postfix -> tlsrelay -> Postfix smarthost (STARTTLS, SASL AUTH), all real: what the front
// Postfix accepted arrives at the smarthost's Maildir byte for byte, below the header fields
// the hops add (Received, Return-Path, Delivered-To, our TLS-Relay). 8BITMIME, SMTPUTF8
// (a UTF-8 envelope and header) and a 40 MB message with dot-led lines.
//
// Root only (Postfix instances): main() in soak_test.cpp skips without it.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "integration/rig.hpp"
#include "tests/e2e/fixture.hpp"

using namespace tlsrelay::integration;
using tlsrelay::e2e::SmtpClient;

namespace {

struct Message {
  std::string id;
  std::string mail_from;  // the MAIL FROM line's argument and parameters
  std::string text;       // header and body, CRLF, as the client means it (not dot-stuffed)
};

std::string headers(const std::string& id, const std::string& from, const std::string& subject) {
  return "From: " + from + "\r\nTo: <sink@example.org>\r\nDate: Fri, 04 Dec 2026 12:00:00 +0000" +
         "\r\nMessage-ID: <" + id + "@delivery.test>\r\nSubject: " + subject +
         "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8" +
         "\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
}

// About `bytes` of body; every 7th line starts with a dot (stuffed on the wire, and by us
// again upstream), every 11th is 8-bit.
std::string body(std::size_t bytes) {
  std::string s;
  for (std::size_t i = 0; s.size() < bytes; ++i) {
    if (i % 7 == 0) s += ".";
    s += "line " + std::to_string(i) + " ";
    s += i % 11 == 0 ? "caf\xc3\xa9 na\xc3\xafve \xe2\x82\xac " : "plain ascii text ";
    s += std::string(40, static_cast<char>('a' + i % 26)) + "\r\n";
  }
  return s;
}

std::string dot_stuffed(const std::string& text) {
  std::string out;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = text.find("\r\n", at);
    const std::string line = text.substr(at, end - at);
    out += (line.rfind(".", 0) == 0 ? "." : "") + line + "\r\n";
    at = end + 2;
  }
  return out;
}

std::string to_lf(const std::string& crlf) {
  std::string out;
  out.reserve(crlf.size());
  for (std::size_t i = 0; i < crlf.size(); ++i) {
    if (crlf[i] == '\r' && i + 1 < crlf.size() && crlf[i + 1] == '\n') continue;
    out += crlf[i];
  }
  return out;
}

// The Maildir copy of `id`, or "".
std::string delivered(const Smarthost& smarthost, const std::string& id) {
  for (const std::string& m : smarthost.delivered_messages()) {
    if (m.find("Message-ID: <" + id + "@delivery.test>") != std::string::npos) return m;
  }
  return "";
}

}  // namespace

TEST_CASE("Postfix -> tlsrelay -> Postfix smarthost: 8BITMIME, SMTPUTF8 and 40 MB, byte-identical",
          "[delivery]") {
  Smarthost smarthost(tlsrelay::e2e::cert_dir());
  Relay relay(smarthost.port(), tlsrelay::e2e::cert("ca.pem"));
  FrontPostfix postfix(relay.port(), "message_size_limit = 52428800\n");
  const std::string tag = "d" + std::to_string(getpid());
  const std::vector<Message> messages = {
      {tag + "-8bit", "<a@test> BODY=8BITMIME",
       headers(tag + "-8bit", "<a@test>", "8bit body") + body(3000)},
      {tag + "-utf8", "<jos\xc3\xa9@test> SMTPUTF8 BODY=8BITMIME",
       headers(tag + "-utf8", "<jos\xc3\xa9@test>", "caf\xc3\xa9 \xe2\x82\xac") + body(2000)},
      {tag + "-40mb", "<a@test> BODY=8BITMIME",
       headers(tag + "-40mb", "<a@test>", "forty megabytes") + body(40 * 1000 * 1000)},
  };
  {
    SmtpClient c(postfix.port());
    REQUIRE(SmtpClient::code(c.reply()) == 220);
    REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
    for (const Message& m : messages) {
      INFO(m.id);
      REQUIRE(SmtpClient::code(c.cmd("MAIL FROM:" + m.mail_from)) == 250);
      REQUIRE(SmtpClient::code(c.cmd("RCPT TO:<sink@example.org>")) == 250);
      REQUIRE(SmtpClient::code(c.cmd("DATA")) == 354);
      c.send(dot_stuffed(m.text) + ".\r\n");
      REQUIRE(SmtpClient::code(c.reply(std::chrono::seconds(120))) == 250);
    }
    c.cmd("QUIT");
  }
  for (const Message& m : messages) {
    INFO(m.id << "\nfront Postfix log:\n"
              << postfix.maillog().substr(0, 6000) << "\ntlsrelay log:\n"
              << relay.log().substr(0, 6000));
    REQUIRE(
        wait_until([&] { return !delivered(smarthost, m.id).empty(); }, std::chrono::seconds(120)));
    const std::string got = delivered(smarthost, m.id);
    const std::string want = to_lf(m.text);
    // Everything the client sent, whole, at the end of the delivered file...
    REQUIRE(got.size() >= want.size());
    CHECK(got.compare(got.size() - want.size(), want.size(), want) == 0);
    // ...below header fields the hops added, and nothing else.
    const std::string added = got.substr(0, got.size() - want.size());
    INFO("added by the hops:\n" << added);
    std::size_t at = 0;
    while (at < added.size()) {
      const std::size_t end = added.find('\n', at);
      const std::string line = added.substr(at, end - at);
      at = end == std::string::npos ? added.size() : end + 1;
      if (line.empty() || line[0] == ' ' || line[0] == '\t') continue;  // folded
      const std::string name = line.substr(0, line.find(':'));
      CHECK((name == "Return-Path" || name == "X-Original-To" || name == "Delivered-To" ||
             name == "Received" || name == "TLS-Relay" || name == "TLS-Relay-Failure"));
    }
    CHECK(added.find("TLS-Relay: upstream=") != std::string::npos);
  }
  // The UTF-8 envelope went through as such (RFC 6531), not downgraded.
  CHECK(delivered(smarthost, tag + "-utf8").find("Return-Path: <jos\xc3\xa9@test>") !=
        std::string::npos);
}
