#include "proxy/cli/explain_probe.hpp"

#include <boost/asio/ip/address.hpp>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <thread>

#include "proxy/cli/cli_args.hpp"
#include "proxy/cli/subprocess.hpp"
#include "proxy/explain/mta_fixes.hpp"

namespace tlsrelay::proxy {

namespace {

std::string value_of(const PostfixParameters& p, const std::string& name) {
  const auto it = p.find(name);
  return it == p.end() ? std::string() : it->second;
}

// Postfix lists: separated by commas, colons or white space.
std::vector<std::string> postfix_list(const std::string& text, const char* separators) {
  std::vector<std::string> items;
  std::string item;
  for (const char c : text + separators[0]) {
    if (std::string_view(separators).find(c) != std::string_view::npos) {
      if (!item.empty()) items.push_back(item);
      item.clear();
    } else {
      item += c;
    }
  }
  return items;
}

}  // namespace

std::string lowest_tls_version(const std::string& protocols) {
  // One parser of Postfix's protocol lists: mta_fixes' bit set (1 TLSv1 .. 8 TLSv1.3).
  const unsigned allowed = explain::postfix_tls_versions(protocols);
  static const char* const kShort[] = {"1.0", "1.1", "1.2", "1.3"};
  int lowest = 3;
  for (int i = 3; i >= 0; --i) {
    if ((allowed & (1u << i)) != 0) lowest = i;
  }
  // Below TLS 1.2 OpenSSL 3 refuses at Debian's security level, for Postfix as for us.
  return kShort[std::max(lowest, 2)];
}

ProbePlan mta_probe_plan(const RouteTarget& route, const PostfixParameters& postfix,
                         std::chrono::milliseconds phase_timeout) {
  ProbePlan plan;
  auto& a = plan.attempt;
  a.target.name = "explain";
  a.target.port = route.port;
  const bool named = !route.host.empty() && route.host != "unknown";
  a.target.host = named ? route.host : route.address;
  if (!named || is_ip_literal(route.host)) {
    a.target.connect_address = route.address;
  }
  a.target.tls_mode =
      value_of(postfix, "smtp_tls_wrappermode") == "yes" ? TlsMode::Implicit : TlsMode::Starttls;
  a.phase_timeout = phase_timeout;
  // Postfix says what it is asked; a probe that finds 465 speaking TLS at once names it.
  a.detect_implicit_tls = true;
  // SNI as smtp(8) sends it: none unless smtp_tls_servername says (postconf(5)); a server
  // that demands it must fail the probe as it fails Postfix.
  const std::string servername = value_of(postfix, "smtp_tls_servername");
  if (servername.empty()) {
    a.target.sni = "";
  } else if (servername != "hostname" && servername != "nexthop") {
    a.target.sni = servername;
  }  // hostname, nexthop: the route's host name, the connector's default
  const std::string helo = value_of(postfix, "smtp_helo_name");
  a.ehlo_name = !helo.empty() ? helo : value_of(postfix, "myhostname");
  if (a.ehlo_name.empty()) a.ehlo_name = "localhost";

  plan.profile.min_version = lowest_tls_version(value_of(postfix, "smtp_tls_mandatory_protocols"));
  if (value_of(postfix, "smtp_tls_mandatory_ciphers") == "high") plan.profile.ciphers = "HIGH";
  const std::string ca_file = value_of(postfix, "smtp_tls_CAfile");
  const std::string ca_path = value_of(postfix, "smtp_tls_CApath");
  if (!ca_file.empty()) {
    plan.profile.ca_file = ca_file;
  } else if (!ca_path.empty()) {
    plan.notes.push_back("smtp_tls_CApath = " + ca_path +
                         ": the probe trusts the system store instead");
  } else {
    plan.notes.push_back(
        "no smtp_tls_CAfile or smtp_tls_CApath: the probe trusts the system store, which "
        "Postfix does not load unless tls_append_default_CA = yes");
  }
  return plan;
}

std::optional<std::uint16_t> relayhost_port(const std::string& host,
                                            const PostfixParameters& postfix) {
  const std::string relay = value_of(postfix, "relayhost");
  if (relay.empty() || host.empty()) return std::nullopt;
  std::string name;
  std::string rest;  // ":PORT" or ""
  if (relay.front() == '[') {
    const auto close = relay.find(']');
    if (close == std::string::npos) return std::nullopt;
    name = relay.substr(1, close - 1);
    rest = relay.substr(close + 1);
  } else {
    const auto colon = relay.find(':');
    name = relay.substr(0, colon);
    if (colon != std::string::npos) rest = relay.substr(colon);
  }
  int port = 25;
  if (!rest.empty()) port = rest.front() == ':' ? std::atoi(rest.c_str() + 1) : 0;
  if (name != host || port <= 0 || port > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

std::vector<std::string> sasl_lookup_keys(const RouteTarget& route) {
  const std::string port = std::to_string(route.port);
  return {"[" + route.host + "]:" + port, route.host + ":" + port, "[" + route.host + "]",
          route.host};
}

std::optional<tls::Credentials> sasl_credentials(const RouteTarget& route,
                                                 const PostfixParameters& postfix,
                                                 const std::string& config_dir) {
  const auto maps = postfix_list(value_of(postfix, "smtp_sasl_password_maps"), " ,\t");
  for (const auto& map : maps) {
    for (const auto& key : sasl_lookup_keys(route)) {
      std::vector<std::string> argv = {"postmap"};
      if (!config_dir.empty()) argv.insert(argv.end(), {"-c", config_dir});
      argv.insert(argv.end(), {"-q", key, map});
      const ProgramResult r = run_program(argv);
      if (!r.ok()) continue;  // 1: not found; other: the map cannot be read as root either
      std::string value = r.out;
      while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
      const auto colon = value.find(':');
      if (colon == std::string::npos) continue;
      tls::Credentials c;
      c.user = value.substr(0, colon);
      c.password = value.substr(colon + 1);
      return c;
    }
  }
  return std::nullopt;
}

std::vector<RouteProbe> probe_routes(const std::vector<ProbeJob>& jobs, int concurrency) {
  std::vector<RouteProbe> results(jobs.size());
  std::mutex next_lock;
  std::size_t next = 0;
  const auto worker = [&] {
    for (;;) {
      std::size_t i = 0;
      {
        const std::lock_guard<std::mutex> hold(next_lock);
        if (next == jobs.size()) return;
        i = next++;
      }
      results[i] = probe_route(jobs[i].plan.attempt, jobs[i].plan.profile);
    }
  };
  std::vector<std::thread> threads;
  const auto n =
      std::min<std::size_t>(jobs.size(), static_cast<std::size_t>(std::max(1, concurrency)));
  for (std::size_t t = 0; t < n; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  return results;
}

}  // namespace tlsrelay::proxy
