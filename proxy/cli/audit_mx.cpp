#include "proxy/cli/audit_mx.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>
#include <ctime>

#include "common/text.hpp"
#include "proxy/cli/audit_command.hpp"
#include "proxy/cli/audit_mx_grade.hpp"
#include "proxy/cli/audit_report.hpp"
#include "proxy/cli/cli_args.hpp"
#include "tls/tls_scan.hpp"

namespace tlsrelay::proxy {

namespace asio = boost::asio;

namespace {

struct MxAudit {
  MxAuditEvidence mx;
  std::optional<AuditEvidence> primary;  // the full audit of the first MX host with TLS
  int handshakes = 0;
};

std::chrono::milliseconds time_left(std::chrono::steady_clock::time_point deadline) {
  const auto d = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return std::max(d, std::chrono::milliseconds(1));
}

asio::awaitable<MxAudit> gather_mx(AuditOptions o, tls::ClientProfile relay_profile) {
  const auto deadline = std::chrono::steady_clock::now() + o.overall;
  MxAudit a;
  MxAuditEvidence& e = a.mx;
  e.domain = o.mx_domain;
  // DNS is asked in the order a sender asks (MX, then the policy records), blocking, each
  // question cut to the time left (dns_lookup.hpp).
  e.mx = dns_lookup(e.domain, DnsType::Mx, time_left(deadline));
  if (e.mx.status == DnsAnswer::Status::Failed || e.mx.status == DnsAnswer::Status::NxDomain ||
      null_mx(e.mx)) {
    co_return a;
  }
  std::vector<MxRecord> hosts = mx_in_order(e.mx);
  if (hosts.empty()) {
    e.implicit_mx = true;
    hosts.push_back({0, e.domain});
  }
  if (static_cast<int>(hosts.size()) > kAuditMaxMxHosts) {
    e.hosts_not_checked = static_cast<int>(hosts.size()) - kAuditMaxMxHosts;
    hosts.resize(kAuditMaxMxHosts);
  }
  e.sts_txt = dns_lookup("_mta-sts." + e.domain, DnsType::Txt, time_left(deadline));
  const auto sts = sts_records(e.sts_txt);
  if (sts.size() == 1 && sts.front().valid) {
    e.sts_fetch =
        co_await fetch_sts_policy(e.domain, o.ca_file, {}, 443,
                                  std::min(time_left(deadline), std::chrono::milliseconds(10000)));
    if (e.sts_fetch->ok) e.sts_policy = parse_sts_policy(e.sts_fetch->body);
  }
  e.tlsrpt_txt = dns_lookup("_smtp._tls." + e.domain, DnsType::Txt, time_left(deadline));

  tls::ScanBudget budget(kAuditMaxMxHosts, time_left(deadline));
  tls::ScanOffer relay;
  relay.min_version = relay_profile.min_version;
  relay.security_level = relay_profile.security_level;
  for (const auto& m : hosts) {
    MxHostEvidence h;
    h.mx = m;
    h.tlsa_name = "_25._tcp." + m.host;
    if (is_ip_literal(m.host) || m.host.find('.') == std::string::npos) {
      h.not_contacted = is_ip_literal(m.host) ? "the MX names an IP address, not a host"
                                              : "the MX names a single label, not a host";
      e.hosts.push_back(std::move(h));
      continue;
    }
    // DANE applies only where the host's addresses are DNSSEC-secure (RFC 7672 2.2.2); a
    // secure CNAME moves the TLSA base name to its target, the original name the fallback
    // (2.2.3).
    h.address = dns_lookup(m.host, DnsType::A, time_left(deadline));
    if (h.address.status == DnsAnswer::Status::NoData)
      h.address = dns_lookup(m.host, DnsType::Aaaa, time_left(deadline));
    if (h.address.authentic && !h.address.cname.empty()) {
      h.tlsa_name = "_25._tcp." + h.address.cname;
      h.tlsa = dns_lookup(h.tlsa_name, DnsType::Tlsa, time_left(deadline));
      if (h.tlsa.status == DnsAnswer::Status::NoData ||
          h.tlsa.status == DnsAnswer::Status::NxDomain) {
        h.tlsa_name = "_25._tcp." + m.host;
      }
    }
    if (h.tlsa_name == "_25._tcp." + m.host)
      h.tlsa = dns_lookup(h.tlsa_name, DnsType::Tlsa, time_left(deadline));
    tls::AttemptOptions attempt = o.attempt;
    attempt.target.name = "audit";
    attempt.target.host = m.host;
    attempt.target.port = 25;
    attempt.target.tls_mode = TlsMode::Starttls;
    attempt.detect_implicit_tls = false;
    h.scan = co_await tls::scan_handshake(std::move(attempt), relay, o.ca_file, budget);
    if (dane_applies(h) && h.tlsa.status == DnsAnswer::Status::Ok && h.tlsa.authentic)
      h.dane = match_tlsa(h.tlsa.tlsa, h.scan.facts.certificate.chain, m.host);
    e.hosts.push_back(std::move(h));
  }
  a.handshakes = budget.used();
  for (const auto& h : e.hosts) {
    if (!h.scan.handshake_done) continue;
    AuditOptions primary = o;
    primary.attempt.target.host = h.mx.host;
    primary.attempt.target.port = 25;
    primary.attempt.target.tls_mode = TlsMode::Starttls;
    primary.overall = time_left(deadline);
    a.primary = co_await gather_audit(primary, relay_profile);
    a.handshakes += a.primary->handshakes;
    break;
  }
  co_return a;
}

std::string dane_state(const MxHostEvidence& h) {
  const DnsAnswer& t = h.tlsa;
  if (!h.not_contacted.empty()) return "not-checked";
  if (!dane_applies(h)) return t.status == DnsAnswer::Status::Ok ? "not-applicable" : "none";
  if (t.status == DnsAnswer::Status::Failed) return "lookup-failed";
  if (t.status != DnsAnswer::Status::Ok) return "none";
  if (!t.authentic) return "not-validated";
  switch (h.dane.outcome) {
    case DaneMatch::Outcome::Matched:
      return "matched";
    case DaneMatch::Outcome::NotMatched:
      return "not-matched";
    case DaneMatch::Outcome::NoUsableRecords:
      return "no-usable-records";
    case DaneMatch::Outcome::NotChecked:
      return "not-checked";
  }
  return "?";
}

void print_mx_report(std::ostream& out, const MxAudit& a, const std::vector<Finding>& findings,
                     const std::vector<Finding>& primary_findings, double seconds) {
  const MxAuditEvidence& e = a.mx;
  char took[32];
  std::snprintf(took, sizeof took, "%.2f s", seconds);
  out << "tlsrelay audit --mx " << e.domain << ": " << e.hosts.size() << " MX host"
      << (e.hosts.size() == 1 ? "" : "s") << " checked, " << a.handshakes
      << (a.handshakes == 1 ? " handshake in " : " handshakes in ") << took << "\n"
      << "MTA-STS (RFC 8461), TLS-RPT (RFC 8460), DANE (RFC 7672); TLS graded against "
         "RFC 9325 and Mozilla's intermediate configuration (docs/audit.md)\n\n";
  print_findings(out, findings);
  if (!e.hosts.empty()) {
    out << "\nMX hosts (port 25)\n";
    for (const auto& h : e.hosts) {
      out << "  " << h.mx.preference << " " << printable(h.mx.host, kAuditMaxShown) << ": "
          << (!h.not_contacted.empty() ? "not contacted: " + h.not_contacted
              : h.scan.handshake_done
                  ? h.scan.version + " " + h.scan.cipher +
                        (h.scan.facts.certificate.verified ? ", verified" : ", not verified")
                  : "no TLS: " + printable(h.scan.failure, kAuditMaxShown))
          << ", DANE " << dane_state(h) << "\n";
    }
  }
  if (a.primary) {
    out << "\n";
    print_audit_report(out, *a.primary, primary_findings, seconds);
  } else {
    std::vector<Finding> all = findings;
    out << "\nworst: " << to_string(worst(all)) << " (exit status " << audit_exit_status(all)
        << ")\n";
  }
}

nlohmann::ordered_json mx_json(const MxAudit& a, const std::vector<Finding>& findings,
                               const std::vector<Finding>& primary_findings, double seconds,
                               int exit_status) {
  const MxAuditEvidence& e = a.mx;
  nlohmann::ordered_json j;
  j["domain"] = e.domain;
  j["handshakes"] = a.handshakes;
  j["duration_s"] = seconds;
  std::vector<Finding> all = findings;
  all.insert(all.end(), primary_findings.begin(), primary_findings.end());
  j["worst"] = to_string(worst(all));
  j["exit_status"] = exit_status;
  j["implicit_mx"] = e.implicit_mx;
  auto& mx = j["mx"] = nlohmann::ordered_json::array();
  for (const auto& h : e.hosts) {
    nlohmann::ordered_json m = {{"host", h.mx.host},
                                {"preference", h.mx.preference},
                                {"starttls", h.scan.facts.tls.attempted},
                                {"handshake", h.scan.handshake_done},
                                {"certificate_verified", h.scan.facts.certificate.verified}};
    auto& tlsa = m["tlsa"] = nlohmann::ordered_json::array();
    for (const auto& r : h.tlsa.tlsa) tlsa.push_back(to_string(r));
    m["tlsa_dnssec"] = h.tlsa.authentic;
    m["dane"] = dane_state(h);
    m["tlsa_name"] = h.tlsa_name;
    m["address_dnssec"] = h.address.authentic;
    if (!h.not_contacted.empty()) {
      m["failure"] = h.not_contacted;
    } else if (!h.scan.handshake_done) {
      m["failure"] = printable(h.scan.failure, kAuditMaxShown);
    }
    mx.push_back(std::move(m));
  }
  nlohmann::ordered_json sts = nullptr;
  if (e.sts_fetch) {
    sts = {{"url", e.sts_fetch->url}, {"fetched", e.sts_fetch->ok}};
    if (!e.sts_fetch->ok) sts["error"] = printable(e.sts_fetch->error, kAuditMaxShown);
    if (e.sts_policy && e.sts_policy->valid) {
      sts["mode"] = to_string(*e.sts_policy->mode);
      sts["mx"] = e.sts_policy->mx;
      sts["max_age"] = e.sts_policy->max_age.value_or(0);
    }
  }
  j["mta_sts"] = sts;
  j["findings"] = findings_json(findings);
  j["primary"] = a.primary ? audit_json(*a.primary, primary_findings, seconds)
                           : nlohmann::ordered_json(nullptr);
  return j;
}

}  // namespace

int audit_mx(const AuditOptions& o, const tls::ClientProfile& relay_profile, std::ostream& out) {
  const auto t0 = std::chrono::steady_clock::now();
  asio::io_context io;
  auto future = asio::co_spawn(io, gather_mx(o, relay_profile), asio::use_future);
  io.run();
  const MxAudit a = future.get();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::vector<Finding> findings = grade_mx(a.mx);
  const std::vector<Finding> primary_findings =
      a.primary ? grade(*a.primary) : std::vector<Finding>{};
  std::vector<Finding> all = findings;
  all.insert(all.end(), primary_findings.begin(), primary_findings.end());
  const int status = audit_exit_status(all);
  if (o.json) {
    out << mx_json(a, findings, primary_findings, seconds, status)
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
        << "\n";
  } else {
    print_mx_report(out, a, findings, primary_findings, seconds);
    if (a.primary && status != audit_exit_status(primary_findings)) {
      out << "worst of the domain and the primary MX: " << to_string(worst(all)) << " (exit status "
          << status << ")\n";
    }
  }
  out.flush();
  return status;
}

}  // namespace tlsrelay::proxy
