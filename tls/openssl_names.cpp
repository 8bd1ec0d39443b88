#include "tls/openssl_names.hpp"

#include <openssl/x509.h>

#include <cerrno>
#include <cstring>

namespace tlsrelay::tls {

std::string alert_name(int d) {
  switch (d) {
    case 0:
      return "close_notify";
    case 10:
      return "unexpected_message";
    case 20:
      return "bad_record_mac";
    case 21:
      return "decryption_failed";
    case 22:
      return "record_overflow";
    case 30:
      return "decompression_failure";
    case 40:
      return "handshake_failure";
    case 41:
      return "no_certificate";
    case 42:
      return "bad_certificate";
    case 43:
      return "unsupported_certificate";
    case 44:
      return "certificate_revoked";
    case 45:
      return "certificate_expired";
    case 46:
      return "certificate_unknown";
    case 47:
      return "illegal_parameter";
    case 48:
      return "unknown_ca";
    case 49:
      return "access_denied";
    case 50:
      return "decode_error";
    case 51:
      return "decrypt_error";
    case 60:
      return "export_restriction";
    case 70:
      return "protocol_version";
    case 71:
      return "insufficient_security";
    case 80:
      return "internal_error";
    case 86:
      return "inappropriate_fallback";
    case 90:
      return "user_canceled";
    case 100:
      return "no_renegotiation";
    case 109:
      return "missing_extension";
    case 110:
      return "unsupported_extension";
    case 111:
      return "certificate_unobtainable";
    case 112:
      return "unrecognized_name";
    case 113:
      return "bad_certificate_status_response";
    case 114:
      return "bad_certificate_hash_value";
    case 115:
      return "unknown_psk_identity";
    case 116:
      return "certificate_required";
    case 120:
      return "no_application_protocol";
  }
  return "alert_" + std::to_string(d);
}

std::string handshake_type_name(int t) {
  switch (t) {
    case 0:
      return "HelloRequest";
    case 1:
      return "ClientHello";
    case 2:
      return "ServerHello";
    case 4:
      return "NewSessionTicket";
    case 5:
      return "EndOfEarlyData";
    case 8:
      return "EncryptedExtensions";
    case 11:
      return "Certificate";
    case 12:
      return "ServerKeyExchange";
    case 13:
      return "CertificateRequest";
    case 14:
      return "ServerHelloDone";
    case 15:
      return "CertificateVerify";
    case 16:
      return "ClientKeyExchange";
    case 20:
      return "Finished";
    case 22:
      return "CertificateStatus";
    case 24:
      return "KeyUpdate";
  }
  return "handshake_" + std::to_string(t);
}

std::string verify_error_text(int error) {
  return X509_verify_cert_error_string(error);
}

std::string errno_name(int e) {
  switch (e) {
    case 0:
      return "";
    case ECONNREFUSED:
      return "ECONNREFUSED";
    case ECONNRESET:
      return "ECONNRESET";
    case ECONNABORTED:
      return "ECONNABORTED";
    case ETIMEDOUT:
      return "ETIMEDOUT";
    case ENETUNREACH:
      return "ENETUNREACH";
    case EHOSTUNREACH:
      return "EHOSTUNREACH";
    case ENETDOWN:
      return "ENETDOWN";
    case EHOSTDOWN:
      return "EHOSTDOWN";
    case EACCES:
      return "EACCES";
    case EPERM:
      return "EPERM";
    case EPIPE:
      return "EPIPE";
    case EADDRNOTAVAIL:
      return "EADDRNOTAVAIL";
    case EAFNOSUPPORT:
      return "EAFNOSUPPORT";
    case ENOBUFS:
      return "ENOBUFS";
    case EMFILE:
      return "EMFILE";
    case ENFILE:
      return "ENFILE";
  }
  return "errno " + std::to_string(e) + " (" + std::strerror(e) + ")";
}

}  // namespace tlsrelay::tls
