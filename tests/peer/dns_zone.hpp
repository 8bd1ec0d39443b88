// What the test DNS peer knows: A/AAAA records and names forced to NXDOMAIN, SERVFAIL or
// NODATA, and the rule that turns a (name, type) question into an rcode and answers.
// Limits: no CNAME, MX or wildcard; names compare case-insensitively (RFC 4343), label by
// label. Thread-safety: fill it before serving; lookups are const.
#pragma once

#include "dns_message.hpp"

#include <array>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tlsrelay::testpeer {

using DnsName = std::vector<std::string>;  // lower-case labels, no root label

// "MX.Test." -> {"mx", "test"}; empty labels (".." or a leading dot) make it invalid (empty).
DnsName parse_dns_name(std::string_view text);
DnsName lower_labels(const std::vector<std::string>& labels);
std::string to_string(const DnsName& name);

class DnsZone {
 public:
  void add_a(const DnsName& name, const std::array<unsigned char, 4>& address);
  void add_aaaa(const DnsName& name, const std::array<unsigned char, 16>& address);
  // Everything at or under name.
  void add_nxdomain(const DnsName& name) { nxdomain_.push_back(name); }
  void add_servfail(const DnsName& name) { servfail_.push_back(name); }
  // Exactly name: NOERROR without answers for every type.
  void add_nodata(const DnsName& name) { nodata_.push_back(name); }

  struct Answer {
    dns::Rcode rcode = dns::NoError;
    std::vector<DnsRecord> records;
  };
  // Order: SERVFAIL, NXDOMAIN, NODATA, then the records; unknown names are NXDOMAIN.
  Answer lookup(const DnsName& name, std::uint16_t qtype) const;

 private:
  std::map<DnsName, std::vector<DnsRecord>> records_;
  std::vector<DnsName> nxdomain_;
  std::vector<DnsName> servfail_;
  std::vector<DnsName> nodata_;
};

}  // namespace tlsrelay::testpeer
