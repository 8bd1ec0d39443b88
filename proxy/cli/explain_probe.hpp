// "What is true now" for `tlsrelay explain` (issue 20): each outbound route of the log probed
// once, with the MTA's own effective TLS settings, so that the live class is the one the MTA
// would meet. Postfix's are read through `postconf -x` (expanded values; `-c DIR` for
// --mta-config): smtp_tls_CAfile/CApath, smtp_tls_wrappermode, smtp_tls_mandatory_protocols
// and _ciphers, smtp_helo_name. Credentials come from smtp_sasl_password_maps (`postmap -q`)
// only when the admin asks (--with-credentials); they serve AUTH and are never printed.
//
// The translation (mta_probe_plan) is pure; probe_routes runs the probes, each on a thread of
// its own with its own io_context, at most `concurrency` at a time, each bounded by the
// attempt's per-phase time-out.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proxy/cli/postfix_settings.hpp"
#include "proxy/cli/route_probe.hpp"
#include "tls/client_context.hpp"
#include "tls/connector.hpp"

namespace tlsrelay::proxy {

// A route the log names: the peer's name, the address it had, the port.
struct RouteTarget {
  std::string host;
  std::string address;  // "" when the log had none
  std::uint16_t port = 25;
};

struct ProbePlan {
  tls::AttemptOptions attempt;
  tls::ClientProfile profile;
  std::vector<std::string> notes;  // what could not be copied from the MTA's settings
};

// The attempt Postfix's smtp(8) would make to `route` with `postfix` (postconf -x output):
// SNI only as smtp_tls_servername asks (none by default, as Postfix), implicit TLS exactly
// when smtp_tls_wrappermode = yes (as Postfix: a 465 without it is
// spoken to in plain SMTP, and the probe names that tls-mode-mismatch), the CA file (a
// CApath is noted: OpenSSL's store takes one file here), the lowest version the mandatory
// protocols allow, the mandatory cipher grade, the EHLO name. The host is resolved afresh;
// "unknown" or an IP literal as host connects to the logged address.
ProbePlan mta_probe_plan(const RouteTarget& route, const PostfixParameters& postfix,
                         std::chrono::milliseconds phase_timeout);

// The lowest TLS version Postfix's protocol list allows: ">=TLSv1.2", "TLSv1.2:TLSv1.3",
// "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1" (exclusions), "" (Postfix's default) — never below
// "1.2", which OpenSSL 3 at Debian's security level refuses for Postfix as for the probe.
std::string lowest_tls_version(const std::string& protocols);

// The lookup keys smtp(8) tries in smtp_sasl_password_maps for a route, in order:
// "[host]:port", "host:port", "[host]", "host".
std::vector<std::string> sasl_lookup_keys(const RouteTarget& route);

// The port of `relayhost` ("[mx.example.net]:587", "mx.example.net:2525", "[mx]") when it
// names `host`; nullopt otherwise. For a route the log names without a port (relay=none:
// its name did not resolve).
std::optional<std::uint16_t> relayhost_port(const std::string& host,
                                            const PostfixParameters& postfix);

// postmap -q KEY MAP for each map of smtp_sasl_password_maps and each key; "user:password"
// split at the first colon. nullopt when no map names the route or postmap cannot be run.
std::optional<tls::Credentials> sasl_credentials(const RouteTarget& route,
                                                 const PostfixParameters& postfix,
                                                 const std::string& config_dir);

struct ProbeJob {
  RouteTarget route;
  ProbePlan plan;
};

// Runs every job, at most `concurrency` at once; the results in the jobs' order.
std::vector<RouteProbe> probe_routes(const std::vector<ProbeJob>& jobs, int concurrency);

}  // namespace tlsrelay::proxy
