#include "proxy/cli/audit_grade.hpp"

#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cstdio>

#include "tls/openssl_names.hpp"

namespace tlsrelay::proxy {

namespace {

using tls::ScanOutcome;

std::string agreed(const ScanOutcome& o) {
  std::string s = o.version + " " + o.cipher;
  if (!o.group.empty()) s += " " + o.group;
  return s;
}

// What one scan showed, for the evidence line.
std::string shown(const ScanOutcome& o) {
  if (o.not_offerable) return o.failure;
  if (!o.tried) return "not tried";
  if (o.handshake_done) return "accepted: " + agreed(o);
  return "refused: " + o.failure;
}

// Refused by the server, as opposed to skipped or cut short (time-out, connection lost
// before TLS): only then is "not accepted" a fact.
bool refused(const ScanOutcome& o) {
  return o.tried && !o.handshake_done && o.facts.tls.attempted &&
         o.facts.ending != tls::Ending::TimedOut;
}

const ScanOutcome* find(const std::vector<std::pair<std::string, ScanOutcome>>& v,
                        std::string_view key) {
  for (const auto& [k, o] : v) {
    if (k == key) return &o;
  }
  return nullptr;
}

bool accepted(const ScanOutcome* o) {
  return o && o->handshake_done;
}

// The handshake whose certificate the checks judge: the relay's own offer, else the
// first scan that got one (a server that speaks only TLS 1.0 still shows its chain).
const ScanOutcome* certificate_source(const AuditEvidence& e) {
  if (e.base.handshake_done && !e.base.facts.certificate.chain.empty()) return &e.base;
  for (const auto* list : {&e.versions, &e.families, &e.groups}) {
    for (const auto& [k, o] : *list) {
      if (o.handshake_done && !o.facts.certificate.chain.empty()) return &o;
    }
  }
  return nullptr;
}

std::string days_text(std::int64_t seconds) {
  const std::int64_t days = seconds / 86400;
  return std::to_string(days) + (days == 1 || days == -1 ? " day" : " days");
}

void reachability(const AuditEvidence& e, std::vector<Finding>& out) {
  const auto& f = e.base.facts;
  if (e.base.handshake_done) {
    out.push_back(make_finding("default-offer", Severity::Ok,
                               "the relay's default offer is accepted",
                               "TLS 1.2-1.3, DEFAULT suites, security level 2: " + agreed(e.base)));
  } else if (certificate_source(e) != nullptr) {
    out.push_back(make_finding(
        "default-offer", Severity::Critical,
        "the server refuses the relay's default offer (TLS 1.2-1.3, security level 2)",
        e.base.failure + "; only older or weaker offers (below) were accepted",
        "enable TLS 1.2 and 1.3 with ECDHE and AES-GCM suites (Mozilla intermediate); until "
        "then only an [upstream.compat] profile reaches this server"));
  } else {
    std::string why = e.base.tried ? e.base.failure : "not tried";
    if (f.smtp.implicit_tls_detected) why += "; the port answers a TLS ClientHello";
    out.push_back(
        make_finding("default-offer", Severity::Critical, "no TLS handshake succeeded", why,
                     f.smtp.implicit_tls_detected ? "use --tls implicit for this port" : ""));
  }
}

void port_mode(const AuditEvidence& e, std::vector<Finding>& out) {
  const bool implicit = e.mode == TlsMode::Implicit;
  const std::string what =
      "port " + std::to_string(e.port) + " with " + (implicit ? "implicit TLS" : "STARTTLS");
  if (e.port == 465 && !implicit) {
    out.push_back(make_finding("port-mode", Severity::Warning, "STARTTLS on port 465", what,
                               "port 465 is submission over implicit TLS (RFC 8314 3.3): use "
                               "tls = \"implicit\" there, or STARTTLS on port 587"));
  } else if ((e.port == 25 || e.port == 587) && implicit) {
    out.push_back(make_finding("port-mode", Severity::Warning,
                               "implicit TLS on port " + std::to_string(e.port), what,
                               "ports 25 and 587 speak STARTTLS (RFC 3207, RFC 6409); implicit TLS "
                               "belongs on 465 (RFC 8314)"));
  } else {
    out.push_back(make_finding("port-mode", Severity::Ok, "TLS mode fits the port", what));
  }
}

void versions(const AuditEvidence& e, std::vector<Finding>& out) {
  const ScanOutcome* v12 = find(e.versions, "1.2");
  const ScanOutcome* v13 = find(e.versions, "1.3");
  for (const auto& [v, o] : e.versions) {
    const std::string id = "protocol-tls" + v;
    if (!o.tried || (!o.handshake_done && !refused(o))) {
      out.push_back(make_finding(id, Severity::Info, "TLS " + v + ": could not tell", shown(o)));
    } else if (v == "1.0" || v == "1.1") {
      if (o.handshake_done) {
        out.push_back(make_finding(id, Severity::Warning, "TLS " + v + " is accepted", shown(o),
                                   "turn TLS " + v +
                                       " off: RFC 8996 deprecates it, RFC 9325 3.1.1 says MUST NOT "
                                       "negotiate it (Postfix: smtpd_tls_protocols = >=TLSv1.2)"));
      } else {
        out.push_back(make_finding(id, Severity::Ok, "TLS " + v + " is refused", shown(o)));
      }
    } else if (v == "1.2") {
      if (o.handshake_done) {
        out.push_back(make_finding(id, Severity::Ok, "TLS 1.2 is accepted", shown(o)));
      } else {
        const bool only13 = accepted(v13);
        out.push_back(make_finding(id, only13 ? Severity::Warning : Severity::Critical,
                                   "TLS 1.2 is refused", shown(o),
                                   "enable TLS 1.2: RFC 9325 3.1.1 says MUST support it; many MTAs "
                                   "and smarthost clients have nothing newer"));
      }
    } else if (v == "1.3") {
      if (o.handshake_done) {
        out.push_back(make_finding(id, Severity::Ok, "TLS 1.3 is accepted", shown(o)));
      } else {
        out.push_back(
            make_finding(id, accepted(v12) ? Severity::Warning : Severity::Critical,
                         "TLS 1.3 is refused", shown(o),
                         "enable TLS 1.3 (OpenSSL 1.1.1 or later): RFC 9325 3.1.1 says "
                         "SHOULD support it, Mozilla intermediate offers TLS 1.2 and 1.3"));
      }
    }
  }
}

void ciphers(const AuditEvidence& e, std::vector<Finding>& out) {
  if (e.families.empty()) {
    // Only where TLS 1.2 alone was offered and refused: with no TLS at all, the
    // default-offer finding says everything.
    if (const ScanOutcome* v12 = find(e.versions, "1.2"); v12 && refused(*v12)) {
      out.push_back(make_finding("ciphers", Severity::Info, "TLS 1.2 cipher suites: not tested",
                                 "the server does not accept TLS 1.2"));
    }
    return;
  }
  const bool aead =
      accepted(find(e.families, "ecdhe-aead")) || accepted(find(e.families, "dhe-aead"));
  for (const auto& [id, o] : e.families) {
    const auto fam = std::find_if(cipher_families().begin(), cipher_families().end(),
                                  [&](const CipherFamily& f) { return f.id == id; });
    const std::string name = fam != cipher_families().end() ? fam->name : id;
    const std::string fid = "ciphers-" + id;
    if (o.not_offerable) {
      out.push_back(make_finding(fid, Severity::Info, name + ": not tested", o.failure));
      continue;
    }
    if (!o.tried || (!o.handshake_done && !refused(o))) {
      out.push_back(make_finding(fid, Severity::Info, name + ": could not tell", shown(o)));
      continue;
    }
    if (id == "ecdhe-aead") {
      out.push_back(
          o.handshake_done
              ? make_finding(fid, Severity::Ok, name + " accepted", shown(o))
              : make_finding(fid, Severity::Warning, name + " refused", shown(o),
                             "offer ECDHE-RSA-AES128-GCM-SHA256 and the other AEAD suites of "
                             "RFC 9325 and Mozilla intermediate"));
    } else if (id == "dhe-aead") {
      out.push_back(make_finding(fid, Severity::Ok,
                                 name + (o.handshake_done ? " accepted" : " refused"), shown(o)));
    } else if (id == "cbc") {
      if (!o.handshake_done) {
        out.push_back(make_finding(fid, Severity::Ok, name + " refused", shown(o)));
      } else if (aead) {
        out.push_back(make_finding(fid, Severity::Info, name + " accepted beside AEAD suites",
                                   shown(o), "drop the CBC suites: Mozilla intermediate has none"));
      } else {
        out.push_back(
            make_finding(fid, Severity::Warning, "only CBC suites under TLS 1.2", shown(o),
                         "offer AES-GCM or ChaCha20-Poly1305 suites with ECDHE (RFC 9325 4.1: "
                         "forward secrecy; CBC with HMAC is what Lucky 13 and its kin attack"));
      }
    } else if (id == "rsa-kx") {
      out.push_back(
          o.handshake_done
              ? make_finding(fid, Severity::Warning, name + " accepted: no forward secrecy",
                             shown(o),
                             "drop the TLS_RSA_* suites (OpenSSL: !kRSA): RFC 9325 4.1 says "
                             "SHOULD NOT negotiate them")
              : make_finding(fid, Severity::Ok, name + " refused", shown(o)));
    } else if (id == "other") {
      out.push_back(o.handshake_done
                        ? make_finding(fid, Severity::Info, name + " accepted", shown(o),
                                       "not wrong, but outside Mozilla intermediate; clients never "
                                       "need them")
                        : make_finding(fid, Severity::Ok, name + " refused", shown(o)));
    } else if (id == "3des") {
      out.push_back(
          o.handshake_done
              ? make_finding(fid, Severity::Warning, name + " accepted", shown(o),
                             "drop 3DES: a 64-bit block cipher (Sweet32, CVE-2016-2183) of "
                             "112 bits; RFC 9325 4.1 says SHOULD NOT below 128")
              : make_finding(fid, Severity::Ok, name + " refused", shown(o)));
    } else if (id == "null-anon") {
      out.push_back(
          o.handshake_done
              ? make_finding(fid, Severity::Critical, name + " accepted", shown(o),
                             "remove aNULL and eNULL suites: RFC 9325 4.1 says MUST NOT "
                             "negotiate NULL encryption, and anonymous suites authenticate "
                             "nobody: anyone in the path reads or changes the mail")
              : make_finding(fid, Severity::Ok, name + " refused", shown(o)));
    }
  }
}

bool weak_suites_accepted(const AuditEvidence& e) {
  for (const char* id : {"cbc", "rsa-kx", "3des", "null-anon"}) {
    if (accepted(find(e.families, id))) return true;
  }
  return false;
}

void cipher_order(const AuditEvidence& e, std::vector<Finding>& out) {
  if (e.order_first_choice.empty()) return;
  const ScanOutcome& r = e.order_reversed;
  const std::string first = e.order_first_choice;
  if (!r.handshake_done) {
    out.push_back(
        make_finding("cipher-order", Severity::Info, "cipher order: could not tell", shown(r)));
  } else if (r.cipher != first) {
    const bool weak = weak_suites_accepted(e);
    out.push_back(make_finding(
        "cipher-order", weak ? Severity::Warning : Severity::Info,
        "the server follows the client's order of suites",
        "offered " + first + " last: it chose " + r.cipher + " (with our order: " + first + ")",
        weak ? "with weak suites accepted, choose the server's order (Postfix: "
               "tls_preempt_cipherlist = yes) or drop them"
             : "fine while every suite it accepts is strong (Mozilla intermediate leaves the "
               "choice to the client)"));
  } else if (e.order_without_first.handshake_done) {
    out.push_back(make_finding(
        "cipher-order", Severity::Ok, "the server chooses by its own order",
        "offered " + first + " last: it still chose it over " + e.order_without_first.cipher));
  } else {
    out.push_back(make_finding("cipher-order", Severity::Info,
                               "cipher order: could not tell (one suite in the family)",
                               "it chose " + first + " in either order, and nothing without it"));
  }
}

void groups(const AuditEvidence& e, std::vector<Finding>& out) {
  if (e.groups.empty()) return;
  std::string yes, no;
  bool modern = false;
  for (const auto& [g, o] : e.groups) {
    std::string& list = o.handshake_done ? yes : no;
    list += (list.empty() ? "" : ", ") + g;
    if (o.handshake_done && (g == "X25519" || g == "P-256")) modern = true;
  }
  const std::string evidence =
      "accepted: " + (yes.empty() ? "none" : yes) + "; refused: " + (no.empty() ? "none" : no);
  out.push_back(
      modern
          ? make_finding("groups", Severity::Ok, "key exchange with X25519 or P-256", evidence)
          : make_finding("groups", Severity::Warning, "neither X25519 nor P-256 accepted", evidence,
                         "offer X25519 and P-256 (RFC 9325 asks for them; Mozilla intermediate: "
                         "X25519, prime256v1, secp384r1)"));
}

void key_and_signature(const tls::CertFacts& leaf, const std::vector<tls::CertFacts>& chain,
                       std::vector<Finding>& out) {
  const bool rsa = leaf.key.rfind("RSA", 0) == 0;
  const bool ec = leaf.key.rfind("EC", 0) == 0;
  const bool weak = (rsa && leaf.key_bits < 2048) || (ec && leaf.key_bits < 256);
  out.push_back(
      weak ? make_finding("cert-key", Severity::Critical, "the certificate key is too small",
                          leaf.key + " in " + leaf.subject,
                          "a new key of RSA 2048 bits or more, or ECDSA P-256 (RFC 9325, "
                          "Mozilla intermediate); OpenSSL at level 2 refuses less")
           : make_finding("cert-key", Severity::Ok, "certificate key " + leaf.key, leaf.subject));
  std::string weak_sig;
  for (const auto& c : chain) {
    if (c.self_signed) continue;  // a root's own signature is never checked
    if (c.signature.find("sha1") != std::string::npos ||
        c.signature.find("md5") != std::string::npos ||
        c.signature.find("SHA1") != std::string::npos) {
      weak_sig += (weak_sig.empty() ? "" : "; ") + c.signature + " on " + c.subject;
    }
  }
  out.push_back(
      weak_sig.empty()
          ? make_finding("cert-signature", Severity::Ok, "signature " + leaf.signature,
                         leaf.subject)
          : make_finding("cert-signature", Severity::Critical, "SHA-1 or MD5 signature", weak_sig,
                         "have the certificate reissued with SHA-256; OpenSSL at level 1 and "
                         "up refuses SHA-1"));
}

// Errors that the key and signature findings already name.
bool strength_error(int error) {
  return error == X509_V_ERR_EE_KEY_TOO_SMALL || error == X509_V_ERR_CA_KEY_TOO_SMALL ||
         error == X509_V_ERR_CA_MD_TOO_WEAK;
}

void chain_checks(const ScanOutcome& src, std::vector<Finding>& out) {
  const auto& c = src.facts.certificate;
  std::vector<const tls::VerifyError*> errors;
  for (const auto& v : c.verify_errors) {
    if (!strength_error(v.error)) errors.push_back(&v);
  }
  const std::string sent =
      std::to_string(c.chain_sent) + " certificate" + (c.chain_sent == 1 ? "" : "s") + " sent";
  const bool missing_issuer =
      !errors.empty() && (errors.front()->error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
                          errors.front()->error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  if (missing_issuer) {
    out.push_back(
        make_finding("cert-chain", Severity::Critical, "the chain is incomplete",
                     sent + "; the issuer of " + errors.front()->subject +
                         " is missing: " + tls::verify_error_text(errors.front()->error),
                     "send the intermediate certificates after the server's own (Postfix: "
                     "smtpd_tls_chain_files, leaf first)"));
  } else if (!errors.empty()) {
    std::string what;
    for (const auto* v : errors) {
      what +=
          (what.empty() ? "" : "; ") + tls::verify_error_text(v->error) + " (" + v->subject + ")";
    }
    out.push_back(make_finding(
        "cert-verify", Severity::Critical, "the certificate does not verify for " + c.verify_name,
        what, "a certificate from a CA the clients trust, naming " + c.verify_name));
  } else {
    out.push_back(make_finding("cert-chain", Severity::Ok,
                               "the chain is complete and verifies for " + c.verify_name, sent));
  }
  for (std::size_t i = 0; i + 1 < c.chain.size(); ++i) {
    if (c.chain[i].issuer != c.chain[i + 1].subject) {
      out.push_back(
          make_finding("cert-chain-order", Severity::Warning, "the chain is out of order",
                       "certificate " + std::to_string(i + 1) + " (" + c.chain[i].subject +
                           ") is not followed by its issuer " + c.chain[i].issuer,
                       "send the chain leaf first, each certificate followed by its issuer "
                       "(RFC 5246 7.4.2)"));
      break;
    }
  }
}

void expiry(const AuditEvidence& e, const ScanOutcome& src, std::vector<Finding>& out) {
  const auto& chain = src.facts.certificate.chain;
  const tls::CertFacts* first = nullptr;
  for (const auto& c : chain) {
    if (!first || c.not_after_epoch < first->not_after_epoch) first = &c;
  }
  if (!first) return;
  const std::int64_t left = first->not_after_epoch - e.now;
  const std::string evidence = first->subject + " expires " + first->not_after;
  const std::string fix = "renew the certificate (or fix the renewal job)";
  if (left <= 0) {
    out.push_back(make_finding("cert-expiry", Severity::Critical, "a certificate has expired",
                               evidence, fix));
  } else if (left <= 7 * 86400) {
    out.push_back(make_finding("cert-expiry", Severity::Critical, "expires in " + days_text(left),
                               evidence, fix));
  } else if (left <= 30 * 86400) {
    out.push_back(make_finding("cert-expiry", Severity::Warning, "expires in " + days_text(left),
                               evidence, fix));
  } else {
    out.push_back(
        make_finding("cert-expiry", Severity::Ok, "expires in " + days_text(left), evidence));
  }
}

void stapling(const ScanOutcome& src, std::vector<Finding>& out) {
  out.push_back(src.ocsp_stapled
                    ? make_finding("ocsp-stapling", Severity::Ok, "an OCSP response is stapled",
                                   "status_request answered")
                    : make_finding("ocsp-stapling", Severity::Info, "no OCSP response stapled",
                                   "asked with status_request (RFC 6066 8); none came",
                                   "staple where the server software can (Exim: tls_ocsp_file; "
                                   "Postfix cannot); Mozilla intermediate staples"));
}

void sni(const AuditEvidence& e, const ScanOutcome& src, std::vector<Finding>& out) {
  const ScanOutcome& n = e.without_sni;
  if (!n.tried) return;
  if (!n.handshake_done) {
    out.push_back(
        make_finding("sni", Severity::Warning, "no handshake without SNI", shown(n),
                     "serve a default certificate for clients without SNI: Postfix sends SNI "
                     "only when smtp_tls_servername is set"));
    return;
  }
  const auto& with = src.facts.certificate.chain;
  const auto& without = n.facts.certificate.chain;
  if (with.empty() || without.empty() || with.front().sha256 == without.front().sha256) {
    out.push_back(make_finding("sni", Severity::Ok, "the same certificate with and without SNI",
                               without.empty() ? "" : without.front().subject));
    return;
  }
  const bool verifies = n.facts.certificate.verified;
  out.push_back(
      make_finding("sni", verifies ? Severity::Info : Severity::Warning,
                   verifies ? "another certificate without SNI, which verifies too"
                            : "another certificate without SNI, which does not verify for " +
                                  n.facts.certificate.verify_name,
                   "with SNI: " + with.front().subject + "; without: " + without.front().subject,
                   verifies ? ""
                            : "make the certificate for the host name the default one: "
                              "Postfix sends SNI only when smtp_tls_servername is set"));
}

void resumption(const AuditEvidence& e, std::vector<Finding>& out) {
  const ScanOutcome& r = e.resumed;
  if (!e.base.facts.certificate.verified) {
    out.push_back(make_finding("resumption", Severity::Info, "session resumption: not tested",
                               "the relay resumes only sessions whose certificate verified"));
  } else if (!r.tried || !r.handshake_done) {
    out.push_back(
        make_finding("resumption", Severity::Info, "session resumption: could not tell", shown(r)));
  } else if (r.session_reused) {
    out.push_back(make_finding("resumption", Severity::Ok,
                               "a second connection resumes the session",
                               r.version + ", session reused"));
  } else {
    out.push_back(make_finding("resumption", Severity::Info, "no session resumption",
                               "a second connection made a full handshake",
                               "enable session tickets or a session cache (Postfix: "
                               "smtpd_tls_session_cache_database); saves a full handshake per "
                               "connection"));
  }
}

}  // namespace

std::string_view to_string(Severity s) {
  switch (s) {
    case Severity::Ok:
      return "ok";
    case Severity::Info:
      return "info";
    case Severity::Warning:
      return "warning";
    case Severity::Critical:
      return "critical";
  }
  return "";
}

const std::vector<CipherFamily>& cipher_families() {
  static const std::vector<CipherFamily> families = {
      {"ecdhe-aead", "ECDHE with AES-GCM, ChaCha20-Poly1305 or AES-CCM",
       "ECDHE+AESGCM:ECDHE+CHACHA20:ECDHE+AESCCM", false},
      {"dhe-aead", "DHE with AES-GCM, ChaCha20-Poly1305 or AES-CCM",
       "kDHE+AESGCM:kDHE+CHACHA20:kDHE+AESCCM:!aNULL", false},
      {"cbc", "ECDHE or DHE with AES-CBC", "AES:!AESGCM:!AESCCM:!kRSA:!PSK:!SRP:!aNULL:!eNULL",
       false},
      {"rsa-kx", "RSA key exchange (TLS_RSA_*)", "kRSA:!eNULL:!PSK", false},
      {"other", "CAMELLIA, ARIA or SEED", "CAMELLIA:ARIA:SEED:!PSK:!SRP:!aNULL:!eNULL", false},
      {"3des", "3DES", "3DES:!aNULL:!eNULL", false},
      {"null-anon", "anonymous or NULL suites", "aNULL:eNULL:!PSK:!SRP", true},
  };
  return families;
}

const std::vector<std::string>& audit_groups() {
  static const std::vector<std::string> groups = {"X25519", "P-256", "P-384", "ffdhe2048"};
  return groups;
}

Finding make_finding(std::string id, Severity s, std::string title, std::string evidence,
                     std::string fix) {
  return Finding{std::move(id), s, std::move(title), std::move(evidence), std::move(fix)};
}

std::vector<Finding> grade(const AuditEvidence& e) {
  std::vector<Finding> out;
  reachability(e, out);
  port_mode(e, out);
  versions(e, out);
  ciphers(e, out);
  cipher_order(e, out);
  groups(e, out);
  if (const ScanOutcome* src = certificate_source(e)) {
    const auto& chain = src->facts.certificate.chain;
    key_and_signature(chain.front(), chain, out);
    chain_checks(*src, out);
    expiry(e, *src, out);
    stapling(*src, out);
    sni(e, *src, out);
  }
  resumption(e, out);
  if (e.deadline_hit) {
    out.push_back(make_finding("audit-incomplete", Severity::Info, "some checks were skipped",
                               std::to_string(e.handshakes) + " handshakes made (at most " +
                                   std::to_string(e.max_handshakes) +
                                   "); the time or the handshakes ran out",
                               "run again with a longer --timeout"));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Finding& a, const Finding& b) { return a.severity > b.severity; });
  return out;
}

Severity worst(const std::vector<Finding>& findings) {
  Severity w = Severity::Ok;
  for (const auto& f : findings) w = std::max(w, f.severity);
  return w;
}

int audit_exit_status(const std::vector<Finding>& findings) {
  switch (worst(findings)) {
    case Severity::Ok:
    case Severity::Info:
      return 0;
    case Severity::Warning:
      return 1;
    case Severity::Critical:
      return 3;
  }
  return 3;
}

}  // namespace tlsrelay::proxy
