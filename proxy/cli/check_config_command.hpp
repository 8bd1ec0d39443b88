// `tlsrelay check-config PATH [--explain]`: validate a configuration the way `serve` would
// load it, including the secret files, and optionally show the effective failure policy.
//
// Exit status: 0 when valid (one "PATH: ok (...)" line on stdout), 1 with one
// "FILE:LINE:COL: ..." line per problem on stderr, 2 on a usage error. Not thread-safe
// (writes to the given streams); used once per process.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include <optional>
#include <string>

#include "config/settings.hpp"

namespace tlsrelay::proxy {

struct CheckOptions {
  bool read_secrets = true;  // open and check every auth_password_file and oauth_token_file
  // Also read the secrets, the STARTTLS key and the CA file as this user (forked, setuid):
  // the relay reads them as its service user, so root reading them proves nothing. When
  // unset and run as root on /etc/tlsrelay/: [proxy] user, else "tlsrelay" if it exists.
  std::optional<std::string> as_user;
};

// Loads PATH and checks what loading alone cannot (the secret files). Throws
// config::ConfigError with one line per problem.
config::Settings check_config(const std::string& path, const CheckOptions& options = {});

// For every failure class but ok, in table order: "class -> actions (from rule "X")".
std::string explain_policy(const config::PolicySettings& policy);

int check_config_command(const std::vector<std::string>& args);
int check_config_command(const std::vector<std::string>& args, std::ostream& out,
                         std::ostream& err);
const char* check_config_usage();

}  // namespace tlsrelay::proxy
