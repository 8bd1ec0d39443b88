#include "proxy/cli/audit_command.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/use_future.hpp>
#include <ctime>
#include <optional>

#include "config/config_error.hpp"
#include "config/loader.hpp"
#include "proxy/cli/audit_grade.hpp"
#include "proxy/cli/audit_report.hpp"
#include "proxy/cli/cli_args.hpp"
#include "tls/tls_scan.hpp"

namespace tlsrelay::proxy {

namespace asio = boost::asio;

const char* audit_usage() {
  return R"(usage: tlsrelay audit [options] HOST[:PORT]
       tlsrelay audit --config FILE [--upstream NAME] [options]
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
  --json                    print exactly one JSON document on stdout
At most 20 handshakes: versions, TLS 1.2 suite families, suite order, groups, certificate,
OCSP stapling, SNI, resumption; never AUTH or MAIL. Graded against RFC 9325 and Mozilla's
intermediate configuration (docs/audit.md). PORT defaults to 25. Exit status: 0 when no
finding is worse than info, 1 for a warning, 3 for a critical finding, 2 on a usage error.
)";
}

namespace {

constexpr auto kPhaseTimeout = std::chrono::milliseconds(10000);

struct AuditOptions {
  tls::AttemptOptions attempt;
  std::string ca_file;
  std::chrono::milliseconds overall{60000};
  bool json = false;
};

void from_config(AuditOptions& o, const std::string& file, const std::optional<std::string>& name) {
  config::Settings s;
  try {
    s = config::load_settings(file);
  } catch (const config::ConfigError& e) {
    throw UsageError(std::string("--config: ") + e.what());
  }
  const config::UpstreamSettings* u = nullptr;
  for (const auto& candidate : s.upstreams) {
    if (name ? candidate.name == *name : s.upstreams.size() == 1) u = &candidate;
  }
  if (!u) {
    std::string names;
    for (const auto& c : s.upstreams) names += (names.empty() ? "" : ", ") + c.name;
    throw UsageError(name ? "--upstream " + *name + ": " + file + " has no such upstream (it has " +
                                names + ")"
                          : "--upstream NAME is needed: " + file + " has " + names);
  }
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
    } else {
      throw UsageError("unknown option --" + name);
    }
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

// The plan: the relay's own offer (then again, for resumption; then without SNI), each
// version alone, each TLS 1.2 family alone, the suite order, each group alone. 1 + 1 + 1 +
// 4 + 7 + 2 + 4 = 20 handshakes at most; 3DES costs none where OpenSSL has no 3DES. Where
// a step cannot tell anything (no TLS at all, no TLS 1.2), it and what depends on it is left.
asio::awaitable<AuditEvidence> gather(AuditOptions o, tls::ClientProfile relay_profile) {
  tls::ScanBudget budget(kAuditMaxHandshakes, o.overall);
  AuditEvidence e;
  e.host = o.attempt.target.host;
  e.port = o.attempt.target.port;
  e.mode = o.attempt.target.tls_mode;
  e.now = static_cast<std::int64_t>(std::time(nullptr));
  e.max_handshakes = budget.max();
  int skipped = 0;
  auto scan =
      [&](tls::ScanOffer offer,
          std::shared_ptr<tls::ClientContext> ctx = {}) -> asio::awaitable<tls::ScanOutcome> {
    tls::AttemptOptions attempt = o.attempt;
    std::string ca = o.ca_file;
    tls::ScanOutcome out = co_await tls::scan_handshake(std::move(attempt), std::move(offer),
                                                        std::move(ca), budget, std::move(ctx));
    if (!out.tried && !out.not_offerable) ++skipped;
    co_return out;
  };

  tls::ScanOffer relay;
  relay.min_version = relay_profile.min_version;
  relay.security_level = relay_profile.security_level;
  relay.detect_implicit_tls = true;
  auto made = tls::scan_context(relay, o.ca_file);
  auto* relay_ctx_made = std::get_if<std::shared_ptr<tls::ClientContext>>(&made);
  if (!relay_ctx_made) {
    e.base.failure = "cannot make the relay's default offer: " + std::get<std::string>(made);
    co_return e;
  }
  const std::shared_ptr<tls::ClientContext> relay_ctx = *relay_ctx_made;
  e.base = co_await scan(relay, relay_ctx);
  relay.detect_implicit_tls = false;
  if (e.base.handshake_done) e.resumed = co_await scan(relay, relay_ctx);
  // Nothing more to learn where not even TLS began (no route, no STARTTLS, not SMTP).
  if (!e.base.facts.tls.attempted) {
    e.handshakes = budget.used();
    co_return e;
  }
  // Without SNI only where the same offer with SNI got through: else a refusal would say
  // nothing about SNI.
  const bool sni_sent = !e.base.facts.tls.sni.empty();
  if (e.base.handshake_done && sni_sent && !is_ip_literal(e.host)) {
    tls::ScanOffer no_sni = relay;
    no_sni.send_sni = false;
    e.without_sni = co_await scan(no_sni);
  }
  for (const char* v : {"1.0", "1.1", "1.2", "1.3"}) {
    tls::ScanOffer only;
    only.min_version = only.max_version = v;
    e.versions.emplace_back(v, co_await scan(only));
  }
  if (e.versions[2].second.handshake_done) {
    for (const auto& family : cipher_families()) {
      tls::ScanOffer f;
      f.min_version = f.max_version = "1.2";
      f.ciphers = family.ciphers;
      f.any_cipher = family.any_cipher;
      e.families.emplace_back(family.id, co_await scan(f));
    }
    // The order: the family's first choice moved to the end of our list ("-" takes it out,
    // naming it again appends it), then, if it still wins, the family without it.
    for (const auto& [id, o2] : e.families) {
      if (!o2.handshake_done || id == "null-anon") continue;
      const auto& family = *std::find_if(cipher_families().begin(), cipher_families().end(),
                                         [&](const CipherFamily& f) { return f.id == id; });
      e.order_first_choice = o2.cipher;
      tls::ScanOffer reversed;
      reversed.min_version = reversed.max_version = "1.2";
      reversed.ciphers = family.ciphers + ":-" + o2.cipher + ":" + o2.cipher;
      e.order_reversed = co_await scan(reversed);
      if (e.order_reversed.handshake_done && e.order_reversed.cipher == o2.cipher) {
        tls::ScanOffer without = reversed;
        without.ciphers = family.ciphers + ":!" + o2.cipher;
        e.order_without_first = co_await scan(without);
      }
      break;
    }
  }
  const bool any_version = std::any_of(e.versions.begin(), e.versions.end(),
                                       [](const auto& v) { return v.second.handshake_done; });
  if (!e.base.handshake_done && !any_version) {
    e.handshakes = budget.used();
    e.deadline_hit = skipped > 0;
    co_return e;
  }
  for (const auto& g : audit_groups()) {
    // Every version the server may speak: a TLS 1.0-only server has groups too.
    tls::ScanOffer only;
    only.min_version = "1.0";
    only.groups = g;
    e.groups.emplace_back(g, co_await scan(only));
  }
  e.handshakes = budget.used();
  e.deadline_hit = skipped > 0;
  co_return e;
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
  const auto t0 = std::chrono::steady_clock::now();
  asio::io_context io;
  auto future = asio::co_spawn(io, gather(o, relay_profile), asio::use_future);
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
