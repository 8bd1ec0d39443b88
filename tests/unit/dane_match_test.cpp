// DANE for SMTP as `tlsrelay audit --mx` judges it: which TLSA records (RFC 6698) are usable
// by an SMTP client (RFC 7672 3.1.3: DANE-TA and DANE-EE only), and whether one matches the
// chain the server sent — DANE-EE the leaf only, DANE-TA a certificate above it. The chain's
// digests are written by hand: each certificate gets its own hex digits.
#include <catch2/catch.hpp>

#include "proxy/cli/dane_match.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;

namespace {

// A certificate whose four digests are runs of the given hex digits:
// sha256, sha512, spki_sha256, spki_sha512.
tls::CertFacts dane_cert(std::string subject, char full256, char full512, char spki256,
                         char spki512) {
  tls::CertFacts c;
  c.subject = std::move(subject);
  c.sha256 = std::string(64, full256);
  c.sha512 = std::string(128, full512);
  c.spki_sha256 = std::string(64, spki256);
  c.spki_sha512 = std::string(128, spki512);
  return c;
}

// Leaf, intermediate, root: no digit shared, so a match names its certificate.
// Each certificate names the next as its issuer; the leaf names mx.example.com.
std::vector<tls::CertFacts> dane_chain() {
  std::vector<tls::CertFacts> chain = {dane_cert("CN=mx.example.com", 'a', 'b', 'c', 'd'),
                                       dane_cert("CN=Example Intermediate", '5', '6', '7', '8'),
                                       dane_cert("CN=Example Root", '1', '2', '9', 'e')};
  chain[0].san = {"mx.example.com"};
  chain[0].issuer = chain[1].subject;
  chain[1].issuer = chain[2].subject;
  chain[2].issuer = chain[2].subject;
  return chain;
}

constexpr std::string_view kDaneHost = "mx.example.com";

TlsaRecord dane_record(int usage, int selector, int mtype, std::string data) {
  return TlsaRecord{static_cast<std::uint8_t>(usage), static_cast<std::uint8_t>(selector),
                    static_cast<std::uint8_t>(mtype), std::move(data)};
}

std::string dane_outcome_name(DaneMatch::Outcome o) {
  switch (o) {
    case DaneMatch::Outcome::NoUsableRecords:
      return "NoUsableRecords";
    case DaneMatch::Outcome::Matched:
      return "Matched";
    case DaneMatch::Outcome::NotMatched:
      return "NotMatched";
    case DaneMatch::Outcome::NotChecked:
      return "NotChecked";
  }
  return "?";
}

}  // namespace

TEST_CASE("dane: a record reads back in dig's presentation form", "[dane]") {
  CHECK(to_string(dane_record(3, 1, 1, "abcd")) == "3 1 1 abcd");
  const std::string digest(64, 'e');
  CHECK(to_string(dane_record(2, 0, 2, digest)) == "2 0 2 " + digest);
}

TEST_CASE("dane: which record matches which certificate of the chain", "[dane]") {
  // usage, selector, mtype, data, outcome, matched depth (-1: none)
  auto [usage, selector, mtype, data, outcome, depth] =
      GENERATE(table<int, int, int, std::string, DaneMatch::Outcome, int>({
          // DANE-EE on the leaf's key, the common case (RFC 7672 3.1.1).
          {3, 1, 1, std::string(64, 'c'), DaneMatch::Outcome::Matched, 0},
          {3, 0, 1, std::string(64, 'a'), DaneMatch::Outcome::Matched, 0},
          {3, 1, 2, std::string(128, 'd'), DaneMatch::Outcome::Matched, 0},
          {3, 0, 2, std::string(128, 'b'), DaneMatch::Outcome::Matched, 0},
          // DANE-TA on the intermediate's certificate, and on the root the server sent.
          {2, 0, 1, std::string(64, '5'), DaneMatch::Outcome::Matched, 1},
          {2, 1, 2, std::string(128, '8'), DaneMatch::Outcome::Matched, 1},
          {2, 1, 1, std::string(64, '9'), DaneMatch::Outcome::Matched, 2},
          // Upper-case hex is the same digest.
          {3, 1, 1, std::string(64, 'C'), DaneMatch::Outcome::Matched, 0},
          {3, 0, 2, std::string(128, 'B'), DaneMatch::Outcome::Matched, 0},
          // DANE-EE binds the leaf only; DANE-TA never the leaf.
          {3, 1, 1, std::string(64, '7'), DaneMatch::Outcome::NotMatched, -1},
          {2, 1, 1, std::string(64, 'c'), DaneMatch::Outcome::NotMatched, -1},
          // The right digest under the wrong selector; a digest of nothing sent.
          {3, 0, 1, std::string(64, 'c'), DaneMatch::Outcome::NotMatched, -1},
          {3, 1, 1, std::string(64, 'f'), DaneMatch::Outcome::NotMatched, -1},
      }));
  const TlsaRecord r = dane_record(usage, selector, mtype, data);
  INFO("record " << to_string(r));
  const DaneMatch m = match_tlsa({r}, dane_chain(), kDaneHost);
  INFO("outcome " << dane_outcome_name(m.outcome) << ", depth " << m.matched_depth);
  CHECK(m.outcome == outcome);
  CHECK(m.usable == 1);
  CHECK(m.matched_depth == depth);
  CHECK(m.matched == (depth >= 0 ? to_string(r) : ""));
  CHECK(m.unusable.empty());
}

TEST_CASE("dane: records an SMTP client cannot use, each with its reason", "[dane]") {
  // usage, selector, mtype, data, what the unusable line must say
  auto [usage, selector, mtype, data,
        why] = GENERATE(table<int, int, int, std::string, std::string>({
      {0, 1, 1, std::string(64, '3'), "usage 0 (PKIX-TA) is unusable for SMTP (RFC 7672 3.1.3)"},
      {1, 1, 1, std::string(64, '3'), "usage 1 (PKIX-EE) is unusable for SMTP"},
      {4, 1, 1, std::string(64, '3'), "unknown usage 4"},
      {3, 2, 1, std::string(64, '3'), "unknown selector 2"},
      {3, 1, 3, std::string(64, '3'), "unknown matching type 3"},
      {3, 1, 1, std::string(62, '3'), "wrong length: 31 octets, SHA-256 needs 32"},
      {3, 1, 1, std::string(128, '4'), "wrong length: 64 octets, SHA-256 needs 32"},
      {3, 1, 2, std::string(64, '3'), "wrong length: 32 octets, SHA-512 needs 64"},
      {3, 1, 1, std::string(63, '3') + "g", "not hex"},
      {3, 1, 0, "abc", "not hex"},
      {3, 1, 1, "", "no association data"},
  }));
  const TlsaRecord r = dane_record(usage, selector, mtype, data);
  INFO("record " << to_string(r));
  const DaneMatch m = match_tlsa({r}, dane_chain(), kDaneHost);
  CHECK(m.outcome == DaneMatch::Outcome::NoUsableRecords);
  CHECK(m.usable == 0);
  CHECK(m.matched_depth == -1);
  REQUIRE(m.unusable.size() == 1);
  INFO("unusable: " << m.unusable[0]);
  CHECK(m.unusable[0].rfind(to_string(r) + ": ", 0) == 0);
  CHECK(m.unusable[0].find(why) != std::string::npos);
}

TEST_CASE("dane: only PKIX records (usages 0 and 1) leave nothing usable, even if they match",
          "[dane]") {
  const DaneMatch m = match_tlsa(
      {dane_record(1, 1, 1, std::string(64, 'c')), dane_record(0, 0, 1, std::string(64, '1'))},
      dane_chain(), kDaneHost);
  CHECK(m.outcome == DaneMatch::Outcome::NoUsableRecords);
  CHECK(m.usable == 0);
  CHECK(m.unusable.size() == 2);
  CHECK(m.matched.empty());
}

TEST_CASE("dane: the first matching record is the one reported", "[dane]") {
  const std::vector<TlsaRecord> records = {
      dane_record(3, 1, 1, std::string(64, 'f')),  // matches nothing
      dane_record(1, 1, 1, std::string(64, 'c')),  // would match, but unusable
      dane_record(2, 0, 1, std::string(64, '5')),  // the intermediate
      dane_record(3, 1, 1, std::string(64, 'c')),  // the leaf, listed later
  };
  const DaneMatch m = match_tlsa(records, dane_chain(), kDaneHost);
  CHECK(m.outcome == DaneMatch::Outcome::Matched);
  CHECK(m.usable == 3);
  CHECK(m.matched == "2 0 1 " + std::string(64, '5'));
  CHECK(m.matched_depth == 1);
  CHECK(m.unusable.size() == 1);
}

TEST_CASE("dane: usable records that match nothing: a DANE client would not deliver", "[dane]") {
  const DaneMatch m = match_tlsa(
      {dane_record(3, 1, 1, std::string(64, 'f')), dane_record(2, 0, 2, std::string(128, 'f'))},
      dane_chain(), kDaneHost);
  CHECK(m.outcome == DaneMatch::Outcome::NotMatched);
  CHECK(m.usable == 2);
  CHECK(m.matched.empty());
  CHECK(m.matched_depth == -1);
}

TEST_CASE("dane: matching type 0 is not compared, so it is not checked", "[dane]") {
  SECTION("the only usable record has matching type 0") {
    const DaneMatch m =
        match_tlsa({dane_record(3, 1, 0, "3082010a0282010100c0ffee")}, dane_chain(), kDaneHost);
    CHECK(m.outcome == DaneMatch::Outcome::NotChecked);
    CHECK(m.usable == 1);
    CHECK(m.unusable.empty());
  }
  SECTION("a digest record beside it that matches decides") {
    const DaneMatch m =
        match_tlsa({dane_record(3, 1, 0, "3082010a"), dane_record(3, 1, 1, std::string(64, 'c'))},
                   dane_chain(), kDaneHost);
    CHECK(m.outcome == DaneMatch::Outcome::Matched);
    CHECK(m.usable == 2);
  }
  SECTION("a digest record beside it that does not match cannot say NotMatched") {
    // The type-0 record might be the one that matches.
    const DaneMatch m =
        match_tlsa({dane_record(3, 1, 0, "3082010a"), dane_record(3, 1, 1, std::string(64, 'f'))},
                   dane_chain(), kDaneHost);
    CHECK(m.outcome == DaneMatch::Outcome::NotChecked);
    CHECK(m.usable == 2);
  }
}

TEST_CASE("dane: without a chain, usable records are not checked", "[dane]") {
  const DaneMatch m = match_tlsa({dane_record(3, 1, 1, std::string(64, 'c'))}, {}, kDaneHost);
  CHECK(m.outcome == DaneMatch::Outcome::NotChecked);
  CHECK(m.usable == 1);
  CHECK(m.matched_depth == -1);
}

TEST_CASE("dane: no records at all leave nothing usable", "[dane]") {
  const DaneMatch m = match_tlsa({}, dane_chain(), kDaneHost);
  CHECK(m.outcome == DaneMatch::Outcome::NoUsableRecords);
  CHECK(m.usable == 0);
  CHECK(m.unusable.empty());
}

TEST_CASE("dane: a certificate without the digest a record asks for matches nothing", "[dane]") {
  auto chain = dane_chain();
  chain[0].spki_sha512.clear();
  const DaneMatch m = match_tlsa({dane_record(3, 1, 2, std::string(128, 'd'))}, chain, kDaneHost);
  CHECK(m.outcome == DaneMatch::Outcome::NotMatched);
}

TEST_CASE("dane: a DANE-TA match needs the leaf to name the host and the chain to lead up",
          "[dane]") {
  const TlsaRecord ta = dane_record(2, 0, 1, std::string(64, '1'));  // the root, depth 2
  SECTION("both hold: matched at the root") {
    const DaneMatch m = match_tlsa({ta}, dane_chain(), kDaneHost);
    CHECK(m.outcome == DaneMatch::Outcome::Matched);
    CHECK(m.matched_depth == 2);
  }
  SECTION("a wildcard name covers one label") {
    auto chain = dane_chain();
    chain[0].san = {"*.example.com"};
    CHECK(match_tlsa({ta}, chain, kDaneHost).outcome == DaneMatch::Outcome::Matched);
    CHECK(match_tlsa({ta}, chain, "a.mx.example.com").outcome == DaneMatch::Outcome::NotMatched);
  }
  SECTION("the leaf names another host: not matched, and why") {
    const DaneMatch m = match_tlsa({ta}, dane_chain(), "mx.other.example");
    CHECK(m.outcome == DaneMatch::Outcome::NotMatched);
    CHECK(m.ta_problem.find("does not name mx.other.example") != std::string::npos);
  }
  SECTION("the chain is broken below the trust anchor") {
    auto chain = dane_chain();
    chain[1].issuer = "CN=Someone Else";
    const DaneMatch m = match_tlsa({ta}, chain, kDaneHost);
    CHECK(m.outcome == DaneMatch::Outcome::NotMatched);
    CHECK(m.ta_problem.find("is not issued by the next one sent") != std::string::npos);
  }
  SECTION("DANE-EE ignores names") {
    const DaneMatch m =
        match_tlsa({dane_record(3, 1, 1, std::string(64, 'c'))}, dane_chain(), "mx.other.example");
    CHECK(m.outcome == DaneMatch::Outcome::Matched);
  }
}
