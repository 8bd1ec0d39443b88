#include "proxy/cli/probe_command.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "config/config_error.hpp"
#include "config/secret_file.hpp"
#include "proxy/cli/cli_args.hpp"
#include "proxy/cli/probe_report.hpp"
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
  --min-tls 1.0|1.1|1.2|1.3     lowest version offered (default 1.2)
  --json                        print exactly one JSON object (the attempt record) on stdout
PORT defaults to 25. Exit status: 0 when the attempt ended ok, 1 otherwise, 2 on a usage error.
)";
}

namespace {

std::string this_host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

asio::awaitable<void> say_quit(tls::SmtpStream& stream) {
  (void)co_await stream.write("QUIT\r\n");
  co_await stream.close();
}

struct ProbeOptions {
  tls::AttemptOptions attempt;
  tls::ClientProfile profile;
  bool json = false;
};

ProbeOptions parse(const std::vector<std::string>& args) {
  ProbeOptions o;
  o.attempt.target.name = "probe";
  o.attempt.ehlo_name = this_host_name();
  std::optional<TlsMode> mode;
  std::optional<std::string> auth_user, auth_file, target;
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
      auth_user = c.take_value();
    } else if (name == "auth-password-file") {
      auth_file = c.take_value();
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
  if (!target) throw UsageError("HOST is missing");
  HostPort hp = parse_host_port(*target);
  o.attempt.target.host = hp.host;
  o.attempt.target.port = hp.port.value_or(25);
  o.attempt.target.tls_mode =
      mode.value_or(o.attempt.target.port == 465 ? TlsMode::Implicit : TlsMode::Starttls);
  if (auth_user.has_value() != auth_file.has_value()) {
    throw UsageError("--auth-user and --auth-password-file go together");
  }
  if (auth_user) {
    if (o.attempt.target.tls_mode == TlsMode::None) {
      throw UsageError("--auth-user needs TLS: credentials never travel in clear");
    }
    // The relay's own rules for a secret file (config/secret_file.hpp), read the same way.
    try {
      o.attempt.credentials = tls::Credentials{*auth_user, config::read_secret(*auth_file)};
    } catch (const config::ConfigError& e) {
      throw UsageError(std::string("--auth-password-file: ") + e.what());
    }
  }
  return o;
}

}  // namespace

int probe_command(const std::vector<std::string>& args) {
  ProbeOptions o;
  try {
    o = parse(args);
  } catch (const UsageError& e) {
    std::cerr << "tlsrelay probe: " << e.what() << "\n";
    return 2;
  }

  std::shared_ptr<tls::ClientContext> ctx;
  std::string ctx_error;
  auto made = tls::ClientContext::create(o.profile);
  if (auto* p = std::get_if<std::shared_ptr<tls::ClientContext>>(&made)) {
    ctx = *p;
  } else {
    ctx_error = std::get<std::string>(made);
  }

  asio::io_context io;
  auto future = asio::co_spawn(io, tls::run_attempt(o.attempt, ctx, ctx_error), asio::use_future);
  io.run();
  tls::AttemptResult result = future.get();
  if (result.stream) {
    // Leave politely; the verdict is already decided.
    asio::co_spawn(io, say_quit(*result.stream), asio::detached);
    io.restart();
    io.run_for(std::chrono::seconds(2));
  }

  const tls::Verdict verdict = tls::classify(result.facts);
  if (o.json) {
    // Peer text is escaped in the record; replace, not throw, should anything slip through.
    std::cout << tls::attempt_record(result.facts, verdict)
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  } else {
    print_probe_report(std::cout, result.facts, verdict, isatty(STDOUT_FILENO) == 1);
  }
  std::cout.flush();
  return verdict.cls == FailureClass::Ok ? 0 : 1;
}

}  // namespace tlsrelay::proxy
