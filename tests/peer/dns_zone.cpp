#include "dns_zone.hpp"

#include <algorithm>

namespace tlsrelay::testpeer {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool at_or_under(const DnsName& name, const DnsName& apex) {
  return name.size() >= apex.size() && std::equal(apex.rbegin(), apex.rend(), name.rbegin());
}

bool any_covers(const std::vector<DnsName>& apexes, const DnsName& name) {
  return std::any_of(apexes.begin(), apexes.end(),
                     [&](const DnsName& apex) { return at_or_under(name, apex); });
}

}  // namespace

DnsName parse_dns_name(std::string_view text) {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  DnsName name;
  if (text.empty()) return name;
  for (;;) {
    const auto dot = text.find('.');
    const std::string_view label = text.substr(0, dot);
    if (label.empty() || label.size() > 63) return {};
    name.push_back(lower(label));
    if (dot == std::string_view::npos) return name;
    text.remove_prefix(dot + 1);
  }
}

DnsName lower_labels(const std::vector<std::string>& labels) {
  DnsName name;
  for (const auto& label : labels) name.push_back(lower(label));
  return name;
}

std::string to_string(const DnsName& name) {
  std::string out;
  for (const auto& label : name) out += label + ".";
  return out.empty() ? "." : out;
}

void DnsZone::add_a(const DnsName& name, const std::array<unsigned char, 4>& address) {
  records_[name].push_back({dns::kTypeA, std::string(address.begin(), address.end())});
}

void DnsZone::add_aaaa(const DnsName& name, const std::array<unsigned char, 16>& address) {
  records_[name].push_back({dns::kTypeAaaa, std::string(address.begin(), address.end())});
}

DnsZone::Answer DnsZone::lookup(const DnsName& name, std::uint16_t qtype) const {
  Answer answer;
  if (any_covers(servfail_, name)) {
    answer.rcode = dns::ServFail;
    return answer;
  }
  if (any_covers(nxdomain_, name)) {
    answer.rcode = dns::NxDomain;
    return answer;
  }
  if (std::find(nodata_.begin(), nodata_.end(), name) != nodata_.end()) return answer;
  const auto found = records_.find(name);
  if (found == records_.end()) {
    answer.rcode = dns::NxDomain;
    return answer;
  }
  // A name we know, asked for a type we do not have: NODATA (RFC 2308 2.2), not NXDOMAIN.
  for (const auto& record : found->second)
    if (qtype == dns::kTypeAny || record.type == qtype) answer.records.push_back(record);
  return answer;
}

}  // namespace tlsrelay::testpeer
