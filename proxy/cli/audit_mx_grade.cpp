#include "proxy/cli/audit_mx_grade.hpp"

#include <algorithm>

#include "tls/openssl_names.hpp"

namespace tlsrelay::proxy {

namespace {

std::string mx_joined(const std::vector<std::string>& items, std::string_view sep = "; ") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : std::string(sep)) + i;
  return out;
}

std::string mx_lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

void grade_mx_records(const MxAuditEvidence& e, std::vector<Finding>& out) {
  const DnsAnswer& a = e.mx;
  if (a.status == DnsAnswer::Status::Failed) {
    out.push_back(make_finding(
        "mx-records", Severity::Critical, "the MX records of " + e.domain + " cannot be read",
        a.error, "senders defer all mail to the domain: fix its DNS (or the resolver)"));
  } else if (a.status == DnsAnswer::Status::NxDomain) {
    out.push_back(make_finding("mx-records", Severity::Critical, e.domain + " does not exist",
                               "NXDOMAIN for " + e.domain,
                               "check the domain's spelling and delegation"));
  } else if (a.status == DnsAnswer::Status::Ok && a.mx.size() > 1 &&
             std::any_of(a.mx.begin(), a.mx.end(),
                         [](const MxRecord& m) { return m.host.empty(); })) {
    out.push_back(make_finding("mx-records", Severity::Warning, "a Null MX beside other MX records",
                               "RFC 7505 3: a domain with a Null MX must publish no other MX",
                               "remove the Null MX (\"MX 0 .\") or the other MX records"));
  } else if (null_mx(a)) {
    out.push_back(make_finding("mx-records", Severity::Info,
                               e.domain + " accepts no mail (Null MX)", "MX 0 . (RFC 7505)"));
  } else if (e.implicit_mx) {
    out.push_back(make_finding("mx-records", Severity::Info,
                               "no MX records: senders deliver to " + e.domain + " itself",
                               "no MX records for " + e.domain + " (RFC 5321 5.1, the implicit MX)",
                               "publish an MX record naming the mail server"));
  } else {
    std::vector<std::string> hosts;
    for (const auto& m : mx_in_order(a))
      hosts.push_back(m.host + " (" + std::to_string(m.preference) + ")");
    std::string title = std::to_string(hosts.size()) + " MX host" + (hosts.size() == 1 ? "" : "s");
    if (e.hosts_not_checked > 0)
      title += ", the first " + std::to_string(kAuditMaxMxHosts) + " checked";
    out.push_back(make_finding("mx-records", Severity::Ok, title, mx_joined(hosts, ", ")));
  }
}

// The one valid MTA-STS record, if the domain has exactly one (RFC 8461 3.1: more than one
// means none).
std::optional<StsRecord> grade_sts_record(const MxAuditEvidence& e, std::vector<Finding>& out) {
  if (e.sts_txt.status == DnsAnswer::Status::Failed) {
    out.push_back(make_finding("mta-sts-record", Severity::Warning,
                               "the MTA-STS record of " + e.domain + " cannot be read",
                               e.sts_txt.error,
                               "senders that cannot read it treat the domain as having no policy"));
    return std::nullopt;
  }
  const auto records = sts_records(e.sts_txt);
  if (records.empty()) {
    out.push_back(
        make_finding("mta-sts-record", Severity::Info, "no MTA-STS policy",
                     "no TXT record beginning v=STSv1 at _mta-sts." + e.domain,
                     "publish MTA-STS (RFC 8461) so that senders require verified TLS: a TXT "
                     "record \"v=STSv1; id=...\" at _mta-sts." +
                         e.domain + " and the policy at https://mta-sts." + e.domain +
                         "/.well-known/mta-sts.txt"));
    return std::nullopt;
  }
  if (records.size() > 1) {
    out.push_back(make_finding(
        "mta-sts-record", Severity::Warning,
        std::to_string(records.size()) +
            " MTA-STS records: senders treat the domain as having none",
        "RFC 8461 3.1: more than one TXT record beginning v=STSv1 at _mta-sts." + e.domain,
        "keep exactly one MTA-STS record"));
    return std::nullopt;
  }
  if (!records.front().valid) {
    out.push_back(make_finding("mta-sts-record", Severity::Warning,
                               "the MTA-STS record is malformed",
                               mx_joined(records.front().problems),
                               "write it as \"v=STSv1; id=ID;\", ID 1 to 32 letters and digits"));
    return std::nullopt;
  }
  out.push_back(make_finding("mta-sts-record", Severity::Ok,
                             "an MTA-STS record, id " + records.front().id,
                             "_mta-sts." + e.domain));
  return records.front();
}

void grade_sts_policy(const MxAuditEvidence& e, std::vector<Finding>& out) {
  if (!e.sts_fetch) return;
  const StsFetch& f = *e.sts_fetch;
  if (!f.ok) {
    out.push_back(
        make_finding("mta-sts-policy", Severity::Warning,
                     "the MTA-STS policy cannot be fetched: senders without a cached copy "
                     "apply none",
                     f.url + ": " + f.error,
                     "serve the policy over HTTPS with a certificate valid for mta-sts." +
                         e.domain + ", status 200, no redirect (RFC 8461 3.3)"));
    return;
  }
  if (!e.sts_policy || !e.sts_policy->valid) {
    out.push_back(make_finding(
        "mta-sts-policy", Severity::Warning, "the MTA-STS policy is malformed: senders apply none",
        f.url + ": " + (e.sts_policy ? mx_joined(e.sts_policy->problems) : "empty"),
        "lines \"version: STSv1\", \"mode: enforce|testing|none\", \"mx: HOST\" "
        "(one per MX pattern), \"max_age: SECONDS\" (RFC 8461 3.2)"));
    return;
  }
  const StsPolicy& p = *e.sts_policy;
  const std::string summary = "mode " + std::string(to_string(*p.mode)) + ", max_age " +
                              std::to_string(p.max_age.value_or(0)) + ", mx " +
                              mx_joined(p.mx, ", ");
  std::string type = mx_lower(f.content_type.substr(0, f.content_type.find(';')));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.pop_back();
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.erase(0, 1);
  if (type != "text/plain") {
    out.push_back(make_finding(
        "mta-sts-policy", Severity::Warning, "the MTA-STS policy is not served as text/plain",
        f.url + ": Content-Type \"" + f.content_type + "\"",
        "serve it with Content-Type: text/plain (RFC 8461 3.2, 3.3); some senders "
        "refuse anything else"));
  } else if (*p.mode == StsMode::Enforce) {
    out.push_back(make_finding("mta-sts-policy", Severity::Ok, "MTA-STS enforced", summary));
  } else {
    out.push_back(
        make_finding("mta-sts-policy", Severity::Info,
                     *p.mode == StsMode::Testing
                         ? "MTA-STS in testing mode: senders report failures, deliver anyway"
                         : "MTA-STS mode none: the policy is withdrawn",
                     summary, "when the TLS-RPT reports show no failures, set mode: enforce"));
  }
  // RFC 8461 3.2: "values of weeks or greater are recommended"; a short max_age lets a
  // downgrade attacker wait out the cached policy.
  if (p.max_age && *p.max_age < 86400 && *p.mode != StsMode::None) {
    out.push_back(make_finding("mta-sts-max-age", Severity::Info,
                               "max_age is under a day: senders forget the policy quickly",
                               "max_age " + std::to_string(*p.max_age),
                               "max_age 604800 (a week) or more, as RFC 8461 3.2 recommends"));
  }
  if (*p.mode == StsMode::None) return;
  std::vector<std::string> unmatched;
  std::vector<MxRecord> all = mx_in_order(e.mx);
  if (e.implicit_mx) all.push_back({0, e.domain});
  for (const auto& h : all) {
    const bool match = std::any_of(p.mx.begin(), p.mx.end(), [&](const std::string& pat) {
      return sts_mx_matches(pat, h.host);
    });
    if (!match) unmatched.push_back(h.host);
  }
  if (unmatched.empty()) {
    out.push_back(
        make_finding("mta-sts-mx", Severity::Ok, "every MX host matches the policy", summary));
  } else {
    const bool enforce = *p.mode == StsMode::Enforce;
    out.push_back(
        make_finding("mta-sts-mx", enforce ? Severity::Critical : Severity::Warning,
                     "MX host" + std::string(unmatched.size() == 1 ? " " : "s ") +
                         mx_joined(unmatched, ", ") + " not in the MTA-STS policy" +
                         (enforce ? ": MTA-STS senders will not deliver there" : ""),
                     "policy mx: " + mx_joined(p.mx, ", "),
                     "add an mx: line for each MX host to the policy (and change its id)"));
  }
}

void grade_tlsrpt(const MxAuditEvidence& e, std::vector<Finding>& out) {
  if (e.tlsrpt_txt.status == DnsAnswer::Status::Failed) {
    out.push_back(make_finding("tls-rpt", Severity::Warning, "the TLS-RPT record cannot be read",
                               e.tlsrpt_txt.error));
    return;
  }
  const auto records = tlsrpt_records(e.tlsrpt_txt);
  if (records.empty()) {
    out.push_back(make_finding("tls-rpt", Severity::Info,
                               "no TLS-RPT record: senders cannot tell you when TLS to you fails",
                               "no TXT record beginning v=TLSRPTv1 at _smtp._tls." + e.domain,
                               "publish \"v=TLSRPTv1; rua=mailto:tlsrpt@" + e.domain +
                                   "\" at _smtp._tls." + e.domain + " (RFC 8460 3)"));
  } else if (records.size() > 1) {
    out.push_back(
        make_finding("tls-rpt", Severity::Warning,
                     std::to_string(records.size()) + " TLS-RPT records: senders send no reports",
                     "RFC 8460 3: more than one record beginning v=TLSRPTv1",
                     "keep exactly one TLS-RPT record"));
  } else if (!records.front().valid) {
    out.push_back(make_finding("tls-rpt", Severity::Warning, "the TLS-RPT record is malformed",
                               mx_joined(records.front().problems),
                               "\"v=TLSRPTv1; rua=mailto:ADDRESS\" (RFC 8460 3)"));
  } else {
    out.push_back(make_finding("tls-rpt", Severity::Ok,
                               "TLS-RPT reports go to " + mx_joined(records.front().rua, ", "),
                               "_smtp._tls." + e.domain));
  }
}

bool sts_enforced(const MxAuditEvidence& e) {
  return e.sts_policy && e.sts_policy->valid && e.sts_policy->mode == StsMode::Enforce;
}

void grade_host(const MxAuditEvidence& e, const MxHostEvidence& h, std::vector<Finding>& out) {
  const std::string& host = h.mx.host;
  const tls::ScanOutcome& s = h.scan;
  if (!h.not_contacted.empty()) {
    out.push_back(make_finding("mx-starttls", Severity::Warning, host + ": not contacted",
                               h.not_contacted,
                               "name a host in the MX record (RFC 5321 5.1): senders do not "
                               "treat an address or a single label as one"));
    return;
  }
  const bool no_address =
      s.facts.ending == tls::Ending::DnsNxdomain || s.facts.ending == tls::Ending::DnsNoAddress;
  if (e.implicit_mx && no_address) {
    out.push_back(make_finding("mx-starttls", Severity::Critical,
                               "no MX records and no address: senders bounce mail to " + host,
                               s.failure,
                               "publish an MX record (RFC 5321 5.1), or a Null MX (RFC 7505) if "
                               "the domain takes no mail"));
    return;
  }
  if (!s.tried) {
    out.push_back(make_finding("mx-starttls", Severity::Info, host + ": not checked",
                               "the audit's time ran out"));
    return;
  }
  if (!s.facts.tls.attempted) {
    const bool no_starttls = s.facts.ending == tls::Ending::NoStarttls;
    out.push_back(
        make_finding("mx-starttls", no_starttls ? Severity::Critical : Severity::Warning,
                     no_starttls ? host + " does not offer STARTTLS: mail to it travels in clear"
                                 : host + " was not reached",
                     s.failure,
                     no_starttls ? "turn STARTTLS on (Postfix: smtpd_tls_security_level = may)"
                                 : "check that port 25 of " + host + " is reachable"));
    return;
  }
  if (!s.handshake_done) {
    out.push_back(make_finding("mx-starttls", Severity::Critical,
                               host + ": STARTTLS is offered but the handshake fails", s.failure,
                               "run tlsrelay audit " + host + ":25 for the details"));
    return;
  }
  out.push_back(make_finding("mx-starttls", Severity::Ok,
                             host + ": STARTTLS, " + s.version + " " + s.cipher, "port 25"));
  const auto& c = s.facts.certificate;
  const bool dane_ok = h.dane.outcome == DaneMatch::Outcome::Matched;
  if (c.verified) {
    out.push_back(make_finding("mx-cert", Severity::Ok,
                               host + ": the certificate verifies for " + host,
                               c.chain.empty() ? "" : c.chain.front().subject));
  } else {
    std::string why;
    for (const auto& v : c.verify_errors)
      why += (why.empty() ? "" : "; ") + tls::verify_error_text(v.error) + " (" + v.subject + ")";
    if (why.empty()) why = "the certificate does not name " + host;
    const bool enforced = sts_enforced(e);
    out.push_back(make_finding(
        "mx-cert",
        enforced  ? Severity::Critical
        : dane_ok ? Severity::Info
                  : Severity::Warning,
        host + ": the certificate does not verify for " + host +
            (enforced  ? ": MTA-STS senders will not deliver there"
             : dane_ok ? " (DANE authenticates it)"
                       : ""),
        why,
        "a certificate from a public CA naming " + host + " (MTA-STS requires it, RFC 8461 4.1)"));
  }
}

void grade_dane(const MxAuditEvidence& e, std::vector<Finding>& out) {
  // glibc drops AD unless resolv.conf trusts the resolver: say so once, not per host.
  const bool any_trust =
      e.mx.trust_ad || std::any_of(e.hosts.begin(), e.hosts.end(),
                                   [](const MxHostEvidence& h) { return h.tlsa.trust_ad; });
  if (!any_trust && !e.hosts.empty()) {
    out.push_back(
        make_finding("dane", Severity::Info,
                     "DANE not checked: this host's resolver answers are not trusted for DNSSEC",
                     "/etc/resolv.conf has no \"options trust-ad\", so the C library drops the "
                     "AD bit (glibc 2.31 and later)",
                     "point /etc/resolv.conf at a local validating resolver (e.g. unbound on "
                     "127.0.0.1) and add \"options trust-ad\"; then audit again"));
    return;
  }
  for (const auto& h : e.hosts) {
    if (!h.not_contacted.empty()) continue;
    const std::string& host = h.mx.host;
    const std::string& name = h.tlsa_name;
    const DnsAnswer& t = h.tlsa;
    if (!dane_applies(h)) {
      // RFC 7672 2.2.2: a sender looks for TLSA records only when the host's address
      // records are secure; records there are not used, a failing lookup is not asked.
      if (t.status == DnsAnswer::Status::Ok || t.status == DnsAnswer::Status::Failed) {
        out.push_back(make_finding(
            "dane", Severity::Info, host + ": DANE does not apply",
            host + "'s address records are not DNSSEC-validated (no AD bit), so senders "
                   "do not look for TLSA records (RFC 7672 2.2.2)",
            "sign the zone of " + host + " (DNSSEC) for its TLSA records to count"));
      } else {
        out.push_back(make_finding("dane", Severity::Info, host + ": no DANE TLSA records",
                                   name + ": " + std::string(to_string(t.status))));
      }
      continue;
    }
    if (t.status == DnsAnswer::Status::Failed) {
      out.push_back(make_finding(
          "dane", Severity::Warning, host + ": the TLSA lookup fails", name + ": " + t.error,
          "a DANE sender defers mail when the TLSA lookup fails (RFC 7672 2.2): "
          "fix the zone's DNSSEC"));
      continue;
    }
    if (t.status != DnsAnswer::Status::Ok) {
      out.push_back(make_finding("dane", Severity::Info, host + ": no DANE TLSA records",
                                 name + ": " + std::string(to_string(t.status)) +
                                     (t.authentic ? " (DNSSEC-validated)" : ""),
                                 "with a DNSSEC-signed zone, publish \"" + name +
                                     ". IN TLSA 3 1 1 <SHA-256 of the key>\" (RFC 7672)"));
      continue;
    }
    std::vector<std::string> records;
    for (const auto& r : t.tlsa) records.push_back(to_string(r));
    if (!t.authentic) {
      out.push_back(make_finding("dane", Severity::Warning,
                                 host + ": TLSA records without DNSSEC: senders ignore them",
                                 name + ": " + mx_joined(records) + "; the answer has no AD bit",
                                 "sign the zone (DNSSEC) or remove the TLSA records; if it "
                                 "is signed, this host's resolver does not validate"));
      continue;
    }
    const DaneMatch& d = h.dane;
    switch (d.outcome) {
      case DaneMatch::Outcome::Matched:
        out.push_back(make_finding("dane", Severity::Ok,
                                   host + ": DANE TLSA " + d.matched +
                                       " matches the certificate at depth " +
                                       std::to_string(d.matched_depth),
                                   name + " (DNSSEC-validated)"));
        break;
      case DaneMatch::Outcome::NotMatched:
        out.push_back(make_finding(
            "dane", Severity::Critical,
            host + ": no TLSA record matches the certificate: DANE senders will "
                   "not deliver there",
            name + ": " + mx_joined(records) + (d.ta_problem.empty() ? "" : "; " + d.ta_problem),
            "publish a TLSA record for the certificate the server sends (roll "
            "the new record in before the new certificate, RFC 7671 8.1)"));
        break;
      case DaneMatch::Outcome::NoUsableRecords:
        out.push_back(
            make_finding("dane", Severity::Warning,
                         host + ": no usable TLSA record: DANE senders use TLS unauthenticated",
                         name + ": " + mx_joined(d.unusable),
                         "use usage 3 (DANE-EE) or 2 (DANE-TA), selector 1, matching type 1 "
                         "(RFC 7672 3.1)"));
        break;
      case DaneMatch::Outcome::NotChecked:
        out.push_back(make_finding("dane", Severity::Info, host + ": TLSA records not compared",
                                   name + ": " + mx_joined(records) +
                                       (h.scan.facts.certificate.chain.empty()
                                            ? "; no certificate was seen"
                                            : "; none matched by digest, and matching type 0 (full "
                                              "data) is not compared"),
                                   ""));
        break;
    }
  }
}

}  // namespace

bool dane_applies(const MxHostEvidence& h) {
  return h.address.status == DnsAnswer::Status::Ok && h.address.authentic;
}

bool null_mx(const DnsAnswer& mx) {
  return mx.status == DnsAnswer::Status::Ok && mx.mx.size() == 1 && mx.mx.front().host.empty();
}

std::vector<MxRecord> mx_in_order(const DnsAnswer& mx) {
  std::vector<MxRecord> out;
  for (const auto& m : mx.mx)
    if (!m.host.empty()) out.push_back(m);
  std::stable_sort(out.begin(), out.end(), [](const MxRecord& a, const MxRecord& b) {
    return a.preference < b.preference;
  });
  return out;
}

std::vector<StsRecord> sts_records(const DnsAnswer& txt) {
  std::vector<StsRecord> out;
  for (const auto& t : txt.txt) {
    StsRecord r = parse_sts_record(t);
    if (r.is_sts) out.push_back(std::move(r));
  }
  return out;
}

std::vector<TlsRptRecord> tlsrpt_records(const DnsAnswer& txt) {
  std::vector<TlsRptRecord> out;
  for (const auto& t : txt.txt) {
    TlsRptRecord r = parse_tlsrpt_record(t);
    if (r.is_tlsrpt) out.push_back(std::move(r));
  }
  return out;
}

std::vector<Finding> grade_mx(const MxAuditEvidence& e) {
  std::vector<Finding> out;
  grade_mx_records(e, out);
  const bool stop = e.mx.status == DnsAnswer::Status::Failed ||
                    e.mx.status == DnsAnswer::Status::NxDomain || null_mx(e.mx);
  if (!stop) {
    if (grade_sts_record(e, out)) grade_sts_policy(e, out);
    grade_tlsrpt(e, out);
    for (const auto& h : e.hosts) grade_host(e, h, out);
    grade_dane(e, out);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Finding& a, const Finding& b) { return a.severity > b.severity; });
  return out;
}

}  // namespace tlsrelay::proxy
