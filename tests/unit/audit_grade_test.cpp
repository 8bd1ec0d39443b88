// `tlsrelay audit`'s grading: evidence built by hand (what the handshakes would have seen),
// findings and exit status checked against the rules of docs/audit.md.
#include <catch2/catch.hpp>

#include <openssl/x509_vfy.h>

#include "proxy/cli/audit_grade.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;

namespace {

constexpr std::int64_t kGradeNow = 1'800'000'000;

tls::CertFacts cert(std::string subject, std::string issuer, std::string key = "RSA-2048",
                    int bits = 2048, std::string sig = "sha256WithRSAEncryption",
                    std::int64_t days_left = 300) {
  tls::CertFacts c;
  c.subject = std::move(subject);
  c.issuer = std::move(issuer);
  c.key = std::move(key);
  c.key_bits = bits;
  c.signature = std::move(sig);
  c.not_after_epoch = kGradeNow + days_left * 86400;
  c.not_after = "later";
  c.sha256 = c.subject + "-fp";
  return c;
}

tls::ScanOutcome accepted(std::string version, std::string cipher, std::string group = "X25519") {
  tls::ScanOutcome o;
  o.tried = o.handshake_done = true;
  o.version = std::move(version);
  o.cipher = std::move(cipher);
  o.group = std::move(group);
  o.facts.tls.attempted = o.facts.tls.handshake_done = true;
  o.facts.certificate.chain = {cert("CN=mx.test", "CN=inter"), cert("CN=inter", "CN=root")};
  o.facts.certificate.chain_sent = 2;
  o.facts.certificate.verified = true;
  o.facts.certificate.verify_name = "mx.test";
  return o;
}

tls::ScanOutcome refused(std::string alert = "protocol_version") {
  tls::ScanOutcome o;
  o.tried = true;
  o.facts.tls.attempted = true;
  o.facts.ending = tls::Ending::TlsFailed;
  o.failure = "the server sent alert " + alert;
  return o;
}

// A server that does everything Mozilla intermediate asks.
AuditEvidence modern() {
  AuditEvidence e;
  e.host = "mx.test";
  e.port = 25;
  e.now = kGradeNow;
  e.base = accepted("TLSv1.3", "TLS_AES_256_GCM_SHA384");
  e.base.ocsp_stapled = true;
  e.resumed = e.base;
  e.resumed.session_reused = true;
  e.without_sni = e.base;
  e.versions = {{"1.0", refused()},
                {"1.1", refused()},
                {"1.2", accepted("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384")},
                {"1.3", accepted("TLSv1.3", "TLS_AES_256_GCM_SHA384")}};
  for (const auto& f : cipher_families()) {
    e.families.emplace_back(f.id, f.id == "ecdhe-aead"
                                      ? accepted("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384")
                                      : refused("handshake_failure"));
  }
  e.order_first_choice = "ECDHE-RSA-AES256-GCM-SHA384";
  e.order_reversed = accepted("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384");
  e.order_without_first = accepted("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256");
  for (const auto& g : audit_groups()) e.groups.emplace_back(g, accepted("TLSv1.3", "x", g));
  e.handshakes = 20;
  e.max_handshakes = 20;
  return e;
}

const Finding* by_id(const std::vector<Finding>& fs, std::string_view id) {
  for (const auto& f : fs) {
    if (f.id == id) return &f;
  }
  return nullptr;
}

Severity severity_of(const std::vector<Finding>& fs, std::string_view id) {
  const Finding* f = by_id(fs, id);
  INFO("finding " << id);
  REQUIRE(f != nullptr);
  return f->severity;
}

void set_family(AuditEvidence& e, std::string_view id, tls::ScanOutcome o) {
  for (auto& [k, v] : e.families) {
    if (k == id) v = std::move(o);
  }
}

}  // namespace

TEST_CASE("audit: a modern server gets no warning and exit status 0") {
  const auto fs = grade(modern());
  for (const auto& f : fs) {
    INFO(f.id << ": " << f.title << " / " << f.evidence);
    CHECK(f.severity == Severity::Ok);
  }
  CHECK(audit_exit_status(fs) == 0);
  CHECK(severity_of(fs, "cipher-order") == Severity::Ok);
}

TEST_CASE("audit: old versions, missing TLS 1.3 and CBC-only suites are named") {
  AuditEvidence e = modern();
  e.versions[0].second = accepted("TLSv1", "ECDHE-RSA-AES128-SHA");
  e.versions[3].second = refused();
  set_family(e, "ecdhe-aead", refused("handshake_failure"));
  set_family(e, "cbc", accepted("TLSv1.2", "ECDHE-RSA-AES128-SHA"));
  const auto fs = grade(e);
  CHECK(severity_of(fs, "protocol-tls1.0") == Severity::Warning);
  CHECK(severity_of(fs, "protocol-tls1.1") == Severity::Ok);
  CHECK(severity_of(fs, "protocol-tls1.3") == Severity::Warning);
  CHECK(severity_of(fs, "ciphers-ecdhe-aead") == Severity::Warning);
  CHECK(severity_of(fs, "ciphers-cbc") == Severity::Warning);
  CHECK(audit_exit_status(fs) == 1);
  CHECK(fs.front().severity == Severity::Warning);  // worst first
}

TEST_CASE("audit: CBC beside AEAD is only info; static RSA is a warning; NULL is critical") {
  AuditEvidence e = modern();
  set_family(e, "cbc", accepted("TLSv1.2", "ECDHE-RSA-AES128-SHA"));
  CHECK(severity_of(grade(e), "ciphers-cbc") == Severity::Info);
  set_family(e, "rsa-kx", accepted("TLSv1.2", "AES128-GCM-SHA256"));
  CHECK(severity_of(grade(e), "ciphers-rsa-kx") == Severity::Warning);
  set_family(e, "null-anon", accepted("TLSv1.2", "AECDH-AES128-SHA"));
  const auto fs = grade(e);
  CHECK(severity_of(fs, "ciphers-null-anon") == Severity::Critical);
  CHECK(fs.front().id == "ciphers-null-anon");
  CHECK(audit_exit_status(fs) == 3);
}

TEST_CASE("audit: a family this OpenSSL cannot offer is not a finding against the server") {
  AuditEvidence e = modern();
  tls::ScanOutcome none;
  none.not_offerable = true;
  none.failure = "this OpenSSL cannot offer it";
  set_family(e, "3des", none);
  CHECK(severity_of(grade(e), "ciphers-3des") == Severity::Info);
}

TEST_CASE("audit: the suite order") {
  AuditEvidence e = modern();
  SECTION("the client's order, strong suites only: info") {
    e.order_reversed = accepted("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256");
    CHECK(severity_of(grade(e), "cipher-order") == Severity::Info);
  }
  SECTION("the client's order with weak suites accepted: warning") {
    e.order_reversed = accepted("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256");
    set_family(e, "rsa-kx", accepted("TLSv1.2", "AES128-GCM-SHA256"));
    CHECK(severity_of(grade(e), "cipher-order") == Severity::Warning);
  }
  SECTION("one suite only: cannot tell") {
    e.order_without_first = refused("handshake_failure");
    CHECK(severity_of(grade(e), "cipher-order") == Severity::Info);
  }
}

TEST_CASE("audit: certificate key, signature, chain and expiry") {
  AuditEvidence e = modern();
  auto& chain = e.base.facts.certificate.chain;
  SECTION("RSA-1024 is critical") {
    chain[0] = cert("CN=mx.test", "CN=inter", "RSA-1024", 1024);
    CHECK(severity_of(grade(e), "cert-key") == Severity::Critical);
  }
  SECTION("SHA-1 on the leaf is critical") {
    chain[0] = cert("CN=mx.test", "CN=inter", "RSA-2048", 2048, "sha1WithRSAEncryption");
    CHECK(severity_of(grade(e), "cert-signature") == Severity::Critical);
  }
  SECTION("an incomplete chain is critical and says what is missing") {
    chain.resize(1);
    e.base.facts.certificate.chain_sent = 1;
    e.base.facts.certificate.verified = false;
    tls::VerifyError v;
    v.error = X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY;
    v.subject = "CN=mx.test";
    e.base.facts.certificate.verify_errors = {v};
    const auto fs = grade(e);
    CHECK(severity_of(fs, "cert-chain") == Severity::Critical);
    CHECK(by_id(fs, "cert-chain")->evidence.find("1 certificate sent") != std::string::npos);
    // Resumption needs a verified certificate: not tested, not blamed.
    CHECK(severity_of(fs, "resumption") == Severity::Info);
  }
  SECTION("a key-size verification error is left to cert-key") {
    chain[0] = cert("CN=mx.test", "CN=inter", "RSA-1024", 1024);
    tls::VerifyError v;
    v.error = X509_V_ERR_EE_KEY_TOO_SMALL;
    e.base.facts.certificate.verify_errors = {v};
    const auto fs = grade(e);
    CHECK(severity_of(fs, "cert-chain") == Severity::Ok);
    CHECK(by_id(fs, "cert-verify") == nullptr);
  }
  SECTION("a chain out of order is a warning") {
    chain.push_back(chain[1]);
    chain[1] = cert("CN=root", "CN=root");
    CHECK(severity_of(grade(e), "cert-chain-order") == Severity::Warning);
  }
  SECTION("expiry: 20 days a warning, 5 days critical, expired critical") {
    chain[0].not_after_epoch = kGradeNow + 20 * 86400;
    CHECK(severity_of(grade(e), "cert-expiry") == Severity::Warning);
    chain[0].not_after_epoch = kGradeNow + 5 * 86400;
    CHECK(severity_of(grade(e), "cert-expiry") == Severity::Critical);
    CHECK(by_id(grade(e), "cert-expiry")->title == "expires in 5 days");
    chain[0].not_after_epoch = kGradeNow - 1;
    CHECK(severity_of(grade(e), "cert-expiry") == Severity::Critical);
  }
}

TEST_CASE("audit: OCSP stapling, SNI and resumption") {
  AuditEvidence e = modern();
  e.base.ocsp_stapled = false;
  CHECK(severity_of(grade(e), "ocsp-stapling") == Severity::Info);
  e.without_sni = accepted("TLSv1.3", "TLS_AES_256_GCM_SHA384");
  e.without_sni.facts.certificate.chain[0] = cert("CN=other.test", "CN=inter");
  e.without_sni.facts.certificate.verified = false;
  CHECK(severity_of(grade(e), "sni") == Severity::Warning);
  e.without_sni.facts.certificate.verified = true;
  CHECK(severity_of(grade(e), "sni") == Severity::Info);
  e.without_sni = refused("unrecognized_name");
  CHECK(severity_of(grade(e), "sni") == Severity::Warning);
  e.resumed.session_reused = false;
  CHECK(severity_of(grade(e), "resumption") == Severity::Info);
}

TEST_CASE("audit: a server that refuses the relay's offer but speaks TLS 1.0") {
  AuditEvidence e = modern();
  e.base = refused();
  e.resumed = {};
  e.versions = {{"1.0", accepted("TLSv1", "ECDHE-RSA-AES256-SHA")},
                {"1.1", refused()},
                {"1.2", refused()},
                {"1.3", refused()}};
  e.families.clear();
  e.order_first_choice.clear();
  const auto fs = grade(e);
  CHECK(severity_of(fs, "default-offer") == Severity::Critical);
  CHECK(severity_of(fs, "protocol-tls1.2") == Severity::Critical);
  CHECK(severity_of(fs, "ciphers") == Severity::Info);
  // The certificate is still judged, from the TLS 1.0 handshake.
  CHECK(severity_of(fs, "cert-key") == Severity::Ok);
  CHECK(audit_exit_status(fs) == 3);
}

TEST_CASE("audit: the port and the TLS mode") {
  AuditEvidence e = modern();
  e.port = 465;
  CHECK(severity_of(grade(e), "port-mode") == Severity::Warning);
  e.mode = TlsMode::Implicit;
  CHECK(severity_of(grade(e), "port-mode") == Severity::Ok);
  e.port = 587;
  CHECK(severity_of(grade(e), "port-mode") == Severity::Warning);
}

TEST_CASE("audit: nothing reachable is critical; a cut-short audit says so") {
  AuditEvidence e;
  e.host = "mx.test";
  e.base.tried = true;
  e.base.failure = "connect-refused";
  auto fs = grade(e);
  CHECK(fs.front().id == "default-offer");
  CHECK(audit_exit_status(fs) == 3);
  // No TLS at all: no claim about TLS 1.2 suites that was never tested.
  CHECK(by_id(fs, "ciphers") == nullptr);
  e = modern();
  e.deadline_hit = true;
  fs = grade(e);
  CHECK(severity_of(fs, "audit-incomplete") == Severity::Info);
  CHECK(audit_exit_status(fs) == 0);
}
