#include "proxy/cli/setup_command.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>

#include "common/text.hpp"
#include "common/time_format.hpp"
#include "common/unique_fd.hpp"
#include "config/config_error.hpp"
#include "config/loader.hpp"
#include "config/secret_file.hpp"
#include "proxy/cli/cli_args.hpp"
#include "proxy/cli/postfix_settings.hpp"
#include "proxy/cli/probe_report.hpp"
#include "proxy/cli/route_probe.hpp"
#include "proxy/cli/setup_apply.hpp"
#include "proxy/cli/setup_config.hpp"
#include "proxy/cli/setup_files.hpp"
#include "proxy/cli/setup_plan.hpp"
#include "proxy/cli/subprocess.hpp"

namespace tlsrelay::proxy {

const char* setup_usage() {
  return R"(usage: tlsrelay setup --smarthost HOST[:PORT] [options] [--apply]
       tlsrelay setup --undo [--config-dir DIR]
Puts tlsrelay between Postfix and its smarthost. First it probes the route with the
credentials (and refuses, changing nothing, when the probe fails); then it shows, or with
--apply makes, every change: DIR/tlsrelay.toml, DIR/smarthost.secret, the postconf
commands for main.cf, the units. Without --apply nothing is changed.
  --smarthost HOST[:PORT]       the smarthost (PORT default 587)
  --user USER                   AUTH as USER; the password from --password-file, else
                                asked for on the terminal (not echoed)
  --password-file PATH          the password alone in a file, mode 0600
  --auth-mech plain|login|xoauth2   force one mechanism; xoauth2 reads --token-file
  --token-file PATH             the OAuth 2 access token (with --auth-mech xoauth2)
  --tls starttls|implicit       default: implicit when PORT is 465, else starttls
  --ca-file PATH                the smarthost's trust anchors (default: the system store)
  --connect IP                  connect there instead of resolving HOST (HOST stays the
                                name the certificate must show)
  --config-dir DIR              default /etc/tlsrelay
  --service-user NAME           the user the relay runs as (default tlsrelay, which the
                                Debian package creates); it owns the secret
  --milter                      also tlsrelay-milter: [milter] and Postfix's milter lists
  --relay-port N, --http-port N, --milter-port N
                                loopback ports (default: the first free from 10587, 9325,
                                10588, avoiding Postfix's and its usual neighbours')
  --apply                       make the changes (as root); main.cf and master.cf are
                                backed up first to DIR/setup-backup/
  --undo                        put main.cf and master.cf back from DIR/setup-backup/,
                                reload Postfix, stop the units; tlsrelay's files stay
Exit status: 0 done (or shown), 1 refused (nothing changed), 2 usage error.
)";
}

namespace {

constexpr const char* kEventsDir = "/var/log/tlsrelay";

// Without the white space (line ends included) around it: postconf's answers.
std::string trimmed(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return {};
  return text.substr(begin, text.find_last_not_of(" \t\r\n") - begin + 1);
}

std::string absolute(const std::string& path) {
  return std::filesystem::absolute(path).lexically_normal().string();
}

std::uint16_t port_option(const std::string& option, const std::string& value) {
  return static_cast<std::uint16_t>(parse_number(option, value, 1, 65535));
}

void check_options(SetupOptions& o, const std::optional<std::string>& smarthost,
                   std::optional<TlsMode> mode, bool others) {
  if (o.mode == SetupMode::Undo) {
    if (smarthost || others) throw UsageError("--undo takes only --config-dir");
    return;
  }
  if (!smarthost) throw UsageError("--smarthost HOST[:PORT] is missing");
  const HostPort hp = parse_host_port(*smarthost);
  o.host = hp.host;
  o.port = hp.port.value_or(587);
  o.tls = mode.value_or(o.port == 465 ? TlsMode::Implicit : TlsMode::Starttls);
  const bool xoauth2 = o.mechanism == AuthMechanism::Xoauth2;
  if (o.token_file && !xoauth2) throw UsageError("--token-file goes with --auth-mech xoauth2");
  if (xoauth2 && o.password_file) throw UsageError("--auth-mech xoauth2 reads --token-file");
  if (xoauth2 && !o.token_file) throw UsageError("--auth-mech xoauth2 needs --token-file");
  if (!o.user && (o.password_file || o.token_file || o.mechanism != AuthMechanism::Auto)) {
    throw UsageError("--password-file, --token-file and --auth-mech need --user");
  }
  std::set<std::uint16_t> asked;
  for (const auto& p : {o.relay_port, o.http_port, o.milter_port}) {
    if (p && !asked.insert(*p).second) throw UsageError("the relay, HTTP and milter ports differ");
  }
  if (o.milter_port && !o.milter) throw UsageError("--milter-port goes with --milter");
}

SetupOptions parse_setup_args(const std::vector<std::string>& args) {
  SetupOptions o;
  std::optional<std::string> smarthost;
  std::optional<TlsMode> mode;
  bool apply = false, undo = false, others = false;
  ArgCursor c(args);
  while (!c.done()) {
    if (!c.is_option()) {
      throw UsageError("unexpected \"" + c.peek() + "\" (the smarthost goes with --smarthost)");
    }
    const std::string name = c.option_name();
    others = others || (name != "config-dir" && name != "undo");
    if (name == "smarthost") {
      smarthost = c.take_value();
    } else if (name == "user") {
      o.user = c.take_value();
      if (o.user->empty()) throw UsageError("--user needs a name");
    } else if (name == "password-file") {
      o.password_file = absolute(c.take_value());
    } else if (name == "token-file") {
      o.token_file = absolute(c.take_value());
    } else if (name == "auth-mech") {
      const std::string v = c.take_value();
      if (v == "plain")
        o.mechanism = AuthMechanism::Plain;
      else if (v == "login")
        o.mechanism = AuthMechanism::Login;
      else if (v == "xoauth2")
        o.mechanism = AuthMechanism::Xoauth2;
      else
        throw UsageError("--auth-mech must be plain, login or xoauth2, not \"" + v + "\"");
    } else if (name == "tls") {
      const std::string v = c.take_value();
      mode = tls_mode_from_string(v);
      if (!mode || *mode == TlsMode::None) {
        throw UsageError("--tls must be starttls or implicit, not \"" + v + "\"");
      }
    } else if (name == "ca-file") {
      o.ca_file = absolute(c.take_value());
    } else if (name == "connect") {
      o.connect = c.take_value();
      boost::system::error_code ec;
      boost::asio::ip::make_address(*o.connect, ec);
      if (ec) throw UsageError("--connect needs an IP address, not \"" + *o.connect + "\"");
    } else if (name == "config-dir") {
      o.config_dir = absolute(c.take_value());
    } else if (name == "service-user") {
      o.service_user = c.take_value();
      if (o.service_user.empty()) throw UsageError("--service-user needs a name");
    } else if (name == "milter") {
      c.skip_flag();
      o.milter = true;
    } else if (name == "relay-port") {
      o.relay_port = port_option("--relay-port", c.take_value());
    } else if (name == "http-port") {
      o.http_port = port_option("--http-port", c.take_value());
    } else if (name == "milter-port") {
      o.milter_port = port_option("--milter-port", c.take_value());
    } else if (name == "apply") {
      c.skip_flag();
      apply = true;
    } else if (name == "undo") {
      c.skip_flag();
      undo = true;
    } else {
      throw UsageError("unknown option --" + name);
    }
  }
  if (apply && undo) throw UsageError("--apply and --undo exclude each other");
  o.mode = undo ? SetupMode::Undo : apply ? SetupMode::Apply : SetupMode::DryRun;
  check_options(o, smarthost, mode, others);
  return o;
}

// ---- Postfix, as it is now ----

struct PostfixState {
  std::string config_directory;  // where main.cf and master.cf are
  PostfixParameters main_cf;     // postconf -n
  PostfixParameters overrides;   // postconf -P
  std::string services;          // postconf -M
  std::string myhostname;
};

std::string postconf(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"postconf"};
  argv.insert(argv.end(), args.begin(), args.end());
  const ProgramResult r = run_program(argv);
  if (!r.ok()) {
    throw SetupRefusal("cannot read Postfix's settings (postconf " + join(args, " ") +
                       "): " + r.first_line());
  }
  return r.out;
}

PostfixState read_postfix() {
  if (!find_program("postconf")) {
    throw SetupRefusal(
        "Postfix is not installed: no postconf in PATH, /usr/sbin or /sbin (apt install postfix)");
  }
  PostfixState p;
  p.config_directory = trimmed(postconf({"-h", "config_directory"}));
  // Both are backed up byte for byte before any change: unreadable is a refusal now.
  (void)read_whole_file(p.config_directory + "/main.cf");
  (void)read_whole_file(p.config_directory + "/master.cf");
  p.main_cf = parse_postconf(postconf({"-n"}));
  p.overrides = parse_postconf(postconf({"-P"}));
  p.services = postconf({"-M"});
  p.myhostname = trimmed(postconf({"-h", "myhostname"}));
  return p;
}

// ---- ports ----

// Whether the relay could bind it: as it does, with SO_REUSEADDR, on 127.0.0.1.
bool port_free(std::uint16_t port) {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) return false;
  const int one = 1;
  ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::bind(s.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
}

// The ports of the configuration setup replaces: a relay started from it may hold them and
// main.cf may name them (relayhost), yet they are free for the new one.
std::set<std::uint16_t> previous_ports(const std::string& config_path) {
  std::set<std::uint16_t> ports;
  if (!file_exists(config_path)) return ports;
  try {
    const config::Settings s = config::load_settings(config_path);
    for (const auto& l : s.proxy.listen) ports.insert(l.port);
    if (s.http.listen) ports.insert(s.http.listen->port);
    if (s.milter && s.milter->socket && s.milter->socket->rfind("inet:", 0) == 0) {
      const std::string rest = s.milter->socket->substr(5);
      std::uint64_t v = 0;
      if (parse_u64(rest.substr(0, rest.find('@')), v) && v > 0 && v <= 65535) {
        ports.insert(static_cast<std::uint16_t>(v));
      }
    }
  } catch (const std::exception&) {
    // Not loadable: nothing of it runs, nothing to take over.
  }
  return ports;
}

struct Ports {
  std::uint16_t relay = 0, http = 0;
  std::optional<std::uint16_t> milter;
};

Ports choose_ports(const SetupOptions& o, const PostfixState& pf, const std::string& config_path) {
  const std::set<std::uint16_t> ours = previous_ports(config_path);
  std::set<std::uint16_t> named = ports_named(pf.services, pf.main_cf);
  for (const auto p : ours) named.erase(p);
  auto is_free = [&](std::uint16_t p) { return ours.count(p) > 0 || port_free(p); };
  std::set<std::uint16_t> avoid = named;
  for (const auto& p : {o.relay_port, o.http_port, o.milter_port}) {
    if (p) avoid.insert(*p);
  }
  auto choose = [&](const std::optional<std::uint16_t>& asked, std::uint16_t preferred,
                    const std::string& option) -> std::uint16_t {
    if (asked) {
      const std::string n = std::to_string(*asked);
      if (named.count(*asked) > 0) {
        throw SetupRefusal(option + " " + n +
                           ": Postfix's configuration names this port already (postconf -M, "
                           "postconf -n)");
      }
      if (!is_free(*asked)) {
        throw SetupRefusal(option + " " + n +
                           ": the port is in use on 127.0.0.1 (ss -ltnp "
                           "'sport = :" +
                           n + "' shows by what)");
      }
      return *asked;
    }
    const auto p = pick_port(preferred, avoid, is_free);
    if (!p) {
      throw SetupRefusal("no free loopback port from " + std::to_string(preferred) +
                         " on: name one with " + option);
    }
    avoid.insert(*p);
    return *p;
  };
  Ports ports;
  ports.relay = choose(o.relay_port, kPreferredRelayPort, "--relay-port");
  ports.http = choose(o.http_port, kPreferredHttpPort, "--http-port");
  if (o.milter) ports.milter = choose(o.milter_port, kPreferredMilterPort, "--milter-port");
  return ports;
}

// ---- the secret ----

std::string secret_or_refusal(const std::string& option, const std::string& path) {
  try {
    return config::read_secret(path);
  } catch (const config::ConfigError& e) {
    throw SetupRefusal(option + " " + path + ": " + e.what());
  }
}

// The terminal as it was before the prompt, for a signal that ends us during it: a shell
// left without echo looks broken to the admin.
termios g_terminal_before_prompt{};

extern "C" void restore_terminal_and_die(int sig) {
  ::tcsetattr(STDIN_FILENO, TCSANOW, &g_terminal_before_prompt);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

// On the terminal, echo off (getpass(3) is obsolete); the terminal is restored whatever
// ends the read, Ctrl-C included.
std::string prompt_secret(const std::string& prompt) {
  std::cerr << prompt << std::flush;
  const bool quiet = ::tcgetattr(STDIN_FILENO, &g_terminal_before_prompt) == 0;
  if (quiet) {
    for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) {
      ::signal(sig, restore_terminal_and_die);
    }
    termios no_echo = g_terminal_before_prompt;
    no_echo.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    // TCSADRAIN, not TCSAFLUSH: a password typed (or pasted) ahead of the prompt is kept.
    ::tcsetattr(STDIN_FILENO, TCSADRAIN, &no_echo);
  }
  std::string line;
  std::getline(std::cin, line);
  if (quiet) {
    ::tcsetattr(STDIN_FILENO, TCSADRAIN, &g_terminal_before_prompt);
    for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::signal(sig, SIG_DFL);
  }
  std::cerr << "\n";
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) throw SetupRefusal("no password given");
  return line;
}

std::optional<std::string> read_credential(const SetupOptions& o) {
  if (!o.user) return std::nullopt;
  if (o.token_file) return secret_or_refusal("--token-file", *o.token_file);
  if (o.password_file) return secret_or_refusal("--password-file", *o.password_file);
  if (::isatty(STDIN_FILENO) != 1) {
    throw UsageError("--password-file PATH is needed: standard input is no terminal to ask on");
  }
  return prompt_secret("Password for " + *o.user + " at " + o.host + ": ");
}

// ---- the probe ----

RouteProbe probe_smarthost(const SetupOptions& o, const std::string& ehlo,
                           const std::optional<std::string>& secret) {
  tls::AttemptOptions a;
  a.target.name = kSmarthostName;
  a.target.host = o.host;
  a.target.port = o.port;
  a.target.tls_mode = o.tls;
  a.target.connect_address = o.connect.value_or("");
  a.ehlo_name = ehlo;
  // As the relay will try it: the configuration's defaults for what setup does not write.
  a.phase_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(config::UpstreamSettings{}.timeout);
  if (o.user) a.credentials = tls::Credentials{*o.user, secret.value_or(""), o.mechanism};
  tls::ClientProfile profile;
  profile.ca_file = o.ca_file.value_or(config::TlsSettings{}.ca_file);
  profile.min_version = config::TlsSettings{}.min_version;
  return probe_route(a, profile);
}

std::string probe_summary(const RouteProbe& p) {
  const auto& f = p.facts;
  std::string s = f.tls.version + " " + f.tls.cipher + ", certificate verified for " +
                  f.certificate.verify_name;
  if (!f.smtp.auth_mechanism.empty()) s += ", AUTH " + f.smtp.auth_mechanism + " accepted";
  return s + " (" + format_seconds(f.timings.total / 1000.0) + ")";
}

// ---- the plan ----

std::string today() {
  return iso8601_seconds(std::chrono::system_clock::now()).substr(0, 10);
}

SetupPlan make_plan(const SetupOptions& o, const PostfixState& pf, const Ports& ports) {
  SetupPlan plan{SetupPaths(o.config_dir), pf.config_directory, {}, {}, {}, {}, false};
  SetupValues& v = plan.values;
  v.host = o.host;
  v.port = o.port;
  v.tls = o.tls;
  v.connect = o.connect;
  v.ca_file = o.ca_file;
  v.auth_user = o.user;
  v.mechanism = o.mechanism;
  v.secret_path = plan.paths.secret;
  v.hostname = pf.myhostname;
  v.service_user = o.service_user;
  v.relay_port = ports.relay;
  v.http_port = ports.http;
  v.milter_port = ports.milter;
  if (std::filesystem::is_directory(kEventsDir))
    v.events_log = std::string(kEventsDir) + "/events.jsonl";
  v.written_on = today();
  plan.config_text = render_config(v);
  plan.postfix = plan_postfix(pf.main_cf, pf.overrides, RelayHop{ports.relay, ports.milter});
  plan.systemd = std::filesystem::is_directory("/run/systemd/system");
  // The units read /etc/tlsrelay/tlsrelay.toml and run as tlsrelay: anything else is
  // started by hand.
  if (plan.systemd && o.config_dir == kDefaultConfigDir && o.service_user == kDefaultServiceUser) {
    plan.units.push_back("tlsrelay");
    if (o.milter) plan.units.push_back("tlsrelay-milter");
  }
  return plan;
}

void print_indented(std::ostream& out, const std::string& text, const std::string& prefix) {
  std::size_t at = 0;
  while (at < text.size()) {
    const auto end = text.find('\n', at);
    out << prefix << text.substr(at, end - at) << "\n";
    if (end == std::string::npos) break;
    at = end + 1;
  }
}

void print_plan(std::ostream& out, const SetupOptions& o, const SetupPlan& plan) {
  const auto& p = plan.paths;
  int step = 0;
  auto next = [&] { return "  " + std::to_string(++step) + ". "; };
  out << "\nThe plan:\n";
  if (backup_complete(p)) {
    out << next() << "Keep the backup of main.cf and master.cf in " << p.backup
        << "/ (from an earlier setup: --undo returns to the state before it)\n";
  } else {
    out << next() << "Back up " << plan.postfix_dir << "/main.cf and master.cf to " << p.backup
        << "/ (for --undo)" << (file_exists(p.config) ? ", and the present tlsrelay.toml" : "")
        << "\n";
  }
  if (plan.values.auth_user) {
    out << next() << "Write " << p.secret << ": the "
        << (o.mechanism == AuthMechanism::Xoauth2 ? "token" : "password") << ", mode 0600, owner "
        << o.service_user << " (not shown)\n";
  }
  out << next() << (file_exists(p.config) ? "Replace " : "Write ") << p.config << ":\n";
  print_indented(out, plan.config_text, "       | ");
  out << next() << "Check it as tlsrelay check-config does (the secret read as " << o.service_user
      << ")\n";
  if (plan.postfix.changes.empty()) {
    out << next() << "Postfix already sends through tlsrelay: main.cf stays as it is\n";
  } else {
    out << next() << "Change Postfix's main.cf:\n";
    for (const auto& c : plan.postfix.changes) {
      out << "       " << c.command_line() << "\n         # " << c.why << "\n";
    }
  }
  out << next() << "postfix check (when it fails, main.cf and master.cf are put back)\n";
  if (!plan.units.empty()) {
    for (const auto& u : plan.units) {
      out << next() << "systemctl enable " << u << " && systemctl restart " << u << "\n";
    }
  } else {
    out << next() << "Start it yourself: " << plan.start_by_hand()
        << (plan.systemd ? " (the units read /etc/tlsrelay/tlsrelay.toml as user tlsrelay)"
                         : " (systemd does not run here)")
        << "\n";
  }
  out << next() << "postfix reload, if Postfix runs\n";
  if (!plan.postfix.advice.empty()) {
    out << "\nCheck these yourself (setup does not change them):\n";
    for (const auto& a : plan.postfix.advice) out << "  - " << a << "\n";
  }
}

// ---- the command ----

FileOwner service_user(const std::string& name) {
  const passwd* pw = ::getpwnam(name.c_str());
  if (pw == nullptr) {
    throw SetupRefusal("the service user " + name +
                       " does not exist: the Debian package creates tlsrelay; or adduser --system "
                       "--group --no-create-home --home /nonexistent " +
                       name + "; or name another with --service-user");
  }
  if (pw->pw_uid == 0) throw SetupRefusal("the service user must not be root");
  return FileOwner{pw->pw_uid, pw->pw_gid};
}

int setup(const SetupOptions& o) {
  std::ostream& out = std::cout;
  const PostfixState pf = read_postfix();
  const FileOwner user = service_user(o.service_user);
  if (o.mode == SetupMode::Apply && ::geteuid() != 0) {
    throw SetupRefusal("--apply changes Postfix and writes " + o.config_dir + ": run it as root");
  }
  const Ports ports = choose_ports(o, pf, SetupPaths(o.config_dir).config);
  const std::optional<std::string> secret = read_credential(o);

  out << "tlsrelay setup: Postfix (" << pf.config_directory << ") in front of " << o.host << ":"
      << o.port << (o.mode == SetupMode::DryRun ? ", a dry run\n\n" : "\n\n");
  out << "Probe: " << o.host << ":" << o.port << " " << to_string(o.tls)
      << (o.user ? " as " + *o.user : std::string()) << " ... " << std::flush;
  const RouteProbe probed = probe_smarthost(o, pf.myhostname, secret);
  if (!probed.ok(false)) {
    out << std::string(to_string(probed.verdict.cls)) << "\n\n";
    print_probe_report(out, probed.facts, probed.verdict, ::isatty(STDOUT_FILENO) == 1);
    out.flush();
    throw SetupRefusal("the probe of " + o.host + ":" + std::to_string(o.port) + " ended " +
                       std::string(to_string(probed.verdict.cls)) +
                       " (above): nothing was changed");
  }
  out << "ok: " << probe_summary(probed) << "\n";

  const SetupPlan plan = make_plan(o, pf, ports);
  print_plan(out, o, plan);
  if (o.mode == SetupMode::DryRun) {
    out << "\nA dry run: nothing was changed. The same command with --apply does it.\n";
    return 0;
  }
  apply_setup(o, plan, secret, user, out);
  return 0;
}

}  // namespace

int setup_command(const std::vector<std::string>& args) {
  SetupOptions o;
  try {
    o = parse_setup_args(args);
    return o.mode == SetupMode::Undo ? undo_setup(o, std::cout) : setup(o);
  } catch (const UsageError& e) {
    std::cerr << "tlsrelay setup: " << e.what() << "\n";
    return 2;
  } catch (const SetupRefusal& e) {
    std::cout.flush();
    std::cerr << "tlsrelay setup: " << e.what() << "\n";
    return 1;
  } catch (const std::filesystem::filesystem_error& e) {
    std::cerr << "tlsrelay setup: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace tlsrelay::proxy
