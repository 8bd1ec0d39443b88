// Certificate failures: which verification error names the failure, and the hint for it.
// Part of the classifier (classifier.hpp): a pure function of the facts, no I/O.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <optional>

#include "common/text.hpp"
#include "common/time_format.hpp"
#include "tls/classifier_parts.hpp"
#include "tls/client_context.hpp"
#include "tls/openssl_names.hpp"

namespace tlsrelay::tls::detail {

using enum FailureClass;

// ---- certificate --------------------------------------------------------------------------

namespace {

struct ChosenError {
  VerifyError err;
  FailureClass cls;
};

bool is_time_error(int e) {
  return e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID;
}

// The rank decides which of several verification errors names the failure: a chain we
// cannot trust makes every other statement about it moot; then validity; then the name;
// then strength.
int rank(FailureClass c) {
  switch (c) {
    case CertificateSelfSigned:
      return 0;
    case CertificateChainIncomplete:
      return 1;
    case CertificateUntrusted:
      return 2;
    case CertificateRevoked:
      return 3;
    case CertificateExpired:
    case CertificateNotYetValid:
      return 4;
    case CertificateHostMismatch:
      return 5;
    case CertificateWeak:
      return 6;
    default:
      return 7;
  }
}

const CertFacts* cert_at(const AttemptFacts& f, int depth) {
  if (depth < 0 || static_cast<std::size_t>(depth) >= f.certificate.chain.size()) return nullptr;
  return &f.certificate.chain[static_cast<std::size_t>(depth)];
}

FailureClass class_of(const AttemptFacts& f, const VerifyError& v) {
  switch (v.error) {
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      return CertificateSelfSigned;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE: {
      // The chain as sent stops at the leaf when the failing certificate is the leaf itself:
      // the server did not send the issuer. Past the leaf, a CA certificate was sent and its
      // root is not one of ours.
      if (v.depth == 0) {
        const CertFacts* leaf = cert_at(f, 0);
        if (leaf && leaf->self_signed) return CertificateSelfSigned;
        return CertificateChainIncomplete;
      }
      return CertificateUntrusted;
    }
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_REJECTED:
      return CertificateUntrusted;
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return CertificateExpired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return CertificateNotYetValid;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
    case X509_V_ERR_EMAIL_MISMATCH:
      return CertificateHostMismatch;
    case X509_V_ERR_EE_KEY_TOO_SMALL:
    case X509_V_ERR_CA_KEY_TOO_SMALL:
    case X509_V_ERR_CA_MD_TOO_WEAK:
      return CertificateWeak;
    case X509_V_ERR_CERT_REVOKED:
      return CertificateRevoked;
    default:
      return CertificateInvalid;
  }
}

// The CN of a distinguished name (or the whole name), escaped: the peer chose it.
std::string cn_of(const std::string& dn) {
  auto pos = dn.find("CN=");
  if (pos == std::string::npos) return printable(dn, 200);
  auto end = dn.find(',', pos);
  return printable(dn.substr(pos + 3, end == std::string::npos ? std::string::npos : end - pos - 3),
                   200);
}

// The certificate a verification error is about: as OpenSSL saw it when it reported the
// error (depth indexes the chain OpenSSL built, not the chain as sent), else the chain as
// sent at that depth.
const CertFacts* cert_of(const AttemptFacts& f, const VerifyError& e, CertFacts& storage) {
  if (e.subject.empty()) return cert_at(f, e.depth);
  storage.subject = e.subject;
  storage.issuer = e.issuer;
  storage.not_before_epoch = e.not_before_epoch;
  storage.not_after_epoch = e.not_after_epoch;
  storage.not_before = utc_readable(e.not_before_epoch);
  storage.not_after = utc_readable(e.not_after_epoch);
  storage.self_signed = e.self_signed;
  storage.key = e.key;
  storage.signature = e.signature;
  return &storage;
}

std::string name_at(const CertFacts* c, int depth) {
  std::string what = depth == 0 ? "the server's certificate"
                                : "the CA certificate at depth " + std::to_string(depth);
  if (c) what += " (" + cn_of(c->subject) + ")";
  return what;
}

// A wall clock earlier than our own build is provably wrong; so is one that puts every
// certificate of a verified chain, the trust anchor included, outside its validity.
std::optional<std::string> clock_is_wrong(const AttemptFacts& f, int error) {
  if (f.clock_now > 0 && f.build_epoch > 0 && f.clock_now < f.build_epoch) {
    return "our clock reads " + utc_readable(f.clock_now) + ", before this program was built (" +
           utc_readable(f.build_epoch) + ")";
  }
  if (f.certificate.verified_chain_length >= 2) {
    std::vector<bool> bad(static_cast<std::size_t>(f.certificate.verified_chain_length), false);
    for (const auto& v : f.certificate.verify_errors) {
      if (v.error == error && v.depth >= 0 && v.depth < f.certificate.verified_chain_length) {
        bad[static_cast<std::size_t>(v.depth)] = true;
      }
    }
    if (std::all_of(bad.begin(), bad.end(), [](bool b) { return b; })) {
      return "every certificate of the chain, the trust anchor included, is " +
             std::string(error == X509_V_ERR_CERT_HAS_EXPIRED ? "expired" : "not yet valid") +
             " by our clock (" + utc_readable(f.clock_now) + ")";
    }
  }
  return std::nullopt;
}

// The verdict for the verification error that names the failure (chosen by rank): its
// class, the detail, and a hint that says which certificate and what to do.
Verdict verdict_for(const AttemptFacts& f, FailureClass cls, const VerifyError& e,
                    const CertFacts* c, const std::string& detail) {
  const std::string at = where(f);
  switch (cls) {
    case CertificateSelfSigned:
      return make(CertificateSelfSigned, Phase::Certificate, detail,
                  "the certificate of " + at + " is self-signed" +
                      (c ? " (" + printable(c->subject, 200) + ")" : std::string()) +
                      "; the server needs a certificate from a public CA, or, for a private "
                      "server you trust, add that certificate to ca_file");
    case CertificateChainIncomplete: {
      std::string issuer = c ? cn_of(c->issuer) : "unknown";
      return make(CertificateChainIncomplete, Phase::Certificate,
                  detail + "; the server sent " + std::to_string(f.certificate.chain.size()) +
                      " certificate(s), none of them the leaf's issuer",
                  "the server sent only its own certificate; install the intermediate "
                  "certificate on " +
                      f.upstream.host + " (issuer: " + issuer +
                      "), or, if that issuer is a private CA, add it to ca_file");
    }
    case CertificateUntrusted: {
      // The certificate the error is about is the last one OpenSSL could place: a root
      // (self-signed, not ours) or a CA whose issuer we lack.
      const CertFacts* top = c                             ? c
                             : f.certificate.chain.empty() ? nullptr
                                                           : &f.certificate.chain.back();
      std::string root = top ? (top->self_signed ? cn_of(top->subject) : cn_of(top->issuer))
                             : std::string("unknown");
      std::string store = f.ca_file.empty() ? std::string("the system CA store") : f.ca_file;
      return make(CertificateUntrusted, Phase::Certificate, detail + "; chain ends at " + root,
                  "the chain ends at '" + root + "', which is not in " + store +
                      ": for a private CA add its root to ca_file; otherwise the CA bundle "
                      "may be stale (`apt install --reinstall ca-certificates`)");
    }
    case CertificateExpired:
      return make(CertificateExpired, Phase::Certificate,
                  detail + (c ? "; notAfter " + c->not_after : std::string()),
                  (e.depth == 0 ? "the certificate for " + f.upstream.host + " expired " +
                                      (c ? utc_readable(c->not_after_epoch) : std::string("")) +
                                      "; the server's operator must renew it"
                                : name_at(c, e.depth) + " expired " +
                                      (c ? utc_readable(c->not_after_epoch) : std::string("")) +
                                      "; the server must send a current intermediate"));
    case CertificateNotYetValid:
      return make(CertificateNotYetValid, Phase::Certificate,
                  detail + (c ? "; notBefore " + c->not_before : std::string()) + "; our clock " +
                      utc_readable(f.clock_now),
                  name_at(c, e.depth) + " is valid only from " +
                      (c ? utc_readable(c->not_before_epoch) : std::string("later")) +
                      " and our clock (" + utc_readable(f.clock_now) +
                      ") looks right: the server installed it too early");
    case CertificateHostMismatch: {
      const CertFacts* leaf = cert_at(f, 0);
      std::string names = leaf && !leaf->san.empty() ? printable(join(leaf->san, ", "), 300)
                          : leaf                     ? "CN " + cn_of(leaf->subject)
                                                     : std::string("none");
      return make(
          CertificateHostMismatch, Phase::Certificate,
          detail + "; checked " + f.certificate.verify_name + ", certificate names: " + names,
          "the certificate is for " + names + ", not " + f.certificate.verify_name +
              "; use one of those names as host (connect = the address, if needed), or "
              "the server needs a certificate that names " +
              f.certificate.verify_name);
    }
    case CertificateWeak:
      return make(CertificateWeak, Phase::Certificate,
                  detail + (c ? "; " + c->key + ", " + c->signature : std::string()),
                  name_at(c, e.depth) + " is too weak for security level 2" +
                      (c ? " (" + c->key + ", " + c->signature + ")" : std::string()) +
                      "; the server needs a certificate with RSA >= 2048 or ECDSA, signed with "
                      "SHA-256 or better");
    case CertificateRevoked:
      return make(CertificateRevoked, Phase::Certificate, detail,
                  name_at(c, e.depth) + " is revoked; the server's operator must replace it");
    default:
      return make(CertificateInvalid, Phase::Certificate, detail,
                  name_at(c, e.depth) + " failed verification (" + verify_error_text(e.error) +
                      "); check it with `openssl s_client -showcerts`");
  }
}

}  // namespace

Verdict classify_certificate(const AttemptFacts& f) {
  const auto& errs = f.certificate.verify_errors;
  const std::string at = where(f);
  if (errs.empty() && !f.certificate.peer_certificate) {
    // An anonymous suite (aNULL): OpenSSL verifies nothing, so no error was ever reported.
    const std::string suite = f.tls.cipher.empty() ? std::string("an anonymous cipher suite")
                                                   : "the anonymous suite " + f.tls.cipher;
    return make(CertificateInvalid, Phase::Certificate,
                "the server sent no certificate (" + suite + ")",
                at + " sent no certificate, so nothing proves who it is: it chose " + suite +
                    ". Either a man in the middle is on the path or the server is badly "
                    "misconfigured; nothing (no AUTH, no mail) was sent. Check the path and "
                    "the server with `openssl s_client`");
  }
  if (errs.empty()) {
    return make(CertificateInvalid, Phase::Certificate,
                "the certificate did not prove the server's identity (" +
                    f.certificate.verify_name + "), though no verify error was reported",
                "certificate verification of " + at + " failed");
  }
  // OpenSSL stops building a chain that is too deep, and then also reports the issuer of the
  // last certificate it kept as missing: the depth is the finding, not trust.
  for (const auto& e : errs) {
    if (e.error != X509_V_ERR_CERT_CHAIN_TOO_LONG) continue;
    const std::string sent = f.certificate.chain_sent > 0
                                 ? std::to_string(f.certificate.chain_sent) + " certificates"
                                 : std::string("a chain");
    return make(CertificateInvalid, Phase::Certificate,
                "verify error " + std::to_string(e.error) + " (" + verify_error_text(e.error) +
                    ") at depth " + std::to_string(e.depth) + "; the server sent " + sent,
                at + " sends " + sent + ", deeper than the " + std::to_string(kMaxVerifyDepth) +
                    " CA certificates we follow (as Postfix); a server sends its own "
                    "certificate and one to three intermediates: its chain file must be fixed");
  }
  ChosenError best{errs.front(), class_of(f, errs.front())};
  for (const auto& e : errs) {
    FailureClass c = class_of(f, e);
    if (rank(c) < rank(best.cls) || (rank(c) == rank(best.cls) && e.depth < best.err.depth)) {
      best = {e, c};
    }
  }
  const VerifyError& e = best.err;
  std::string detail = "verify error " + std::to_string(e.error) + " (" +
                       verify_error_text(e.error) + ") at depth " + std::to_string(e.depth);
  CertFacts storage;
  const CertFacts* c = cert_of(f, e, storage);

  if (is_time_error(e.error)) {
    if (auto why = clock_is_wrong(f, e.error)) {
      return make(ClientClockSkew, Phase::Certificate, detail + "; " + *why,
                  *why +
                      ": fix this host's time (`timedatectl`, NTP/chrony); the "
                      "certificates are probably fine");
    }
  }

  return verdict_for(f, best.cls, e, c, detail);
}

}  // namespace tlsrelay::tls::detail
