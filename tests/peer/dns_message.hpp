// DNS wire format (RFC 1035 section 4) for the test DNS peer: parses a query's header and
// question without ever reading past the packet, and builds the response.
// Limits: one question per query (RFC 9619); compression pointers are refused in the
// question (a query has nothing to point back to); EDNS (RFC 6891) is noticed and answered
// with a bare OPT record, its options and the DO bit are ignored; AD is a flag the caller
// asks for, there are no DNSSEC records. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsrelay::testpeer {

namespace dns {
constexpr std::uint16_t kTypeA = 1;
constexpr std::uint16_t kTypeCname = 5;
constexpr std::uint16_t kTypeMx = 15;
constexpr std::uint16_t kTypeTxt = 16;
constexpr std::uint16_t kTypeAaaa = 28;
constexpr std::uint16_t kTypeOpt = 41;
constexpr std::uint16_t kTypeTlsa = 52;
constexpr std::uint16_t kTypeAny = 255;
constexpr std::uint16_t kClassIn = 1;
constexpr std::uint16_t kClassAny = 255;

enum Rcode : std::uint8_t {
  NoError = 0,
  FormErr = 1,
  ServFail = 2,
  NxDomain = 3,
  NotImp = 4,
  Refused = 5,
};
}  // namespace dns

struct DnsQuery {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::vector<std::string> labels;  // as sent, case preserved
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  std::string question;  // the question's wire bytes, echoed in the response
  bool edns = false;
  std::uint16_t edns_payload = 0;  // the client's UDP size from its OPT record
};

struct DnsRecord {
  std::uint16_t type = 0;
  std::string rdata;
};

struct DnsParse {
  enum class Outcome {
    Query,   // query is set: answer it
    Reply,   // malformed but answerable: send error_reply (FORMERR / NOTIMP)
    Ignore,  // too short to answer, or not a query at all: drop silently
  };
  Outcome outcome = Outcome::Ignore;
  DnsQuery query;
  std::string error_reply;
  std::string reason;  // for the log when not a Query
};

DnsParse parse_dns_query(std::string_view packet);

enum class DnsTransport { Udp, Tcp };

struct DnsResponseOptions {
  DnsTransport transport = DnsTransport::Udp;
  bool authentic_data = false;  // set AD, as a validating resolver does for a signed zone
};

// The answer records all carry the question's name (a pointer to offset 12) and TTL 5.
// When the response would exceed what the client can take (over UDP 512 octets, RFC 1035
// 4.2.1, or its EDNS size up to 1232; over TCP 65535), the answers are dropped and TC is set.
// The TCP length prefix is not included: see frame_for_tcp().
std::string build_dns_response(const DnsQuery& query, dns::Rcode rcode,
                               const std::vector<DnsRecord>& answers,
                               const DnsResponseOptions& options = {});

// RFC 1035 4.2.2: a message over TCP is preceded by its length in two octets.
std::string frame_for_tcp(std::string_view message);

std::string dns_type_name(std::uint16_t type);
std::string dns_rcode_name(dns::Rcode rcode);

}  // namespace tlsrelay::testpeer
