#include "proxy/explain/openssl_reasons.hpp"

#include <string>

namespace tlsrelay::explain {

namespace {

using FC = FailureClass;

// Reason numbers are OpenSSL 3.0's include/openssl/sslerr.h (SSL_R_*); TLS alerts are
// 1000 + the alert number of RFC 8446 section 6 (SSL_AD_REASON_OFFSET). The 1.1 names
// differ only in the function field of the code, which we ignore.
const ReasonRow kRows[] = {
    // X.509 verification: the verify strings of X509_verify_cert_error_string() as Postfix
    // 3.7 (src/tls/tls_verify.c tls_log_verify_error) and Sendmail's verifymsg= log them.
    {"hostname mismatch", 0, {FC::CertificateHostMismatch}, "X509_V_ERR_HOSTNAME_MISMATCH (62)"},
    {"certificate has expired",
     0,
     {FC::CertificateExpired, FC::ClientClockSkew},
     "num=10; our clock decides: probe compares it with the build time and the whole chain"},
    {"not yet valid",
     0,
     {FC::CertificateNotYetValid, FC::ClientClockSkew},
     "num=9 (\"certificate is not yet valid\", Postfix: \"certificate not yet valid\")"},
    {"self-signed certificate in certificate chain",
     0,
     {FC::CertificateUntrusted, FC::CertificateSelfSigned},
     "num=19: the chain ends at a root we do not have"},
    {"self signed certificate in certificate chain",
     0,
     {FC::CertificateUntrusted, FC::CertificateSelfSigned},
     "num=19, OpenSSL 1.1 spelling"},
    {"self-signed certificate", 0, {FC::CertificateSelfSigned}, "num=18"},
    {"self signed certificate", 0, {FC::CertificateSelfSigned}, "num=18, OpenSSL 1.1 spelling"},
    {"unable to get local issuer certificate",
     0,
     {FC::CertificateChainIncomplete, FC::CertificateUntrusted},
     "num=20: depth 0 means the server sent only its leaf"},
    {"unable to get issuer certificate",
     0,
     {FC::CertificateChainIncomplete, FC::CertificateUntrusted},
     "num=2"},
    {"unable to verify the first certificate",
     0,
     {FC::CertificateChainIncomplete, FC::CertificateUntrusted},
     "num=21"},
    {"untrusted issuer",
     0,
     {FC::CertificateChainIncomplete, FC::CertificateUntrusted, FC::CertificateSelfSigned},
     "Postfix's words for num=2, 19, 20, 21: how many certificates were sent decides"},
    {"not trusted by local or tlsa policy",
     0,
     {FC::CertificateUntrusted},
     "Postfix: no trust anchor or TLSA record matched"},
    {"certificate revoked", 0, {FC::CertificateRevoked}, "num=23"},
    {"key too weak", 0, {FC::CertificateWeak}, "num=66, 67: EE or CA certificate key too weak"},
    {"digest algorithm too weak", 0, {FC::CertificateWeak}, "num=68: CA signature digest"},
    {"certificate signature failure", 0, {FC::CertificateInvalid}, "num=7"},
    {"unsupported certificate purpose", 0, {FC::CertificateInvalid}, "num=26"},
    {"not designated for use as a", 0, {FC::CertificateInvalid}, "Postfix's words for num=26"},
    {"certificate chain too long", 0, {FC::CertificateInvalid}, "num=22"},
    {"certificate chain longer than limit", 0, {FC::CertificateInvalid}, "Postfix, num=22"},

    // OpenSSL's SSL library reasons (error:0A0000NN / error:14xxxNNN).
    {"certificate verify failed",
     134,
     {FC::CertificateExpired, FC::CertificateNotYetValid, FC::ClientClockSkew,
      FC::CertificateUntrusted, FC::CertificateChainIncomplete, FC::CertificateSelfSigned,
      FC::CertificateWeak, FC::CertificateRevoked},
     "SSL_R_CERTIFICATE_VERIFY_FAILED: the verify line before it (num=...) names the cause"},
    {"wrong version number",
     267,
     {FC::TlsModeMismatch, FC::StarttlsInjection},
     "SSL_R_WRONG_VERSION_NUMBER: plaintext where a ServerHello should be (465/587 mix-up)"},
    {"packet length too long",
     198,
     {FC::TlsModeMismatch, FC::TlsError},
     "SSL_R_PACKET_LENGTH_TOO_LONG: text read as a TLS record"},
    {"http request", 156, {FC::NotSmtp, FC::TlsModeMismatch}, "SSL_R_HTTP_REQUEST (inbound)"},
    {"unexpected eof while reading",
     294,
     {FC::ConnectionClosed},
     "SSL_R_UNEXPECTED_EOF_WHILE_READING: the peer closed without an alert"},
    {"alert protocol version",
     1070,
     {FC::TlsProtocolMismatch},
     "alert protocol_version (70): no TLS version in common"},
    {"unsupported protocol",
     258,
     {FC::TlsProtocolMismatch},
     "SSL_R_UNSUPPORTED_PROTOCOL: the server chose a version we refuse"},
    {"no protocols available",
     191,
     {FC::TlsProtocolMismatch, FC::LocalConfig},
     "SSL_R_NO_PROTOCOLS_AVAILABLE: our own protocol settings exclude every version"},
    {"alert handshake failure",
     1040,
     {FC::TlsNoSharedCipher, FC::TlsProtocolMismatch, FC::TlsClientCertificateRequired,
      FC::TlsAlert},
     "alert handshake_failure (40): the versions and ciphers offered decide; any other refusal"},
    {"no shared cipher", 193, {FC::TlsNoSharedCipher}, "SSL_R_NO_SHARED_CIPHER (inbound)"},
    {"no ciphers available",
     181,
     {FC::TlsNoSharedCipher, FC::LocalConfig},
     "SSL_R_NO_CIPHERS_AVAILABLE: our cipher list is empty for these versions"},
    {"no suitable signature algorithm",
     118,
     {FC::TlsNoSharedCipher},
     "SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM"},
    {"alert insufficient security",
     1071,
     {FC::TlsNoSharedCipher, FC::TlsWeakParameters},
     "alert insufficient_security (71)"},
    {"unrecognized name", 1112, {FC::TlsSniRequired}, "alert unrecognized_name (112)"},
    {"alert certificate required",
     1116,
     {FC::TlsClientCertificateRequired},
     "alert certificate_required (116, TLS 1.3)"},
    {"alert bad certificate",
     1042,
     {FC::TlsClientCertificateRequired, FC::TlsAlert},
     "alert bad_certificate (42): the server disliked our (missing) client certificate"},
    {"alert access denied",
     1049,
     {FC::TlsClientCertificateRequired, FC::TlsAlert},
     "alert access_denied (49)"},
    {"alert unknown ca",
     1048,
     {FC::CertificateUntrusted, FC::CertificateChainIncomplete, FC::CertificateSelfSigned,
      FC::TlsAlert},
     "alert unknown_ca (48): the peer has no root for the chain it was sent (inbound: the client "
     "rejects our certificate)"},
    {"dh key too small", 394, {FC::TlsWeakParameters}, "SSL_R_DH_KEY_TOO_SMALL"},
    {"unsafe legacy renegotiation disabled",
     338,
     {FC::TlsWeakParameters},
     "SSL_R_UNSAFE_LEGACY_RENEGOTIATION_DISABLED: no RFC 5746"},
    {"legacy sigalg disallowed",
     333,
     {FC::TlsWeakParameters},
     "SSL_R_LEGACY_SIGALG_DISALLOWED_OR_UNSUPPORTED"},
    {"ee key too small",
     399,
     {FC::CertificateWeak, FC::LocalConfig},
     "SSL_R_EE_KEY_TOO_SMALL: the server's key, or our own client key"},
    {"ca key too small", 397, {FC::CertificateWeak, FC::LocalConfig}, "SSL_R_CA_KEY_TOO_SMALL"},
    {"ca md too weak", 398, {FC::CertificateWeak, FC::LocalConfig}, "SSL_R_CA_MD_TOO_WEAK"},

    // GnuTLS's gnutls_strerror() texts, as Debian's Exim 4.96 logs them.
    {"could not negotiate a supported cipher suite",
     0,
     {FC::TlsNoSharedCipher},
     "GNUTLS_E_NO_CIPHER_SUITES"},
    {"packet with illegal or unsupported version",
     0,
     {FC::TlsModeMismatch, FC::TlsProtocolMismatch},
     "GNUTLS_E_UNSUPPORTED_VERSION_PACKET"},
    {"unexpected tls packet was received",
     0,
     {FC::TlsModeMismatch},
     "GNUTLS_E_UNEXPECTED_PACKET: plaintext where TLS was expected"},
    {"error in protocol version",
     0,
     {FC::TlsProtocolMismatch},
     "GnuTLS's name of alert protocol_version (70), as Exim logs a fatal alert"},
    {"non-properly terminated", 0, {FC::ConnectionClosed}, "GNUTLS_E_PREMATURE_TERMINATION"},
    {"error in the pull function",
     0,
     {FC::ConnectionReset, FC::ConnectionClosed},
     "GNUTLS_E_PULL_ERROR: a read failed"},
    {"tls fatal alert has been received",
     0,
     {FC::TlsAlert, FC::TlsNoSharedCipher, FC::TlsProtocolMismatch},
     "GNUTLS_E_FATAL_ALERT_RECEIVED"},
    {"certificate verification failed",
     0,
     {FC::CertificateExpired, FC::CertificateNotYetValid, FC::ClientClockSkew,
      FC::CertificateUntrusted, FC::CertificateChainIncomplete, FC::CertificateSelfSigned,
      FC::CertificateWeak, FC::CertificateRevoked, FC::CertificateInvalid},
     "Exim: \"(certificate verification failed): certificate invalid\": GnuTLS names no cause"},

    // Words of the operating system the TLS layer passes on.
    {"connection reset by peer", 0, {FC::ConnectionReset}, "ECONNRESET during the handshake"},
    {"timed out", 0, {FC::Timeout}, "ETIMEDOUT / a read time-out during the handshake"},
    {"broken pipe", 0, {FC::ConnectionReset, FC::ConnectionClosed}, "EPIPE"},
    {"lost connection", 0, {FC::ConnectionClosed}, "EOF, no alert"},

    // Last: any other alert, any other OpenSSL error.
    {"alert ", 0, {FC::TlsAlert}, "any other fatal alert: its name is in the detail"},
    {"error:", 0, {FC::TlsError}, "any other TLS library error"},
};

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

constexpr std::size_t kMaxScan = 1024;  // reasons sit at the front; never scan a whole line

}  // namespace

const ReasonRow* reason_rows_begin() {
  return kRows;
}
const ReasonRow* reason_rows_end() {
  return kRows + sizeof(kRows) / sizeof(kRows[0]);
}

int ssl_reason_from_code(std::string_view hex8) {
  if (hex8.size() != 8) return -1;
  std::uint32_t v = 0;
  for (char c : hex8) {
    int h = hex_value(c);
    if (h < 0) return -1;
    v = v * 16 + static_cast<std::uint32_t>(h);
  }
  constexpr std::uint32_t kLibSsl = 20;
  // OpenSSL 3.x: library in bits 23..30, reason in bits 0..22 (include/openssl/err.h).
  if ((v & 0x80000000u) == 0 && ((v >> 23) & 0xFF) == kLibSsl)
    return static_cast<int>(v & 0x7FFFFF);
  // OpenSSL 1.1: library in bits 24..31, function in 12..23, reason in 0..11.
  if ((v >> 24) == kLibSsl) return static_cast<int>(v & 0xFFF);
  return -1;
}

const ReasonRow* match_reason(std::string_view detail) {
  if (detail.size() > kMaxScan) detail = detail.substr(0, kMaxScan);
  std::string low(detail.size(), '\0');
  for (std::size_t i = 0; i < detail.size(); ++i) low[i] = lower(detail[i]);
  // An "error:XXXXXXXX:" code, if any, for the rows whose text was not logged.
  int reason = -1;
  if (auto at = low.find("error:");
      at != std::string::npos && at + 14 < low.size() && low[at + 14] == ':') {
    reason = ssl_reason_from_code(std::string_view(low).substr(at + 6, 8));
  }
  const ReasonRow* generic = reason_rows_end() - 2;  // "alert ", "error:"
  for (const ReasonRow* r = reason_rows_begin(); r != generic; ++r) {
    if (low.find(r->text) != std::string::npos) return r;
  }
  if (reason > 0) {
    for (const ReasonRow* r = reason_rows_begin(); r != generic; ++r) {
      if (r->ssl_reason == reason) return r;
    }
  }
  for (const ReasonRow* r = generic; r != reason_rows_end(); ++r) {
    if (low.find(r->text) != std::string::npos) return r;
  }
  return nullptr;
}

}  // namespace tlsrelay::explain
