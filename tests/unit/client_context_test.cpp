// The client TLS profile never offers a suite without a certificate or without encryption,
// whatever the configuration says (issue 17 item 1, layer 2).
#include <openssl/ssl.h>

#include <catch2/catch.hpp>

#include "tls/client_context.hpp"

using namespace tlsrelay;
using namespace tlsrelay::tls;

TEST_CASE("no aNULL or eNULL suite reaches OpenSSL, whatever the cipher list says", "[tls]") {
  auto [ciphers, level] = GENERATE(table<std::string, int>({
      {"ALL:@SECLEVEL=0", 0},
      {"aNULL:@SECLEVEL=0", 0},  // nothing but anonymous suites: nothing is left
      {"COMPLEMENTOFALL:ALL:@SECLEVEL=0", 0},
      {"", 0},
      {"", 2},
  }));
  ClientProfile p;
  p.min_version = "1.0";
  p.ciphers = ciphers;
  p.security_level = level;
  auto made = ClientContext::create(p);
  INFO("ciphers \"" << ciphers << "\"");
  if (auto* error = std::get_if<std::string>(&made)) {
    // A list that selects only unsafe suites selects nothing: refused, never used.
    CHECK(ciphers.rfind("aNULL", 0) == 0);
    CHECK(error->find("selects no cipher") != std::string::npos);
    return;
  }
  SSL_CTX* ctx = std::get<std::shared_ptr<ClientContext>>(made)->native();
  STACK_OF(SSL_CIPHER)* list = SSL_CTX_get_ciphers(ctx);
  REQUIRE(sk_SSL_CIPHER_num(list) > 0);
  for (int i = 0; i < sk_SSL_CIPHER_num(list); ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(list, i);
    INFO(SSL_CIPHER_get_name(c));
    CHECK(SSL_CIPHER_get_auth_nid(c) != NID_auth_null);
    CHECK(SSL_CIPHER_get_cipher_nid(c) != NID_undef);
  }
}

TEST_CASE("check-config can tell which configured lists ask for unsafe suites", "[tls]") {
  CHECK_FALSE(unsafe_suites("ALL:@SECLEVEL=0", 0).empty());
  CHECK_FALSE(unsafe_suites("ALL", 0).empty());
  CHECK(unsafe_suites("ALL", 2).empty());  // the security level leaves them out already
  CHECK(unsafe_suites("DEFAULT:@SECLEVEL=0", 0).empty());
  CHECK(unsafe_suites("HIGH:!aNULL", 0).empty());
}
