#include "proxy/upstream/routes.hpp"

#include "config/config_error.hpp"
#include "config/secret_file.hpp"

namespace tlsrelay::proxy {

tls::ClientProfile compat_profile(const tls::ClientProfile& normal,
                                  const config::CompatProfile& c) {
  tls::ClientProfile lowered = normal;
  if (c.min_version) lowered.min_version = *c.min_version;
  if (c.max_version) lowered.max_version = *c.max_version;
  if (c.ciphers) lowered.ciphers = *c.ciphers;
  if (c.ciphersuites) lowered.ciphersuites = *c.ciphersuites;
  if (c.groups) lowered.groups = *c.groups;
  if (c.security_level) lowered.security_level = *c.security_level;
  // TLS below 1.2 is only offered at security level 0 by OpenSSL 3.
  if (!c.security_level && (lowered.min_version == "1.0" || lowered.min_version == "1.1")) {
    lowered.security_level = 0;
  }
  return lowered;
}

std::shared_ptr<const Routes> make_routes(const config::Settings& s, std::uint64_t generation) {
  auto routes = std::make_shared<Routes>();
  routes->generation = generation;
  routes->policy = s.policy;
  routes->ehlo_name = s.proxy.hostname;
  routes->idle_upstream = s.proxy.idle_upstream;
  routes->reuse_time_limit = s.proxy.reuse_time_limit;
  routes->pool_size_per_upstream = s.proxy.pool_size_per_upstream;
  routes->health = s.health;

  tls::ClientProfile profile;
  profile.ca_file = s.tls.ca_file;
  profile.min_version = s.tls.min_version;
  // One context per distinct profile: all upstreams share the default one, so OpenSSL's
  // CA store is loaded once.
  std::shared_ptr<tls::ClientContext> shared;
  std::string shared_error;
  auto made = tls::ClientContext::create(profile);
  if (auto* p = std::get_if<std::shared_ptr<tls::ClientContext>>(&made)) {
    shared = *p;
    shared->set_resumption(s.tls.session_resumption);
  } else {
    shared_error = std::get<std::string>(made);
  }

  for (const auto& u : s.upstreams) {
    UpstreamConfig uc;
    uc.target.name = u.name;
    uc.target.host = u.host;
    uc.target.port = u.port;
    uc.target.tls_mode = u.tls;
    if (u.connect) uc.target.connect_address = u.connect->to_string();
    uc.target.sni = u.sni;
    uc.context = shared;
    uc.context_error = shared_error;
    uc.allow_plaintext = u.allow_plaintext;
    if (u.compat) {
      const tls::ClientProfile lowered = compat_profile(profile, *u.compat);
      auto made_compat = tls::ClientContext::create(lowered);
      if (auto* p = std::get_if<std::shared_ptr<tls::ClientContext>>(&made_compat)) {
        uc.compat_context = *p;
        uc.compat_context->set_resumption(s.tls.session_resumption);
      } else {
        uc.compat_error = std::get<std::string>(made_compat);
      }
    }
    uc.auth_user = u.auth_user;
    // XOAUTH2's bearer token is the secret instead of a password; an external helper keeps
    // the file fresh, and it is read at each use like the password.
    const bool xoauth2 = u.auth_mechanism == AuthMechanism::Xoauth2;
    uc.password_file =
        xoauth2 ? u.oauth_token_file.value_or("") : u.auth_password_file.value_or("");
    uc.auth_mechanism = u.auth_mechanism.value_or(AuthMechanism::Auto);
    uc.phase_timeout = u.timeout;
    // Fail early on a secret we could not read at start-up; it is read again at each use.
    if (uc.auth_user) {
      try {
        (void)config::read_secret(uc.password_file);
      } catch (const config::ConfigError& e) {
        const auto& at = xoauth2 ? u.oauth_token_file_at : u.auth_password_file_at;
        throw config::ConfigError(at.to_string() + ": " + e.what());
      }
    }
    routes->upstreams.push_back(std::move(uc));
  }
  return routes;
}

}  // namespace tlsrelay::proxy
