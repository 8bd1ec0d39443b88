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
  std::size_t wire_size = 1;  // the root label
  for (;;) {
    const auto dot = text.find('.');
    const std::string_view label = text.substr(0, dot);
    // RFC 1035 2.3.4: labels of 63 octets or less, names of 255 octets or less.
    wire_size += label.size() + 1;
    if (label.empty() || label.size() > 63 || wire_size > 255) return {};
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

std::string to_wire(const DnsName& name) {
  std::string out;
  for (const auto& label : name) {
    out += static_cast<char>(label.size());
    out += label;
  }
  return out + '\0';
}

void DnsZone::add_a(const DnsName& name, const std::array<unsigned char, 4>& address) {
  records_[name].push_back({dns::kTypeA, std::string(address.begin(), address.end())});
}

void DnsZone::add_aaaa(const DnsName& name, const std::array<unsigned char, 16>& address) {
  records_[name].push_back({dns::kTypeAaaa, std::string(address.begin(), address.end())});
}

void DnsZone::add_mx(const DnsName& name, std::uint16_t preference, const DnsName& exchange) {
  // Uncompressed, which RFC 1035 allows: rdata is built apart from any message, so a
  // compression pointer would have nothing to point at.
  std::string rdata{static_cast<char>(preference >> 8), static_cast<char>(preference & 0xff)};
  records_[name].push_back({dns::kTypeMx, rdata + to_wire(exchange)});
}

void DnsZone::add_txt(const DnsName& name, std::string_view text) {
  std::string rdata;
  // An empty value is still one (empty) character-string: TXT RDATA is never empty.
  do {
    const std::string_view chunk = text.substr(0, 255);
    rdata += static_cast<char>(chunk.size());
    rdata += chunk;
    text.remove_prefix(chunk.size());
  } while (!text.empty());
  records_[name].push_back({dns::kTypeTxt, std::move(rdata)});
}

void DnsZone::add_tlsa(const DnsName& name, std::uint8_t usage, std::uint8_t selector,
                       std::uint8_t matching_type, std::string_view data) {
  std::string rdata{static_cast<char>(usage), static_cast<char>(selector),
                    static_cast<char>(matching_type)};
  records_[name].push_back({dns::kTypeTlsa, rdata.append(data)});
}

void DnsZone::add_cname(const DnsName& name, const DnsName& target) {
  records_[name].push_back({dns::kTypeCname, to_wire(target)});
}

DnsZone::Answer DnsZone::lookup(const DnsName& name, std::uint16_t qtype) const {
  Answer answer = find(name, qtype);
  // RFC 4035 3.2.3: AD on NOERROR answers, NODATA included, from a signed zone. A validated
  // NXDOMAIN would stand on NSEC/NSEC3 proof this peer does not model, so it never gets AD.
  answer.authentic = answer.rcode == dns::NoError && any_covers(authentic_, name);
  return answer;
}

DnsZone::Answer DnsZone::find(const DnsName& name, std::uint16_t qtype) const {
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
  // RFC 1034 3.6.2: a CNAME owner has no other data, so the alias answers every type.
  for (const auto& record : found->second)
    if (record.type == dns::kTypeCname) answer.records.push_back(record);
  if (!answer.records.empty()) return answer;
  // A name we know, asked for a type we do not have: NODATA (RFC 2308 2.2), not NXDOMAIN.
  for (const auto& record : found->second)
    if (qtype == dns::kTypeAny || record.type == qtype) answer.records.push_back(record);
  return answer;
}

}  // namespace tlsrelay::testpeer
