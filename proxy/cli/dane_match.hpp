// DANE for SMTP (RFC 7672) as `tlsrelay audit --mx` checks it: which of an MX host's TLSA
// records (RFC 6698) match the chain the server sent. Pure: the digests come from the
// connector's CertFacts (tls/attempt.hpp), taken in the handshake.
// Limits: matching type 0 (the full certificate or key, rare and discouraged by RFC 7671
// 10.1.2) is not compared: such a record is "not checked". DANE-TA (usage 2) is judged
// on the chain as sent (RFC 7671 5.2.2: the server must send the trust anchor), not on a
// chain built from it. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tls/attempt.hpp"

namespace tlsrelay::proxy {

struct TlsaRecord {
  std::uint8_t usage = 0;     // 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE
  std::uint8_t selector = 0;  // 0 whole certificate, 1 SubjectPublicKeyInfo
  std::uint8_t mtype = 0;     // 0 exact, 1 SHA-256, 2 SHA-512
  std::string data_hex;       // lower-case hex of the association data
};
// "3 1 1 abcd..." (dig's presentation form).
std::string to_string(const TlsaRecord& r);

struct DaneMatch {
  enum class Outcome {
    NoUsableRecords,  // every record is unusable for SMTP: usage 0/1 (RFC 7672 3.1.3),
                      // unknown usage, selector or matching type, or data of the wrong length
    Matched,          // a usable record matches a certificate of the chain as sent
    NotMatched,       // usable records exist, none matches: a DANE client would not deliver
    NotChecked,       // no usable record matched but a matching type 0 one might have (it
                      // is not compared), or no chain was seen
  };
  Outcome outcome = Outcome::NoUsableRecords;
  int usable = 0;          // records usable for SMTP (usage 2 or 3, selector 0/1, mtype 0-2)
  std::string matched;     // the record that matched, to_string() form
  int matched_depth = -1;  // 0 = the leaf, 1 = the next certificate sent, ...
  std::vector<std::string> unusable;  // one line per unusable record: the record and why
  // A DANE-TA digest matched but the leaf does not name the host or the chain does not
  // lead up to the matched certificate: why, one line ("" when no such case).
  std::string ta_problem;
};

// DANE-EE (3) matches only the leaf (depth 0); names and dates are not part of it (RFC
// 7672 3.1.1). DANE-TA (2) matches a certificate after the leaf, and then the leaf must
// name `host` (a DNS subjectAltName, "*." for one label; RFC 7672 3.2.2-3.2.3) and each
// certificate up to the matched one must name the next as its issuer (RFC 7671 5.2.2).
// The issuer links are compared by name: signatures are OpenSSL's to check in the
// handshake, not this function's.
DaneMatch match_tlsa(const std::vector<TlsaRecord>& records,
                     const std::vector<tls::CertFacts>& chain, std::string_view host);

}  // namespace tlsrelay::proxy
