// The envelope for the upstream (upstream/envelope.hpp): what its EHLO offers, and MAIL and
// RCPT formatted with only what it advertised. The MAIL lines are parsed with the client's
// parser first, so each row reads as what a client sent.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "proxy/server/command_parser.hpp"
#include "proxy/upstream/envelope.hpp"
#include "tests/unit/envelope_builders.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;
using namespace tlsrelay::proxy::test;

namespace {

template <class T>
T expect_parsed(const ParseResult<T>& r) {
  if (const auto* e = std::get_if<Reply>(&r)) FAIL("expected success, got: " << e->first_line());
  return std::get<T>(r);
}

}  // namespace

TEST_CASE("caps_from_ehlo reads the extension keywords", "[command][caps]") {
  auto [lines, expected] = GENERATE(table<std::vector<std::string>, UpstreamCaps>({
      {std::vector<std::string>{}, UpstreamCaps{}},
      {{"PIPELINING", "SIZE 10240000", "8bitmime", "SMTPUTF8", "DSN", "REQUIRETLS", "CHUNKING",
        "BINARYMIME", "STARTTLS", "ENHANCEDSTATUSCODES"},
       UpstreamCaps{true, true, true, true, true, true, true, 10240000}},
      {{"SIZE"}, UpstreamCaps{true, false, false, false, false, false, false, 0}},
      {{"size 0"}, UpstreamCaps{true, false, false, false, false, false, false, 0}},
      {{"8BITMIME"}, UpstreamCaps{false, true}},
      {{"SmtpUtf8"}, UpstreamCaps{false, false, true}},
      {{"DSN"}, UpstreamCaps{false, false, false, true}},
      {{"REQUIRETLS"}, UpstreamCaps{false, false, false, false, true}},
      {{"CHUNKING"}, UpstreamCaps{false, false, false, false, false, true}},
      {{"BINARYMIME"}, UpstreamCaps{false, false, false, false, false, false, true}},
      // Negative rows: near misses advertise nothing.
      {{"XSIZE 10", "DSNX", "8BITMIMEX", "X-REQUIRETLS", "AUTH PLAIN DSN"}, UpstreamCaps{}},
  }));
  const auto got = caps_from_ehlo(lines);
  INFO("lines: " << lines.size());
  CHECK(got == expected);
}

TEST_CASE("format_mail passes a parameter only when the upstream advertised it",
          "[command][format]") {
  const std::string arg =
      "FROM:<a@b.example> SIZE=100 BODY=8BITMIME SMTPUTF8 REQUIRETLS RET=HDRS ENVID=id+2B1 "
      "AUTH=<>";
  const auto& p = expect_parsed(parse_mail(arg));
  UpstreamCaps all{true, true, true, true, true, true, true};
  auto [caps, expected] = GENERATE_REF(table<UpstreamCaps, std::string>({
      {UpstreamCaps{}, "MAIL FROM:<a@b.example>"},
      {UpstreamCaps{true}, "MAIL FROM:<a@b.example> SIZE=100"},
      {UpstreamCaps{false, true}, "MAIL FROM:<a@b.example> BODY=8BITMIME"},
      {UpstreamCaps{false, false, true}, "MAIL FROM:<a@b.example> SMTPUTF8"},
      {UpstreamCaps{false, false, false, true}, "MAIL FROM:<a@b.example> RET=HDRS ENVID=id+2B1"},
      {UpstreamCaps{false, false, false, false, true}, "MAIL FROM:<a@b.example> REQUIRETLS"},
      {all,
       "MAIL FROM:<a@b.example> SIZE=100 BODY=8BITMIME SMTPUTF8 REQUIRETLS RET=HDRS "
       "ENVID=id+2B1"},
  }));
  INFO("expected: " << expected);
  CHECK(format_mail(p, caps) == expected);
}

TEST_CASE("format_mail and parse_mail round-trip with every extension on", "[command][format]") {
  const UpstreamCaps all{true, true, true, true, true, true, true};
  auto arg = GENERATE(as<std::string>{}, "FROM:<>", "FROM:<a@b.example> BODY=7BIT",
                      "FROM:<a@b.example> BODY=BINARYMIME SIZE=0",
                      "FROM:<\"x y\"@[192.0.2.1]> RET=FULL ENVID=+2B",
                      "FROM:<\xc3\xbc@b.example> SMTPUTF8 REQUIRETLS");
  INFO("MAIL " << arg);
  const auto& p = expect_parsed(parse_mail(arg));
  const std::string line = format_mail(p, all);
  REQUIRE(line.rfind("MAIL ", 0) == 0);
  const auto& again = expect_parsed(parse_mail(line.substr(5)));
  INFO("formatted: " << line);
  CHECK(again == p);
}

TEST_CASE("BODY=BINARYMIME goes out only with both BINARYMIME and CHUNKING", "[command][format]") {
  const auto& p = expect_parsed(parse_mail("FROM:<a@b.example> BODY=BINARYMIME"));
  CHECK(format_mail(p, UpstreamCaps{false, false, false, false, false, true, true}) ==
        "MAIL FROM:<a@b.example> BODY=BINARYMIME");
  CHECK(format_mail(p, UpstreamCaps{false, true, false, false, false, false, true}) ==
        "MAIL FROM:<a@b.example>");
}

TEST_CASE("format_rcpt passes NOTIFY and ORCPT only with DSN", "[command][format]") {
  const auto& p =
      expect_parsed(parse_rcpt("TO:<c@d.example> NOTIFY=failure,delay ORCPT=rfc822;c+40d.example"));
  CHECK(format_rcpt(p, UpstreamCaps{}) == "RCPT TO:<c@d.example>");
  CHECK(format_rcpt(p, UpstreamCaps{true, true, true, false, true, true, true}) ==
        "RCPT TO:<c@d.example>");
  UpstreamCaps dsn;
  dsn.dsn = true;
  const std::string line = format_rcpt(p, dsn);
  CHECK(line == "RCPT TO:<c@d.example> NOTIFY=FAILURE,DELAY ORCPT=rfc822;c+40d.example");
  CHECK(expect_parsed(parse_rcpt(line.substr(5))) == p);
  CHECK(format_rcpt(rcpt("Postmaster"), dsn) == "RCPT TO:<Postmaster>");
}

TEST_CASE("a formatted command is one line whatever the structs hold", "[command][format]") {
  MailParams m = mail("a@b.example>\r\nRCPT TO:<victim@c.example");
  m.envid = "x\r\nDATA";
  UpstreamCaps dsn;
  dsn.dsn = true;
  const std::string line = format_mail(m, dsn);
  CHECK(line.find_first_of(std::string("\r\n\0", 3)) == std::string::npos);
  const std::string r = format_rcpt(rcpt("c@d.example", "NEVER\n", "rfc822;\0x"), dsn);
  CHECK(r.find_first_of(std::string("\r\n\0", 3)) == std::string::npos);
}

TEST_CASE("missing_extensions names what the upstream lacks and the message needs",
          "[command][format]") {
  auto [arg, caps, expected] = GENERATE(table<std::string, UpstreamCaps, std::vector<std::string>>({
      {"FROM:<a@b.example>", UpstreamCaps{}, std::vector<std::string>{}},
      {"FROM:<a@b.example> SIZE=10 RET=FULL BODY=7BIT", UpstreamCaps{}, std::vector<std::string>{}},
      {"FROM:<a@b.example> REQUIRETLS", UpstreamCaps{}, {"REQUIRETLS"}},
      {"FROM:<a@b.example> REQUIRETLS", UpstreamCaps{false, false, false, false, true},
       std::vector<std::string>{}},
      {"FROM:<a@b.example> BODY=BINARYMIME", UpstreamCaps{}, {"BINARYMIME", "CHUNKING"}},
      {"FROM:<a@b.example> BODY=BINARYMIME",
       UpstreamCaps{false, false, false, false, false, true, true}, std::vector<std::string>{}},
      {"FROM:<a@b.example> BODY=8BITMIME", UpstreamCaps{}, {"8BITMIME"}},
      {"FROM:<a@b.example> BODY=8BITMIME", UpstreamCaps{false, true}, std::vector<std::string>{}},
      {"FROM:<a@b.example> SMTPUTF8", UpstreamCaps{}, {"SMTPUTF8"}},
      {"FROM:<a@b.example> SMTPUTF8 REQUIRETLS BODY=8BITMIME",
       UpstreamCaps{true},
       {"REQUIRETLS", "8BITMIME", "SMTPUTF8"}},
  }));
  INFO("MAIL " << arg);
  CHECK(missing_extensions(expect_parsed(parse_mail(arg)), caps) == expected);
}
