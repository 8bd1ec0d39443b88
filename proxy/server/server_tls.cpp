#include "proxy/server/server_tls.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string_view>

#include "config/config_error.hpp"
#include "config/secret_file.hpp"
#include "tls/client_context.hpp"

namespace tlsrelay::proxy {

namespace {

// Settings carry no position for these two keys; find the line in the file itself so that
// the error still reads FILE:LINE:COL (the column of the value).
config::SourceLocation locate(const std::string& file, std::string_view key) {
  config::SourceLocation at{file, 0, 0};
  std::ifstream in(file);
  std::string line;
  bool in_proxy = false;
  for (int n = 1; std::getline(in, line); ++n) {
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    if (line[first] == '[') {
      in_proxy = line.compare(first, 7, "[proxy]") == 0;
      continue;
    }
    if (!in_proxy || line.compare(first, key.size(), key) != 0) continue;
    const auto eq = line.find_first_not_of(" \t", first + key.size());
    if (eq == std::string::npos || line[eq] != '=') continue;
    const auto value = line.find_first_not_of(" \t", eq + 1);
    at.line = n;
    at.column = static_cast<int>((value == std::string::npos ? eq : value) + 1);
    break;
  }
  return at;
}

std::string openssl_error() {
  std::string text;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text.empty() ? "unknown OpenSSL error" : text;
}

// A PEM private key, even RSA-16384 with its chain pasted in, is far below this.
constexpr std::size_t kMaxKeyFileBytes = 1024 * 1024;

struct CtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

}  // namespace

std::shared_ptr<const ServerTls> ServerTls::load(const config::Settings& s) {
  if (!s.proxy.tls_cert || !s.proxy.tls_key) return nullptr;
  const std::string cert_at = locate(s.source, "tls_cert").to_string() + ": [proxy] tls_cert: ";
  const std::string key_at = locate(s.source, "tls_key").to_string() + ": [proxy] tls_key: ";

  std::unique_ptr<SSL_CTX, CtxDeleter> ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) throw config::ConfigError(cert_at + openssl_error());
  // RFC 8996 retired TLS 1.0 and 1.1; a local MTA of this century speaks 1.2.
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // Renegotiation would be a second handshake under an SMTP state we already reset.
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // OpenSSL's default already leaves them out; said here so that no change of it can bring
  // anonymous or unencrypted suites to our clients either.
  SSL_CTX_set_cipher_list(ctx.get(), tls::safe_cipher_list("").c_str());

  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), s.proxy.tls_cert->c_str()) != 1) {
    throw config::ConfigError(cert_at + "cannot load PEM certificate chain " + *s.proxy.tls_cert +
                              ": " + openssl_error());
  }
  std::string key_text;
  try {
    key_text = config::read_private_file(*s.proxy.tls_key, "key file", kMaxKeyFileBytes);
  } catch (const config::ConfigError& e) {
    throw config::ConfigError(key_at + e.what());
  }
  BIO* bio = BIO_new_mem_buf(key_text.data(), static_cast<int>(key_text.size()));
  EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  OPENSSL_cleanse(key_text.data(), key_text.size());
  if (!key) {
    throw config::ConfigError(key_at + "no PEM private key in " + *s.proxy.tls_key + ": " +
                              openssl_error());
  }
  const int used = SSL_CTX_use_PrivateKey(ctx.get(), key);
  EVP_PKEY_free(key);
  if (used != 1 || SSL_CTX_check_private_key(ctx.get()) != 1) {
    throw config::ConfigError(key_at + "the private key in " + *s.proxy.tls_key +
                              " does not match the certificate in " + *s.proxy.tls_cert);
  }
  ERR_clear_error();
  return std::shared_ptr<const ServerTls>(new ServerTls(ctx.release()));
}

ServerTls::~ServerTls() {
  SSL_CTX_free(ctx_);
}

std::optional<std::int64_t> ServerTls::not_after() const {
  const X509* cert = SSL_CTX_get0_certificate(ctx_);
  std::tm tm{};
  if (!cert || ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm));
}

tls::SslPtr ServerTls::new_ssl() const {
  return tls::SslPtr(SSL_new(ctx_));
}

std::string describe_tls(const SSL* ssl) {
  if (!ssl) return "none";
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl);
  return std::string(SSL_get_version(ssl)) + "/" + (c ? SSL_CIPHER_get_name(c) : "?");
}

}  // namespace tlsrelay::proxy
