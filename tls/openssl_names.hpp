// Names for the numbers OpenSSL and TLS put on the wire: alert descriptions (RFC 8446 6,
// RFC 5246 7.2), handshake message types, X.509 verification errors.
//
// Pure functions over constants; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace tlsrelay::tls {

// "handshake_failure" for 40; "alert_N" for unknown values.
std::string alert_name(int description);
// "CertificateRequest" for 13.
std::string handshake_type_name(int type);
// OpenSSL's text for an X509_V_ERR_* code, e.g. "certificate has expired".
std::string verify_error_text(int error);
// errno as its symbolic name, e.g. "ECONNRESET"; "" for 0.
std::string errno_name(int error);

// Well-known alert descriptions.
namespace alert {
inline constexpr int kCloseNotify = 0;
inline constexpr int kUnexpectedMessage = 10;
inline constexpr int kHandshakeFailure = 40;
inline constexpr int kNoCertificate = 41;
inline constexpr int kBadCertificate = 42;
inline constexpr int kUnsupportedCertificate = 43;
inline constexpr int kCertificateRevoked = 44;
inline constexpr int kCertificateExpired = 45;
inline constexpr int kCertificateUnknown = 46;
inline constexpr int kIllegalParameter = 47;
inline constexpr int kUnknownCa = 48;
inline constexpr int kAccessDenied = 49;
inline constexpr int kDecodeError = 50;
inline constexpr int kProtocolVersion = 70;
inline constexpr int kInsufficientSecurity = 71;
inline constexpr int kInternalError = 80;
inline constexpr int kInappropriateFallback = 86;
inline constexpr int kUserCanceled = 90;
inline constexpr int kMissingExtension = 109;
inline constexpr int kUnrecognizedName = 112;
inline constexpr int kCertificateRequired = 116;
inline constexpr int kNoApplicationProtocol = 120;
}  // namespace alert

// Handshake message types (RFC 8446 4).
namespace handshake {
inline constexpr int kServerHello = 2;
inline constexpr int kCertificate = 11;
inline constexpr int kServerKeyExchange = 12;
inline constexpr int kCertificateRequest = 13;
}  // namespace handshake

}  // namespace tlsrelay::tls
