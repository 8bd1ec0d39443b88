// STARTTLS towards our own clients (the local MTA, RFC 3207): the server-side TLS context
// made from [proxy] tls_cert and tls_key, and a fresh SSL per handshake.
//
// The key is a secret like the upstream passwords (config/secret_file.hpp): the file must be
// a regular file without group or other permissions, and it is read once at load. Problems
// (unreadable, exposed, not PEM, key not matching the certificate) are ConfigErrors that
// name the key's place in the config file as FILE:LINE:COL. Immutable after load; new_ssl()
// is thread-safe (OpenSSL contexts are).
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "config/settings.hpp"
#include "tls/tls_channel.hpp"

namespace tlsrelay::proxy {

class ServerTls {
 public:
  // Null when [proxy] has no tls_cert/tls_key; throws config::ConfigError otherwise when
  // the files cannot be used.
  static std::shared_ptr<const ServerTls> load(const config::Settings& settings);

  ~ServerTls();
  ServerTls(const ServerTls&) = delete;
  ServerTls& operator=(const ServerTls&) = delete;

  // A fresh server-side SSL for one client connection; null if OpenSSL is out of memory.
  tls::SslPtr new_ssl() const;
  // The certificate's notAfter (Unix time); nullopt when OpenSSL cannot read it.
  std::optional<std::int64_t> not_after() const;

 private:
  explicit ServerTls(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

// "TLSv1.3/TLS_AES_256_GCM_SHA384" of an established connection, for logs.
std::string describe_tls(const SSL* ssl);

}  // namespace tlsrelay::proxy
