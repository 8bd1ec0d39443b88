#include "proxy/cli/check_config_command.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <tuple>
#include <utility>
#include <variant>

#include "common/failure_class.hpp"
#include "config/config_error.hpp"
#include "config/loader.hpp"
#include "config/policy_rules.hpp"
#include "config/secret_file.hpp"
#include "proxy/cli/cli_args.hpp"
#include "proxy/server/relay_config.hpp"
#include "proxy/server/server_tls.hpp"
#include "tls/client_context.hpp"

namespace tlsrelay::proxy {

const char* check_config_usage() {
  return R"(usage: tlsrelay check-config PATH [--explain] [--as-user NAME]
  --explain        also print the policy each failure class gets: its actions and the
                   rule they come from (the file's or a built-in one)
  --as-user NAME   also read the secret files, the STARTTLS key and the CA file as NAME
                   (needs root); run as root on /etc/tlsrelay/ without it: as [proxy]
                   user, else tlsrelay (the user the units run the relay as)
Checks what would defer every message besides the syntax: the CA file, each compat
profile's cipher lists, the secret files (as the service user too), the milter's
status_url against [http] listen.
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

// The TLS profiles as serve builds them: a CA file that cannot be read or holds no
// certificate, or a compat list OpenSSL refuses, would make every attempt local-config.
void check_tls_profiles(const config::Settings& s, std::vector<std::string>& problems) {
  tls::ClientProfile normal;
  normal.ca_file = s.tls.ca_file;
  normal.min_version = s.tls.min_version;
  auto made = tls::ClientContext::create(normal);
  if (const auto* why = std::get_if<std::string>(&made)) {
    const std::string at =
        s.tls.ca_file_at.line > 0
            ? s.tls.ca_file_at.to_string() + ": [tls] ca_file: "
            : s.source + ": [tls] ca_file (not set; the default " + s.tls.ca_file + "): ";
    problems.push_back(at + *why + "; every message would be deferred (local-config)");
    return;  // the compat profiles share the CA file
  }
  for (const auto& u : s.upstreams) {
    if (!u.compat) continue;
    auto compat = tls::ClientContext::create(compat_profile(normal, *u.compat));
    if (const auto* why = std::get_if<std::string>(&compat)) {
      problems.push_back(u.compat->at.to_string() + ": [upstream.compat] of " + u.name + ": " +
                         *why + "; the compat action could never be taken");
    }
  }
}

// Whom to check the files as: --as-user; or, run as root on the installed configuration
// (/etc/tlsrelay/, which the units start the relay with), the user the relay runs as there:
// [proxy] user, else tlsrelay. Not for other files: a root-owned test or scratch setup is no
// one else's to read.
std::optional<std::string> service_user(const std::string& path, const config::Settings& s,
                                        const std::optional<std::string>& asked) {
  if (asked) return asked;
  if (geteuid() != 0 || path.rfind("/etc/tlsrelay/", 0) != 0) return std::nullopt;
  const std::string user = s.proxy.user.value_or("tlsrelay");
  const passwd* pw = getpwnam(user.c_str());
  if (pw == nullptr || pw->pw_uid == 0) return std::nullopt;
  return user;
}

// In a child that became `user`: what it cannot read of the files the relay reads at run
// time. One problem a line on the pipe.
std::string unreadable_as_user(const config::Settings& s) {
  std::string found;
  auto note = [&](const config::SourceLocation& at, const std::string& key,
                  const std::string& why) {
    found += (at.line > 0 ? at.to_string() : s.source) + ": " + key + ": " + why + "\n";
  };
  for (const auto& u : s.upstreams) {
    for (const auto& [path, at, key] :
         {std::tuple{u.auth_password_file, u.auth_password_file_at, "auth_password_file"},
          std::tuple{u.oauth_token_file, u.oauth_token_file_at, "oauth_token_file"}}) {
      if (!path) continue;
      try {
        (void)config::read_secret(*path);
      } catch (const config::ConfigError& e) {
        note(at, std::string("[[upstream]] ") + key, e.what());
      }
    }
  }
  if (s.proxy.tls_key) {
    try {
      (void)config::read_private_file(*s.proxy.tls_key, "key file", 1024 * 1024);
    } catch (const config::ConfigError& e) {
      note({}, "[proxy] tls_key", e.what());
    }
  }
  for (const auto& [path, key] :
       {std::pair{s.proxy.tls_cert, "[proxy] tls_cert"},
        std::pair{std::optional<std::string>(s.tls.ca_file), "[tls] ca_file"}}) {
    if (path && ::access(path->c_str(), R_OK) != 0) {
      note(std::string(key) == "[tls] ca_file" ? s.tls.ca_file_at : config::SourceLocation{}, key,
           "cannot read " + *path + ": " + std::strerror(errno));
    }
  }
  return found;
}

void check_as_user(const std::string& user, const config::Settings& s,
                   std::vector<std::string>& problems) {
  const passwd* pw = getpwnam(user.c_str());
  if (pw == nullptr) {
    problems.push_back("--as-user " + user + ": no such user");
    return;
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    std::string out;
    if (::initgroups(pw->pw_name, pw->pw_gid) != 0 || ::setgid(pw->pw_gid) != 0 ||
        ::setuid(pw->pw_uid) != 0) {
      out = s.source + ": cannot switch to user " + user +
            " to check the files: " + std::strerror(errno) + "\n";
    } else {
      out = unreadable_as_user(s);
    }
    for (std::size_t sent = 0; sent < out.size();) {
      const ssize_t n = ::write(fds[1], out.data() + sent, out.size() - sent);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; child > 0 && (n = ::read(fds[0], buf, sizeof buf)) > 0;) {
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  if (child > 0) ::waitpid(child, nullptr, 0);
  for (std::size_t at = 0, end; (end = text.find('\n', at)) != std::string::npos; at = end + 1) {
    // "FILE:LINE:COL: key: why" -> "FILE:LINE:COL: key: as USER: why"
    std::string line = text.substr(at, end - at);
    const std::size_t key_end = line.find(": ", line.find(": ") + 2);
    if (key_end != std::string::npos) line.insert(key_end + 2, "as " + user + ": ");
    problems.push_back(line + " (the relay reads it as " + user + ")");
  }
}

struct Invocation {
  std::string path;
  bool explain = false;
  std::optional<std::string> as_user;
};

Invocation parse_check_config_args(const std::vector<std::string>& args) {
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
    } else if (name == "as-user") {
      inv.as_user = c.take_value();
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
  std::vector<std::string> problems;
  if (auto p = config::status_url_problem(s)) problems.push_back(*p);
  check_tls_profiles(s, problems);
  if (options.read_secrets) {
    // A missing or exposed secret would otherwise surface only at the first delivery, as
    // an auth failure the MTA queue reports hours later.
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
    if (auto user = service_user(path, s, options.as_user)) check_as_user(*user, s, problems);
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
    inv = parse_check_config_args(args);
  } catch (const UsageError& e) {
    err << "tlsrelay check-config: " << e.what() << "\n";
    return 2;
  }
  config::Settings s;
  try {
    CheckOptions options;
    options.as_user = inv.as_user;
    s = check_config(inv.path, options);
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
