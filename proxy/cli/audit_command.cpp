#include "proxy/cli/audit_command.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/use_future.hpp>
#include <ctime>
#include <optional>

#include "proxy/cli/audit_gather.hpp"
#include "proxy/cli/audit_grade.hpp"
#include "proxy/cli/audit_mx.hpp"
#include "proxy/cli/audit_report.hpp"
#include "proxy/cli/cli_args.hpp"
#include "tls/tls_scan.hpp"

namespace tlsrelay::proxy {

namespace asio = boost::asio;

const char* audit_usage() {
  return R"(usage: tlsrelay audit [options] HOST[:PORT]
       tlsrelay audit --config FILE [--upstream NAME] [options]
       tlsrelay audit --mx DOMAIN [options]
  --tls starttls|implicit   default: implicit when PORT is 465, else starttls
  --ca-file PATH            trust anchors (default: the system store)
  --connect ADDRESS         connect to this IP instead of resolving HOST; HOST stays the name
                            used for SNI and certificate checks
  --ehlo NAME               EHLO name (default: this host's name)
  --timeout SECONDS         the whole audit's deadline (default 60); each phase of each
                            handshake gets at most 10 s of it
  --config FILE [--upstream NAME]
                            audit an upstream of the relay's configuration: its host, port,
                            tls, connect, sni, CA file and EHLO name
  --mx DOMAIN               audit the mail domain: its MX hosts (STARTTLS on port 25, the
                            certificate), MTA-STS, TLS-RPT and DANE TLSA, then the full TLS
                            audit of the first MX host that speaks TLS
  --json                    print exactly one JSON document on stdout
At most 20 handshakes: versions, TLS 1.2 suite families, suite order, groups, certificate,
OCSP stapling, SNI, resumption; never AUTH or MAIL. Graded against RFC 9325 and Mozilla's
intermediate configuration (docs/audit.md). PORT defaults to 25. Exit status: 0 when no
finding is worse than info, 1 for a warning, 3 for a critical finding, 2 on a usage error.
)";
}

namespace {

constexpr auto kPhaseTimeout = std::chrono::milliseconds(10000);

void from_config(AuditOptions& o, const std::string& file, const std::optional<std::string>& name) {
  const config::Settings s = load_config_arg(file);
  const config::UpstreamSettings* u = &pick_upstream(s, file, name);
  if (u->tls == TlsMode::None) throw UsageError("upstream " + u->name + " has tls = \"none\"");
  o.attempt.target.name = u->name;
  o.attempt.target.host = u->host;
  o.attempt.target.port = u->port;
  o.attempt.target.tls_mode = u->tls;
  if (u->connect) o.attempt.target.connect_address = u->connect->to_string();
  o.attempt.target.sni = u->sni;
  o.attempt.ehlo_name = s.proxy.hostname;
  if (o.ca_file.empty()) o.ca_file = s.tls.ca_file;
}

AuditOptions parse(const std::vector<std::string>& args) {
  AuditOptions o;
  o.attempt.target.name = "audit";
  o.attempt.ehlo_name = this_host_name();
  std::optional<TlsMode> mode;
  std::optional<std::string> target, config_file, upstream, connect;
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
      const std::string v = c.take_value();
      mode = tls_mode_from_string(v);
      if (!mode || *mode == TlsMode::None) {
        throw UsageError("--tls must be starttls or implicit, not \"" + v + "\"");
      }
    } else if (name == "ca-file") {
      o.ca_file = c.take_value();
    } else if (name == "connect") {
      connect = c.take_value();
      boost::system::error_code ec;
      asio::ip::make_address(*connect, ec);
      if (ec) throw UsageError("--connect needs an IP address, not \"" + *connect + "\"");
    } else if (name == "ehlo") {
      o.attempt.ehlo_name = c.take_value();
      if (o.attempt.ehlo_name.empty() ||
          o.attempt.ehlo_name.find_first_of(" \r\n\t") != std::string::npos) {
        throw UsageError("--ehlo needs a host name without spaces");
      }
    } else if (name == "timeout") {
      const double s = parse_number("--timeout", c.take_value(), 1, 3600);
      o.overall = std::chrono::milliseconds(static_cast<long>(s * 1000));
    } else if (name == "config") {
      config_file = c.take_value();
    } else if (name == "upstream") {
      upstream = c.take_value();
    } else if (name == "mx") {
      o.mx_domain = c.take_value();
      while (!o.mx_domain.empty() && o.mx_domain.back() == '.') o.mx_domain.pop_back();
      if (o.mx_domain.empty() || is_ip_literal(o.mx_domain) ||
          o.mx_domain.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789-._") != std::string::npos) {
        throw UsageError("--mx needs a domain name, not \"" + o.mx_domain + "\"");
      }
    } else {
      throw UsageError("unknown option --" + name);
    }
  }
  if (!o.mx_domain.empty()) {
    if (target || config_file) throw UsageError("--mx excludes HOST and --config");
    if (mode || connect) throw UsageError("--mx takes port 25 with STARTTLS at the MX addresses");
    if (upstream) throw UsageError("--upstream goes with --config");
    o.attempt.phase_timeout = kPhaseTimeout;
    return o;
  }
  if (config_file) {
    if (target) throw UsageError("HOST and --config exclude each other");
    if (mode) throw UsageError("--config takes the upstream's own TLS mode");
    from_config(o, *config_file, upstream);
  } else {
    if (upstream) throw UsageError("--upstream goes with --config");
    if (!target) throw UsageError("HOST is missing");
    HostPort hp = parse_host_port(*target);
    o.attempt.target.host = hp.host;
    o.attempt.target.port = hp.port.value_or(25);
    o.attempt.target.tls_mode =
        mode.value_or(o.attempt.target.port == 465 ? TlsMode::Implicit : TlsMode::Starttls);
  }
  if (connect) o.attempt.target.connect_address = *connect;
  o.attempt.phase_timeout = kPhaseTimeout;
  return o;
}

}  // namespace

int audit_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  AuditOptions o;
  try {
    o = parse(args);
  } catch (const UsageError& e) {
    err << "tlsrelay audit: " << e.what() << "\n";
    return 2;
  }
  // The relay's own default profile, with the audit's trust anchors: a CA file that cannot
  // be read is a usage error here, not a finding about the server.
  tls::ClientProfile relay_profile;
  relay_profile.ca_file = o.ca_file;
  tls::ScanOffer relay;
  if (auto made = tls::scan_context(relay, o.ca_file); std::holds_alternative<std::string>(made)) {
    err << "tlsrelay audit: " << std::get<std::string>(made) << "\n";
    return 2;
  }
  if (!o.mx_domain.empty()) return audit_mx(o, relay_profile, out);
  const auto t0 = std::chrono::steady_clock::now();
  asio::io_context io;
  auto future = asio::co_spawn(io, gather_audit(o, relay_profile), asio::use_future);
  io.run();
  const AuditEvidence evidence = future.get();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::vector<Finding> findings = grade(evidence);
  if (o.json) {
    out << audit_json(evidence, findings, seconds)
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
        << "\n";
  } else {
    print_audit_report(out, evidence, findings, seconds);
  }
  out.flush();
  return audit_exit_status(findings);
}

}  // namespace tlsrelay::proxy
