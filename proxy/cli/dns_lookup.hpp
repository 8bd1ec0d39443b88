// DNS questions of `tlsrelay audit --mx`: MX, TXT and TLSA records through the C library's
// stub resolver (res_nquery, /etc/resolv.conf), with the AD bit of the answer.
//
// The AD bit (RFC 4035 3.2.3) means "my validating resolver checked the signatures"; glibc
// passes it on only when resolv.conf says `options trust-ad` (glibc 2.31), which is the
// admin's statement that the path to the resolver is trusted (RFC 7672 2.1.1 asks for a
// local validating resolver). DnsAnswer says which of the two is missing.
//
// Limits: blocking; at most kDnsTries tries of kDnsRetransSeconds per name server, cut
// to the caller's budget.
// Thread-safety: each call has its own resolver state; safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/cli/dane_match.hpp"

namespace tlsrelay::proxy {

constexpr int kDnsRetransSeconds = 3;
constexpr int kDnsTries = 2;

struct MxRecord {
  std::uint16_t preference = 0;
  std::string host;  // without the trailing dot; "" for a Null MX (RFC 7505: ".")
};

struct DnsAnswer {
  enum class Status {
    Ok,        // NOERROR with records of the type asked
    NoData,    // the name exists, without records of this type
    NxDomain,  // the name does not exist
    Failed,    // SERVFAIL, a time-out, REFUSED: no answer at all (in `error`)
  };
  Status status = Status::Failed;
  bool authentic = false;  // the answer carried AD and the C library kept it
  bool trust_ad = false;   // resolv.conf has `options trust-ad` (else AD is always dropped)
  std::string error;       // for Failed: one line
  std::vector<MxRecord> mx;
  std::vector<std::string> txt;  // one per record, its character-strings joined
  std::vector<TlsaRecord> tlsa;
  std::vector<std::string> addresses;  // A/AAAA, as text
  std::string cname;  // where a CNAME chain in the answer ends, without the dot; "" if none
};
std::string_view to_string(DnsAnswer::Status s);

enum class DnsType : std::uint16_t { A = 1, Mx = 15, Txt = 16, Aaaa = 28, Tlsa = 52 };

// `budget` bounds the whole question: each try's time-out is cut so that every try to every
// name server fits in it (1 s at least); under 1 s nothing is asked (Failed, "no time left").
DnsAnswer dns_lookup(const std::string& name, DnsType type,
                     std::chrono::milliseconds budget = std::chrono::seconds(60));

// The pure part, for tests: the records of `type` in a response message (RFC 1035 4.1).
// Returns false when the message does not parse.
bool parse_dns_answer(const unsigned char* message, int length, DnsType type, DnsAnswer& out);

}  // namespace tlsrelay::proxy
