// What the test DNS peer knows: A/AAAA/MX/TXT/TLSA/CNAME records, names forced to NXDOMAIN,
// SERVFAIL or NODATA, the subtrees answered as DNSSEC-validated (AD), and the rule that turns
// a (name, type) question into an rcode and answers.
// Limits: no wildcards, no empty non-terminals (a name without records of its own is
// NXDOMAIN even if names under it have some); a CNAME is answered alone and never chased;
// names compare case-insensitively (RFC 4343), label by label. Thread-safety: fill it before
// serving; lookups are const.
#pragma once

#include "dns_message.hpp"

#include <array>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tlsrelay::testpeer {

using DnsName = std::vector<std::string>;  // lower-case labels, no root label

// "MX.Test." -> {"mx", "test"}; empty labels (".." or a leading dot), labels over 63 octets
// and names over 255 octets on the wire make it invalid (empty). Any octet but "." may be in
// a label, "_25._tcp" included (RFC 2181 11).
DnsName parse_dns_name(std::string_view text);
DnsName lower_labels(const std::vector<std::string>& labels);
std::string to_string(const DnsName& name);
// Uncompressed wire format (RFC 1035 3.1); the empty name is the root, a single zero octet.
std::string to_wire(const DnsName& name);

class DnsZone {
 public:
  void add_a(const DnsName& name, const std::array<unsigned char, 4>& address);
  void add_aaaa(const DnsName& name, const std::array<unsigned char, 16>& address);
  // RFC 1035 3.3.9. An empty exchange is the root: preference 0 with it is a Null MX (RFC 7505).
  void add_mx(const DnsName& name, std::uint16_t preference, const DnsName& exchange);
  // One record; the text is cut into character-strings of at most 255 octets (RFC 1035
  // 3.3.14), so a longer value is several strings in that record. At most kMaxTxtOctets.
  void add_txt(const DnsName& name, std::string_view text);
  static constexpr std::size_t kMaxTxtOctets = 65279;  // the largest that fits RDLENGTH
  // RFC 6698 2.1: usage, selector, matching type, then the association data as given.
  void add_tlsa(const DnsName& name, std::uint8_t usage, std::uint8_t selector,
                std::uint8_t matching_type, std::string_view data);
  // The CNAME is the only answer at name, whatever the type asked for; the target is not
  // looked up (a stub or resolver chases it).
  void add_cname(const DnsName& name, const DnsName& target);
  // Every NOERROR answer at or under apex carries AD.
  void add_authentic(const DnsName& apex) { authentic_.push_back(apex); }
  // Everything at or under name.
  void add_nxdomain(const DnsName& name) { nxdomain_.push_back(name); }
  void add_servfail(const DnsName& name) { servfail_.push_back(name); }
  // Exactly name: NOERROR without answers for every type.
  void add_nodata(const DnsName& name) { nodata_.push_back(name); }

  struct Answer {
    dns::Rcode rcode = dns::NoError;
    std::vector<DnsRecord> records;
    bool authentic = false;  // answer with AD
  };
  // Order: SERVFAIL, NXDOMAIN, NODATA, CNAME, then the records; unknown names are NXDOMAIN.
  Answer lookup(const DnsName& name, std::uint16_t qtype) const;

 private:
  Answer find(const DnsName& name, std::uint16_t qtype) const;

  std::map<DnsName, std::vector<DnsRecord>> records_;
  std::vector<DnsName> nxdomain_;
  std::vector<DnsName> servfail_;
  std::vector<DnsName> nodata_;
  std::vector<DnsName> authentic_;
};

}  // namespace tlsrelay::testpeer
