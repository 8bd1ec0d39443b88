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

// At most this many MX hosts are checked, lowest preference first.
constexpr int kAuditMaxMxHosts = 4;

struct MxHostEvidence {
  MxRecord mx;
  tls::ScanOutcome scan;  // the relay's own offer on port 25 (STARTTLS)
  DnsAnswer tlsa;         // _25._tcp.HOST TLSA
  DaneMatch dane;         // only when tlsa is authentic and has records
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

// The domain's findings, worst first: mx-records, mta-sts-record, mta-sts-policy,
// mta-sts-mx, tls-rpt, and per MX host mx-starttls, mx-cert and dane.
std::vector<Finding> grade_mx(const MxAuditEvidence& e);

}  // namespace tlsrelay::proxy
