#include "tls/server_speaks.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>

#include "common/text.hpp"
#include "tls/tls_scan.hpp"

namespace tlsrelay::tls {

namespace asio = boost::asio;

namespace {

const std::vector<std::string> kVersions = {"1.0", "1.1", "1.2", "1.3"};

std::string version_list(const std::vector<std::string>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) {
    s += (i == 0 ? "" : i + 1 == v.size() ? " and " : ", ") + v[i];
  }
  return s;
}

std::string lowest(const std::vector<std::string>& versions) {
  return versions.empty() ? "" : *std::min_element(versions.begin(), versions.end());
}

}  // namespace

asio::awaitable<ServerSpeaks> what_server_speaks(AttemptOptions base, ClientProfile failed,
                                                 FailureClass cls, std::chrono::milliseconds time) {
  ServerSpeaks out;
  ScanBudget budget(kMaxFollowUpHandshakes, time);
  if (cls == FailureClass::TlsProtocolMismatch) {
    const int min = tls_version_from_string(failed.min_version);
    const int max = failed.max_version.empty() ? tls_version_from_string("1.3")
                                               : tls_version_from_string(failed.max_version);
    for (const auto& v : kVersions) {
      const int n = tls_version_from_string(v);
      if (n >= min && n <= max) continue;  // offered already, and refused
      ScanOffer only;
      only.min_version = only.max_version = v;
      ScanOutcome o = co_await scan_handshake(base, only, failed.ca_file, budget);
      if (o.handshake_done) out.versions.push_back(v);
    }
  } else if (cls == FailureClass::TlsNoSharedCipher) {
    // Every suite OpenSSL has, at level 0, TLS 1.0 to 1.2 (TLS 1.3's five are always in
    // common), minus those found so far: each answer names one more.
    std::string excluded;
    while (!budget.exhausted()) {
      ScanOffer any;
      any.min_version = "1.0";
      any.max_version = "1.2";
      any.ciphers = "ALL:COMPLEMENTOFALL" + excluded;
      any.any_cipher = true;
      ScanOutcome o = co_await scan_handshake(base, any, failed.ca_file, budget);
      if (!o.tried) break;
      if (!o.handshake_done || o.cipher.empty()) {
        out.suites_complete = o.facts.tls.attempted && o.facts.ending != Ending::TimedOut;
        break;
      }
      if (std::find(out.suites.begin(), out.suites.end(), o.cipher) != out.suites.end()) break;
      out.suites.push_back(o.cipher);
      excluded += ":!" + o.cipher;
    }
  }
  out.handshakes = budget.used();
  co_return out;
}

std::string speaks_text(const ServerSpeaks& s) {
  if (!s.versions.empty()) {
    return "the server speaks " + std::string(s.versions.size() == 1 ? "only " : "") + "TLS " +
           version_list(s.versions);
  }
  if (!s.suites.empty()) {
    if (s.suites_complete) {
      return s.suites.size() == 1 ? "its only suite is " + s.suites.front()
                                  : "its only suites are " + join(s.suites, ", ");
    }
    return "its suites include " + join(s.suites, ", ");
  }
  return "";
}

bool profile_reaches(const ClientProfile& profile, const ServerSpeaks& s) {
  auto made = ClientContext::create(profile);
  auto* ctx = std::get_if<std::shared_ptr<ClientContext>>(&made);
  if (!ctx) return false;
  SSL* ssl = SSL_new((*ctx)->native());
  if (!ssl) return false;
  const int min = tls_version_from_string(profile.min_version);
  const int max = profile.max_version.empty() ? tls_version_from_string("1.3")
                                              : tls_version_from_string(profile.max_version);
  bool reaches = false;
  if (!s.versions.empty()) {
    for (const auto& v : s.versions) {
      const int n = tls_version_from_string(v);
      // Below TLS 1.2 OpenSSL 3 offers nothing above security level 0.
      if (n >= min && n <= max &&
          (n >= tls_version_from_string("1.2") || SSL_get_security_level(ssl) == 0)) {
        reaches = true;
      }
    }
  } else if (!s.suites.empty()) {
    // What the ClientHello would carry: the list filtered by version range and level.
    STACK_OF(SSL_CIPHER)* offered = SSL_get1_supported_ciphers(ssl);
    for (int i = 0; i < sk_SSL_CIPHER_num(offered) && !reaches; ++i) {
      const std::string name = SSL_CIPHER_get_name(sk_SSL_CIPHER_value(offered, i));
      reaches = std::find(s.suites.begin(), s.suites.end(), name) != s.suites.end();
    }
    sk_SSL_CIPHER_free(offered);
  }
  SSL_free(ssl);
  ERR_clear_error();
  return reaches;
}

std::vector<std::string> unusable_suites(const std::vector<std::string>& suites) {
  // OpenSSL's own classes: eNULL encrypts nothing, aNULL authenticates nobody. Every
  // context of the relay strips both (client_context.hpp), compat ones included.
  std::vector<std::string> out;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx && SSL_CTX_set_cipher_list(ctx, "aNULL:eNULL:@SECLEVEL=0") == 1) {
    STACK_OF(SSL_CIPHER)* listed = SSL_CTX_get_ciphers(ctx);
    for (const auto& name : suites) {
      for (int i = 0; i < sk_SSL_CIPHER_num(listed); ++i) {
        if (name == SSL_CIPHER_get_name(sk_SSL_CIPHER_value(listed, i))) {
          out.push_back(name);
          break;
        }
      }
    }
  }
  SSL_CTX_free(ctx);
  ERR_clear_error();
  return out;
}

std::string compat_suggestion(const ServerSpeaks& s) {
  if (!s.versions.empty()) {
    const std::string v = lowest(s.versions);
    return "min_version = \"" + v + "\"" +
           // OpenSSL 3 offers nothing below TLS 1.2 above level 0 (configuration.md).
           (v == "1.0" || v == "1.1" ? ", security_level = 0" : "");
  }
  std::vector<std::string> usable;
  const std::vector<std::string> unusable = unusable_suites(s.suites);
  for (const auto& name : s.suites) {
    if (std::find(unusable.begin(), unusable.end(), name) == unusable.end()) usable.push_back(name);
  }
  if (usable.empty()) return "";
  // The highest security level at which OpenSSL still offers one of them: lower the
  // level no further than the server needs.
  ServerSpeaks reachable = s;
  reachable.suites = usable;
  ClientProfile p;  // the default profile but for the suggested keys
  p.ciphers = join(usable, ":");
  for (int level = 2; level >= 0; --level) {
    p.security_level = level;
    if (profile_reaches(p, reachable)) {
      return "ciphers = \"" + p.ciphers + "\"" +
             (level == 2 ? "" : ", security_level = " + std::to_string(level));
    }
  }
  return "";
}

std::string follow_up_hint(const ServerSpeaks& s, const std::optional<ClientProfile>& compat) {
  const std::string speaks = speaks_text(s);
  if (speaks.empty()) return "";
  std::string hint = "A follow-up found that " + speaks + "; ";
  if (compat) {
    hint += profile_reaches(*compat, s)
                ? "the compat profile ([upstream.compat]) would reach it."
                : "the compat profile ([upstream.compat]) would not reach it either.";
  } else if (const std::string suggestion = compat_suggestion(s); !suggestion.empty()) {
    hint += "an [upstream.compat] profile with " + suggestion + " would reach it.";
  } else {
    hint +=
        "no [upstream.compat] profile would reach it: the relay never offers NULL or "
        "anonymous suites (they encrypt or authenticate nothing); the server must change.";
  }
  return hint;
}

}  // namespace tlsrelay::tls
