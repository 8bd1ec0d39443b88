// The server-side TLS configuration of the test peer: turns the --cert/--tls-*/--ciphers/
// --seclevel/--dh1024/--require-* options into one SSL_CTX that every connection shares.
// Limits: one certificate set per process; the chain is sent exactly as written in
// NAME.chain.pem (OpenSSL's automatic chain building is off).
// Thread-safety: construct once before serving; afterwards context() is shared read-only,
// which OpenSSL allows for SSL_new() from many threads.
#pragma once

#include "ossl.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace tlsrelay::testpeer {

struct TlsServerOptions {
  std::string cert_dir;
  std::string cert_name = "good";
  std::optional<int> min_version;  // OpenSSL constants: TLS1_VERSION ... TLS1_3_VERSION
  std::optional<int> max_version;
  std::optional<std::string> ciphers;
  std::optional<int> seclevel;
  bool dh1024 = false;
  // Only anonymous suites (aNULL: no certificate sent), TLS 1.2, level 0: a man in the
  // middle that cannot show the real server's certificate and hopes the client settles.
  bool anonymous = false;
  std::optional<std::string> require_sni;
  // The certificate set served to a client that sends no SNI; with SNI the client gets
  // cert_name. A server whose default virtual host is another name (what Postfix without
  // smtp_tls_servername sees).
  std::optional<std::string> cert_without_sni;
  bool require_client_cert = false;
  // Staple an OCSP response to a client that asks: "good", "revoked" or "revoked-sha256"
  // (the CertID hashed with SHA-256, not SHA-1) signed by the issuer (inter.pem/inter.key:
  // the sets signed by the intermediate); "forged-by-server" and "forged-by-root": revoked,
  // but signed by the server's own key or by the trusted root, neither of which is the
  // issuer or a responder it delegated to (a client must ignore them).
  std::optional<std::string> ocsp;
};

inline constexpr const char* kOcspUsage =
    "--ocsp wants good, revoked, revoked-sha256, forged-by-server or forged-by-root";
inline bool valid_ocsp_status(const std::string& s) {
  return s == "good" || s == "revoked" || s == "revoked-sha256" || s == "forged-by-server" ||
         s == "forged-by-root";
}

// A certificate set loaded beside the context's own: leaf, key, and the chain after the leaf.
struct OtherCertificate {
  X509Ptr leaf;
  EvpPkeyPtr key;
  STACK_OF(X509) * chain = nullptr;
  OtherCertificate() = default;
  OtherCertificate(const OtherCertificate&) = delete;
  OtherCertificate& operator=(const OtherCertificate&) = delete;
  ~OtherCertificate() { sk_X509_pop_free(chain, X509_free); }
};

// "1.0" .. "1.3" -> TLS1_VERSION .. TLS1_3_VERSION.
std::optional<int> parse_tls_version(std::string_view text);

class TlsServer {
 public:
  // Throws std::runtime_error with OpenSSL's reason when the context cannot be set up.
  explicit TlsServer(TlsServerOptions options);
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  SSL_CTX* context() const { return ctx_.get(); }
  // One line for the start-up log: certificate set, versions, security level.
  std::string describe() const;

 private:
  void load_certificate_set();
  void apply_protocol_limits();
  void use_dh1024();
  void use_anonymous();
  void require_client_certificate();
  void staple_ocsp();
  void serve_other_certificate_without_sni();

  TlsServerOptions options_;  // the SNI callback points into this; hence no copy or move
  SslCtxPtr ctx_;
  std::string ocsp_der_;          // the stapled response; the status callback points into this
  OtherCertificate without_sni_;  // cert_without_sni; the certificate callback points here
};

// "TLSv1.3 TLS_AES_256_GCM_SHA384 sni=mx.test" for a finished handshake.
std::string describe_session(SSL* ssl);

}  // namespace tlsrelay::testpeer
