// The reply parser: whole replies, multi-line replies, enhanced status codes, and the
// negative cases that must be called "not SMTP" rather than buffered or guessed at.
#include <catch2/catch.hpp>

#include "common/smtp_reply.hpp"

using namespace tlsrelay;

TEST_CASE("replies parse into code, enhanced code and lines", "[reply]") {
  using Row = std::tuple<std::string, int, std::string, std::size_t>;
  auto [text, code, enhanced, lines] = GENERATE(table<std::string, int, std::string, std::size_t>({
      Row{"220 mx.example.net ESMTP Postfix\r\n", 220, "", 1},
      Row{"250-mx.example.net\r\n250-PIPELINING\r\n250 STARTTLS\r\n", 250, "", 3},
      Row{"454 4.7.0 TLS not available due to local problem\r\n", 454, "4.7.0", 1},
      Row{"535-5.7.8 Username and Password not accepted.\r\n535 5.7.8 Learn more\r\n", 535, "5.7.8",
          2},
      Row{"250\r\n", 250, "", 1},
      Row{"220 ok\n", 220, "", 1},                      // bare LF tolerated from servers
      Row{"550 4.7.1 class mismatch\r\n", 550, "", 1},  // 4.x.x on a 5xx is not enhanced
      Row{"250 2.1.0x not enhanced\r\n", 250, "", 1},
  }));
  INFO(text);
  auto r = parse_reply_text(text);
  REQUIRE(r.has_value());
  CHECK(r->code == code);
  CHECK(r->enhanced == enhanced);
  CHECK(r->lines.size() == lines);
}

TEST_CASE("text that is not an SMTP reply is refused, with a reason", "[reply]") {
  auto [text, why] = GENERATE(table<std::string, std::string>({
      {"SSH-2.0-OpenSSH_9.2p1\r\n", "not an SMTP reply line"},
      {"HTTP/1.1 400 Bad Request\r\n", "not an SMTP reply line"},
      {"25\r\n", "not an SMTP reply line"},
      {"2500 too long a code\r\n", "not an SMTP reply line"},
      {"650 six hundred\r\n", "not an SMTP reply line"},
      {"250-first\r\n251 second\r\n", "changed its code"},
  }));
  INFO(text);
  ReplyParser p;
  ReplyParser::Status last = ReplyParser::Status::NeedMore;
  std::string_view rest = text;
  while (!rest.empty() && last == ReplyParser::Status::NeedMore) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    rest.remove_prefix(nl + 1);
    last = p.feed(line);
  }
  CHECK(last == ReplyParser::Status::NotSmtp);
  CHECK(p.error().find(why) != std::string::npos);
}

TEST_CASE("a hostile server cannot make a reply grow without bound", "[reply][limits]") {
  ReplyParser p;
  SECTION("too many lines") {
    ReplyParser::Status s = ReplyParser::Status::NeedMore;
    std::size_t fed = 0;
    while (s == ReplyParser::Status::NeedMore && fed < 10 * kMaxReplyLines) {
      s = p.feed("250-XEXTENSION");
      ++fed;
    }
    CHECK(s == ReplyParser::Status::NotSmtp);
    CHECK(fed == kMaxReplyLines + 1);
  }
  SECTION("too long a line") {
    CHECK(p.feed("250 " + std::string(kMaxReplyLine, 'a')) == ReplyParser::Status::NotSmtp);
  }
}

TEST_CASE("looks_like_smtp_reply recognises a reply's first bytes", "[reply]") {
  CHECK(looks_like_smtp_reply("220 mx ESMTP"));
  CHECK(looks_like_smtp_reply("250-mx"));
  CHECK(looks_like_smtp_reply("554\r\n"));
  CHECK_FALSE(looks_like_smtp_reply("\x16\x03\x01"));
  CHECK_FALSE(looks_like_smtp_reply("SSH-2.0"));
  CHECK_FALSE(looks_like_smtp_reply("22"));
}
