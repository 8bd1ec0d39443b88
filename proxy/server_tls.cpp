#include "proxy/server_tls.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string_view>

#include "config/config_error.hpp"
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

struct CtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

// The key is checked on the file we opened (no stat-then-open race) and read from that
// descriptor, like read_secret().
std::string read_key_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    throw config::ConfigError("cannot open key file " + path + ": " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    throw config::ConfigError("cannot stat key file " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode))
    throw config::ConfigError("key file " + path + " is not a regular file");
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw config::ConfigError("key file " + path + " is accessible by group or others (mode " +
                              mode + "); chmod 600 it");
  }
  if (st.st_size > 1024 * 1024) throw config::ConfigError("key file " + path + " is too large");
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      throw config::ConfigError("cannot read key file " + path + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

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
    key_text = read_key_file(*s.proxy.tls_key);
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

tls::SslPtr ServerTls::new_ssl() const {
  return tls::SslPtr(SSL_new(ctx_));
}

std::string describe_tls(const SSL* ssl) {
  if (!ssl) return "none";
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl);
  return std::string(SSL_get_version(ssl)) + "/" + (c ? SSL_CIPHER_get_name(c) : "?");
}

}  // namespace tlsrelay::proxy
