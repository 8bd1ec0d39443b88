// The grading of `tlsrelay audit --mx DOMAIN`: what a sending MTA would find when it
// delivers to the domain, judged against the domain's own promises. The MX records
// (RFC 5321 5.1, Null MX RFC 7505), MTA-STS (RFC 8461: the TXT record, the policy, every
// MX matched by it and holding a certificate valid for its name), TLS-RPT (RFC 8460) and
// DANE (RFC 7672: TLSA records, trusted only with the AD bit of a validating resolver).
// The primary MX's own TLS audit is graded by audit_grade.hpp.
//
// Pure functions over plain data (DNS answers, the fetch, the handshakes). Thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "proxy/cli/audit_grade.hpp"
#include "proxy/cli/dane_match.hpp"
#include "proxy/cli/dns_lookup.hpp"
#include "proxy/cli/mta_sts.hpp"
#include "proxy/cli/sts_fetch.hpp"
#include "tls/tls_scan.hpp"

namespace tlsrelay::proxy {

// At most this many MX hosts are contacted, lowest preference first (all are matched
// against the MTA-STS policy).
constexpr int kAuditMaxMxHosts = 4;

struct MxHostEvidence {
  MxRecord mx;
  // Why the host was not contacted ("" when it was): an MX that names an IP address or a
  // single label is no host name a sender would use (RFC 5321 5.1, RFC 7505 3).
  std::string not_contacted;
  DnsAnswer address;      // A, else AAAA: is it DNSSEC-secure (DANE applies, RFC 7672 2.2.2)?
  tls::ScanOutcome scan;  // the relay's own offer on port 25 (STARTTLS)
  std::string tlsa_name;  // _25._tcp.HOST, or at the secure CNAME's target (RFC 7672 2.2.3)
  DnsAnswer tlsa;
  DaneMatch dane;  // only when the address and the TLSA answer are authentic, with records
};

struct MxAuditEvidence {
  std::string domain;
  DnsAnswer mx;
  bool implicit_mx = false;           // no MX records: the domain's own address is the MX
  DnsAnswer sts_txt;                  // _mta-sts.DOMAIN
  std::optional<StsFetch> sts_fetch;  // when a valid STS record was found
  std::optional<StsPolicy> sts_policy;
  DnsAnswer tlsrpt_txt;  // _smtp._tls.DOMAIN
  std::vector<MxHostEvidence> hosts;
  int hosts_not_checked = 0;  // beyond kAuditMaxMxHosts
};

// The MX hosts in the order a sender tries them (lowest preference first; equal
// preferences as the resolver gave them), a Null MX excluded.
std::vector<MxRecord> mx_in_order(const DnsAnswer& mx);
// The MTA-STS records among the TXT records (those beginning "v=STSv1").
std::vector<StsRecord> sts_records(const DnsAnswer& txt);
std::vector<TlsRptRecord> tlsrpt_records(const DnsAnswer& txt);
bool null_mx(const DnsAnswer& mx);
// Whether DANE applies to the host: its address answer was DNSSEC-validated.
bool dane_applies(const MxHostEvidence& h);

// The domain's findings, worst first: mx-records, mta-sts-record, mta-sts-policy,
// mta-sts-mx, tls-rpt, and per MX host mx-starttls, mx-cert and dane.
std::vector<Finding> grade_mx(const MxAuditEvidence& e);

}  // namespace tlsrelay::proxy
