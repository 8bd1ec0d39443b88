// The relay's view of its configuration: what the daemon needs at run time, built once from
// config::Settings (with TLS contexts made and secrets checked) and then shared read-only
// by every session until a reload replaces it.
//
// Immutable after construction; thread-safe to share.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/secret_file.hpp"
#include "config/settings.hpp"
#include "proxy/server_fsm.hpp"
#include "proxy/server_tls.hpp"
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

struct RelayConfig {
  // Distinct for every configuration made (start, each reload): what was opened under an
  // older one is not used for a new message.
  std::uint64_t generation = 0;
  config::Settings settings;
  ServerOptions server;
  std::shared_ptr<const ServerTls> server_tls;  // STARTTLS to our clients; null when off
  std::vector<UpstreamConfig> upstreams;
  std::chrono::milliseconds command_timeout{300000};
  std::chrono::milliseconds data_block_timeout{180000};
  std::chrono::milliseconds data_done_timeout{600000};
};

// The `compat` action's profile: the normal one with the upstream's [upstream.compat] keys
// over it; a minimum below TLS 1.2 implies security level 0 unless one is given.
tls::ClientProfile compat_profile(const tls::ClientProfile& normal,
                                  const config::CompatProfile& compat);

// Throws config::ConfigError when something cannot be used (e.g. a password file).
std::shared_ptr<const RelayConfig> make_relay_config(config::Settings settings);

}  // namespace tlsrelay::proxy
