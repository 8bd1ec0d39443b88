// What `tlsrelay setup` was asked for and what it is going to do: shared by the command
// (setup_command.cpp: reads Postfix, probes, decides, prints) and the part that changes
// things (setup_apply.cpp). Plain data; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/modes.hpp"
#include "proxy/cli/postfix_settings.hpp"
#include "proxy/cli/setup_config.hpp"

namespace tlsrelay::proxy {

// Where the units look (packaging/tlsrelay.service) and whom they run as.
inline constexpr const char* kDefaultConfigDir = "/etc/tlsrelay";
inline constexpr const char* kDefaultServiceUser = "tlsrelay";

enum class SetupMode { DryRun, Apply, Undo };

struct SetupOptions {
  std::string host;
  std::uint16_t port = 587;
  TlsMode tls = TlsMode::Starttls;
  std::optional<std::string> user, password_file, token_file, ca_file, connect;
  AuthMechanism mechanism = AuthMechanism::Auto;
  std::string config_dir = kDefaultConfigDir;
  std::string service_user = kDefaultServiceUser;
  bool milter = false;
  SetupMode mode = SetupMode::DryRun;
  std::optional<std::uint16_t> relay_port, http_port, milter_port;
};

// tlsrelay's files in --config-dir.
struct SetupPaths {
  std::string dir, config, secret, backup;
  explicit SetupPaths(const std::string& config_dir)
      : dir(config_dir),
        config(config_dir + "/tlsrelay.toml"),
        secret(config_dir + "/smarthost.secret"),
        backup(config_dir + "/setup-backup") {}
};

struct SetupPlan {
  SetupPaths paths;
  std::string postfix_dir;  // where main.cf and master.cf are (postconf -h config_directory)
  SetupValues values;
  std::string config_text;
  PostfixPlan postfix;
  std::vector<std::string> units;  // started with systemctl; empty: started by hand
  bool systemd = false;            // systemd runs here

  // How to start the relay (and the milter) without the units.
  std::string start_by_hand() const {
    std::string s = "tlsrelay serve --config " + shell_quote(paths.config);
    if (values.milter_port) s += " and tlsrelay-milter --config " + shell_quote(paths.config);
    return s;
  }
};

}  // namespace tlsrelay::proxy
