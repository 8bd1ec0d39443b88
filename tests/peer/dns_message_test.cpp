// Self-test of the DNS wire format and the zone rules: malformed packets never read past the
// buffer and get the documented treatment; answers carry the documented flags and records.

#include "dns_message.hpp"
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
