#include "proxy/cli/dane_match.hpp"

#include <algorithm>

#include "common/text.hpp"

namespace tlsrelay::proxy {

namespace {

bool tlsa_is_hex(std::string_view s) {
  for (char c : s) {
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) return false;
  }
  return true;
}

// Why a record cannot be used by an SMTP client, or "" when it can.
std::string tlsa_unusable_reason(const TlsaRecord& r) {
  switch (r.usage) {
    case 0:
    case 1:
      // RFC 7672 3.1.3: SMTP clients have no agreed set of public CAs, so PKIX-TA and
      // PKIX-EE records are unusable; a server must publish DANE-TA or DANE-EE.
      return "usage " + std::to_string(r.usage) + (r.usage == 0 ? " (PKIX-TA)" : " (PKIX-EE)") +
             " is unusable for SMTP (RFC 7672 3.1.3)";
    case 2:
    case 3:
      break;
    default:
      return "unknown usage " + std::to_string(r.usage);
  }
  if (r.selector > 1) return "unknown selector " + std::to_string(r.selector);
  if (r.mtype > 2) return "unknown matching type " + std::to_string(r.mtype);
  if (r.data_hex.empty()) return "no association data";
  if (!tlsa_is_hex(r.data_hex) || r.data_hex.size() % 2 != 0) return "the data is not hex";
  // RFC 6698 2.1.3: the data of types 1 and 2 is a SHA-256 or SHA-512 digest; of another
  // length it can match no certificate, so it is a publishing mistake, not a mismatch.
  const std::size_t octets = r.data_hex.size() / 2;
  if (r.mtype == 1 && octets != 32) {
    return "wrong length: " + std::to_string(octets) + " octets, SHA-256 needs 32";
  }
  if (r.mtype == 2 && octets != 64) {
    return "wrong length: " + std::to_string(octets) + " octets, SHA-512 needs 64";
  }
  return {};
}

// The digest of `c` the record is about: whole certificate or SubjectPublicKeyInfo
// (RFC 6698 2.1.2), SHA-256 or SHA-512 (2.1.3).
const std::string& tlsa_digest_of(const tls::CertFacts& c, const TlsaRecord& r) {
  if (r.selector == 0) return r.mtype == 1 ? c.sha256 : c.sha512;
  return r.mtype == 1 ? c.spki_sha256 : c.spki_sha512;
}

}  // namespace

std::string to_string(const TlsaRecord& r) {
  std::string s =
      std::to_string(r.usage) + " " + std::to_string(r.selector) + " " + std::to_string(r.mtype);
  if (!r.data_hex.empty()) s += " " + r.data_hex;
  return s;
}

namespace {

bool dane_name_matches(std::string_view san, std::string_view host) {
  if (iequals(san, host)) return true;
  // RFC 6125 6.4.3 as Postfix applies it: "*." stands for exactly one left-most label.
  if (san.size() < 3 || san.substr(0, 2) != "*.") return false;
  const auto dot = host.find('.');
  return dot != std::string_view::npos && dot > 0 && iequals(san.substr(1), host.substr(dot));
}

// Why a DANE-TA match at `depth` does not authenticate `host`, or "".
std::string dane_ta_problem(const std::vector<tls::CertFacts>& chain, std::size_t depth,
                            std::string_view host) {
  const auto& leaf = chain.front();
  const bool named = std::any_of(leaf.san.begin(), leaf.san.end(),
                                 [&](const std::string& n) { return dane_name_matches(n, host); });
  if (!named) return "the leaf does not name " + std::string(host);
  for (std::size_t i = 0; i < depth; ++i) {
    if (chain[i].issuer != chain[i + 1].subject) {
      return "certificate " + std::to_string(i) + " (" + chain[i].subject +
             ") is not issued by the next one sent (" + chain[i + 1].subject + ")";
    }
  }
  return {};
}

}  // namespace

DaneMatch match_tlsa(const std::vector<TlsaRecord>& records,
                     const std::vector<tls::CertFacts>& chain, std::string_view host) {
  DaneMatch m;
  std::vector<const TlsaRecord*> comparable;
  bool exact_only = false;  // a usable record of matching type 0, which is not compared
  for (const TlsaRecord& r : records) {
    const std::string why = tlsa_unusable_reason(r);
    if (!why.empty()) {
      m.unusable.push_back(to_string(r) + ": " + why);
      continue;
    }
    ++m.usable;
    if (r.mtype == 0) {
      exact_only = true;
    } else {
      comparable.push_back(&r);
    }
  }
  if (m.usable == 0) {
    m.outcome = DaneMatch::Outcome::NoUsableRecords;
    return m;
  }
  if (chain.empty() || comparable.empty()) {
    m.outcome = DaneMatch::Outcome::NotChecked;
    return m;
  }
  for (const TlsaRecord* r : comparable) {
    // DANE-EE binds the leaf only (RFC 7672 3.1.1); DANE-TA a certificate the server sent
    // above it (RFC 7671 5.2.2), never the leaf itself.
    const std::size_t from = r->usage == 3 ? 0 : 1;
    const std::size_t to = r->usage == 3 ? 1 : chain.size();
    for (std::size_t depth = from; depth < to && depth < chain.size(); ++depth) {
      const std::string& digest = tlsa_digest_of(chain[depth], *r);
      if (!digest.empty() && iequals(digest, r->data_hex)) {
        if (r->usage == 2) {
          std::string problem = dane_ta_problem(chain, depth, host);
          if (!problem.empty()) {
            if (m.ta_problem.empty()) m.ta_problem = to_string(*r) + ": " + problem;
            continue;
          }
        }
        m.outcome = DaneMatch::Outcome::Matched;
        m.matched = to_string(*r);
        m.matched_depth = static_cast<int>(depth);
        return m;
      }
    }
  }
  // A type-0 record was not compared: it might have matched, so "would not deliver" is not
  // a claim this check can make.
  m.outcome = exact_only ? DaneMatch::Outcome::NotChecked : DaneMatch::Outcome::NotMatched;
  return m;
}

}  // namespace tlsrelay::proxy
