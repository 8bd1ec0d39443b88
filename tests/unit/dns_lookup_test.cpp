// audit --mx's DNS answer reader (proxy/cli/dns_lookup.hpp): response messages written out
// byte by byte as RFC 1035 4.1 lays them out, with name compression, the AD bit, several
// TXT character-strings, TLSA data, a CNAME on the way, and messages that do not parse.
#include <catch2/catch.hpp>
#include <string>

#include "proxy/cli/dns_lookup.hpp"

using namespace tlsrelay::proxy;

namespace {

// Header: id 1, QR RD RA (+AD), NOERROR, one question, `answers` answers.
std::string header(int answers, bool ad) {
  std::string h = {0,
                   1,
                   static_cast<char>(0x81),
                   static_cast<char>(ad ? 0xa0 : 0x80),
                   0,
                   1,
                   0,
                   static_cast<char>(answers),
                   0,
                   0,
                   0,
                   0};
  return h;
}

// "example.test" at offset 12, then QTYPE/QCLASS.
std::string question(int type) {
  std::string q =
      "\x07"
      "example\x04"
      "test";
  q += '\0';
  q += {0, static_cast<char>(type), 0, 1};
  return q;
}

// An answer record whose owner is a pointer to the question name.
std::string record(int type, const std::string& rdata) {
  std::string r = {
      static_cast<char>(0xc0),        12, 0, static_cast<char>(type), 0, 1, 0, 0, 0, 60, 0,
      static_cast<char>(rdata.size())};
  return r + rdata;
}

DnsAnswer parse(const std::string& msg, DnsType type, bool expect_ok = true) {
  DnsAnswer a;
  const bool ok = parse_dns_answer(reinterpret_cast<const unsigned char*>(msg.data()),
                                   static_cast<int>(msg.size()), type, a);
  REQUIRE(ok == expect_ok);
  return a;
}

}  // namespace

TEST_CASE("dns answer: MX with a compressed exchange, sorted later, AD read", "[dns-lookup]") {
  // MX 10 mx1.<example.test> (a pointer back to the question name) and MX 0 . (Null MX).
  std::string mx1 = {0, 10, 3, 'm', 'x', '1', static_cast<char>(0xc0), 12};
  std::string null_mx = {0, 0, 0};
  const std::string msg = header(2, true) + question(15) + record(15, mx1) + record(15, null_mx);
  DnsAnswer a = parse(msg, DnsType::Mx);
  REQUIRE(a.mx.size() == 2);
  CHECK(a.mx[0].preference == 10);
  CHECK(a.mx[0].host == "mx1.example.test");
  CHECK(a.mx[1].host.empty());
  CHECK(a.authentic);
  CHECK_FALSE(
      parse(header(2, false) + question(15) + record(15, mx1) + record(15, null_mx), DnsType::Mx)
          .authentic);
}

TEST_CASE("dns answer: TXT strings of one record are joined; records stay apart", "[dns-lookup]") {
  std::string split = "\x05v=STS\x0cv1; id=abc1;";
  std::string other = "\x0bhello world";
  DnsAnswer a =
      parse(header(2, false) + question(16) + record(16, split) + record(16, other), DnsType::Txt);
  REQUIRE(a.txt.size() == 2);
  CHECK(a.txt[0] == "v=STSv1; id=abc1;");
  CHECK(a.txt[1] == "hello world");
}

TEST_CASE("dns answer: TLSA usage, selector, type and data as hex; a CNAME skipped",
          "[dns-lookup]") {
  std::string tlsa = {3, 1, 1, static_cast<char>(0xab), static_cast<char>(0xcd), 0x01};
  std::string cname = {2, 'm', 'x', static_cast<char>(0xc0), 12};
  DnsAnswer a =
      parse(header(2, true) + question(52) + record(5, cname) + record(52, tlsa), DnsType::Tlsa);
  REQUIRE(a.tlsa.size() == 1);
  CHECK(a.tlsa[0].usage == 3);
  CHECK(a.tlsa[0].selector == 1);
  CHECK(a.tlsa[0].mtype == 1);
  CHECK(a.tlsa[0].data_hex == "abcd01");
}

TEST_CASE("dns answer: truncated or overlong data is refused, never read past the end",
          "[dns-lookup]") {
  // A TXT string claiming 9 octets where the record has 3.
  std::string bad_txt =
      "\x09"
      "abc";
  parse(header(1, false) + question(16) + record(16, bad_txt), DnsType::Txt, false);
  // An MX too short for its preference and name.
  parse(header(1, false) + question(15) + record(15, std::string(1, '\0')), DnsType::Mx, false);
  // A message cut inside its answer section.
  const std::string whole = header(1, false) + question(52) + record(52, "\x03\x01\x01\xaa");
  parse(whole.substr(0, whole.size() - 3), DnsType::Tlsa, false);
}
