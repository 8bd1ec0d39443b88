// The client TLS profile (versions, ciphers, security level, trust anchors) and the
// OpenSSL context built from it.
//
// Default profile per ../shared/spec/interfaces.md: TLS 1.2 and 1.3, OpenSSL's DEFAULT
// ciphers and groups at security level 2, verification against the CA file. A context is
// immutable once built and may be shared by many connections (OpenSSL contexts are
// thread-safe for SSL_new).
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <variant>

namespace tlsrelay::tls {

struct ClientProfile {
  std::string min_version = "1.2";  // 1.0 | 1.1 | 1.2 | 1.3
  std::string max_version;          // "" = the highest OpenSSL has
  std::string ciphers;              // TLS <= 1.2 cipher list; "" = DEFAULT
  std::string ciphersuites;         // TLS 1.3 suites; "" = OpenSSL's default
  std::string groups;               // "" = OpenSSL's default
  int security_level = 2;
  std::string ca_file;  // "" = the system store
};

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

 private:
  ClientContext(SSL_CTX* ctx, ClientProfile profile) : ctx_(ctx), profile_(std::move(profile)) {}
  SSL_CTX* ctx_;
  ClientProfile profile_;
};

}  // namespace tlsrelay::tls
