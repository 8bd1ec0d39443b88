// The tlsrelay.toml that `tlsrelay setup` writes (minimal, commented, one upstream named
// "smarthost"), and the loopback ports it picks for the relay, its status page and the
// milter.
//
// Pure: the caller says which ports are free (setup_command.cpp tries to bind them) and
// which Postfix names (postfix_settings.hpp). Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>

#include "common/modes.hpp"

namespace tlsrelay::proxy {

// The upstream's name in the file: `tlsrelay probe --config F --upstream smarthost`.
inline constexpr const char* kSmarthostName = "smarthost";

inline constexpr std::uint16_t kPreferredRelayPort = 10587;
inline constexpr std::uint16_t kPreferredHttpPort = 9325;
inline constexpr std::uint16_t kPreferredMilterPort = 10588;

// Ports that belong to the usual neighbours of Postfix even when they are not running or
// not in master.cf yet: amavisd-new (10024-10026), OpenDKIM (8891), OpenDMARC (8893),
// rspamd (11332-11334), spamd (783).
inline constexpr std::array<std::uint16_t, 9> kWellKnownPorts = {10024, 10025, 10026, 8891, 8893,
                                                                 11332, 11333, 11334, 783};

// The first port from `preferred` upwards (a hundred at most) that is neither in `avoid` nor
// well-known and that `is_free` accepts; nullopt when none is.
std::optional<std::uint16_t> pick_port(std::uint16_t preferred,
                                       const std::set<std::uint16_t>& avoid,
                                       const std::function<bool(std::uint16_t)>& is_free);

struct SetupValues {
  // [[upstream]]
  std::string host;
  std::uint16_t port = 587;
  TlsMode tls = TlsMode::Starttls;
  std::optional<std::string> connect;  // an IP address
  std::optional<std::string> ca_file;  // [tls] ca_file
  std::optional<std::string> auth_user;
  AuthMechanism mechanism = AuthMechanism::Auto;  // Xoauth2: the secret is the token
  std::string secret_path;                        // with auth_user
  // [proxy]
  std::string hostname;
  std::string service_user;
  std::uint16_t relay_port = kPreferredRelayPort;
  // [http], [milter], [log]
  std::uint16_t http_port = kPreferredHttpPort;
  std::optional<std::uint16_t> milter_port;
  std::optional<std::string> events_log;
  std::string written_on;  // "2026-12-01", for the first comment
};

// The file's text. It loads with config::parse_settings and passes check-config once the
// secret file exists.
std::string render_config(const SetupValues& v);

// A TOML basic string, quotes included.
std::string toml_string(const std::string& text);

}  // namespace tlsrelay::proxy
