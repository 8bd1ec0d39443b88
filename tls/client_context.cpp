#include "tls/client_context.hpp"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "tls/capture.hpp"

namespace tlsrelay::tls {
namespace {

std::string openssl_reason() {
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (!e) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace

std::string safe_cipher_list(const std::string& configured) {
  // "!" removes for good: nothing after it in the list can bring these suites back.
  return (configured.empty() ? std::string("DEFAULT") : configured) + ":!aNULL:!eNULL";
}

std::vector<std::string> unsafe_suites(const std::string& configured, int security_level) {
  std::vector<std::string> found;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return found;
  SSL_CTX_set_security_level(ctx, security_level);
  SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
  SSL* ssl = SSL_CTX_set_cipher_list(ctx, configured.c_str()) == 1 ? SSL_new(ctx) : nullptr;
  // What a ClientHello would offer: the list as filtered by the security level.
  STACK_OF(SSL_CIPHER)* offered = ssl ? SSL_get1_supported_ciphers(ssl) : nullptr;
  for (int i = 0; i < sk_SSL_CIPHER_num(offered); ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(offered, i);
    if (SSL_CIPHER_get_auth_nid(c) == NID_auth_null || SSL_CIPHER_get_cipher_nid(c) == NID_undef) {
      found.emplace_back(SSL_CIPHER_get_name(c));
    }
  }
  sk_SSL_CIPHER_free(offered);
  SSL_free(ssl);
  ERR_clear_error();
  SSL_CTX_free(ctx);
  return found;
}

int tls_version_from_string(std::string_view s) {
  if (s == "1.0") return TLS1_VERSION;
  if (s == "1.1") return TLS1_1_VERSION;
  if (s == "1.2") return TLS1_2_VERSION;
  if (s == "1.3") return TLS1_3_VERSION;
  return 0;
}

std::variant<std::shared_ptr<ClientContext>, std::string> ClientContext::create(
    const ClientProfile& p) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return "cannot create a TLS context: " + openssl_reason();
  auto fail = [&](std::string why) -> std::variant<std::shared_ptr<ClientContext>, std::string> {
    SSL_CTX_free(ctx);
    return why;
  };

  SSL_CTX_set_security_level(ctx, p.security_level);
  const int min = tls_version_from_string(p.min_version);
  const int max = p.max_version.empty() ? 0 : tls_version_from_string(p.max_version);
  if (!min) return fail("min_version \"" + p.min_version + "\" is not 1.0, 1.1, 1.2 or 1.3");
  if (!p.max_version.empty() && !max) {
    return fail("max_version \"" + p.max_version + "\" is not 1.0, 1.1, 1.2 or 1.3");
  }
  if (max && max < min) return fail("max_version is below min_version");
  SSL_CTX_set_min_proto_version(ctx, min);
  SSL_CTX_set_max_proto_version(ctx, max);
  if (SSL_CTX_set_cipher_list(ctx, safe_cipher_list(p.ciphers).c_str()) != 1) {
    return fail("cipher list \"" + p.ciphers + "\" selects no cipher");
  }
  if (!p.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, p.ciphersuites.c_str()) != 1) {
    return fail("TLS 1.3 cipher suites \"" + p.ciphersuites + "\" are not valid");
  }
  if (!p.groups.empty() && SSL_CTX_set1_groups_list(ctx, p.groups.c_str()) != 1) {
    return fail("groups \"" + p.groups + "\" are not valid");
  }

  if (p.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return fail("cannot load the system CA store: " + openssl_reason());
    }
  } else {
    // Say precisely why the file is unusable; OpenSSL's own message for a missing file and
    // for a file without certificates is the same.
    std::ifstream probe(p.ca_file);
    if (!probe) {
      return fail("cannot read CA file " + p.ca_file + ": " + std::strerror(errno));
    }
    ERR_clear_error();
    if (SSL_CTX_load_verify_locations(ctx, p.ca_file.c_str(), nullptr) != 1) {
      return fail("CA file " + p.ca_file + " holds no PEM certificate (" + openssl_reason() + ")");
    }
  }
  // OpenSSL would walk 100 CA certificates; real chains have one to three.
  SSL_CTX_set_verify_depth(ctx, kMaxVerifyDepth);
  // Partial wildcards ("mx*.example.com") are not accepted for mail (RFC 6125 6.4.3).
  X509_VERIFY_PARAM_set_hostflags(SSL_CTX_get0_param(ctx), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // After the handshake the capture is detached and nothing would verify a renegotiated
  // certificate; SMTP never needs renegotiation.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  auto made = std::shared_ptr<ClientContext>(new ClientContext(ctx, p));
  SSL_CTX_set_app_data(ctx, made.get());
  SSL_CTX_sess_set_new_cb(ctx, &ClientContext::on_new_session);
  SSL_CTX_set_tlsext_status_cb(ctx, &HandshakeCapture::on_ocsp_status);
  return made;
}

ClientContext::~ClientContext() {
  for (auto& [identity, stored] : sessions_) SSL_SESSION_free(stored.session);
  SSL_CTX_free(ctx_);
}

namespace {

// The identity a connection's sessions are kept under: owned by the SSL (freed with it),
// because a TLS 1.3 ticket may arrive long after the attempt that made the connection.
int identity_index() {
  static const int index = SSL_get_ex_new_index(
      0, nullptr, nullptr, nullptr, [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
        delete static_cast<std::string*>(ptr);
      });
  return index;
}

}  // namespace

void ClientContext::prepare_resumption(SSL* ssl, const std::string& identity, bool offer) {
  SSL_set_ex_data(ssl, identity_index(), new std::string(identity));
  if (!offer || !resumption_) return;
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(identity);
  if (it == sessions_.end()) return;
  if (!still_resumable(it->second, std::time(nullptr))) {
    SSL_SESSION_free(it->second.session);
    sessions_.erase(it);
    return;
  }
  SSL_set_session(ssl, it->second.session);  // takes its own reference
}

bool ClientContext::still_resumable(const Stored& stored, std::time_t now) {
  // A session stands in for the verification of the full handshake it goes back to: only
  // for a while, and never past the certificate's own dates. Not SSL_SESSION_get_time():
  // OpenSSL sets it anew for each ticket, also those a resumed handshake brings, so it
  // would never age. A TLS 1.3 ticket's lifetime is the server's choice (OpenSSL's default
  // is two hours, others give days), so it is no bound of ours either.
  const long age = static_cast<long>(now - stored.verified_at);
  if (age < 0 || age >= kSessionCacheTimeout) return false;
  X509* peer = SSL_SESSION_get0_peer(stored.session);
  if (peer == nullptr) return false;
  // X509_cmp_time: -1 earlier than `now`, 1 later, 0 when the date cannot be read.
  return X509_cmp_time(X509_get0_notBefore(peer), &now) < 0 &&
         X509_cmp_time(X509_get0_notAfter(peer), &now) > 0;
}

int ClientContext::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<ClientContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  const auto* identity = static_cast<const std::string*>(SSL_get_ex_data(ssl, identity_index()));
  // Only a session whose certificate verified may stand in for a verification later:
  // resumption skips the certificate check.
  if (!self || !identity || !self->resumption_ || SSL_get_verify_result(ssl) != X509_V_OK) {
    return 0;
  }
  return self->remember(*identity, session, SSL_session_reused(ssl) == 1) ? 1 : 0;
}

bool ClientContext::remember(const std::string& identity, SSL_SESSION* session, bool resumed) {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(identity);
  // A ticket from a resumed handshake carries on the verification the old one stood for,
  // with its time; without that one (evicted, or aged out) it stands for nothing.
  if (resumed && it == sessions_.end()) return false;
  const std::time_t verified_at = resumed ? it->second.verified_at : std::time(nullptr);
  if (it != sessions_.end()) {
    SSL_SESSION_free(it->second.session);
    it->second = Stored{session, verified_at};
    return true;
  }
  if (sessions_.size() >= kMaxSessions) {
    SSL_SESSION_free(sessions_.begin()->second.session);
    sessions_.erase(sessions_.begin());
  }
  sessions_.emplace(identity, Stored{session, verified_at});
  return true;
}

}  // namespace tlsrelay::tls
