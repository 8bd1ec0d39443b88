// What the upstream side runs on: the configured upstreams with their TLS contexts made and
// secrets checked, the failure policy, and the pool's limits. Built once from
// config::Settings for each configuration (start, each reload) and shared read-only by every
// route and pooled connection until a reload replaces it.
//
// Immutable after construction; thread-safe to share.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/modes.hpp"
#include "config/settings.hpp"
#include "tls/client_context.hpp"
#include "tls/connector.hpp"

namespace tlsrelay::proxy {

struct UpstreamConfig {
  tls::UpstreamTarget target;
  std::shared_ptr<tls::ClientContext> context;  // null when the profile is unusable
  std::string context_error;
  // The `compat` action's lowered profile; null when the upstream defines none.
  std::shared_ptr<tls::ClientContext> compat_context;
  std::string compat_error;
  bool allow_plaintext = false;
  std::optional<std::string> auth_user;
  std::string password_file;  // (or the XOAUTH2 token file) read at each use, never kept
  AuthMechanism auth_mechanism = AuthMechanism::Auto;
  std::chrono::milliseconds phase_timeout{30000};
};

struct Routes {
  // Distinct for every configuration made (start, each reload): what was opened under an
  // older one is not used for a new message.
  std::uint64_t generation = 0;
  std::vector<UpstreamConfig> upstreams;  // in the configured order
  config::PolicySettings policy;
  std::string ehlo_name;  // [proxy] hostname
  // The pool's limits (upstream_pool.hpp).
  config::Duration idle_upstream{std::chrono::seconds(30)};
  config::Duration reuse_time_limit{std::chrono::seconds(300)};
  std::uint64_t pool_size_per_upstream = 8;
  // [health]: the route checker's interval, AUTH and concurrency (route_checker.hpp).
  config::HealthSettings health;
};

// The `compat` action's profile: the normal one with the upstream's [upstream.compat] keys
// over it; a minimum below TLS 1.2 implies security level 0 unless one is given.
tls::ClientProfile compat_profile(const tls::ClientProfile& normal,
                                  const config::CompatProfile& compat);

// Throws config::ConfigError (FILE:LINE:COL) when a secret cannot be read.
std::shared_ptr<const Routes> make_routes(const config::Settings& settings,
                                          std::uint64_t generation);

}  // namespace tlsrelay::proxy
