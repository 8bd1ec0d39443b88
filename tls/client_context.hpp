// The client TLS profile (versions, ciphers, security level, trust anchors) and the
// OpenSSL context built from it.
//
// Default profile per ../shared/spec/interfaces.md: TLS 1.2 and 1.3, OpenSSL's DEFAULT
// ciphers and groups at security level 2, verification against the CA file. The profile is
// immutable once built and the context may be shared by many connections (OpenSSL contexts
// are thread-safe for SSL_new).
//
// TLS session resumption (RFC 8446 2.2, RFC 5077): the context keeps the last session per
// server identity (name checked, SNI, port), only from handshakes whose certificate
// verified, at most kMaxSessions of them; a connection that sets the same identity offers
// it, unless the full handshake it goes back to is older than kSessionCacheTimeout or its
// server certificate is outside its validity by now (a resumed handshake skips
// verification, so these are checked before offering). The cache has its own mutex.
#pragma once

#include <openssl/ssl.h>

#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

namespace tlsrelay::tls {

// The most CA certificates we walk between the server's own and a trust anchor (OpenSSL's
// verify depth; Postfix's smtp_tls_scert_verifydepth default is the same 9).
inline constexpr int kMaxVerifyDepth = 9;

struct ClientProfile {
  std::string min_version = "1.2";  // 1.0 | 1.1 | 1.2 | 1.3
  std::string max_version;          // "" = the highest OpenSSL has
  std::string ciphers;              // TLS <= 1.2 cipher list; "" = DEFAULT
  std::string ciphersuites;         // TLS 1.3 suites; "" = OpenSSL's default
  std::string groups;               // "" = OpenSSL's default
  int security_level = 2;
  std::string ca_file;  // "" = the system store
};

// The cipher list we hand to OpenSSL for a configured one ("" = DEFAULT): never a suite
// without authentication (aNULL: the server sends no certificate, so nothing is verified
// and a man in the middle reads AUTH and the mail) or without encryption (eNULL), whatever
// the configuration says, security level 0 and "ALL" included.
std::string safe_cipher_list(const std::string& configured);
// The aNULL and eNULL suites a configured cipher list would select at that security level
// if it were used as written (for check-config's warning); empty when none or when
// OpenSSL rejects the list.
std::vector<std::string> unsafe_suites(const std::string& configured, int security_level);

// Parses "1.0".."1.3" into an OpenSSL version constant; 0 when not one of those.
int tls_version_from_string(std::string_view s);

class ClientContext {
 public:
  // Returns the context, or a one-line reason why the profile cannot be used (unreadable
  // or non-PEM CA file, bad cipher list, min above max).
  static std::variant<std::shared_ptr<ClientContext>, std::string> create(
      const ClientProfile& profile);

  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  SSL_CTX* native() const { return ctx_; }
  const ClientProfile& profile() const { return profile_; }

  static constexpr std::size_t kMaxSessions = 1024;
  // Postfix's smtp_tls_session_cache_timeout default.
  static constexpr long kSessionCacheTimeout = 3600;
  // Before the handshake: remember sessions of this connection under `identity`, and offer
  // the one remembered for it, if any (when resumption is on).
  void prepare_resumption(SSL* ssl, const std::string& identity, bool offer);
  void set_resumption(bool on) { resumption_ = on; }
  bool resumption() const { return resumption_; }

 private:
  ClientContext(SSL_CTX* ctx, ClientProfile profile) : ctx_(ctx), profile_(std::move(profile)) {}
  // A remembered session, and when the full handshake it goes back to was verified.
  struct Stored {
    SSL_SESSION* session = nullptr;
    std::time_t verified_at = 0;
  };
  static int on_new_session(SSL* ssl, SSL_SESSION* session);
  static bool still_resumable(const Stored& stored, std::time_t now);
  // Takes the reference when it returns true.
  bool remember(const std::string& identity, SSL_SESSION* session, bool resumed);

  SSL_CTX* ctx_;
  ClientProfile profile_;
  bool resumption_ = true;
  std::mutex mutex_;
  std::map<std::string, Stored> sessions_;
};

}  // namespace tlsrelay::tls
