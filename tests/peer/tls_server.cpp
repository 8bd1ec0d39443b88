#include "tls_server.hpp"

#include "log.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <strings.h>

#include <algorithm>
#include <stdexcept>

namespace tlsrelay::testpeer {

namespace {

// RFC 6066 section 3: a server that does not recognise the name may abort with a fatal
// unrecognized_name alert. OpenSSL calls this even when the client sent no SNI at all.
int require_sni_callback(SSL* ssl, int* alert, void* arg) {
  const auto* wanted = static_cast<const std::string*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name != nullptr && strcasecmp(name, wanted->c_str()) == 0) return SSL_TLSEXT_ERR_OK;
  *alert = SSL_AD_UNRECOGNIZED_NAME;
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

// RFC 6066 8: the client asked for the certificate status; hand it the prepared response.
int staple_callback(SSL* ssl, void* arg) {
  const auto* der = static_cast<const std::string*>(arg);
  auto* copy = static_cast<unsigned char*>(OPENSSL_malloc(der->size()));
  if (copy == nullptr) return SSL_TLSEXT_ERR_NOACK;
  std::copy(der->begin(), der->end(), copy);
  SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(der->size()));  // takes it
  return SSL_TLSEXT_ERR_OK;
}

// Before the server picks its certificate: a client that sent no SNI gets the other set.
int without_sni_callback(SSL* ssl, void* arg) {
  if (SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) != nullptr) return 1;
  const auto* other = static_cast<const OtherCertificate*>(arg);
  return SSL_use_cert_and_key(ssl, other->leaf.get(), other->key.get(), other->chain, 1) == 1 ? 1
                                                                                              : 0;
}

X509Ptr read_certificate(const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) fail("cannot read " + path);
  return cert;
}

EvpPkeyPtr read_key(const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  EvpPkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) fail("cannot read " + path);
  return key;
}

using SecurityCallback = int (*)(const SSL*, const SSL_CTX*, int, int, int, void*, void*);

// The callback OpenSSL installs in every new context: the security level's own rules.
SecurityCallback default_security_callback() {
  static const SecurityCallback callback = [] {
    SslCtxPtr probe(SSL_CTX_new(TLS_server_method()));
    return probe ? SSL_CTX_get_security_callback(probe.get()) : nullptr;
  }();
  return callback;
}

// The weak sets (rsa1024, sha1) exist to be judged by the client. OpenSSL checks the
// server's own chain against the server's security level both when loading it and when
// sending it, so at Debian's level 2 a real server would refuse to use them. Let our own
// key and chain signatures pass; everything else (negotiation, client certificates, which
// carry SSL_SECOP_PEER) still follows the configured level.
int permit_own_chain(const SSL* ssl, const SSL_CTX* ctx, int op, int bits, int nid, void* other,
                     void* ex) {
  if (op == SSL_SECOP_EE_KEY || op == SSL_SECOP_CA_KEY || op == SSL_SECOP_CA_MD) return 1;
  const SecurityCallback fallback = default_security_callback();
  return fallback != nullptr ? fallback(ssl, ctx, op, bits, nid, other, ex) : 0;
}

}  // namespace

std::optional<int> parse_tls_version(std::string_view text) {
  if (text == "1.0") return TLS1_VERSION;
  if (text == "1.1") return TLS1_1_VERSION;
  if (text == "1.2") return TLS1_2_VERSION;
  if (text == "1.3") return TLS1_3_VERSION;
  return std::nullopt;
}

TlsServer::TlsServer(TlsServerOptions options)
    : options_(std::move(options)), ctx_(SSL_CTX_new(TLS_server_method())) {
  if (!ctx_) fail("SSL_CTX_new failed");
  // Exact control of the bytes: the chain file is the chain, never "improved" from a store.
  SSL_CTX_set_mode(ctx_.get(), SSL_MODE_NO_AUTO_CHAIN);
  load_certificate_set();
  apply_protocol_limits();
  if (options_.require_sni) {
    SSL_CTX_set_tlsext_servername_callback(ctx_.get(), require_sni_callback);
    SSL_CTX_set_tlsext_servername_arg(ctx_.get(), &*options_.require_sni);
  }
  if (options_.require_client_cert) require_client_certificate();
  if (options_.ocsp) staple_ocsp();
  if (options_.cert_without_sni) serve_other_certificate_without_sni();
}

void TlsServer::serve_other_certificate_without_sni() {
  const std::string base = options_.cert_dir + "/" + *options_.cert_without_sni;
  BioPtr bio(BIO_new_file((base + ".chain.pem").c_str(), "r"));
  if (!bio) fail("cannot read " + base + ".chain.pem");
  without_sni_.leaf.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!without_sni_.leaf) fail("cannot read " + base + ".chain.pem");
  without_sni_.chain = sk_X509_new_null();
  while (X509* next = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    sk_X509_push(without_sni_.chain, next);
  }
  ERR_clear_error();  // the end of the file
  without_sni_.key = read_key(base + ".key");
  // The certificate callback runs after the ClientHello (SNI known), before the server
  // chooses its certificate: the one place to switch it per connection.
  SSL_CTX_set_cert_cb(ctx_.get(), without_sni_callback, &without_sni_);
}

void TlsServer::staple_ocsp() {
  const std::string& status = *options_.ocsp;
  if (!valid_ocsp_status(status)) throw std::runtime_error(kOcspUsage);
  const std::string dir = options_.cert_dir + "/";
  X509Ptr issuer = read_certificate(dir + "inter.pem");
  X509* leaf = SSL_CTX_get0_certificate(ctx_.get());
  // Who signs: the issuer, as a real CA's responder; or a forger with a certificate that
  // chains to the client's trust store but is not the issuer nor its delegated responder.
  X509Ptr root;
  EvpPkeyPtr key;
  X509* signer = issuer.get();
  EVP_PKEY* signer_key = nullptr;
  if (status == "forged-by-server") {  // the server's own key (no OCSPSigning)
    signer = leaf;
    signer_key = SSL_CTX_get0_privatekey(ctx_.get());
  } else if (status == "forged-by-root") {  // the trusted root above the issuer
    root = read_certificate(dir + "ca.pem");
    key = read_key(dir + "ca.key");
    signer = root.get();
    signer_key = key.get();
  } else {
    key = read_key(dir + "inter.key");
    signer_key = key.get();
  }
  const EVP_MD* id_hash = status == "revoked-sha256" ? EVP_sha256() : nullptr;  // else SHA-1
  std::unique_ptr<OCSP_CERTID, OsslDeleter<OCSP_CERTID_free>> id(
      OCSP_cert_to_id(id_hash, leaf, issuer.get()));
  std::unique_ptr<OCSP_BASICRESP, OsslDeleter<OCSP_BASICRESP_free>> basic(OCSP_BASICRESP_new());
  std::unique_ptr<ASN1_TIME, OsslDeleter<ASN1_TIME_free>> now(X509_gmtime_adj(nullptr, 0));
  std::unique_ptr<ASN1_TIME, OsslDeleter<ASN1_TIME_free>> next(
      X509_gmtime_adj(nullptr, 7L * 86400));
  std::unique_ptr<ASN1_TIME, OsslDeleter<ASN1_TIME_free>> revoked_at(
      X509_gmtime_adj(nullptr, -86400));
  const bool revoked = status != "good";
  if (!id || !basic || !now || !next || !revoked_at ||
      OCSP_basic_add1_status(
          basic.get(), id.get(), revoked ? V_OCSP_CERTSTATUS_REVOKED : V_OCSP_CERTSTATUS_GOOD,
          revoked ? OCSP_REVOKED_STATUS_KEYCOMPROMISE : 0, revoked ? revoked_at.get() : nullptr,
          now.get(), next.get()) == nullptr ||
      OCSP_basic_sign(basic.get(), signer, signer_key, EVP_sha256(), nullptr, 0) != 1)
    fail("cannot build the OCSP response");
  std::unique_ptr<OCSP_RESPONSE, OsslDeleter<OCSP_RESPONSE_free>> response(
      OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic.get()));
  unsigned char* der = nullptr;
  const int len = response ? i2d_OCSP_RESPONSE(response.get(), &der) : -1;
  if (len <= 0) fail("cannot encode the OCSP response");
  ocsp_der_.assign(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  SSL_CTX_set_tlsext_status_cb(ctx_.get(), staple_callback);
  SSL_CTX_set_tlsext_status_arg(ctx_.get(), &ocsp_der_);
}

void TlsServer::load_certificate_set() {
  if (options_.cert_dir.empty()) throw std::runtime_error("--cert-dir is required for TLS");
  const std::string base = options_.cert_dir + "/" + options_.cert_name;
  SSL_CTX_set_security_callback(ctx_.get(), permit_own_chain);
  if (SSL_CTX_use_certificate_chain_file(ctx_.get(), (base + ".chain.pem").c_str()) != 1)
    fail("cannot load " + base + ".chain.pem");
  if (SSL_CTX_use_PrivateKey_file(ctx_.get(), (base + ".key").c_str(), SSL_FILETYPE_PEM) != 1)
    fail("cannot load " + base + ".key");
  if (SSL_CTX_check_private_key(ctx_.get()) != 1) fail(base + ".key does not match the leaf");
}

void TlsServer::apply_protocol_limits() {
  SSL_CTX* ctx = ctx_.get();
  if (options_.dh1024) {
    use_dh1024();
  } else if (options_.anonymous) {
    use_anonymous();
  } else {
    if (options_.min_version && SSL_CTX_set_min_proto_version(ctx, *options_.min_version) != 1)
      fail("cannot set --tls-min");
    if (options_.max_version && SSL_CTX_set_max_proto_version(ctx, *options_.max_version) != 1)
      fail("cannot set --tls-max");
    // TLS 1.0/1.1 need SHA-1 signatures and CBC suites that level 1+ forbids; without level 0
    // a server "configured for TLS 1.0" would still refuse it, and the test would lie.
    const bool legacy = (options_.min_version && *options_.min_version <= TLS1_1_VERSION) ||
                        (options_.max_version && *options_.max_version <= TLS1_1_VERSION);
    if (legacy) SSL_CTX_set_security_level(ctx, 0);
    if (options_.ciphers && SSL_CTX_set_cipher_list(ctx, options_.ciphers->c_str()) != 1)
      fail("no cipher matches --ciphers " + *options_.ciphers);
  }
  if (options_.seclevel) SSL_CTX_set_security_level(ctx, *options_.seclevel);
}

void TlsServer::use_dh1024() {
  SSL_CTX* ctx = ctx_.get();
  // Level 0 first: SSL_CTX_set0_tmp_dh_pkey itself refuses an 80-bit group at level 1+.
  SSL_CTX_set_security_level(ctx, 0);
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) != 1)
    fail("cannot pin TLS 1.2 for --dh1024");
  if (SSL_CTX_set_cipher_list(ctx, "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384") != 1)
    fail("cannot set the DHE cipher list");

  // RFC 2409 section 6.2 (Oakley group 2), generator 2: a fixed, well-known weak group, so
  // nothing is generated at run time and the client sees exactly a 1024-bit prime.
  BignumPtr p(BN_get_rfc2409_prime_1024(nullptr));
  BignumPtr g(BN_new());
  if (!p || !g || BN_set_word(g.get(), 2) != 1) fail("cannot build the DH group");
  std::unique_ptr<OSSL_PARAM_BLD, OsslDeleter<OSSL_PARAM_BLD_free>> build(OSSL_PARAM_BLD_new());
  if (!build || OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_FFC_P, p.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_FFC_G, g.get()) != 1)
    fail("cannot build the DH parameters");
  std::unique_ptr<OSSL_PARAM, OsslDeleter<OSSL_PARAM_free>> params(
      OSSL_PARAM_BLD_to_param(build.get()));
  EvpPkeyCtxPtr pctx(EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !pctx || EVP_PKEY_fromdata_init(pctx.get()) != 1 ||
      EVP_PKEY_fromdata(pctx.get(), &raw, EVP_PKEY_KEY_PARAMETERS, params.get()) != 1)
    fail("cannot make the DH key parameters");
  EvpPkeyPtr dh(raw);
  if (SSL_CTX_set0_tmp_dh_pkey(ctx, dh.get()) != 1) fail("cannot use the 1024-bit DH group");
  static_cast<void>(dh.release());  // owned by the context now
}

void TlsServer::use_anonymous() {
  SSL_CTX* ctx = ctx_.get();
  SSL_CTX_set_security_level(ctx, 0);
  // TLS 1.3 has no anonymous suites.
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) != 1)
    fail("cannot pin TLS 1.2 for --anonymous");
  if (SSL_CTX_set_cipher_list(ctx, "aNULL:!eNULL:@SECLEVEL=0") != 1)
    fail("cannot set the anonymous cipher list");
  SSL_CTX_set_dh_auto(ctx, 1);  // ADH suites need a group; AECDH ones take the default curves
}

void TlsServer::require_client_certificate() {
  const std::string path = options_.cert_dir + "/client-ca.pem";
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(path.c_str());
  if (names == nullptr) fail("cannot load " + path);
  SSL_CTX_set_client_CA_list(ctx_.get(), names);
  if (SSL_CTX_load_verify_locations(ctx_.get(), path.c_str(), nullptr) != 1)
    fail("cannot load " + path);
  // RFC 8446 4.4.2.4 / RFC 5246 7.4.6: with FAIL_IF_NO_PEER_CERT OpenSSL answers an empty
  // client Certificate with certificate_required (1.3) or handshake_failure (1.2).
  SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
}

std::string TlsServer::describe() const {
  auto version = [](long v) -> std::string {
    switch (v) {
      case 0:
        return "default";
      case TLS1_VERSION:
        return "1.0";
      case TLS1_1_VERSION:
        return "1.1";
      case TLS1_2_VERSION:
        return "1.2";
      case TLS1_3_VERSION:
        return "1.3";
      default:
        return std::to_string(v);
    }
  };
  std::string out = "cert=" + options_.cert_name +
                    " tls_min=" + version(SSL_CTX_get_min_proto_version(ctx_.get())) +
                    " tls_max=" + version(SSL_CTX_get_max_proto_version(ctx_.get())) +
                    " seclevel=" + std::to_string(SSL_CTX_get_security_level(ctx_.get()));
  if (options_.dh1024) out += " dh=1024";
  if (options_.anonymous) out += " anonymous=yes";
  if (options_.require_sni) out += " require_sni=" + *options_.require_sni;
  if (options_.cert_without_sni) out += " cert_without_sni=" + *options_.cert_without_sni;
  if (options_.require_client_cert) out += " require_client_cert=yes";
  if (options_.ocsp) out += " ocsp=" + *options_.ocsp;
  return out;
}

std::string describe_session(SSL* ssl) {
  const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  return std::string("version=") + SSL_get_version(ssl) + " cipher=" + SSL_get_cipher_name(ssl) +
         " sni=" + (sni != nullptr ? quote(sni, 100) : "-");
}

}  // namespace tlsrelay::testpeer
