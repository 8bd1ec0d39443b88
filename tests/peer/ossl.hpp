// Owning handles for the OpenSSL objects the test peer uses, and a reader for OpenSSL's
// per-thread error queue.
// Limits: only the types this directory needs. Thread-safety: the handles are plain
// unique_ptrs; the error queue is per thread in OpenSSL, so drain_errors() reads the caller's.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace tlsrelay::testpeer {

template <auto Free>
struct OsslDeleter {
  template <typename T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};

using SslCtxPtr = std::unique_ptr<SSL_CTX, OsslDeleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, OsslDeleter<SSL_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OsslDeleter<EVP_PKEY_free>>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, OsslDeleter<EVP_PKEY_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, OsslDeleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, OsslDeleter<BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, OsslDeleter<BN_free>>;

// Empties this thread's OpenSSL error queue into one line ("a; b; c"), or "" when empty.
std::string drain_errors();
// Throws std::runtime_error: what, then the drained error queue in parentheses.
[[noreturn]] void fail(const std::string& what);

}  // namespace tlsrelay::testpeer
