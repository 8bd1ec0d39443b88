// Self-test of the DNS wire format and the zone rules: malformed packets never read past the
// buffer and get the documented treatment; answers carry the documented flags and records.

#include "dns_message.hpp"
#include "cli_options.hpp"
#include "dns_zone.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace tlsrelay;
using namespace tlsrelay::testpeer;

namespace {

std::string u16(unsigned v) {
  return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}

std::string query_packet(const std::string& wire_name, unsigned qtype, unsigned qd = 1,
                         unsigned flags = 0x0100, bool edns = false) {
  std::string p = u16(0xbeef) + u16(flags) + u16(qd) + u16(0) + u16(0) + u16(edns ? 1 : 0);
  p += wire_name + u16(qtype) + u16(1);
  if (edns) p += std::string(1, '\0') + u16(41) + u16(1232) + std::string(4, '\0') + u16(0);
  return p;
}

const std::string kMxTest("\x02mx\x04test\x00", 9);
const std::string kMxTestMixedCase("\x02MX\x04Test\x00", 9);

// Five labels of 63 octets: 321 octets on the wire, over RFC 1035's 255.
std::string long_name() {
  std::string name;
  for (int i = 0; i < 5; ++i) name += '\x3f' + std::string(63, 'a');
  return name + '\0';
}

unsigned rcode_of(const std::string& reply) {
  return static_cast<unsigned char>(reply[3]) & 0xf;
}

bool ad_of(const std::string& reply) {
  return (static_cast<unsigned char>(reply[3]) & 0x20) != 0;
}

std::string bytes(std::initializer_list<unsigned> octets) {
  std::string out;
  for (const unsigned octet : octets) out += static_cast<char>(octet);
  return out;
}

// What the peer sends for a plain (RD, no EDNS) query of name and type against zone.
std::string respond(const DnsZone& zone, const char* name, unsigned qtype,
                    DnsTransport transport = DnsTransport::Udp) {
  const DnsParse parsed = parse_dns_query(query_packet(to_wire(parse_dns_name(name)), qtype));
  REQUIRE(parsed.outcome == DnsParse::Outcome::Query);
  const auto answer = zone.lookup(lower_labels(parsed.query.labels), parsed.query.qtype);
  return build_dns_response(parsed.query, answer.rcode, answer.records,
                            {.transport = transport, .authentic_data = answer.authentic});
}

// Header (id 0xbeef, QR AA RD plus extra flags, one question) and the question, for expected
// responses; the answers follow it.
std::string response_head(const char* name, unsigned qtype, unsigned an, unsigned extra_flags = 0) {
  return u16(0xbeef) + u16(0x8500 | extra_flags) + u16(1) + u16(an) + u16(0) + u16(0) +
         to_wire(parse_dns_name(name)) + u16(qtype) + u16(1);
}

// One answer record: the name is a pointer to the question, class IN, TTL 5.
std::string answer_record(unsigned type, const std::string& rdata) {
  return u16(0xc00c) + u16(type) + u16(1) + u16(0) + u16(5) + u16(rdata.size()) + rdata;
}

const std::string kDigest32 = std::string(32, '\xab');

}  // namespace

TEST_CASE("a well-formed query parses with its question and EDNS", "[dns]") {
  const DnsParse parsed = parse_dns_query(query_packet(kMxTest, dns::kTypeAaaa, 1, 0x0100, true));
  REQUIRE(parsed.outcome == DnsParse::Outcome::Query);
  CHECK(parsed.query.id == 0xbeef);
  CHECK(parsed.query.labels == std::vector<std::string>{"mx", "test"});
  CHECK(parsed.query.qtype == dns::kTypeAaaa);
  CHECK(parsed.query.edns);
  CHECK(parsed.query.edns_payload == 1232);
}

TEST_CASE("malformed packets are dropped or answered with an error rcode", "[dns]") {
  using O = DnsParse::Outcome;
  auto [label, packet, outcome, rcode] = GENERATE(table<const char*, std::string, O, unsigned>({
      {"empty", "", O::Ignore, 0},
      {"shorter than a header", std::string(11, '\0'), O::Ignore, 0},
      {"a response", query_packet(kMxTest, 1, 1, 0x8100), O::Ignore, 0},
      {"opcode STATUS", query_packet(kMxTest, 1, 1, 0x1000), O::Reply, dns::NotImp},
      {"no question", query_packet("", 1, 0).substr(0, 12), O::Reply, dns::FormErr},
      {"two questions", query_packet(kMxTest, 1, 2), O::Reply, dns::FormErr},
      {"pointer in the question", query_packet("\xc0\x0c", 1), O::Reply, dns::FormErr},
      {"label runs past the end",
       query_packet("", 1).substr(0, 12) + "\x3f"
                                           "abc",
       O::Reply, dns::FormErr},
      {"name longer than 255", query_packet(long_name(), 1), O::Reply, dns::FormErr},
  }));
  INFO(label);
  const DnsParse parsed = parse_dns_query(packet);
  CHECK(parsed.outcome == outcome);
  if (outcome == O::Reply) CHECK(rcode_of(parsed.error_reply) == rcode);
}

TEST_CASE("every truncation of a query is handled without reading past it", "[dns]") {
  const std::string full = query_packet(kMxTest, dns::kTypeA, 1, 0x0100, true);
  const std::size_t question_end = 12 + kMxTest.size() + 4;
  for (std::size_t n = 0; n < full.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    const DnsParse parsed = parse_dns_query(full.substr(0, n));
    // A cut OPT record only loses EDNS; a cut question is never taken for a query.
    CHECK((parsed.outcome == DnsParse::Outcome::Query) == (n >= question_end));
    if (parsed.outcome == DnsParse::Outcome::Query) CHECK_FALSE(parsed.query.edns);
  }
}

TEST_CASE("a response echoes id, RD and the question, sets QR and AA, TTL 5", "[dns]") {
  const DnsParse parsed = parse_dns_query(query_packet(kMxTestMixedCase, dns::kTypeA));
  REQUIRE(parsed.outcome == DnsParse::Outcome::Query);
  const std::string reply = build_dns_response(parsed.query, dns::NoError,
                                               {{dns::kTypeA, std::string("\x7f\0\0\x01", 4)}});
  const std::string expected = u16(0xbeef) + u16(0x8500) + u16(1) + u16(1) + u16(0) + u16(0) +
                               kMxTestMixedCase + u16(1) + u16(1) + u16(0xc00c) + u16(1) + u16(1) +
                               u16(0) + u16(5) + u16(4) + std::string("\x7f\0\0\x01", 4);
  CHECK(reply == expected);
}

TEST_CASE("answers that do not fit 512 octets are dropped and TC is set", "[dns]") {
  const DnsParse parsed = parse_dns_query(query_packet(kMxTest, dns::kTypeAaaa));
  std::vector<DnsRecord> many(20, DnsRecord{dns::kTypeAaaa, std::string(16, '\1')});
  const std::string reply = build_dns_response(parsed.query, dns::NoError, many);
  CHECK(reply.size() <= 512);
  CHECK((static_cast<unsigned char>(reply[2]) & 0x02) != 0);
  CHECK(reply.substr(6, 2) == u16(0));
}

TEST_CASE("zone rules: precedence, subtrees, NODATA and case", "[dns]") {
  DnsZone zone;
  zone.add_a(parse_dns_name("mx.test"), {127, 0, 0, 1});
  zone.add_a(parse_dns_name("in.gone.test"), {127, 0, 0, 2});
  zone.add_nxdomain(parse_dns_name("gone.test."));
  zone.add_servfail(parse_dns_name("broken.test"));
  zone.add_nxdomain(parse_dns_name("broken.test"));
  zone.add_nodata(parse_dns_name("empty.test"));

  auto [name, qtype, rcode, answers] = GENERATE(table<const char*, unsigned, unsigned, size_t>({
      {"mx.test", dns::kTypeA, dns::NoError, 1},
      {"MX.TEST.", dns::kTypeA, dns::NoError, 1},
      {"mx.test", dns::kTypeAaaa, dns::NoError, 0},
      {"mx.test", dns::kTypeAny, dns::NoError, 1},
      {"sub.mx.test", dns::kTypeA, dns::NxDomain, 0},
      {"gone.test", dns::kTypeA, dns::NxDomain, 0},
      {"in.gone.test", dns::kTypeA, dns::NxDomain, 0},
      {"broken.test", dns::kTypeA, dns::ServFail, 0},
      {"a.b.broken.test", dns::kTypeAaaa, dns::ServFail, 0},
      {"empty.test", dns::kTypeA, dns::NoError, 0},
      {"other.test", dns::kTypeA, dns::NxDomain, 0},
  }));
  INFO(name << " type " << qtype);
  const auto answer = zone.lookup(parse_dns_name(name), static_cast<std::uint16_t>(qtype));
  CHECK(answer.rcode == rcode);
  CHECK(answer.records.size() == answers);
}

TEST_CASE("names with empty labels are invalid", "[dns]") {
  CHECK(parse_dns_name("a..b").empty());
  CHECK(parse_dns_name(".a").empty());
  CHECK(parse_dns_name("").empty());
  CHECK(parse_dns_name("A.b.") == DnsName{"a", "b"});
}

TEST_CASE("an MX answer carries the preference and the exchange uncompressed", "[dns]") {
  DnsZone zone;
  zone.add_mx(parse_dns_name("example.test"), 10, parse_dns_name("mx.example.test"));
  zone.add_mx(parse_dns_name("example.test"), 20, parse_dns_name("backup.test"));
  const std::string expected = response_head("example.test", dns::kTypeMx, 2) +
                               answer_record(dns::kTypeMx, u16(10) +
                                                               "\x02mx\x07"
                                                               "example\x04test" +
                                                               std::string(1, '\0')) +
                               answer_record(dns::kTypeMx, u16(20) +
                                                               "\x06"
                                                               "backup\x04test" +
                                                               std::string(1, '\0'));
  CHECK(respond(zone, "example.test", dns::kTypeMx) == expected);
}

TEST_CASE("a Null MX is preference 0 and the root as exchange (RFC 7505)", "[dns]") {
  DnsZone zone;
  zone.add_mx(parse_dns_name("nomail.test"), 0, DnsName{});
  const std::string expected =
      response_head("nomail.test", dns::kTypeMx, 1) + answer_record(dns::kTypeMx, bytes({0, 0, 0}));
  CHECK(respond(zone, "nomail.test", dns::kTypeMx) == expected);
}

TEST_CASE("a TXT value is one record of character-strings of at most 255 octets", "[dns]") {
  DnsZone zone;
  const std::string sts = "v=STSv1; id=20261207";
  const std::string long_value = std::string(255, 'a') + std::string(45, 'b');
  zone.add_txt(parse_dns_name("_mta-sts.example.test"), sts);
  zone.add_txt(parse_dns_name("long.test"), long_value);
  zone.add_txt(parse_dns_name("empty.test"), "");

  SECTION("a short value is one string") {
    const std::string expected = response_head("_mta-sts.example.test", dns::kTypeTxt, 1) +
                                 answer_record(dns::kTypeTxt, static_cast<char>(sts.size()) + sts);
    CHECK(respond(zone, "_mta-sts.example.test", dns::kTypeTxt) == expected);
  }
  SECTION("300 octets are two strings, 255 and 45, in one record") {
    const std::string expected = response_head("long.test", dns::kTypeTxt, 1) +
                                 answer_record(dns::kTypeTxt, "\xff" + std::string(255, 'a') +
                                                                  "\x2d" + std::string(45, 'b'));
    CHECK(respond(zone, "long.test", dns::kTypeTxt) == expected);
  }
  SECTION("an empty value is one empty string, never empty RDATA") {
    const std::string expected = response_head("empty.test", dns::kTypeTxt, 1) +
                                 answer_record(dns::kTypeTxt, std::string(1, '\0'));
    CHECK(respond(zone, "empty.test", dns::kTypeTxt) == expected);
  }
}

TEST_CASE("several TXT values at one name are several records", "[dns]") {
  DnsZone zone;
  zone.add_txt(parse_dns_name("example.test"), "v=spf1 -all");
  zone.add_txt(parse_dns_name("example.test"), "other");
  const auto answer = zone.lookup(parse_dns_name("example.test"), dns::kTypeTxt);
  REQUIRE(answer.records.size() == 2);
  CHECK(answer.records[0].rdata == "\x0bv=spf1 -all");
  CHECK(answer.records[1].rdata == "\x05other");
}

TEST_CASE("a TLSA answer at an underscore name is usage, selector, type, data", "[dns]") {
  DnsZone zone;
  const DnsName name = parse_dns_name("_25._tcp.mx.example.test");
  REQUIRE(name == DnsName{"_25", "_tcp", "mx", "example", "test"});
  zone.add_tlsa(name, 3, 1, 1, kDigest32);
  const std::string record = answer_record(dns::kTypeTlsa, bytes({3, 1, 1}) + kDigest32);
  CHECK(respond(zone, "_25._tcp.mx.example.test", dns::kTypeTlsa) ==
        response_head("_25._tcp.mx.example.test", dns::kTypeTlsa, 1) + record);
}

TEST_CASE("AD is set on NOERROR answers at or under an --ad name, and only there", "[dns]") {
  DnsZone zone;
  zone.add_mx(parse_dns_name("example.test"), 10, parse_dns_name("mx.example.test"));
  zone.add_tlsa(parse_dns_name("_25._tcp.mx.example.test"), 3, 1, 1, kDigest32);
  zone.add_mx(parse_dns_name("unsigned.test"), 10, parse_dns_name("mx.unsigned.test"));
  zone.add_nodata(parse_dns_name("nodata.example.test"));
  zone.add_servfail(parse_dns_name("bogus.example.test"));
  zone.add_authentic(parse_dns_name("example.test"));

  auto [name, qtype, rcode, ad] = GENERATE(table<const char*, unsigned, unsigned, bool>({
      {"example.test", dns::kTypeMx, dns::NoError, true},
      {"_25._tcp.mx.example.test", dns::kTypeTlsa, dns::NoError, true},
      {"example.test", dns::kTypeA, dns::NoError, true},  // NODATA from a known name
      {"nodata.example.test", dns::kTypeTxt, dns::NoError, true},
      {"missing.example.test", dns::kTypeMx, dns::NxDomain, false},
      {"bogus.example.test", dns::kTypeMx, dns::ServFail, false},
      {"unsigned.test", dns::kTypeMx, dns::NoError, false},
      {"notexample.test", dns::kTypeMx, dns::NxDomain, false},
  }));
  INFO(name << " type " << qtype);
  const std::string reply = respond(zone, name, qtype);
  CHECK(rcode_of(reply) == rcode);
  CHECK(ad_of(reply) == ad);
  CHECK(reply.substr(2, 2) == u16(0x8500 | rcode | (ad ? 0x20 : 0)));  // QR AA RD, no RA
}

TEST_CASE("a CNAME is the only answer at its name, for every type", "[dns]") {
  DnsZone zone;
  zone.add_cname(parse_dns_name("alias.test"), parse_dns_name("mx.test"));
  zone.add_a(parse_dns_name("mx.test"), {127, 0, 0, 1});
  for (const unsigned qtype : {dns::kTypeA, dns::kTypeMx, dns::kTypeCname, dns::kTypeAny}) {
    INFO("type " << qtype);
    const std::string expected =
        response_head("alias.test", qtype, 1) +
        answer_record(dns::kTypeCname, "\x02mx\x04test" + std::string(1, '\0'));
    CHECK(respond(zone, "alias.test", qtype) == expected);
  }
}

TEST_CASE("over TCP nothing is truncated below 65535 octets, and the length leads", "[dns]") {
  DnsZone zone;
  for (int i = 0; i < 40; ++i)
    zone.add_tlsa(parse_dns_name("_25._tcp.mx.test"), 3, 1, 1, kDigest32);
  const std::string udp = respond(zone, "_25._tcp.mx.test", dns::kTypeTlsa);
  CHECK((static_cast<unsigned char>(udp[2]) & 0x02) != 0);
  const std::string tcp = respond(zone, "_25._tcp.mx.test", dns::kTypeTlsa, DnsTransport::Tcp);
  CHECK((static_cast<unsigned char>(tcp[2]) & 0x02) == 0);
  CHECK(tcp.substr(6, 2) == u16(40));
  CHECK(tcp.size() > 512);
  CHECK(frame_for_tcp(tcp) == u16(tcp.size()) + tcp);
}

TEST_CASE("names over 255 octets on the wire are invalid", "[dns]") {
  std::string name;
  for (int i = 0; i < 4; ++i) name += std::string(62, 'a') + ".";
  CHECK(parse_dns_name(name).size() == 4);     // 4 * 63 + 1 = 253 octets
  CHECK(parse_dns_name(name + "bc").empty());  // 256 octets
  CHECK(to_wire(DnsName{}) == std::string(1, '\0'));
}

TEST_CASE("dns record options: syntax and errors", "[dns]") {
  auto [args, name, qtype, rdata, error] = GENERATE(
      table<std::vector<std::string_view>, const char*, unsigned, std::string, const char*>({
          {{"--mx", "example.test=10:mx.example.test"},
           "example.test",
           dns::kTypeMx,
           u16(10) +
               "\x02mx\x07"
               "example\x04test" +
               std::string(1, '\0'),
           ""},
          {{"--mx=example.test=0:."}, "example.test", dns::kTypeMx, bytes({0, 0, 0}), ""},
          {{"--txt", "_mta-sts.example.test=v=STSv1; id=1"},
           "_mta-sts.example.test",
           dns::kTypeTxt,
           "\x0dv=STSv1; id=1",
           ""},
          {{"--tlsa", "_25._tcp.mx.test=3:1:1:aBcD"},
           "_25._tcp.mx.test",
           dns::kTypeTlsa,
           bytes({3, 1, 1, 0xab, 0xcd}),
           ""},
          {{"--cname", "www.test=mx.test"},
           "www.test",
           dns::kTypeA,
           "\x02mx\x04test" + std::string(1, '\0'),
           ""},
          {{"--mx", "example.test"}, "", 0, "", "--mx wants NAME=PREF:HOST"},
          {{"--mx", "example.test=mx.test"}, "", 0, "", "--mx wants NAME=PREF:HOST"},
          {{"--mx", "example.test=65536:mx.test"}, "", 0, "", "--mx wants a number"},
          {{"--mx", "example.test=10:a..b"}, "", 0, "", "--mx: bad name 'a..b'"},
          {{"--tlsa", "x.test=3:1:1"}, "", 0, "", "--tlsa wants NAME=USAGE:SELECTOR"},
          {{"--tlsa", "x.test=3:1:1:"}, "", 0, "", "hex digits, got ''"},
          {{"--tlsa", "x.test=3:1:1:abc"}, "", 0, "", "hex digits, got 'abc'"},
          {{"--tlsa", "x.test=3:1:1:zz"}, "", 0, "", "hex digits, got 'zz'"},
          {{"--tlsa", "x.test=256:1:1:ab"}, "", 0, "", "--tlsa wants a number from 0 to 255"},
          {{"--cname", "x.test=."}, "", 0, "", "--cname: bad name '.'"},
          {{"--ad", "a..test"}, "", 0, "", "--ad: bad name"},
      }));
  INFO(args.front());
  if (*error == '\0') {
    const DnsPeerOptions options = parse_dns_options(args);
    const auto answer =
        options.zone.lookup(parse_dns_name(name), static_cast<std::uint16_t>(qtype));
    REQUIRE(answer.records.size() == 1);
    CHECK(answer.records[0].rdata == rdata);
  } else {
    CHECK_THROWS_WITH(parse_dns_options(args), Catch::Contains(error));
  }
}

TEST_CASE("--ad covers its subtree, --ad . everything; --no-tcp turns TCP off", "[dns]") {
  const DnsPeerOptions options = parse_dns_options(
      {"--mx", "a.test=10:mx.a.test", "--mx", "b.test=10:mx.b.test", "--ad", "a.test", "--no-tcp"});
  CHECK(options.zone.lookup(parse_dns_name("a.test"), dns::kTypeMx).authentic);
  CHECK_FALSE(options.zone.lookup(parse_dns_name("b.test"), dns::kTypeMx).authentic);
  CHECK_FALSE(options.tcp);
  const DnsPeerOptions all = parse_dns_options({"--mx", "b.test=10:mx.b.test", "--ad", "."});
  CHECK(all.zone.lookup(parse_dns_name("b.test"), dns::kTypeMx).authentic);
  CHECK(all.tcp);
}
