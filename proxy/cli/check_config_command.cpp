#include "proxy/cli/check_config_command.hpp"

#include <iostream>
#include <optional>
#include <sstream>

#include "common/failure_class.hpp"
#include "config/config_error.hpp"
#include "config/loader.hpp"
#include "config/policy_rules.hpp"
#include "config/secret_file.hpp"
#include "proxy/cli/cli_args.hpp"
#include "proxy/server/relay_config.hpp"
#include "proxy/server/server_tls.hpp"

namespace tlsrelay::proxy {

const char* check_config_usage() {
  return R"(usage: tlsrelay check-config PATH [--explain]
  --explain   also print the policy each failure class gets: its actions and the rule
              they come from (the file's or a built-in one)
Exit status: 0 when the configuration is valid, 1 when it is not (one FILE:LINE:COL line
per problem on stderr), 2 on a usage error.
)";
}

namespace {

void check_secret(const std::optional<std::string>& path, const config::SourceLocation& at,
                  const std::string& key, std::vector<std::string>& problems) {
  if (!path) return;
  try {
    (void)config::read_secret(*path);
  } catch (const config::ConfigError& e) {
    problems.push_back(at.to_string() + ": [[upstream]] " + key + ": " + e.what());
  }
}

struct Invocation {
  std::string path;
  bool explain = false;
};

Invocation parse(const std::vector<std::string>& args) {
  Invocation inv;
  std::optional<std::string> path;
  ArgCursor c(args);
  while (!c.done()) {
    if (!c.is_option()) {
      if (path) throw UsageError("more than one PATH given");
      path = c.take_positional();
      continue;
    }
    const std::string name = c.option_name();
    if (name == "explain") {
      c.skip_flag();
      inv.explain = true;
    } else {
      throw UsageError("unknown option --" + name);
    }
  }
  if (!path || path->empty()) throw UsageError("PATH of the configuration is missing");
  inv.path = *path;
  return inv;
}

// A cipher list that asks for suites we never offer is worth a word: the admin meant
// something by it. They are removed, whatever the list says (tls::safe_cipher_list).
std::vector<std::string> cipher_warnings(const config::Settings& s) {
  std::vector<std::string> warnings;
  tls::ClientProfile normal;
  normal.min_version = s.tls.min_version;
  for (const auto& u : s.upstreams) {
    if (!u.compat || !u.compat->ciphers) continue;
    const tls::ClientProfile p = compat_profile(normal, *u.compat);
    const auto unsafe = tls::unsafe_suites(p.ciphers, p.security_level);
    if (unsafe.empty()) continue;
    warnings.push_back(u.compat->ciphers_at.to_string() +
                       ": warning: [upstream.compat] ciphers of " + u.name + " selects " +
                       std::to_string(unsafe.size()) +
                       " suite(s) without a certificate or without encryption (" + unsafe.front() +
                       (unsafe.size() > 1 ? ", ..." : "") +
                       "); tlsrelay never offers aNULL or eNULL suites, so they are left out");
  }
  return warnings;
}

std::string summary(const config::Settings& s) {
  std::ostringstream o;
  const auto n = s.upstreams.size();
  o << n << (n == 1 ? " upstream: " : " upstreams: ");
  for (std::size_t i = 0; i < n; ++i) {
    const auto& u = s.upstreams[i];
    if (i > 0) o << ", ";
    o << u.name << " " << u.host << ":" << u.port << " " << to_string(u.tls);
  }
  return o.str();
}

}  // namespace

config::Settings check_config(const std::string& path, const CheckOptions& options) {
  config::Settings s = config::load_settings(path);
  if (!options.read_secrets) return s;
  // A missing or exposed secret would otherwise surface only at the first delivery, as an
  // auth failure the MTA queue reports hours later.
  std::vector<std::string> problems;
  for (const auto& u : s.upstreams) {
    check_secret(u.auth_password_file, u.auth_password_file_at, "auth_password_file", problems);
    check_secret(u.oauth_token_file, u.oauth_token_file_at, "oauth_token_file", problems);
  }
  // The STARTTLS certificate and key, checked as serve loads them.
  try {
    (void)ServerTls::load(s);
  } catch (const config::ConfigError& e) {
    problems.push_back(e.what());
  }
  if (!problems.empty()) throw config::ConfigError(std::move(problems));
  return s;
}

std::string explain_policy(const config::PolicySettings& policy) {
  std::ostringstream o;
  for (auto* c = all_classes_begin(); c != all_classes_end(); ++c) {
    if (c->id == FailureClass::Ok) continue;
    const auto rule = config::effective_rule(policy, c->name, to_string(c->group));
    o << c->name << " -> " << config::to_string(rule.actions) << " (from "
      << (rule.builtin ? "built-in rule \"" : "rule \"") << rule.source << "\")\n";
  }
  return o.str();
}

int check_config_command(const std::vector<std::string>& args, std::ostream& out,
                         std::ostream& err) {
  Invocation inv;
  try {
    inv = parse(args);
  } catch (const UsageError& e) {
    err << "tlsrelay check-config: " << e.what() << "\n";
    return 2;
  }
  config::Settings s;
  try {
    s = check_config(inv.path);
  } catch (const config::ConfigError& e) {
    for (const auto& line : e.lines()) err << line << "\n";
    return 1;
  }
  for (const auto& w : cipher_warnings(s)) err << w << "\n";
  out << inv.path << ": ok (" << summary(s) << ")\n";
  if (inv.explain) {
    out << "policy (deadline " << s.policy.deadline.count() / 1000.0 << " s):\n"
        << explain_policy(s.policy);
  }
  return 0;
}

int check_config_command(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << check_config_usage();
      return 0;
    }
  }
  return check_config_command(args, std::cout, std::cerr);
}

}  // namespace tlsrelay::proxy
