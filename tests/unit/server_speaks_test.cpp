// The follow-up hint after a version or suite mismatch: its words, and whether a compat
// profile would reach the server (computed from what OpenSSL would offer, no network).
#include <catch2/catch.hpp>

#include "tls/server_speaks.hpp"

using namespace tlsrelay::tls;

TEST_CASE("server_speaks: the words of the hint") {
  ServerSpeaks s;
  CHECK(speaks_text(s).empty());
  CHECK(follow_up_hint(s, std::nullopt).empty());
  s.versions = {"1.0"};
  CHECK(speaks_text(s) == "the server speaks only TLS 1.0");
  CHECK(compat_suggestion(s) == "min_version = \"1.0\", security_level = 0");
  s.versions = {"1.0", "1.1"};
  CHECK(speaks_text(s) == "the server speaks TLS 1.0 and 1.1");
  s.versions.clear();
  s.suites = {"CAMELLIA128-SHA"};
  CHECK(speaks_text(s) == "its suites include CAMELLIA128-SHA");
  s.suites_complete = true;
  CHECK(speaks_text(s) == "its only suite is CAMELLIA128-SHA");
  CHECK(compat_suggestion(s) == "ciphers = \"CAMELLIA128-SHA\"");  // level 2 offers it
  s.suites.push_back("NULL-SHA");
  CHECK(speaks_text(s) == "its only suites are CAMELLIA128-SHA, NULL-SHA");
  // A NULL suite is never suggested: no profile of the relay offers it.
  CHECK(compat_suggestion(s) == "ciphers = \"CAMELLIA128-SHA\"");
}

TEST_CASE("server_speaks: NULL and anonymous suites are beyond any compat profile") {
  ServerSpeaks s;
  s.suites = {"NULL-SHA256", "ADH-AES128-GCM-SHA256", "AECDH-NULL-SHA", "CAMELLIA128-SHA"};
  s.suites_complete = true;
  CHECK(unusable_suites(s.suites) ==
        std::vector<std::string>{"NULL-SHA256", "ADH-AES128-GCM-SHA256", "AECDH-NULL-SHA"});
  s.suites = {"NULL-SHA256"};
  CHECK(compat_suggestion(s).empty());
  CHECK(follow_up_hint(s, std::nullopt) ==
        "A follow-up found that its only suite is NULL-SHA256; no [upstream.compat] profile "
        "would reach it: the relay never offers NULL or anonymous suites (they encrypt or "
        "authenticate nothing); the server must change.");
  ClientProfile everything;
  everything.min_version = "1.0";
  everything.ciphers = "ALL:COMPLEMENTOFALL";
  everything.security_level = 0;
  CHECK_FALSE(profile_reaches(everything, s));
}

TEST_CASE("server_speaks: would a compat profile reach the server") {
  ServerSpeaks tls10;
  tls10.versions = {"1.0"};
  ClientProfile normal;  // 1.2+, level 2
  CHECK_FALSE(profile_reaches(normal, tls10));
  ClientProfile lowered = normal;
  lowered.min_version = "1.0";
  lowered.security_level = 0;
  CHECK(profile_reaches(lowered, tls10));
  lowered.security_level = 1;  // OpenSSL 3 offers TLS 1.0 only at level 0
  CHECK_FALSE(profile_reaches(lowered, tls10));
  CHECK(follow_up_hint(tls10, normal).find("would not reach it either") != std::string::npos);

  ServerSpeaks camellia;
  camellia.suites = {"CAMELLIA128-SHA"};
  camellia.suites_complete = true;
  CHECK_FALSE(profile_reaches(normal, camellia));
  ClientProfile with = normal;
  with.ciphers = "CAMELLIA128-SHA";
  with.security_level = 0;
  CHECK(profile_reaches(with, camellia));
  CHECK(follow_up_hint(camellia, with) ==
        "A follow-up found that its only suite is CAMELLIA128-SHA; the compat profile "
        "([upstream.compat]) would reach it.");
}
