// TLS handshake failures: alerts from the server, OpenSSL reasons, plaintext where TLS
// was expected (port 465/587 confusion).
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

// ---- TLS handshake ------------------------------------------------------------------------

namespace {

std::string plaintext_seen(const AttemptFacts& f) {
  return printable(f.tls.first_bytes, 60);
}

std::optional<Verdict> classify_plaintext_in_tls(const AttemptFacts& f) {
  if (f.tls.first_bytes.empty() || looks_like_tls_record(f.tls.first_bytes)) return std::nullopt;
  const std::string at = where(f);
  if (f.upstream.tls_mode == TlsMode::Starttls) {
    // A 4xx/5xx reply where the ServerHello should be: the server said 220 but then took
    // our ClientHello for an SMTP command (a broken STARTTLS implementation or an SMTP
    // proxy), which is a refusal of STARTTLS, not someone injecting on the path.
    if (auto r = parse_reply_text(f.tls.first_bytes.substr(0, f.tls.first_bytes.find('\n') + 1));
        r && r->code >= 400) {
      Verdict v = make(
          StarttlsRejected, Phase::Starttls,
          "the server answered our ClientHello as an SMTP command: \"" + plaintext_seen(f) + "\"",
          "the server said 220 to STARTTLS but does not start TLS (" +
              printable(r->first_line(), 160) +
              "); its STARTTLS support is broken, tell its "
              "operator, or use port 465 with tls = implicit");
      v.transient = r->transient_failure();
      return v;
    }
    return make(StarttlsInjection, Phase::Starttls,
                "plaintext arrived after the 220 to STARTTLS where the TLS handshake should be: "
                "\"" +
                    plaintext_seen(f) + "\"",
                "something between us and " + f.upstream.host +
                    " injected plaintext after 'Ready to start TLS' (RFC 3207 5): a man in the "
                    "middle or a broken server; the connection was abandoned");
  }
  if (looks_like_smtp_reply(f.tls.first_bytes)) {
    return make(TlsModeMismatch, Phase::TlsHandshake,
                "answered our ClientHello with plaintext SMTP: \"" + plaintext_seen(f) + "\"",
                at + " speaks plaintext SMTP, not implicit TLS; use tls = starttls (ports 587 "
                     "and 25 speak STARTTLS, 465 implicit TLS)");
  }
  return make(NotSmtp, Phase::TlsHandshake,
              "answered our ClientHello with \"" + plaintext_seen(f) + "\"",
              at + " speaks neither TLS nor SMTP (" + describe_protocol(f.tls.first_bytes) +
                  "); check the host and port");
}

std::string alert_hint(int a, const AttemptFacts& f) {
  switch (a) {
    case alert::kInternalError:
      return "the server failed internally during the handshake (alert internal_error); its "
             "TLS setup is broken, tell its operator";
    case alert::kAccessDenied:
      return "the server denies us at the TLS layer (alert access_denied): our address or "
             "name is not allowed there";
    case alert::kDecodeError:
    case alert::kIllegalParameter:
      return "the server could not parse our ClientHello (alert " + alert_name(a) +
             "): an old or broken TLS stack; a compat profile for " + f.upstream.host + " may help";
    case alert::kInappropriateFallback:
      // RFC 7507: only a retry that announced itself as a fallback gets this alert.
      return "the server refused our retry with the compat profile as a downgrade (alert "
             "inappropriate_fallback, RFC 7507): it speaks a newer TLS version than that "
             "profile offers, so the first attempt failed for another reason. Something on the "
             "path interferes with the newer version (a middlebox that breaks TLS 1.3, or an "
             "attacker forcing a downgrade); compat cannot help here: see the first attempt's "
             "class and check the path to " +
             f.upstream.host;
    default:
      return "the server ended the handshake with alert " + alert_name(a) +
             "; check its TLS configuration with `openssl s_client`";
  }
}

bool cert_request_seen(const AttemptFacts& f) {
  return contains(f.tls.handshake_messages_received, handshake::kCertificateRequest);
}

std::optional<Verdict> classify_by_reason(const AttemptFacts& f) {
  const std::string at = where(f);
  if (ssl_reason(f, SSL_R_EE_KEY_TOO_SMALL) || ssl_reason(f, SSL_R_CA_KEY_TOO_SMALL) ||
      ssl_reason(f, SSL_R_CA_MD_TOO_WEAK)) {
    return make(CertificateWeak, Phase::Certificate, openssl_detail(f),
                "the server's certificate uses a key or digest too weak for security level 2 "
                "(RSA < 2048 bits or SHA-1); it needs a new certificate");
  }
  if (ssl_reason(f, SSL_R_DH_KEY_TOO_SMALL)) {
    return make(TlsWeakParameters, Phase::TlsHandshake, "dh key too small: " + openssl_detail(f),
                "the server chose a finite-field Diffie-Hellman group under 2048 bits; it should "
                "use 2048-bit DH parameters or ECDHE (Postfix: smtpd_tls_dh1024_param_file)");
  }
  if (ssl_reason(f, SSL_R_UNSAFE_LEGACY_RENEGOTIATION_DISABLED)) {
    return make(TlsWeakParameters, Phase::TlsHandshake, openssl_detail(f),
                "the server does not support RFC 5746 secure renegotiation; its TLS stack is "
                "outdated and must be upgraded");
  }
  if (ssl_reason(f, SSL_R_LEGACY_SIGALG_DISALLOWED_OR_UNSUPPORTED) ||
      ssl_reason(f, SSL_R_WRONG_SIGNATURE_TYPE) ||
      ssl_reason(f, SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM)) {
    return make(TlsWeakParameters, Phase::TlsHandshake, openssl_detail(f),
                "the server signed its handshake with a signature algorithm our security "
                "level refuses (SHA-1 era); the server's TLS stack must be upgraded");
  }
  if (ssl_reason(f, SSL_R_UNSUPPORTED_PROTOCOL) || ssl_reason(f, SSL_R_VERSION_TOO_LOW) ||
      ssl_reason(f, SSL_R_WRONG_SSL_VERSION)) {
    return make(TlsProtocolMismatch, Phase::TlsHandshake,
                "the server chose a TLS version below our minimum " + f.min_version + ": " +
                    openssl_detail(f),
                at + " only speaks TLS versions older than " + f.min_version +
                    "; the server must be upgraded, or give this upstream a compat profile "
                    "with a lower min_version if you accept the risk");
  }
  if (ssl_reason(f, SSL_R_WRONG_CIPHER_RETURNED) || ssl_reason(f, SSL_R_NO_CIPHERS_AVAILABLE) ||
      ssl_reason(f, SSL_R_NO_SHARED_CIPHER)) {
    return make(TlsNoSharedCipher, Phase::TlsHandshake, openssl_detail(f),
                "no cipher suite in common with " + at + "; check its cipher configuration");
  }
  if (ssl_reason(f, SSL_R_EXCESSIVE_MESSAGE_SIZE)) {
    return make(TlsError, Phase::TlsHandshake, openssl_detail(f),
                at + " sent a TLS handshake message larger than we accept: in practice a "
                     "certificate chain over 100 KiB (thousands of names, or many "
                     "certificates); the server's operator must send a smaller chain");
  }
  if (ssl_reason(f, SSL_R_WRONG_VERSION_NUMBER) || ssl_reason(f, SSL_R_PACKET_LENGTH_TOO_LONG) ||
      ssl_reason(f, SSL_R_RECORD_LENGTH_MISMATCH) || ssl_reason(f, SSL_R_HTTPS_PROXY_REQUEST) ||
      ssl_reason(f, SSL_R_HTTP_REQUEST)) {
    // failure-classes.md names OpenSSL's "wrong version number" as tls-mode-mismatch: the
    // server answered our ClientHello with something that is not TLS.
    return make(TlsModeMismatch, Phase::TlsHandshake, openssl_detail(f),
                "the server's reply to our ClientHello is not TLS: implicit TLS spoken to a "
                "plaintext port? Check the port and tls mode (465 = implicit, 587/25 = "
                "starttls)");
  }
  return std::nullopt;
}

}  // namespace

Verdict classify_tls(const AttemptFacts& f) {
  const std::string at = where(f);
  if (auto v = classify_plaintext_in_tls(f)) return *v;

  if (auto a = first_alert_received(f)) {
    const std::string name = alert_name(*a);
    const std::string when = f.tls.failed_after_handshake ? " right after the handshake" : "";
    const std::string detail = "alert " + name + " received" + when;
    if (*a == alert::kCertificateRequired ||
        (cert_request_seen(f) && (*a == alert::kHandshakeFailure || *a == alert::kBadCertificate ||
                                  *a == alert::kNoCertificate || *a == alert::kCertificateUnknown ||
                                  *a == alert::kUnknownCa || *a == alert::kAccessDenied ||
                                  *a == alert::kUnsupportedCertificate))) {
      return make(TlsClientCertificateRequired, Phase::TlsHandshake,
                  detail + (cert_request_seen(f) ? " after a CertificateRequest" : ""),
                  at + " demands a client certificate and we have none: it is not meant for "
                       "relaying from us without one; use the provider's submission port "
                       "(587 with AUTH) or configure a client certificate");
    }
    if (*a == alert::kProtocolVersion) {
      return make(TlsProtocolMismatch, Phase::TlsHandshake, detail,
                  at + " accepts none of the TLS versions we offer (" + f.min_version +
                      " to 1.3); the server is outdated or requires a newer version");
    }
    if (*a == alert::kUnrecognizedName) {
      if (f.tls.sni.empty()) {
        return make(TlsSniRequired, Phase::TlsHandshake, detail + "; no SNI was sent",
                    "the server needs a server name (SNI), and none was sent because the "
                    "upstream is given as the address " +
                        f.upstream.host + "; set host to the server's name and connect = \"" +
                        f.upstream.host + "\" if the address must be fixed");
      }
      return make(TlsSniRequired, Phase::TlsHandshake, detail + "; SNI was " + f.tls.sni,
                  "the server does not serve the name " + f.tls.sni +
                      "; use the host name the provider documents for this server");
    }
    if (*a == alert::kHandshakeFailure || *a == alert::kInsufficientSecurity) {
      return make(TlsNoSharedCipher, Phase::TlsHandshake, detail + " in reply to our ClientHello",
                  at +
                      " found no cipher suite, key-exchange group or signature algorithm in "
                      "common with our offer (TLS " +
                      f.min_version + "+, " + printable(f.cipher_list, 100) +
                      " at security level " + std::to_string(f.security_level) +
                      "); the server's TLS configuration is outdated, or a compat profile for "
                      "it is needed (never one with anonymous suites: they prove nothing)");
    }
    if (*a == alert::kCloseNotify) {
      // Handled as a clean close below.
    } else {
      auto v = make(TlsAlert, Phase::TlsHandshake, detail, alert_hint(*a, f));
      return v;
    }
  }

  if (auto v = classify_by_reason(f)) return *v;

  if (f.ending == Ending::TimedOut || f.ending == Ending::PeerClosed ||
      f.ending == Ending::SocketError) {
    AttemptFacts g = f;
    g.phase = Phase::TlsHandshake;
    return classify_network(g);
  }
  return make(TlsError, Phase::TlsHandshake, openssl_detail(f),
              "the TLS handshake with " + at + " failed: " + openssl_detail(f));
}

}  // namespace tlsrelay::tls::detail
