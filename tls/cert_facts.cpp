#include "tls/cert_facts.hpp"

#include "common/time_format.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <ctime>
#include <memory>

namespace tlsrelay::tls {
namespace {

std::string name_text(const X509_NAME* name) {
  if (!name) return {};
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  // RFC 2253 order, most specific first, UTF-8 kept rather than escaped.
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string hex_text(const unsigned char* data, std::size_t len) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (std::size_t i = 0; i < len; ++i) {
    out += hex[data[i] >> 4];
    out += hex[data[i] & 15];
  }
  return out;
}

// The digest of the DER certificate, or of its SubjectPublicKeyInfo (TLSA selector 1).
std::string hex_digest(X509* cert, const EVP_MD* md, bool spki) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!spki) return X509_digest(cert, md, out, &len) == 1 ? hex_text(out, len) : std::string();
  unsigned char* der = nullptr;
  const int der_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (der_len <= 0) return {};
  const bool ok = EVP_Digest(der, static_cast<std::size_t>(der_len), out, &len, md, nullptr) == 1;
  OPENSSL_free(der);
  return ok ? hex_text(out, len) : std::string();
}

std::int64_t epoch_of(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::vector<std::string> san_of(X509* cert) {
  std::vector<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names) && out.size() < 100; ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type == GEN_DNS) {
      const ASN1_IA5STRING* s = gn->d.dNSName;
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<std::size_t>(ASN1_STRING_length(s)));
    } else if (gn->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = gn->d.iPAddress;
      const unsigned char* p = ASN1_STRING_get0_data(ip);
      char buf[64] = {};
      if (ASN1_STRING_length(ip) == 4) {
        std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", p[0], p[1], p[2], p[3]);
      } else if (ASN1_STRING_length(ip) == 16) {
        int n = 0;
        for (int j = 0; j < 16; j += 2) {
          n += std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), "%s%x",
                             j ? ":" : "", (p[j] << 8) | p[j + 1]);
        }
      }
      out.emplace_back(std::string("IP:") + buf);
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

std::string key_text(X509* cert, int* bits) {
  EVP_PKEY* key = X509_get0_pubkey(cert);
  if (!key) return "unknown";
  *bits = EVP_PKEY_get_bits(key);
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
      return "RSA-" + std::to_string(*bits);
    case EVP_PKEY_RSA_PSS:
      return "RSA-PSS-" + std::to_string(*bits);
    case EVP_PKEY_EC:
      return "EC-" + std::to_string(*bits);
    case EVP_PKEY_DSA:
      return "DSA-" + std::to_string(*bits);
    case EVP_PKEY_ED25519:
      return "ED25519";
    case EVP_PKEY_ED448:
      return "ED448";
  }
  return std::string(OBJ_nid2sn(EVP_PKEY_get_base_id(key))) + "-" + std::to_string(*bits);
}

}  // namespace

CertFacts cert_facts(X509* cert) {
  CertFacts c;
  c.subject = name_text(X509_get_subject_name(cert));
  c.issuer = name_text(X509_get_issuer_name(cert));
  c.not_before_epoch = epoch_of(X509_get0_notBefore(cert));
  c.not_after_epoch = epoch_of(X509_get0_notAfter(cert));
  c.not_before = iso8601_seconds(c.not_before_epoch);
  c.not_after = iso8601_seconds(c.not_after_epoch);
  c.san = san_of(cert);
  c.key = key_text(cert, &c.key_bits);
  c.signature = OBJ_nid2ln(X509_get_signature_nid(cert));
  // EXFLAG_SS: issuer equals subject and (where present) the key identifiers agree.
  // Confirm with the signature so a forged "self-issued" name pair does not count.
  const uint32_t flags = X509_get_extension_flags(cert);
  if (flags & EXFLAG_SS) {
    EVP_PKEY* key = X509_get0_pubkey(cert);
    c.self_signed = key && X509_verify(cert, key) == 1;
  }
  c.is_ca = X509_check_ca(cert) > 0;
  c.sha256 = hex_digest(cert, EVP_sha256(), false);
  c.sha512 = hex_digest(cert, EVP_sha512(), false);
  c.spki_sha256 = hex_digest(cert, EVP_sha256(), true);
  c.spki_sha512 = hex_digest(cert, EVP_sha512(), true);
  return c;
}

}  // namespace tlsrelay::tls
