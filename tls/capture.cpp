#include "tls/capture.hpp"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>

#include "tls/cert_facts.hpp"
#include "tls/openssl_names.hpp"

namespace tlsrelay::tls {
namespace {

// Bounds against a hostile server that sends endless alerts or a huge chain.
constexpr std::size_t kMaxEvents = 64;
constexpr int kMaxChainShown = 16;

int capture_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

void push_bounded(std::vector<int>& v, int x) {
  if (v.size() < kMaxEvents) v.push_back(x);
}

// A verification error about `cert` (may be null), with what the classifier needs of it.
VerifyError verify_error(int error, int depth, X509* cert) {
  VerifyError e;
  e.error = error;
  e.depth = depth;
  if (cert) {
    CertFacts c = cert_facts(cert);
    e.subject = std::move(c.subject);
    e.issuer = std::move(c.issuer);
    e.not_before_epoch = c.not_before_epoch;
    e.not_after_epoch = c.not_after_epoch;
    e.self_signed = c.self_signed;
    e.key = std::move(c.key);
    e.signature = std::move(c.signature);
  }
  return e;
}

}  // namespace

void HandshakeCapture::attach(SSL* ssl) {
  SSL_set_ex_data(ssl, capture_index(), this);
  SSL_set_msg_callback(ssl, &HandshakeCapture::on_message);
  SSL_set_msg_callback_arg(ssl, this);
  SSL_set_verify(ssl, SSL_VERIFY_PEER, &HandshakeCapture::on_verify);
}

void HandshakeCapture::detach(SSL* ssl) {
  SSL_set_msg_callback(ssl, nullptr);
  SSL_set_msg_callback_arg(ssl, nullptr);
  SSL_set_ex_data(ssl, capture_index(), nullptr);
}

void HandshakeCapture::on_message(int write_p, int /*version*/, int content_type, const void* buf,
                                  size_t len, SSL* /*ssl*/, void* arg) {
  auto* self = static_cast<HandshakeCapture*>(arg);
  const auto* p = static_cast<const unsigned char*>(buf);
  if (content_type == SSL3_RT_ALERT && len >= 2) {
    // Keep the level: a warning (e.g. an old server's unrecognized_name) is not a refusal.
    push_bounded(write_p ? self->alerts_sent_ : self->alerts_received_, p[0] << 8 | p[1]);
  } else if (content_type == SSL3_RT_HANDSHAKE && len >= 1 && !write_p) {
    push_bounded(self->handshake_received_, p[0]);
  }
}

int HandshakeCapture::on_verify(int ok, X509_STORE_CTX* ctx) {
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* self =
      ssl ? static_cast<HandshakeCapture*>(SSL_get_ex_data(ssl, capture_index())) : nullptr;
  if (!ok && self && self->verify_errors_.size() < kMaxEvents) {
    self->verify_errors_.push_back(verify_error(X509_STORE_CTX_get_error(ctx),
                                                X509_STORE_CTX_get_error_depth(ctx),
                                                X509_STORE_CTX_get_current_cert(ctx)));
  }
  // Carry on: the decision is taken after the handshake from everything recorded.
  // Nothing is sent over this connection before that decision.
  return 1;
}

int HandshakeCapture::on_ocsp_status(SSL* ssl, void* /*arg*/) {
  auto* self = static_cast<HandshakeCapture*>(SSL_get_ex_data(ssl, capture_index()));
  if (self && self->stapled_ocsp_revoked(ssl)) {
    self->verify_errors_.push_back(
        verify_error(X509_V_ERR_CERT_REVOKED, 0, sk_X509_value(SSL_get0_verified_chain(ssl), 0)));
    // So that ClientContext::on_new_session keeps no session to resume later: a resumed
    // handshake has neither a chain to check nor a staple.
    SSL_set_verify_result(ssl, X509_V_ERR_CERT_REVOKED);
  }
  ERR_clear_error();
  return 1;  // the verdict is taken after the handshake, from verify_errors_
}

bool HandshakeCapture::stapled_ocsp_revoked(SSL* ssl) const {
  const unsigned char* der = nullptr;
  const long len = SSL_get_tlsext_status_ocsp_resp(ssl, &der);
  STACK_OF(X509)* verified = SSL_get0_verified_chain(ssl);
  if (len <= 0 || der == nullptr || !verify_errors_.empty() || verified == nullptr ||
      sk_X509_num(verified) < 2) {
    return false;
  }
  std::unique_ptr<OCSP_RESPONSE, decltype(&OCSP_RESPONSE_free)> response(
      d2i_OCSP_RESPONSE(nullptr, &der, len), &OCSP_RESPONSE_free);
  if (!response || OCSP_response_status(response.get()) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    return false;
  }
  std::unique_ptr<OCSP_BASICRESP, decltype(&OCSP_BASICRESP_free)> basic(
      OCSP_response_get1_basic(response.get()), &OCSP_BASICRESP_free);
  X509_STORE* store = SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl));
  // The signer must chain to our trust store and be the issuer or a responder it delegated
  // to (OCSPSigning); OCSP_basic_verify checks both. The server's chain only helps find it.
  if (!basic || OCSP_basic_verify(basic.get(), SSL_get_peer_cert_chain(ssl), store, 0) != 1) {
    return false;
  }
  X509* leaf = sk_X509_value(verified, 0);
  X509* issuer = sk_X509_value(verified, 1);
  // The answer about our certificate, whichever hash its CertID uses (SHA-1 or SHA-256).
  const int count = std::min(OCSP_resp_count(basic.get()), static_cast<int>(kMaxEvents));
  for (int i = 0; i < count; ++i) {
    OCSP_SINGLERESP* single = OCSP_resp_get0(basic.get(), i);
    const OCSP_CERTID* their_id = OCSP_SINGLERESP_get0_id(single);
    ASN1_OBJECT* hash = nullptr;
    if (OCSP_id_get0_info(nullptr, &hash, nullptr, nullptr, const_cast<OCSP_CERTID*>(their_id)) !=
        1) {
      continue;
    }
    const EVP_MD* md = EVP_get_digestbyobj(hash);
    if (md == nullptr) continue;
    std::unique_ptr<OCSP_CERTID, decltype(&OCSP_CERTID_free)> our_id(
        OCSP_cert_to_id(md, leaf, issuer), &OCSP_CERTID_free);
    if (!our_id || OCSP_id_cmp(our_id.get(), their_id) != 0) continue;
    int reason = -1;
    ASN1_GENERALIZEDTIME* revoked_at = nullptr;
    ASN1_GENERALIZEDTIME* this_update = nullptr;
    ASN1_GENERALIZEDTIME* next_update = nullptr;
    const int status =
        OCSP_single_get0_status(single, &reason, &revoked_at, &this_update, &next_update);
    return status == V_OCSP_CERTSTATUS_REVOKED &&
           OCSP_check_validity(this_update, next_update, 300, -1) == 1;
  }
  return false;
}

bool HandshakeCapture::proves_identity(SSL* ssl, const std::string& host) const {
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr || !verify_errors_.empty() || SSL_get_verify_result(ssl) != X509_V_OK) {
    return false;
  }
  // Whatever the lists offered (TLS 1.3's ciphersuites included: newer OpenSSL has suites
  // without encryption), the suite agreed on must authenticate the server and encrypt.
  const SSL_CIPHER* suite = SSL_get_current_cipher(ssl);
  if (suite == nullptr || SSL_CIPHER_get_auth_nid(suite) == NID_auth_null ||
      SSL_CIPHER_get_cipher_nid(suite) == NID_undef) {
    return false;
  }
  ASN1_OCTET_STRING* ip = a2i_IPADDRESS(host.c_str());
  const bool named = ip != nullptr
                         ? X509_check_ip_asc(peer, host.c_str(), 0) == 1
                         : X509_check_host(peer, host.data(), host.size(),
                                           X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) == 1;
  ASN1_OCTET_STRING_free(ip);
  return named && !host.empty();
}

void HandshakeCapture::read_out(SSL* ssl, TlsFacts& tls, CertificateFacts& cert) const {
  // May be called again after a post-handshake failure; everything is rebuilt.
  tls.alert_codes_received.clear();
  tls.alerts_received.clear();
  tls.alert_codes_sent.clear();
  tls.alerts_sent.clear();
  auto add = [](int level_desc, std::vector<int>& codes, std::vector<std::string>& names) {
    const int level = level_desc >> 8, desc = level_desc & 0xff;
    const bool warning = level == SSL3_AL_WARNING && desc != alert::kCloseNotify;
    names.push_back(alert_name(desc) + (warning ? " (warning)" : ""));
    if (!warning) codes.push_back(desc);
  };
  for (int a : alerts_received_) add(a, tls.alert_codes_received, tls.alerts_received);
  for (int a : alerts_sent_) add(a, tls.alert_codes_sent, tls.alerts_sent);
  tls.handshake_messages_received = handshake_received_;
  if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl)) {
    tls.version = SSL_get_version(ssl);
    tls.cipher = SSL_CIPHER_get_name(c);
  }
  tls.session_reused = SSL_session_reused(ssl) == 1;

  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl)) {
    cert.chain.clear();
    cert.chain_sent = sk_X509_num(chain);
    for (int i = 0; i < sk_X509_num(chain) && i < kMaxChainShown; ++i) {
      cert.chain.push_back(cert_facts(sk_X509_value(chain, i)));
    }
  }
  cert.peer_certificate = SSL_get0_peer_certificate(ssl) != nullptr;
  if (STACK_OF(X509)* verified = SSL_get0_verified_chain(ssl)) {
    cert.verified_chain_length = sk_X509_num(verified);
  }
  cert.verify_errors = verify_errors_;
  if (!verify_errors_.empty()) {
    cert.verify_result = verify_errors_.front().error;
    cert.verify_depth = verify_errors_.front().depth;
  } else if (cert.peer_certificate) {
    cert.verify_result = static_cast<int>(SSL_get_verify_result(ssl));
  }
}

void drain_openssl_errors(std::vector<unsigned long>& codes, std::vector<std::string>& text) {
  while (unsigned long e = ERR_get_error()) {
    if (codes.size() >= kMaxEvents) continue;
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    codes.push_back(e);
    text.emplace_back(buf);
  }
}

}  // namespace tlsrelay::tls
