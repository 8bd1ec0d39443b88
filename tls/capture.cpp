#include "tls/capture.hpp"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

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
    VerifyError e;
    e.error = X509_STORE_CTX_get_error(ctx);
    e.depth = X509_STORE_CTX_get_error_depth(ctx);
    if (X509* cert = X509_STORE_CTX_get_current_cert(ctx)) {
      CertFacts c = cert_facts(cert);
      e.subject = std::move(c.subject);
      e.issuer = std::move(c.issuer);
      e.not_before_epoch = c.not_before_epoch;
      e.not_after_epoch = c.not_after_epoch;
      e.self_signed = c.self_signed;
      e.key = std::move(c.key);
      e.signature = std::move(c.signature);
    }
    self->verify_errors_.push_back(std::move(e));
  }
  // Carry on: the decision is taken after the handshake from everything recorded.
  // Nothing is sent over this connection before that decision.
  return 1;
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
  if (STACK_OF(X509)* verified = SSL_get0_verified_chain(ssl)) {
    cert.verified_chain_length = sk_X509_num(verified);
  }
  cert.verify_errors = verify_errors_;
  if (!verify_errors_.empty()) {
    cert.verify_result = verify_errors_.front().error;
    cert.verify_depth = verify_errors_.front().depth;
  } else if (!cert.chain.empty()) {
    cert.verify_result = X509_V_OK;
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
