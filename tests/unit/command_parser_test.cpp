// The client-side command parser: command lines out of a byte stream (whole, split at every
// byte, several in one buffer), verbs, MAIL/RCPT/BDAT/EHLO arguments with every extension
// parameter we accept, each refusal with the reply code and enhanced code it must carry,
// xtext, the upstream's EHLO keywords, and formatting MAIL/RCPT for the upstream with only
// what it advertised.
#include <catch2/catch.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "proxy/server/command_parser.hpp"
#include "tests/unit/envelope_builders.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;
using namespace tlsrelay::proxy::test;
using Verb = Command::Verb;

namespace {

// By value: the argument is usually a temporary.
template <class T>
T expect_ok(const ParseResult<T>& r) {
  if (const auto* e = std::get_if<Reply>(&r)) FAIL("expected success, got: " << e->first_line());
  return std::get<T>(r);
}

template <class T>
Reply expect_error(const ParseResult<T>& r) {
  if (!std::holds_alternative<Reply>(r)) FAIL("expected a refusal, but it was accepted");
  return std::get<Reply>(r);
}

// The enhanced code is both in the field and at the start of the text (what goes on the
// wire is "code enhanced text").
void check_reply(const Reply& r, int code, const std::string& enhanced) {
  INFO("reply: " << r.first_line());
  CHECK(r.code == code);
  CHECK(r.enhanced == enhanced);
  REQUIRE(r.lines.size() == 1);
  CHECK(r.lines[0].rfind(enhanced + " ", 0) == 0);
}

std::string describe(const MailParams& p) {
  std::string s = "path=<" + p.reverse_path + ">";
  if (p.size) s += " size=" + std::to_string(*p.size);
  s += " body=" + std::to_string(static_cast<int>(p.body));
  s += p.smtputf8 ? " smtputf8" : "";
  s += p.requiretls ? " requiretls" : "";
  s += " ret=" + p.ret + " envid=" + p.envid + " auth=" + p.auth;
  return s;
}

std::string describe(const RcptParams& p) {
  return "path=<" + p.forward_path + "> notify=" + p.notify + " orcpt=" + p.orcpt;
}

// Feeds `input` to a CommandReader cut at the given offsets; each line comes back as its
// text or as "ERR <reply>".
std::vector<std::string> read_lines(const std::string& input, std::vector<std::size_t> cuts) {
  CommandReader reader;
  std::vector<std::string> out;
  cuts.push_back(input.size());
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    std::string_view chunk = std::string_view(input).substr(from, cut - from);
    from = cut;
    while (!chunk.empty()) {
      auto res = reader.feed(chunk);
      REQUIRE(res.consumed <= chunk.size());
      chunk.remove_prefix(res.consumed);
      if (res.status == CommandReader::Status::Line) {
        auto line = reader.take();
        if (auto* e = std::get_if<Reply>(&line)) {
          out.push_back("ERR " + e->first_line());
        } else {
          out.push_back(std::get<std::string>(line));
        }
      } else {
        REQUIRE(chunk.empty());
      }
    }
  }
  if (reader.buffered() > 0) out.push_back("PARTIAL");
  return out;
}

const std::string kBareLf = "ERR 500 5.5.2 Syntax error: bare LF in command (RFC 5321 2.3.8)";
const std::string kTooLong = "ERR 500 5.5.2 Syntax error: line too long";

}  // namespace

// ---- CommandReader ----------------------------------------------------------------------

TEST_CASE("command lines are the same whether fed whole, split at any byte, or byte by byte",
          "[command][reader]") {
  auto [input, expected] = GENERATE(table<std::string, std::vector<std::string>>({
      {"EHLO client.example\r\n", {"EHLO client.example"}},
      {"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n",
       {"MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>"}},
      {"\r\n", {""}},
      {"NOOP\r\nQUIT", {"NOOP", "PARTIAL"}},
      // Negative rows: each says the refusal, and that the reader is in step afterwards.
      {"NOOP\nQUIT\r\n", {kBareLf, "QUIT"}},
      {"\nQUIT\r\n", {kBareLf, "QUIT"}},
      {"NOOP\r\r\n", {"NOOP\r"}},  // bare CR stays in the line; parse_command refuses it
      {std::string(2046, 'a') + "\r\nQUIT\r\n", {std::string(2046, 'a'), "QUIT"}},
      {std::string(2047, 'a') + "\r\nQUIT\r\n", {kTooLong, "QUIT"}},
      {std::string(5000, 'a') + "\nQUIT\r\n", {kTooLong, "QUIT"}},
  }));
  INFO("input: " << input.substr(0, 60));
  const auto whole = read_lines(input, {});
  CHECK(whole == expected);
  for (std::size_t cut = 0; cut <= input.size(); ++cut) {
    INFO("split at " << cut);
    REQUIRE(read_lines(input, {cut}) == expected);
  }
  if (input.size() < 100) {
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < input.size(); ++i) every.push_back(i);
    CHECK(read_lines(input, every) == expected);
  }
}

TEST_CASE("the command reader stops after one line so DATA's bytes are not eaten as commands",
          "[command][reader]") {
  CommandReader reader;
  const std::string buf = "DATA\r\nSubject: x\r\n.\r\n";
  auto res = reader.feed(buf);
  CHECK(res.status == CommandReader::Status::Line);
  CHECK(res.consumed == 6);
  // Until the line is taken, nothing more is consumed.
  CHECK(reader.feed(std::string_view(buf).substr(6)).consumed == 0);
  CHECK(std::get<std::string>(reader.take()) == "DATA");
  CHECK_FALSE(reader.line_pending());
}

TEST_CASE("the command reader never buffers more than the line limit", "[command][limits]") {
  CommandReader reader(64);
  const std::string flood(100000, 'x');
  auto res = reader.feed(flood);
  CHECK(res.status == CommandReader::Status::NeedMore);
  CHECK(res.consumed == flood.size());
  CHECK(reader.buffered() == 62);  // 64 including CRLF
  CHECK(reader.feed("\r\n").status == CommandReader::Status::Line);
  check_reply(expect_error(reader.take()), 500, "5.5.2");
}

// ---- parse_command ----------------------------------------------------------------------

TEST_CASE("verbs are recognised case-insensitively with their argument", "[command]") {
  auto [line, verb, arg] = GENERATE(table<std::string, Verb, std::string>({
      {"EHLO client.example", Verb::Ehlo, "client.example"},
      {"ehlo client.example", Verb::Ehlo, "client.example"},
      {"HELO client.example", Verb::Helo, "client.example"},
      {"MAIL FROM:<a@b.example> SIZE=10", Verb::Mail, "FROM:<a@b.example> SIZE=10"},
      {"mail  from:<a@b.example>  ", Verb::Mail, "from:<a@b.example>"},
      {"RCPT TO:<c@d.example>", Verb::Rcpt, "TO:<c@d.example>"},
      {"DATA", Verb::Data, ""},
      {"data ", Verb::Data, ""},
      {"BDAT 1234 LAST", Verb::Bdat, "1234 LAST"},
      {"RSET", Verb::Rset, ""},
      {"NOOP anything", Verb::Noop, "anything"},
      {"\tNOOP\t", Verb::Noop, ""},
      {"QUIT", Verb::Quit, ""},
      {"VRFY postmaster", Verb::Vrfy, "postmaster"},
      {"EXPN list", Verb::Expn, "list"},
      {"HELP", Verb::Help, ""},
      {"STARTTLS", Verb::Starttls, ""},
      {"StartTLS", Verb::Starttls, ""},
      {"AUTH PLAIN AGFsaWNlAHNlY3JldA==", Verb::Auth, "PLAIN AGFsaWNlAHNlY3JldA=="},
      // Unknown is not an error; arg keeps the whole line for the log.
      {"XCLIENT ADDR=192.0.2.1", Verb::Unknown, "XCLIENT ADDR=192.0.2.1"},
      {"MAILFROM:<a@b.example>", Verb::Unknown, "MAILFROM:<a@b.example>"},
      {"EHLOX", Verb::Unknown, "EHLOX"},
      {"", Verb::Unknown, ""},
  }));
  INFO("line: " << line);
  const auto& cmd = expect_ok(parse_command(line));
  CHECK(cmd.verb == verb);
  CHECK(cmd.arg == arg);
}

TEST_CASE("command lines with NUL, CR or LF are refused", "[command]") {
  auto [line, code, enhanced] = GENERATE(table<std::string, int, std::string>({
      {std::string("NOOP\0x", 6), 500, "5.5.2"},
      {std::string("\0", 1), 500, "5.5.2"},
      {"NOOP\rRSET", 500, "5.5.2"},
      {"NOOP\r", 500, "5.5.2"},
      {"MAIL FROM:<a@b.example>\nRCPT TO:<c@d.example>", 500, "5.5.2"},
  }));
  INFO("line: " << line);
  check_reply(expect_error(parse_command(line)), code, enhanced);
}

TEST_CASE("every verb's name parses back to the verb", "[command]") {
  auto verb = GENERATE(Verb::Ehlo, Verb::Helo, Verb::Mail, Verb::Rcpt, Verb::Data, Verb::Bdat,
                       Verb::Rset, Verb::Noop, Verb::Quit, Verb::Vrfy, Verb::Expn, Verb::Help,
                       Verb::Starttls, Verb::Auth);
  const std::string name(to_string(verb));
  INFO("verb: " << name);
  CHECK(name != "UNKNOWN");
  CHECK(expect_ok(parse_command(name)).verb == verb);
  CHECK(to_string(Verb::Unknown) == "UNKNOWN");
}

// ---- MAIL -------------------------------------------------------------------------------

TEST_CASE("MAIL FROM arguments that are accepted", "[command][mail]") {
  auto p = [](std::string path, auto&& fill) {
    MailParams m = mail(std::move(path));
    fill(m);
    return m;
  };
  auto [arg, expected] = GENERATE_REF(table<std::string, MailParams>({
      {"FROM:<a@b.example>", mail("a@b.example")},
      {"from:<a@b.example>", mail("a@b.example")},
      {"FROM:<>", mail("")},
      {"FROM: <a@b.example>", mail("a@b.example")},                         // Postfix's leniency
      {"FROM:<@r1.example,@r2.example:a@b.example>", mail("a@b.example")},  // route stripped
      {"FROM:<\"john doe\"@b.example>", mail("\"john doe\"@b.example")},
      {"FROM:<\"a>b\"@b.example>", mail("\"a>b\"@b.example")},
      {"FROM:<\"a\\\"b\"@b.example>", mail("\"a\\\"b\"@b.example")},
      {"FROM:<a..b.@docomo.example>", mail("a..b.@docomo.example")},
      {"FROM:<a@host_name.example>", mail("a@host_name.example")},
      {"FROM:<a@[192.0.2.1]>", mail("a@[192.0.2.1]")},
      {"FROM:<a@[IPv6:2001:db8::1]>", mail("a@[IPv6:2001:db8::1]")},
      {"FROM:<a@[x-tag:stuff]>", mail("a@[x-tag:stuff]")},
      {"FROM:<a@b.example> SIZE=12345", p("a@b.example", [](MailParams& m) { m.size = 12345; })},
      {"FROM:<a@b.example> size=0", p("a@b.example", [](MailParams& m) { m.size = 0; })},
      {"FROM:<a@b.example> SIZE=18446744073709551615",
       p("a@b.example", [](MailParams& m) { m.size = UINT64_MAX; })},
      {"FROM:<a@b.example> BODY=7BIT",
       p("a@b.example", [](MailParams& m) { m.body = MailParams::Body::SevenBit; })},
      {"FROM:<a@b.example> BODY=8bitmime",
       p("a@b.example", [](MailParams& m) { m.body = MailParams::Body::EightBitMime; })},
      {"FROM:<a@b.example> BODY=BINARYMIME",
       p("a@b.example", [](MailParams& m) { m.body = MailParams::Body::BinaryMime; })},
      {"FROM:<a@b.example> SMTPUTF8", p("a@b.example", [](MailParams& m) { m.smtputf8 = true; })},
      {"FROM:<j\xc3\xbcrgen@b\xc3\xbc"
       "cher.example> SMTPUTF8",
       p("j\xc3\xbcrgen@b\xc3\xbc"
         "cher.example",
         [](MailParams& m) { m.smtputf8 = true; })},
      {"FROM:<a@b.example> REQUIRETLS",
       p("a@b.example", [](MailParams& m) { m.requiretls = true; })},
      {"FROM:<a@b.example> RET=hdrs ENVID=QQ314159", p("a@b.example",
                                                       [](MailParams& m) {
                                                         m.ret = "HDRS";
                                                         m.envid = "QQ314159";
                                                       })},
      {"FROM:<a@b.example> ENVID=a+2Bb+3Dc",
       p("a@b.example", [](MailParams& m) { m.envid = "a+2Bb+3Dc"; })},
      {"FROM:<a@b.example> AUTH=<>", p("a@b.example", [](MailParams& m) { m.auth = "<>"; })},
      {"FROM:<a@b.example> AUTH=e+3Dmc2@example.com",
       p("a@b.example", [](MailParams& m) { m.auth = "e+3Dmc2@example.com"; })},
      {"FROM:<a@b.example>   SIZE=1   BODY=7BIT  ", p("a@b.example",
                                                      [](MailParams& m) {
                                                        m.size = 1;
                                                        m.body = MailParams::Body::SevenBit;
                                                      })},
      {"FROM:<> SIZE=5 BODY=8BITMIME SMTPUTF8 REQUIRETLS RET=FULL ENVID=x",
       p("",
         [](MailParams& m) {
           m.size = 5;
           m.body = MailParams::Body::EightBitMime;
           m.smtputf8 = true;
           m.requiretls = true;
           m.ret = "FULL";
           m.envid = "x";
         })},
  }));
  INFO("MAIL " << arg);
  const auto& got = expect_ok(parse_mail(arg));
  INFO("got:      " << describe(got));
  INFO("expected: " << describe(expected));
  CHECK(got == expected);
}

TEST_CASE("MAIL FROM arguments that are refused, with the reply each gets", "[command][mail]") {
  const std::string long_local(65, 'l');
  const std::string long_path = std::string(240, 'p') + "@" + std::string(14, 'd') + ".x";
  auto [arg, code, enhanced] = GENERATE_REF(table<std::string, int, std::string>({
      // The command's own syntax: 501 5.5.4.
      {"", 501, "5.5.4"},
      {"TO:<a@b.example>", 501, "5.5.4"},
      {"FROM:a@b.example", 501, "5.5.4"},  // brackets are required
      {"FROM:<a@b.example", 501, "5.5.4"},
      {"FROM:<\"unterminated@b.example>", 501, "5.5.4"},
      {"FROM:<a@b.example>SIZE=1", 501, "5.5.4"},
      {"FROM:<a@b.example>>", 501, "5.5.4"},
      {"FROM <a@b.example>", 501, "5.5.4"},
      // The sender address: 501 5.1.7 (RFC 3463 "bad sender's mailbox address syntax").
      {"FROM:<a>", 501, "5.1.7"},
      {"FROM:<a@>", 501, "5.1.7"},
      {"FROM:<@b.example>", 501, "5.1.7"},
      {"FROM:<a@b..example>", 501, "5.1.7"},
      {"FROM:<a@b.example.>", 501, "5.1.7"},
      {"FROM:<a@-b.example>", 501, "5.1.7"},
      {"FROM:<a b@c.example>", 501, "5.1.7"},
      {"FROM:<a(b)@c.example>", 501, "5.1.7"},
      {"FROM:<a@b@c.example>", 501, "5.1.7"},
      {"FROM:<\"a\"b@c.example>", 501, "5.1.7"},
      {"FROM:<a\x01"
       "b@c.example>",
       501, "5.1.7"},
      {"FROM:<a\x7f"
       "b@c.example>",
       501, "5.1.7"},
      {"FROM:<a@[300.1.1.1]>", 501, "5.1.7"},
      {"FROM:<a@[IPv6:zz::1]>", 501, "5.1.7"},
      {"FROM:<a@[192.0.2.1>", 501, "5.1.7"},
      {"FROM:<@r1.example:>", 501, "5.1.7"},
      {"FROM:<@r1.example,a@b:c@d.example>", 501, "5.1.7"},
      {"FROM:<@r1.example,:c@d.example>", 501, "5.1.7"},
      {"FROM:<" + long_local + "@b.example>", 501, "5.1.7"},
      {"FROM:<" + long_path + ">", 501, "5.1.7"},
      {"FROM:<a@" + std::string(64, 'x') + ".example>", 501, "5.1.7"},  // label > 63
      {"FROM:<\xff"
       "a@b.example> SMTPUTF8",
       501, "5.1.7"},                                        // not UTF-8
      {"FROM:<\xc0\xaf@b.example> SMTPUTF8", 501, "5.1.7"},  // overlong
      // RFC 6531 3.5: non-ASCII without SMTPUTF8 is 550 5.6.7 on MAIL (553 on RCPT).
      {"FROM:<j\xc3\xbcrgen@b.example>", 550, "5.6.7"},
      {"FROM:<a@b\xc3\xbc"
       "cher.example> BODY=8BITMIME",
       550, "5.6.7"},
      // Parameters.
      {"FROM:<a@b.example> FOO=1", 555, "5.5.4"},
      {"FROM:<a@b.example> NOTIFY=NEVER", 555, "5.5.4"},  // an RCPT parameter
      {"FROM:<a@b.example> SIZE=1 SIZE=2", 501, "5.5.4"},
      {"FROM:<a@b.example> SMTPUTF8 smtputf8", 501, "5.5.4"},
      {"FROM:<a@b.example> SIZE=abc", 501, "5.5.4"},
      {"FROM:<a@b.example> SIZE=-1", 501, "5.5.4"},
      {"FROM:<a@b.example> SIZE", 501, "5.5.4"},
      {"FROM:<a@b.example> SIZE=", 501, "5.5.4"},
      {"FROM:<a@b.example> SIZE=18446744073709551616", 501, "5.5.4"},
      {"FROM:<a@b.example> BODY=9BIT", 501, "5.5.4"},
      {"FROM:<a@b.example> BODY", 501, "5.5.4"},
      {"FROM:<a@b.example> SMTPUTF8=yes", 501, "5.5.4"},
      {"FROM:<a@b.example> REQUIRETLS=1", 501, "5.5.4"},
      {"FROM:<a@b.example> RET=ALL", 501, "5.5.4"},
      {"FROM:<a@b.example> ENVID=a+2", 501, "5.5.4"},
      {"FROM:<a@b.example> ENVID=a+3d", 501, "5.5.4"},   // hex must be upper case
      {"FROM:<a@b.example> ENVID=a+0Db", 501, "5.5.4"},  // decodes to a CR
      {"FROM:<a@b.example> ENVID=a=b", 501, "5.5.4"},
      {"FROM:<a@b.example> ENVID=\xc3\xa9", 501, "5.5.4"},  // 8-bit without SMTPUTF8
      {"FROM:<a@b.example> AUTH=+ZZ", 501, "5.5.4"},
      {"FROM:<a@b.example> =1", 501, "5.5.4"},
      {"FROM:<a@b.example> -X=1", 501, "5.5.4"},
      {"FROM:<a@b.example> X_Y=1", 501, "5.5.4"},
  }));
  INFO("MAIL " << arg);
  check_reply(expect_error(parse_mail(arg)), code, enhanced);
}

TEST_CASE("path length limits: at the limit passes, one over is refused", "[command][limits]") {
  // Local part: 64 octets (RFC 5321 4.5.3.1.1).
  CHECK(
      expect_ok(parse_mail("FROM:<" + std::string(64, 'l') + "@b.example>")).reverse_path.size() ==
      64 + 10);
  check_reply(expect_error(parse_mail("FROM:<" + std::string(65, 'l') + "@b.example>")), 501,
              "5.1.7");
  // Path: 256 octets with the brackets (RFC 5321 4.5.3.1.3).
  const std::string domain = std::string(60, 'd') + "." + std::string(60, 'e') + "." +
                             std::string(60, 'f') + ".example";  // 190 octets
  const std::string at_limit = std::string(63, 'l') + "@" + domain;
  REQUIRE(at_limit.size() + 2 == 256);
  CHECK(expect_ok(parse_rcpt("TO:<" + at_limit + ">")).forward_path == at_limit);
  check_reply(expect_error(parse_rcpt("TO:<l" + at_limit + ">")), 501, "5.1.3");
  // Config may loosen them.
  AddressLimits loose;
  loose.max_local_part = 100;
  CHECK(expect_ok(parse_mail("FROM:<" + std::string(65, 'l') + "@b.example>", loose))
            .reverse_path.size() == 75);
}

// ---- RCPT -------------------------------------------------------------------------------

TEST_CASE("RCPT TO arguments that are accepted", "[command][rcpt]") {
  auto [arg, smtputf8, expected] = GENERATE_REF(table<std::string, bool, RcptParams>({
      {"TO:<c@d.example>", false, rcpt("c@d.example")},
      {"to: <c@d.example>", false, rcpt("c@d.example")},
      {"TO:<Postmaster>", false, rcpt("Postmaster")},
      {"TO:<postmaster>", false, rcpt("postmaster")},
      {"TO:<@r.example:c@d.example>", false, rcpt("c@d.example")},
      {"TO:<c@d.example> NOTIFY=success,failure", false, rcpt("c@d.example", "SUCCESS,FAILURE")},
      {"TO:<c@d.example> NOTIFY=NEVER", false, rcpt("c@d.example", "NEVER")},
      {"TO:<c@d.example> NOTIFY=DELAY ORCPT=rfc822;c+40d.example", false,
       rcpt("c@d.example", "DELAY", "rfc822;c+40d.example")},
      {"TO:<c@d.example> ORCPT=utf-8;c\\x{40}d.example", false,
       rcpt("c@d.example", "", "utf-8;c\\x{40}d.example")},
      {"TO:<\xc3\xbc@d.example>", true, rcpt("\xc3\xbc@d.example")},
      {"TO:<c@d.example> ORCPT=utf-8;\xc3\xbc@d.example", true,
       rcpt("c@d.example", "", "utf-8;\xc3\xbc@d.example")},
  }));
  INFO("RCPT " << arg << (smtputf8 ? " (SMTPUTF8 transaction)" : ""));
  const auto& got = expect_ok(parse_rcpt(arg, smtputf8));
  INFO("got:      " << describe(got));
  INFO("expected: " << describe(expected));
  CHECK(got == expected);
}

TEST_CASE("RCPT TO arguments that are refused, with the reply each gets", "[command][rcpt]") {
  auto [arg, smtputf8, code, enhanced] = GENERATE(table<std::string, bool, int, std::string>({
      {"TO:<>", false, 501, "5.1.3"},  // a forward-path is never null
      {"TO:c@d.example", false, 501, "5.5.4"},
      {"FROM:<c@d.example>", false, 501, "5.5.4"},
      {"TO:<c@d.example", false, 501, "5.5.4"},
      {"TO:<c>", false, 501, "5.1.3"},
      {"TO:<Postmaster@>", false, 501, "5.1.3"},
      {"TO:<c@d..example>", false, 501, "5.1.3"},
      {"TO:<\xc3\xbc@d.example>", false, 553, "5.6.7"},
      {"TO:<c@d.example> NOTIFY=NEVER,SUCCESS", false, 501, "5.5.4"},
      {"TO:<c@d.example> NOTIFY=SOMETIMES", false, 501, "5.5.4"},
      {"TO:<c@d.example> NOTIFY=SUCCESS,,DELAY", false, 501, "5.5.4"},
      {"TO:<c@d.example> NOTIFY=SUCCESS,SUCCESS", false, 501, "5.5.4"},
      {"TO:<c@d.example> NOTIFY", false, 501, "5.5.4"},
      {"TO:<c@d.example> NOTIFY=NEVER NOTIFY=NEVER", false, 501, "5.5.4"},
      {"TO:<c@d.example> ORCPT=rfc822", false, 501, "5.5.4"},
      {"TO:<c@d.example> ORCPT=;c@d.example", false, 501, "5.5.4"},
      {"TO:<c@d.example> ORCPT=rfc822;", false, 501, "5.5.4"},
      {"TO:<c@d.example> ORCPT=rfc(822);c", false, 501, "5.5.4"},
      {"TO:<c@d.example> ORCPT=rfc822;c+0Ad", false, 501, "5.5.4"},  // decodes to LF
      {"TO:<c@d.example> ORCPT=utf-8;\xc3\xbc@d.example", false, 501, "5.5.4"},
      {"TO:<c@d.example> ORCPT=utf-8;\xc3@d.example", true, 501, "5.5.4"},
      {"TO:<c@d.example> SIZE=1", false, 555, "5.5.4"},
      {"TO:<c@d.example> SMTPUTF8", false, 555, "5.5.4"},
  }));
  INFO("RCPT " << arg);
  check_reply(expect_error(parse_rcpt(arg, smtputf8)), code, enhanced);
}

// ---- BDAT, EHLO -------------------------------------------------------------------------

TEST_CASE("BDAT arguments", "[command][bdat]") {
  auto [arg, ok, size, last] = GENERATE(table<std::string, bool, std::uint64_t, bool>({
      {"0", true, 0, false},
      {"0 LAST", true, 0, true},
      {"1234", true, 1234, false},
      {"1234 LAST", true, 1234, true},
      {"1234 last", true, 1234, true},
      {" 7  LAST ", true, 7, true},
      {"18446744073709551615", true, UINT64_MAX, false},
      // Negative rows: all 501 5.5.4.
      {"", false, 0, false},
      {"LAST", false, 0, false},
      {"12x", false, 0, false},
      {"-1", false, 0, false},
      {"+1", false, 0, false},
      {"1234 FIRST", false, 0, false},
      {"1234 LAST X", false, 0, false},
      {"18446744073709551616", false, 0, false},
  }));
  INFO("BDAT " << arg);
  auto r = parse_bdat(arg);
  if (ok) {
    CHECK(expect_ok(r) == BdatParams{size, last});
  } else {
    check_reply(expect_error(r), 501, "5.5.4");
  }
}

TEST_CASE("EHLO and HELO arguments", "[command][ehlo]") {
  auto [arg, code, enhanced] = GENERATE(table<std::string, int, std::string>({
      {"mx.example", 0, ""},
      {"  mx.example  ", 0, ""},
      {"localhost", 0, ""},
      {"host_name.example", 0, ""},
      {"[192.0.2.1]", 0, ""},
      {"[IPv6:2001:db8::1]", 0, ""},
      {"b\xc3\xbc"
       "cher.example",
       0, ""},
      // Negative rows.
      {"", 501, "5.5.4"},
      {"   ", 501, "5.5.4"},
      {"mx.example extra", 501, "5.5.2"},
      {"-bad.example", 501, "5.5.2"},
      {"a..b.example", 501, "5.5.2"},
      {"[192.0.2]", 501, "5.5.2"},
      {"[192.0.2.1", 501, "5.5.2"},
      {"x\x01y", 501, "5.5.2"},
      {"b\xff"
       "d.example",
       501, "5.5.2"},
  }));
  INFO("EHLO " << arg);
  auto r = parse_ehlo(arg);
  if (code == 0) {
    CHECK(expect_ok(r) == std::string(arg.find_first_not_of(' ') == std::string::npos
                                          ? ""
                                          : arg.substr(arg.find_first_not_of(' '),
                                                       arg.find_last_not_of(' ') -
                                                           arg.find_first_not_of(' ') + 1)));
  } else {
    check_reply(expect_error(r), code, enhanced);
  }
}

// ---- xtext ------------------------------------------------------------------------------

TEST_CASE("xtext is validated and decoded per RFC 3461 4", "[command][xtext]") {
  auto [text, valid, decoded] = GENERATE(table<std::string, bool, std::string>({
      {"", true, ""},
      {"abc", true, "abc"},
      {"a+2Bb", true, "a+b"},
      {"+3D+2B+20", true, "=+ "},
      {"!~", true, "!~"},
      // Negative rows.
      {"a+2", false, ""},
      {"a+", false, ""},
      {"a+2b", false, ""},  // lower-case hex
      {"a+GG", false, ""},
      {"a=b", false, ""},
      {"a b", false, ""},
      {"a\x7f", false, ""},
      {"\xc3\xa9", false, ""},
  }));
  INFO("xtext: " << text);
  CHECK(is_xtext(text) == valid);
  const auto d = decode_xtext(text);
  CHECK(d.has_value() == valid);
  if (valid && d) CHECK(*d == decoded);
}

TEST_CASE("encode_xtext round-trips every octet", "[command][xtext]") {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  const std::string enc = encode_xtext(all);
  CHECK(is_xtext(enc));
  CHECK(decode_xtext(enc) == all);
  CHECK(encode_xtext("a+b=c d") == "a+2Bb+3Dc+20d");
}

TEST_CASE("a pipelined command group is read and parsed in order", "[command][reader]") {
  const std::string group =
      "MAIL FROM:<a@b.example> BODY=8BITMIME\r\nRCPT TO:<c@d.example> NOTIFY=NEVER\r\n"
      "RCPT TO:<Postmaster>\r\nDATA\r\n";
  for (std::size_t cut = 0; cut <= group.size(); ++cut) {
    INFO("split at " << cut);
    const auto lines = read_lines(group, {cut});
    REQUIRE(lines.size() == 4);
    const auto& m = expect_ok(parse_command(lines[0]));
    REQUIRE(m.verb == Verb::Mail);
    CHECK(expect_ok(parse_mail(m.arg)).body == MailParams::Body::EightBitMime);
    const auto& r1 = expect_ok(parse_command(lines[1]));
    REQUIRE(r1.verb == Verb::Rcpt);
    CHECK(expect_ok(parse_rcpt(r1.arg)).notify == "NEVER");
    CHECK(expect_ok(parse_rcpt(expect_ok(parse_command(lines[2])).arg)).forward_path ==
          "Postmaster");
    CHECK(expect_ok(parse_command(lines[3])).verb == Verb::Data);
  }
}
