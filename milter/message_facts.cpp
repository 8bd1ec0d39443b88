#include "milter/message_facts.hpp"

#include <algorithm>
#include <cctype>

#include "common/text.hpp"

namespace tlsrelay::milter {

bool has_requiretls(const std::vector<std::string>& esmtp_params) {
  // RFC 8689 4.1: the keyword takes no value; RFC 5321 2.4: keywords are case-insensitive.
  return std::any_of(esmtp_params.begin(), esmtp_params.end(),
                     [](const std::string& p) { return iequals(p, "REQUIRETLS"); });
}

TlsRequiredField parse_tls_required(std::string_view value) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  // A trailing RFC 5322 comment ("No (reason)") does not change the value.
  if (auto paren = value.find('('); paren != std::string_view::npos) {
    value = value.substr(0, paren);
  }
  while (!value.empty() && is_space(value.front())) value.remove_prefix(1);
  while (!value.empty() && is_space(value.back())) value.remove_suffix(1);
  return iequals(value, "No") ? TlsRequiredField::No : TlsRequiredField::Other;
}

bool requires_tls(const MessageFacts& facts) {
  return facts.requiretls;
}

}  // namespace tlsrelay::milter
