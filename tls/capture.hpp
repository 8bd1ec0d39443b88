// Handshake capture: the OpenSSL callbacks that record what happened on the wire and in
// verification, and the read-out of the finished (or failed) handshake into TlsFacts and
// CertificateFacts.
//
// A HandshakeCapture must outlive the SSL it is attached to. Callbacks run on the thread
// that drives the SSL; no locking needed.
#pragma once

#include <openssl/ssl.h>

#include "tls/attempt.hpp"

namespace tlsrelay::tls {

class HandshakeCapture {
 public:
  // Installs the message callback (alerts both ways, handshake types) and a verify callback
  // that records every X.509 error with its depth and lets the handshake go on, so the
  // whole chain and the negotiated parameters are seen; the caller decides afterwards
  // (as Postfix's tls_verify does).
  void attach(SSL* ssl);
  // Removes the callbacks again: the SSL lives on (handed over for the transaction) while
  // this capture, part of the finished attempt, does not.
  static void detach(SSL* ssl);

  // Copies version, cipher, chain, verify results and reuse into the facts. OpenSSL's
  // errors come from the TlsChannel, which took them when they happened.
  void read_out(SSL* ssl, TlsFacts& tls, CertificateFacts& cert) const;

  // The client context's OCSP status callback (SSL_CTX_set_tlsext_status_cb; the connector
  // asks every server for a staple). OpenSSL calls it during the handshake, after the chain
  // was verified and before a session is kept. If the chain verified and the staple is
  // signed by the issuer or its delegate, current, and says the server's certificate is
  // revoked, that becomes the verification error X509_V_ERR_CERT_REVOKED at depth 0 (and
  // the session is not kept). A missing, unverifiable, stale or "unknown" response changes
  // nothing: soft fail, as browsers (Postfix does not look at OCSP at all). Always lets the
  // handshake go on.
  static int on_ocsp_status(SSL* ssl, void* arg);

  const std::vector<VerifyError>& verify_errors() const { return verify_errors_; }

  // After a completed handshake (full or resumed): whether it proves the server is `host`
  // (CertificateFacts::verified): a peer certificate, SSL_get_verify_result X509_V_OK, no
  // error recorded here, a suite that authenticates and encrypts, and `host` checked
  // against the certificate once more (IP literal or DNS name, no partial wildcards). Each is
  // required: with an anonymous suite OpenSSL runs no verification at all, so no callback ever
  // reports an error.
  bool proves_identity(SSL* ssl, const std::string& host) const;

 private:
  static void on_message(int write_p, int version, int content_type, const void* buf, size_t len,
                         SSL* ssl, void* arg);
  static int on_verify(int ok, X509_STORE_CTX* ctx);
  bool stapled_ocsp_revoked(SSL* ssl) const;

  std::vector<int> alerts_received_;
  std::vector<int> alerts_sent_;
  std::vector<int> handshake_received_;
  std::vector<VerifyError> verify_errors_;
};

// Drains OpenSSL's thread-local error queue into codes and text.
void drain_openssl_errors(std::vector<unsigned long>& codes, std::vector<std::string>& text);

}  // namespace tlsrelay::tls
