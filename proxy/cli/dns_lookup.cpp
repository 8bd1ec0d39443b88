#include "proxy/cli/dns_lookup.hpp"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace tlsrelay::proxy {

std::string_view to_string(DnsAnswer::Status s) {
  switch (s) {
    case DnsAnswer::Status::Ok:
      return "ok";
    case DnsAnswer::Status::NoData:
      return "no records";
    case DnsAnswer::Status::NxDomain:
      return "no such name";
    case DnsAnswer::Status::Failed:
      return "no answer";
  }
  return "?";
}

namespace {

std::string hex_of(const unsigned char* data, std::size_t len) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < len; ++i) {
    out += hex[data[i] >> 4];
    out += hex[data[i] & 15];
  }
  return out;
}

// A TXT record's rdata is one or more <character-string>s (RFC 1035 3.3.14); MTA-STS and
// TLS-RPT records longer than 255 octets are split across them and read joined
// (RFC 8461 3.1, as RFC 7208 3.3 for SPF).
bool txt_of(const unsigned char* rdata, std::size_t len, std::string& out) {
  std::size_t i = 0;
  while (i < len) {
    const std::size_t n = rdata[i++];
    if (i + n > len) return false;
    out.append(reinterpret_cast<const char*>(rdata + i), n);
    i += n;
  }
  return true;
}

}  // namespace

bool parse_dns_answer(const unsigned char* message, int length, DnsType type, DnsAnswer& out) {
  ns_msg msg;
  if (ns_initparse(message, length, &msg) != 0) return false;
  out.authentic = ns_msg_getflag(msg, ns_f_ad) != 0;
  const int count = ns_msg_count(msg, ns_s_an);
  for (int i = 0; i < count; ++i) {
    ns_rr rr;
    if (ns_parserr(&msg, ns_s_an, i, &rr) != 0) return false;
    const unsigned char* rdata = ns_rr_rdata(rr);
    const std::size_t len = ns_rr_rdlen(rr);
    if (ns_rr_class(rr) != ns_c_in) continue;
    // A CNAME on the way is followed by the resolver: its target is kept (DANE's TLSA base
    // name moves with a secure CNAME, RFC 7672 2.2.3); otherwise only the type asked.
    if (ns_rr_type(rr) == ns_t_cname) {
      char target[NS_MAXDNAME];
      if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), rdata, target, sizeof target) < 0)
        return false;
      out.cname = target;
      continue;
    }
    if (ns_rr_type(rr) != static_cast<int>(type)) continue;
    switch (type) {
      case DnsType::A:
      case DnsType::Aaaa: {
        const bool v4 = type == DnsType::A;
        if (len != (v4 ? 4u : 16u)) return false;
        char text[INET6_ADDRSTRLEN];
        if (!inet_ntop(v4 ? AF_INET : AF_INET6, rdata, text, sizeof text)) return false;
        out.addresses.emplace_back(text);
        break;
      }
      case DnsType::Mx: {
        if (len < 3) return false;
        char host[NS_MAXDNAME];
        if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), rdata + 2, host, sizeof host) < 0)
          return false;
        MxRecord mx;
        mx.preference = static_cast<std::uint16_t>(ns_get16(rdata));
        mx.host = host;  // dn_expand writes the root as "" and no trailing dot
        out.mx.push_back(std::move(mx));
        break;
      }
      case DnsType::Txt: {
        std::string text;
        if (!txt_of(rdata, len, text)) return false;
        out.txt.push_back(std::move(text));
        break;
      }
      case DnsType::Tlsa: {
        if (len < 3) return false;
        TlsaRecord t;
        t.usage = rdata[0];
        t.selector = rdata[1];
        t.mtype = rdata[2];
        t.data_hex = hex_of(rdata + 3, len - 3);
        out.tlsa.push_back(std::move(t));
        break;
      }
    }
  }
  return true;
}

DnsAnswer dns_lookup(const std::string& name, DnsType type, std::chrono::milliseconds budget) {
  DnsAnswer out;
  const long budget_s = static_cast<long>(budget.count() / 1000);
  if (budget_s < 1) {
    out.error = "not asked: the audit's time ran out";
    return out;
  }
  auto state = std::make_unique<struct __res_state>();
  std::memset(state.get(), 0, sizeof(struct __res_state));
  if (res_ninit(state.get()) != 0) {
    out.error = "cannot read the resolver configuration (/etc/resolv.conf)";
    return out;
  }
  out.trust_ad = (state->options & RES_TRUSTAD) != 0;
  // DO (RFC 3225) asks a validating resolver for AD in its answer; EDNS0 carries it.
  state->options |= RES_USE_EDNS0 | RES_USE_DNSSEC;
  // The audit's deadline: a dead resolver costs at most tries x retrans per server.
  state->retry = std::clamp(state->retry, 1, kDnsTries);
  const long servers = state->nscount > 0 ? state->nscount : 1;
  const long per_try = std::max(1L, budget_s / (state->retry * servers));
  state->retrans = static_cast<int>(std::min<long>({state->retrans, kDnsRetransSeconds, per_try}));
  std::vector<unsigned char> answer(65535);
  const int n = res_nquery(state.get(), name.c_str(), ns_c_in, static_cast<int>(type),
                           answer.data(), static_cast<int>(answer.size()));
  const int herr = state->res_h_errno;
  res_nclose(state.get());
  if (n < 0) {
    switch (herr) {
      case HOST_NOT_FOUND:
        out.status = DnsAnswer::Status::NxDomain;
        break;
      case NO_DATA:
        out.status = DnsAnswer::Status::NoData;
        break;
      case TRY_AGAIN:
        out.error = "no answer from the resolver (SERVFAIL or a time-out)";
        break;
      default:
        out.error =
            "the resolver refused or could not answer (" + std::string(hstrerror(herr)) + ")";
        break;
    }
    return out;
  }
  if (!parse_dns_answer(answer.data(), n, type, out)) {
    out.status = DnsAnswer::Status::Failed;
    out.error = "an answer that does not parse";
    return out;
  }
  const bool any =
      !out.mx.empty() || !out.txt.empty() || !out.tlsa.empty() || !out.addresses.empty();
  out.status = any ? DnsAnswer::Status::Ok : DnsAnswer::Status::NoData;
  return out;
}

}  // namespace tlsrelay::proxy
