#include "cert_factory.hpp"

#include "ossl.hpp"

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <stdexcept>
#include <string>
#include <utility>

namespace tlsrelay::testpeer {

namespace {

constexpr std::time_t kHour = 3600;
constexpr std::time_t kDay = 24 * kHour;
// Fixed dates for the expired set: far enough in the past that no clock doubts them.
constexpr std::time_t k2020_01_01 = 1577836800;
constexpr std::time_t k2021_01_01 = 1609459200;

EvpPkeyPtr make_rsa_key(unsigned bits) {
  EvpPkeyPtr key(EVP_RSA_gen(bits));
  if (!key) fail("RSA key generation failed");
  return key;
}

struct CertSpec {
  std::vector<std::pair<std::string, std::string>> subject;  // in DER order
  bool ca = false;
  std::vector<std::string> dns_names;
  std::time_t not_before = 0;
  std::time_t not_after = 0;
  const EVP_MD* md = nullptr;
};

void add_ext(X509* cert, X509V3_CTX* v3, int nid, const char* value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, v3, nid, value);
  if (ext == nullptr) fail(std::string("cannot build extension ") + OBJ_nid2sn(nid));
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) fail("X509_add_ext failed");
}

void set_random_serial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) fail("RAND_bytes failed");
  // RFC 5280 4.1.2.2: positive and non-zero; clearing the top bit keeps the DER positive.
  bytes[0] &= 0x7f;
  bytes[0] |= 0x01;
  BignumPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr)
    fail("cannot set serial");
}

// Issues a certificate for subject_key. With issuer == nullptr it is self-signed.
X509Ptr issue(const CertSpec& spec, EVP_PKEY* subject_key, X509* issuer, EVP_PKEY* issuer_key) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) fail("X509_new failed");
  set_random_serial(cert.get());

  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& [field, value] : spec.subject) {
    if (X509_NAME_add_entry_by_txt(name, field.c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                   0) != 1)
      fail("cannot set subject " + field);
  }
  X509* issuer_cert = issuer != nullptr ? issuer : cert.get();
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert)) != 1)
    fail("cannot set issuer");
  if (ASN1_TIME_set(X509_getm_notBefore(cert.get()), spec.not_before) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), spec.not_after) == nullptr)
    fail("cannot set validity");
  if (X509_set_pubkey(cert.get(), subject_key) != 1) fail("cannot set public key");

  X509V3_CTX v3;
  X509V3_set_ctx(&v3, issuer_cert, cert.get(), nullptr, nullptr, 0);
  if (issuer == nullptr) X509V3_set_issuer_pkey(&v3, subject_key);
  if (spec.ca) {
    add_ext(cert.get(), &v3, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(cert.get(), &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(cert.get(), &v3, NID_subject_key_identifier, "hash");
    if (issuer != nullptr) add_ext(cert.get(), &v3, NID_authority_key_identifier, "keyid:always");
  } else {
    add_ext(cert.get(), &v3, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(cert.get(), &v3, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    add_ext(cert.get(), &v3, NID_ext_key_usage, "serverAuth");
    std::string san;
    for (const auto& dns : spec.dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + dns;
    if (!san.empty()) add_ext(cert.get(), &v3, NID_subject_alt_name, san.c_str());
    // A self-signed leaf needs its own key id for the AKI below to point at itself.
    if (issuer == nullptr) add_ext(cert.get(), &v3, NID_subject_key_identifier, "hash");
    add_ext(cert.get(), &v3, NID_authority_key_identifier, "keyid:always");
  }

  if (X509_sign(cert.get(), issuer_key, spec.md) <= 0) fail("X509_sign failed");
  return cert;
}

BioPtr open_for_writing(const std::filesystem::path& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "w"));
  if (!bio) fail("cannot write " + path.string());
  return bio;
}

void write_certs(const std::filesystem::path& path, const std::vector<X509*>& certs) {
  BioPtr bio = open_for_writing(path);
  for (X509* cert : certs)
    if (PEM_write_bio_X509(bio.get(), cert) != 1) fail("cannot write " + path.string());
}

void write_key(const std::filesystem::path& path, EVP_PKEY* key) {
  {
    BioPtr bio = open_for_writing(path);
    if (PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
      fail("cannot write " + path.string());
  }
  // Test keys, but they still look like keys to scanners; do not leave them world-readable.
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
      std::filesystem::perm_options::replace);
}

CertSpec ca_spec(std::string cn, std::string org, std::time_t now) {
  CertSpec spec;
  spec.subject = {{"O", std::move(org)}, {"CN", std::move(cn)}};
  spec.ca = true;
  // CAs outlive every leaf (the notyet leaf ends after 400 days), so a leaf's own dates are
  // always the only date problem in its chain.
  spec.not_before = now - kHour;
  spec.not_after = now + kDay * 365 * 10;
  spec.md = EVP_sha256();
  return spec;
}

CertSpec leaf_spec(std::string cn, std::vector<std::string> dns_names, std::time_t now) {
  CertSpec spec;
  spec.subject = {{"CN", std::move(cn)}};
  spec.dns_names = std::move(dns_names);
  spec.not_before = now - kHour;
  spec.not_after = now + 365 * kDay;
  spec.md = EVP_sha256();
  return spec;
}

}  // namespace

const std::vector<std::string_view>& certificate_set_names() {
  static const std::vector<std::string_view> names = {
      "good",       "expired", "notyet", "wronghost", "leafonly", "untrusted", "untrusted-noroot",
      "selfsigned", "rsa1024", "sha1",   "deepchain", "hugecert", "expiring"};
  return names;
}

void write_certificate_sets(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create " + dir.string() + ": " + ec.message());

  const std::time_t now = std::time(nullptr);
  const std::string mx = "mx.test";

  EvpPkeyPtr root_key = make_rsa_key(2048);
  X509Ptr root = issue(ca_spec("tlsrelay test root", "tlsrelay tests", now), root_key.get(),
                       nullptr, root_key.get());
  EvpPkeyPtr inter_key = make_rsa_key(2048);
  X509Ptr inter = issue(ca_spec("tlsrelay test intermediate", "tlsrelay tests", now),
                        inter_key.get(), root.get(), root_key.get());
  write_certs(dir / "ca.pem", {root.get()});
  write_key(dir / "ca.key", root_key.get());
  write_certs(dir / "inter.pem", {inter.get()});
  write_key(dir / "inter.key", inter_key.get());

  // One key for every leaf whose point is not the key itself: RSA generation is the slow part.
  EvpPkeyPtr leaf_key = make_rsa_key(2048);
  auto write_set = [&](const std::string& name, EVP_PKEY* key, std::initializer_list<X509*> chain) {
    write_key(dir / (name + ".key"), key);
    write_certs(dir / (name + ".chain.pem"), chain);
  };

  X509Ptr good = issue(leaf_spec(mx, {mx}, now), leaf_key.get(), inter.get(), inter_key.get());
  write_set("good", leaf_key.get(), {good.get(), inter.get()});
  write_set("leafonly", leaf_key.get(), {good.get()});

  CertSpec expired_spec = leaf_spec(mx, {mx}, now);
  expired_spec.not_before = k2020_01_01;
  expired_spec.not_after = k2021_01_01;
  X509Ptr expired = issue(expired_spec, leaf_key.get(), inter.get(), inter_key.get());
  write_set("expired", leaf_key.get(), {expired.get(), inter.get()});

  CertSpec notyet_spec = leaf_spec(mx, {mx}, now);
  notyet_spec.not_before = now + 30 * kDay;
  notyet_spec.not_after = now + 400 * kDay;
  X509Ptr notyet = issue(notyet_spec, leaf_key.get(), inter.get(), inter_key.get());
  write_set("notyet", leaf_key.get(), {notyet.get(), inter.get()});

  // Valid now, but within the relay's 7-day warning (docs/monitoring.md).
  CertSpec expiring_spec = leaf_spec(mx, {mx}, now);
  expiring_spec.not_after = now + 5 * kDay;
  X509Ptr expiring = issue(expiring_spec, leaf_key.get(), inter.get(), inter_key.get());
  write_set("expiring", leaf_key.get(), {expiring.get(), inter.get()});

  X509Ptr wronghost = issue(leaf_spec("other.test", {"other.test", "www.other.test"}, now),
                            leaf_key.get(), inter.get(), inter_key.get());
  write_set("wronghost", leaf_key.get(), {wronghost.get(), inter.get()});

  EvpPkeyPtr uroot_key = make_rsa_key(2048);
  X509Ptr uroot = issue(ca_spec("Untrusted Private Root", "Elsewhere", now), uroot_key.get(),
                        nullptr, uroot_key.get());
  EvpPkeyPtr uinter_key = make_rsa_key(2048);
  X509Ptr uinter = issue(ca_spec("Untrusted Private Intermediate", "Elsewhere", now),
                         uinter_key.get(), uroot.get(), uroot_key.get());
  X509Ptr uleaf = issue(leaf_spec(mx, {mx}, now), leaf_key.get(), uinter.get(), uinter_key.get());
  write_set("untrusted", leaf_key.get(), {uleaf.get(), uinter.get(), uroot.get()});
  write_set("untrusted-noroot", leaf_key.get(), {uleaf.get(), uinter.get()});
  write_certs(dir / "untrusted-root.pem", {uroot.get()});

  EvpPkeyPtr self_key = make_rsa_key(2048);
  X509Ptr self = issue(leaf_spec(mx, {mx}, now), self_key.get(), nullptr, self_key.get());
  write_set("selfsigned", self_key.get(), {self.get()});

  EvpPkeyPtr small_key = make_rsa_key(1024);
  X509Ptr small = issue(leaf_spec(mx, {mx}, now), small_key.get(), inter.get(), inter_key.get());
  write_set("rsa1024", small_key.get(), {small.get(), inter.get()});

  CertSpec sha1_spec = leaf_spec(mx, {mx}, now);
  sha1_spec.md = EVP_sha1();
  X509Ptr sha1 = issue(sha1_spec, leaf_key.get(), inter.get(), inter_key.get());
  write_set("sha1", leaf_key.get(), {sha1.get(), inter.get()});

  // deepchain: mx.test under 20 CAs in a row below the trusted root, all sent. One key for
  // the 20 (names differ, so the chain is still unambiguous): key generation is the slow part.
  EvpPkeyPtr deep_key = make_rsa_key(2048);
  std::vector<X509Ptr> deep;
  for (int i = 1; i <= 20; ++i) {
    X509* above = deep.empty() ? root.get() : deep.back().get();
    EVP_PKEY* above_key = deep.empty() ? root_key.get() : deep_key.get();
    deep.push_back(issue(ca_spec("tlsrelay deep CA " + std::to_string(i), "tlsrelay tests", now),
                         deep_key.get(), above, above_key));
  }
  X509Ptr deep_leaf =
      issue(leaf_spec(mx, {mx}, now), leaf_key.get(), deep.back().get(), deep_key.get());
  {
    std::vector<X509*> sent = {deep_leaf.get()};
    for (auto it = deep.rbegin(); it != deep.rend(); ++it) sent.push_back(it->get());
    write_key(dir / "deepchain.key", leaf_key.get());
    write_certs(dir / "deepchain.chain.pem", sent);
  }

  // hugecert: a valid mx.test leaf carrying 6,000 more names, about 130 KiB: over the 100 KiB
  // a client accepts for the Certificate message by default (OpenSSL's max_cert_list).
  std::vector<std::string> many = {mx};
  for (int i = 0; i < 6000; ++i) many.push_back("name" + std::to_string(i) + ".many.mx.test");
  X509Ptr huge = issue(leaf_spec(mx, many, now), leaf_key.get(), inter.get(), inter_key.get());
  write_set("hugecert", leaf_key.get(), {huge.get(), inter.get()});

  EvpPkeyPtr client_ca_key = make_rsa_key(2048);
  X509Ptr client_ca = issue(ca_spec("tlsrelay test client CA", "tlsrelay tests", now),
                            client_ca_key.get(), nullptr, client_ca_key.get());
  write_certs(dir / "client-ca.pem", {client_ca.get()});
  write_key(dir / "client-ca.key", client_ca_key.get());
}

}  // namespace tlsrelay::testpeer
