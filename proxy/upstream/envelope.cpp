#include "proxy/upstream/envelope.hpp"

#include "common/text.hpp"

namespace tlsrelay::proxy {

namespace {

// Strips CR, LF and NUL from a line we are about to send: whatever a caller put into the
// parameter structs, a formatted command stays one command (no command injection).
std::string one_line(std::string s) {
  std::erase_if(s, [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
  return s;
}

}  // namespace

UpstreamCaps caps_from_ehlo(const std::vector<std::string>& extension_lines) {
  UpstreamCaps caps;
  for (const auto& line : extension_lines) {
    const std::string_view l = trim_wsp(line);
    std::size_t end = 0;
    while (end < l.size() && l[end] != ' ' && l[end] != '\t') ++end;
    const std::string_view keyword = l.substr(0, end);
    const std::string_view value = trim_wsp(l.substr(end));
    if (iequals(keyword, "SIZE")) {
      caps.size = true;
      std::uint64_t n = 0;
      if (parse_u64(value, n)) caps.size_limit = n;
    } else if (iequals(keyword, "8BITMIME")) {
      caps.eightbitmime = true;
    } else if (iequals(keyword, "SMTPUTF8")) {
      caps.smtputf8 = true;
    } else if (iequals(keyword, "DSN")) {
      caps.dsn = true;
    } else if (iequals(keyword, "REQUIRETLS")) {
      caps.requiretls = true;
    } else if (iequals(keyword, "CHUNKING")) {
      caps.chunking = true;
    } else if (iequals(keyword, "BINARYMIME")) {
      caps.binarymime = true;
    }
  }
  return caps;
}

std::string format_mail(const MailParams& params, const UpstreamCaps& caps) {
  std::string s = "MAIL FROM:<" + params.reverse_path + ">";
  if (caps.size && params.size) s += " SIZE=" + std::to_string(*params.size);
  // BODY= belongs to 8BITMIME (RFC 6152 2); BINARYMIME also needs CHUNKING (RFC 3030 3).
  switch (params.body) {
    case MailParams::Body::Unspecified:
      break;
    case MailParams::Body::SevenBit:
      if (caps.eightbitmime) s += " BODY=7BIT";
      break;
    case MailParams::Body::EightBitMime:
      if (caps.eightbitmime) s += " BODY=8BITMIME";
      break;
    case MailParams::Body::BinaryMime:
      if (caps.binarymime && caps.chunking) s += " BODY=BINARYMIME";
      break;
  }
  if (caps.smtputf8 && params.smtputf8) s += " SMTPUTF8";
  if (caps.requiretls && params.requiretls) s += " REQUIRETLS";
  if (caps.dsn) {
    if (!params.ret.empty()) s += " RET=" + params.ret;
    if (!params.envid.empty()) s += " ENVID=" + params.envid;
  }
  return one_line(std::move(s));
}

std::string format_rcpt(const RcptParams& params, const UpstreamCaps& caps) {
  std::string s = "RCPT TO:<" + params.forward_path + ">";
  if (caps.dsn) {
    if (!params.notify.empty()) s += " NOTIFY=" + params.notify;
    if (!params.orcpt.empty()) s += " ORCPT=" + params.orcpt;
  }
  return one_line(std::move(s));
}

std::vector<std::string> missing_extensions(const MailParams& params, const UpstreamCaps& caps) {
  std::vector<std::string> out;
  if (params.requiretls && !caps.requiretls) out.emplace_back("REQUIRETLS");
  if (params.body == MailParams::Body::BinaryMime) {
    if (!caps.binarymime) out.emplace_back("BINARYMIME");
    if (!caps.chunking) out.emplace_back("CHUNKING");
  }
  if (params.body == MailParams::Body::EightBitMime && !caps.eightbitmime) {
    out.emplace_back("8BITMIME");
  }
  if (params.smtputf8 && !caps.smtputf8) out.emplace_back("SMTPUTF8");
  return out;
}

}  // namespace tlsrelay::proxy
