#include "dns_message.hpp"

namespace tlsrelay::testpeer {

namespace {

constexpr std::size_t kHeaderSize = 12;
constexpr std::uint16_t kFlagQr = 0x8000;
constexpr std::uint16_t kFlagAa = 0x0400;
constexpr std::uint16_t kFlagTc = 0x0200;
constexpr std::uint16_t kFlagRd = 0x0100;
constexpr std::uint16_t kFlagAd = 0x0020;
constexpr std::uint32_t kTtl = 5;
// What we announce in our OPT record: the DNS flag day 2020 recommendation.
constexpr std::uint16_t kEdnsPayload = 1232;
// RFC 1035 4.2.1: without EDNS a UDP message is at most 512 octets.
constexpr std::size_t kUdpPayload = 512;
// RFC 1035 4.2.2: the TCP length prefix is 16 bits.
constexpr std::size_t kTcpPayload = 65535;

// A bounds-checked reader: every accessor fails instead of reading past the end.
class Reader {
 public:
  explicit Reader(std::string_view data, std::size_t pos = 0) : data_(data), pos_(pos) {}
  std::size_t pos() const { return pos_; }
  bool u8(std::uint8_t& out) {
    if (pos_ + 1 > data_.size()) return false;
    out = static_cast<std::uint8_t>(data_[pos_++]);
    return true;
  }
  bool u16(std::uint16_t& out) {
    if (pos_ + 2 > data_.size()) return false;
    out = static_cast<std::uint16_t>((static_cast<std::uint8_t>(data_[pos_]) << 8) |
                                     static_cast<std::uint8_t>(data_[pos_ + 1]));
    pos_ += 2;
    return true;
  }
  bool skip(std::size_t n) {
    if (n > data_.size() - pos_) return false;
    pos_ += n;
    return true;
  }
  bool bytes(std::size_t n, std::string& out) {
    if (n > data_.size() - pos_) return false;
    out.assign(data_.substr(pos_, n));
    pos_ += n;
    return true;
  }

 private:
  std::string_view data_;
  std::size_t pos_;
};

// RFC 1035 3.1 / 2.3.4: labels of 1..63 octets, 255 octets in all, ending in the root.
bool read_question_name(Reader& in, std::vector<std::string>& labels) {
  std::size_t total = 1;
  for (;;) {
    std::uint8_t len = 0;
    if (!in.u8(len)) return false;
    if (len == 0) return true;
    if (len > 63) return false;  // a compression pointer or a reserved label type
    total += len + 1u;
    if (total > 255) return false;
    std::string label;
    if (!in.bytes(len, label)) return false;
    labels.push_back(std::move(label));
  }
}

// Skips a name anywhere in a message, compression pointers included (they end the name).
bool skip_name(Reader& in) {
  for (int guard = 0; guard < 128; ++guard) {
    std::uint8_t len = 0;
    if (!in.u8(len)) return false;
    if (len == 0) return true;
    if ((len & 0xc0) == 0xc0) return in.skip(1);
    if (len > 63 || !in.skip(len)) return false;
  }
  return false;
}

void put16(std::string& out, std::uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
}

void put32(std::string& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v & 0xffff));
}

std::string header(std::uint16_t id, std::uint16_t flags, std::uint16_t qd, std::uint16_t an,
                   std::uint16_t ar) {
  std::string out;
  put16(out, id);
  put16(out, flags);
  put16(out, qd);
  put16(out, an);
  put16(out, 0);
  put16(out, ar);
  return out;
}

std::uint16_t response_flags(std::uint16_t query_flags, dns::Rcode rcode) {
  // Opcode and RD are echoed (RFC 1035 4.1.1); we are authoritative for everything we know.
  return static_cast<std::uint16_t>(kFlagQr | kFlagAa | (query_flags & 0x7800) |
                                    (query_flags & kFlagRd) | rcode);
}

std::string opt_record() {
  std::string out(1, '\0');  // root name
  put16(out, dns::kTypeOpt);
  put16(out, kEdnsPayload);
  put32(out, 0);  // extended rcode, version 0, no DO bit
  put16(out, 0);
  return out;
}

}  // namespace

DnsParse parse_dns_query(std::string_view packet) {
  DnsParse result;
  Reader in(packet);
  std::uint16_t id = 0, flags = 0, qd = 0, an = 0, ns = 0, ar = 0;
  if (!in.u16(id) || !in.u16(flags) || !in.u16(qd) || !in.u16(an) || !in.u16(ns) || !in.u16(ar)) {
    result.reason = "shorter than a header";
    return result;
  }
  if (flags & kFlagQr) {
    result.reason = "a response, not a query";
    return result;
  }
  auto error_reply = [&](dns::Rcode rcode, std::string reason) {
    result.outcome = DnsParse::Outcome::Reply;
    result.error_reply = header(id, response_flags(flags, rcode), 0, 0, 0);
    result.reason = std::move(reason);
    return result;
  };
  if (((flags >> 11) & 0xf) != 0) return error_reply(dns::NotImp, "opcode is not QUERY");
  if (qd != 1) return error_reply(dns::FormErr, "question count is not 1");

  DnsQuery& query = result.query;
  query.id = id;
  query.flags = flags;
  const std::size_t question_start = in.pos();
  if (!read_question_name(in, query.labels) || !in.u16(query.qtype) || !in.u16(query.qclass))
    return error_reply(dns::FormErr, "malformed question");
  query.question.assign(packet.substr(question_start, in.pos() - question_start));

  // Look for an OPT record; a malformed tail only means we do not answer with EDNS.
  bool tail_ok = true;
  for (unsigned i = 0; tail_ok && i < static_cast<unsigned>(an) + ns + ar; ++i) {
    std::uint16_t type = 0, cls = 0, rdlen = 0;
    std::uint8_t first = 0;
    Reader peek(packet, in.pos());
    const bool root_name = peek.u8(first) && first == 0;
    tail_ok = skip_name(in) && in.u16(type) && in.u16(cls) && in.skip(4) && in.u16(rdlen) &&
              in.skip(rdlen);
    if (tail_ok && i >= static_cast<unsigned>(an) + ns && type == dns::kTypeOpt && root_name) {
      query.edns = true;
      query.edns_payload = cls;  // RFC 6891 6.1.2: the class field carries the UDP size
    }
  }
  result.outcome = DnsParse::Outcome::Query;
  return result;
}

std::string build_dns_response(const DnsQuery& query, dns::Rcode rcode,
                               const std::vector<DnsRecord>& answers,
                               const DnsResponseOptions& options) {
  std::size_t max_size = kUdpPayload;
  if (options.transport == DnsTransport::Tcp)
    max_size = kTcpPayload;
  else if (query.edns && query.edns_payload > max_size)
    max_size = query.edns_payload < kEdnsPayload ? query.edns_payload : kEdnsPayload;
  std::string records;
  for (const auto& record : answers) {
    put16(records, 0xc000 | kHeaderSize);  // the name: a pointer to the question's
    put16(records, record.type);
    put16(records, dns::kClassIn);
    put32(records, kTtl);
    put16(records, static_cast<std::uint16_t>(record.rdata.size()));
    records += record.rdata;
  }
  const std::string opt = query.edns ? opt_record() : std::string();
  const std::uint16_t ar = query.edns ? 1 : 0;
  std::uint16_t flags = response_flags(query.flags, rcode);
  // RFC 4035 3.2.3: AD claims that every record in the answer was validated; a stub that
  // trusts its resolver (glibc with "options trust-ad") takes the zone as signed.
  if (options.authentic_data) flags |= kFlagAd;
  std::uint16_t an = static_cast<std::uint16_t>(answers.size());
  if (kHeaderSize + query.question.size() + records.size() + opt.size() > max_size) {
    flags |= kFlagTc;
    an = 0;
    records.clear();
  }
  return header(query.id, flags, 1, an, ar) + query.question + records + opt;
}

std::string frame_for_tcp(std::string_view message) {
  std::string out;
  put16(out, static_cast<std::uint16_t>(message.size()));
  out += message;
  return out;
}

std::string dns_type_name(std::uint16_t type) {
  switch (type) {
    case dns::kTypeA:
      return "A";
    case dns::kTypeAaaa:
      return "AAAA";
    case 2:
      return "NS";
    case dns::kTypeCname:
      return "CNAME";
    case 6:
      return "SOA";
    case 12:
      return "PTR";
    case dns::kTypeMx:
      return "MX";
    case dns::kTypeTxt:
      return "TXT";
    case 33:
      return "SRV";
    case dns::kTypeTlsa:
      return "TLSA";
    case 65:
      return "HTTPS";
    case dns::kTypeAny:
      return "ANY";
    default:
      return "TYPE" + std::to_string(type);
  }
}

std::string dns_rcode_name(dns::Rcode rcode) {
  switch (rcode) {
    case dns::NoError:
      return "NOERROR";
    case dns::FormErr:
      return "FORMERR";
    case dns::ServFail:
      return "SERVFAIL";
    case dns::NxDomain:
      return "NXDOMAIN";
    case dns::NotImp:
      return "NOTIMP";
    case dns::Refused:
      return "REFUSED";
  }
  return "RCODE" + std::to_string(static_cast<int>(rcode));
}

}  // namespace tlsrelay::testpeer
