#include "proxy/cli/probe_command.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <utility>

#include "common/text.hpp"
#include "config/config_error.hpp"
#include "config/loader.hpp"
#include "config/secret_file.hpp"
#include "proxy/cli/cli_args.hpp"
#include "proxy/cli/probe_report.hpp"
#include "proxy/cli/route_probe.hpp"
#include "proxy/upstream/routes.hpp"
#include "tls/attempt_record.hpp"
#include "tls/classifier.hpp"
#include "tls/connector.hpp"

namespace tlsrelay::proxy {

namespace asio = boost::asio;

const char* probe_usage() {
  return R"(usage: tlsrelay probe [options] HOST[:PORT]
  --tls starttls|implicit|none  default: implicit when PORT is 465, else starttls
  --ca-file PATH                trust anchors (default: the system store)
  --connect ADDRESS             connect to this IP instead of resolving HOST; HOST stays the
                                name used for SNI and certificate checks
  --sni NAME                    override the SNI (default: HOST, none when HOST is an IP)
  --timeout SECONDS             per-phase time-out (default 30)
  --ehlo NAME                   EHLO name (default: this host's name)
  --auth-user USER --auth-password-file PATH   also try AUTH after TLS
  --auth-mech plain|login|xoauth2   force one AUTH mechanism (default: PLAIN, else LOGIN)
  --token-file PATH             the OAuth 2 bearer token for --auth-mech xoauth2
  --min-tls 1.0|1.1|1.2|1.3     lowest version offered (default 1.2)
  --envelope FROM,TO            after AUTH, also MAIL FROM:<FROM>, RCPT TO:<TO> and RSET:
                                the route tested end to end, and no mail sent
  --config FILE [--upstream NAME] [--compat]
                                probe an upstream of the relay's configuration as the relay
                                would: its host, port, tls, connect, sni, CA file, EHLO name,
                                time-out and credentials (--compat: its compat profile);
                                no HOST then, NAME needed when there are several
  --json                        print exactly one JSON object (the attempt record) on stdout
PORT defaults to 25. Exit status: 0 when the attempt ended ok (and the envelope was
accepted), 1 otherwise, 2 on a usage error.
)";
}

namespace {

struct ProbeOptions {
  tls::AttemptOptions attempt;
  tls::ClientProfile profile;
  bool json = false;
  std::optional<std::pair<std::string, std::string>> envelope;  // FROM, TO
  // The upstream's [upstream.compat] profile, when --config names one (with --compat, the
  // profile in use): the failure hint says whether it would reach the server.
  std::optional<tls::ClientProfile> compat;
};

// What the command line says about credentials, before they are read.
struct AuthArgs {
  std::optional<std::string> user, password_file, token_file;
  std::optional<AuthMechanism> mechanism;
};

std::optional<AuthMechanism> mechanism_from_string(const std::string& v) {
  if (v == "plain") return AuthMechanism::Plain;
  if (v == "login") return AuthMechanism::Login;
  if (v == "xoauth2") return AuthMechanism::Xoauth2;
  return std::nullopt;
}

// The relay's own rules for a secret file (config/secret_file.hpp), read the same way.
std::string secret_from(const std::string& option, const std::string& path) {
  try {
    return config::read_secret(path);
  } catch (const config::ConfigError& e) {
    throw UsageError(option + ": " + e.what());
  }
}

void set_credentials(ProbeOptions& o, const AuthArgs& a) {
  const bool xoauth2 = a.mechanism == AuthMechanism::Xoauth2;
  const auto& secret_file = xoauth2 ? a.token_file : a.password_file;
  const char* secret_option = xoauth2 ? "--token-file" : "--auth-password-file";
  if (a.token_file && !xoauth2) throw UsageError("--token-file goes with --auth-mech xoauth2");
  if (!a.user && (secret_file || a.mechanism)) {
    throw UsageError(std::string(secret_option) + " and --auth-mech need --auth-user");
  }
  if (!a.user) return;
  if (!secret_file) {
    throw UsageError(std::string("--auth-user needs ") + secret_option);
  }
  if (o.attempt.target.tls_mode == TlsMode::None) {
    throw UsageError("--auth-user needs TLS: credentials never travel in clear");
  }
  o.attempt.credentials = tls::Credentials{*a.user, secret_from(secret_option, *secret_file),
                                           a.mechanism.value_or(AuthMechanism::Auto)};
}

// --config FILE [--upstream NAME] [--compat]: the upstream exactly as serve would try it.
void from_config(ProbeOptions& o, const std::string& file, const std::optional<std::string>& name,
                 bool compat) {
  const config::Settings s = load_config_arg(file);
  const config::UpstreamSettings* u = &pick_upstream(s, file, name);
  o.attempt.target.name = u->name;
  o.attempt.target.host = u->host;
  o.attempt.target.port = u->port;
  o.attempt.target.tls_mode = u->tls;
  if (u->connect) o.attempt.target.connect_address = u->connect->to_string();
  o.attempt.target.sni = u->sni;
  o.attempt.ehlo_name = s.proxy.hostname;
  o.attempt.phase_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(u->timeout);
  o.profile.ca_file = s.tls.ca_file;
  o.profile.min_version = s.tls.min_version;
  if (compat) {
    if (!u->compat) throw UsageError("--compat: upstream " + u->name + " has no [upstream.compat]");
    o.profile = compat_profile(o.profile, *u->compat);
    o.attempt.fallback = true;
    o.compat = o.profile;  // it is the profile that failed: the hint says so
  } else if (u->compat) {
    o.compat = compat_profile(o.profile, *u->compat);
  }
  AuthArgs a;
  a.user = u->auth_user;
  a.mechanism = u->auth_mechanism;
  a.password_file = u->auth_password_file;
  a.token_file = u->oauth_token_file;
  set_credentials(o, a);
}

// Long on purpose: one branch per option, in the order of the usage text, then the checks
// that need them all (the target, --config's upstream, the credentials).
ProbeOptions parse_probe_args(const std::vector<std::string>& args) {
  ProbeOptions o;
  o.attempt.target.name = "probe";
  o.attempt.ehlo_name = this_host_name();
  std::optional<TlsMode> mode;
  std::optional<std::string> target, config_file, upstream;
  bool compat = false;
  AuthArgs auth;
  ArgCursor c(args);
  while (!c.done()) {
    if (!c.is_option()) {
      if (target) throw UsageError("more than one HOST given");
      target = c.take_positional();
      continue;
    }
    const std::string name = c.option_name();
    if (name == "json") {
      c.skip_flag();
      o.json = true;
    } else if (name == "tls") {
      std::string v = c.take_value();
      mode = tls_mode_from_string(v);
      if (!mode) throw UsageError("--tls must be starttls, implicit or none, not \"" + v + "\"");
    } else if (name == "ca-file") {
      o.profile.ca_file = c.take_value();
    } else if (name == "connect") {
      o.attempt.target.connect_address = c.take_value();
      boost::system::error_code ec;
      asio::ip::make_address(o.attempt.target.connect_address, ec);
      if (ec)
        throw UsageError("--connect needs an IP address, not \"" +
                         o.attempt.target.connect_address + "\"");
    } else if (name == "sni") {
      o.attempt.target.sni = c.take_value();
    } else if (name == "timeout") {
      double s = parse_number("--timeout", c.take_value(), 0.1, 3600);
      o.attempt.phase_timeout = std::chrono::milliseconds(static_cast<long>(s * 1000));
    } else if (name == "ehlo") {
      o.attempt.ehlo_name = c.take_value();
      if (o.attempt.ehlo_name.empty() ||
          o.attempt.ehlo_name.find_first_of(" \r\n\t") != std::string::npos) {
        throw UsageError("--ehlo needs a host name without spaces");
      }
    } else if (name == "auth-user") {
      auth.user = c.take_value();
    } else if (name == "auth-password-file") {
      auth.password_file = c.take_value();
    } else if (name == "token-file") {
      auth.token_file = c.take_value();
    } else if (name == "auth-mech") {
      const std::string v = c.take_value();
      auth.mechanism = mechanism_from_string(v);
      if (!auth.mechanism) throw UsageError("--auth-mech must be plain, login or xoauth2");
    } else if (name == "envelope") {
      const std::string v = c.take_value();
      const auto comma = v.find(',');
      if (comma == std::string::npos || v.find_first_of("<>\r\n ") != std::string::npos) {
        throw UsageError("--envelope needs FROM,TO (two addresses, no <> or spaces)");
      }
      o.envelope = std::pair{v.substr(0, comma), v.substr(comma + 1)};
    } else if (name == "config") {
      config_file = c.take_value();
    } else if (name == "upstream") {
      upstream = c.take_value();
    } else if (name == "compat") {
      c.skip_flag();
      compat = true;
    } else if (name == "min-tls") {
      o.profile.min_version = c.take_value();
      if (!tls::tls_version_from_string(o.profile.min_version)) {
        throw UsageError("--min-tls must be 1.0, 1.1, 1.2 or 1.3");
      }
      // Below TLS 1.2 OpenSSL needs security level 0 to offer them at all.
      if (o.profile.min_version == "1.0" || o.profile.min_version == "1.1") {
        o.profile.security_level = 0;
      }
    } else {
      throw UsageError("unknown option --" + name);
    }
  }
  if (config_file) {
    if (target) throw UsageError("HOST and --config exclude each other");
    if (auth.user || auth.password_file || auth.token_file || auth.mechanism || mode) {
      throw UsageError("--config takes the upstream's own TLS mode and credentials");
    }
    from_config(o, *config_file, upstream, compat);
    return o;
  }
  if (upstream || compat) throw UsageError("--upstream and --compat go with --config");
  if (!target) throw UsageError("HOST is missing");
  HostPort hp = parse_host_port(*target);
  o.attempt.target.host = hp.host;
  o.attempt.target.port = hp.port.value_or(25);
  o.attempt.target.tls_mode =
      mode.value_or(o.attempt.target.port == 465 ? TlsMode::Implicit : TlsMode::Starttls);
  set_credentials(o, auth);
  return o;
}

}  // namespace

int probe_command(const std::vector<std::string>& args) {
  ProbeOptions o;
  try {
    o = parse_probe_args(args);
  } catch (const UsageError& e) {
    std::cerr << "tlsrelay probe: " << e.what() << "\n";
    return 2;
  }

  RouteProbe probed = probe_route(o.attempt, o.profile, o.envelope);
  add_server_speaks_hint(probed, o.attempt, o.profile, o.compat);
  const std::optional<EnvelopeResult>& envelope = probed.envelope;
  const tls::AttemptFacts& facts = probed.facts;
  const tls::Verdict& verdict = probed.verdict;
  if (o.json) {
    auto record = tls::attempt_record(facts, verdict);
    if (o.envelope) {
      nlohmann::ordered_json steps = nlohmann::ordered_json::array();
      for (const auto& [line, reply] : envelope ? envelope->steps : decltype(envelope->steps){}) {
        steps.push_back({{"command", printable(line, 300)}, {"reply", printable(reply, 300)}});
      }
      record["envelope"] = {{"tried", envelope.has_value()},
                            {"accepted", envelope && envelope->accepted},
                            {"steps", steps}};
    }
    // Peer text is escaped in the record; replace, not throw, should anything slip through.
    std::cout << record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    print_probe_report(std::cout, facts, verdict, isatty(STDOUT_FILENO) == 1);
    if (envelope) {
      std::cout << "\nEnvelope (no message sent)\n";
      for (const auto& [line, reply] : envelope->steps) {
        std::cout << "  C: " << printable(line, 300) << "\n  S: " << printable(reply, 300) << "\n";
      }
      std::cout << (envelope->accepted ? "  accepted: the route takes mail from this sender to "
                                         "this recipient\n"
                                       : "  refused: see the reply above\n");
    }
  }
  std::cout.flush();
  return probed.ok(o.envelope.has_value()) ? 0 : 1;
}

}  // namespace tlsrelay::proxy
