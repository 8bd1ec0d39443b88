// What the milter learns about one message before end of message: the REQUIRETLS
// parameter of MAIL FROM (RFC 8689 4.1), the TLS-Required header field (RFC 8689 5), and
// the inbound hop's TLS and AUTH facts from the MTA's macros.
//
// Values are copies (libmilter's strings live only during the callback). Pure functions;
// thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tlsrelay::milter {

// Postfix's names; "" when the MTA did not send the macro (no TLS, no AUTH).
struct InboundFacts {
  std::string tls_version;   // {tls_version}
  std::string cipher;        // {cipher}
  std::string cipher_bits;   // {cipher_bits}
  std::string cert_subject;  // {cert_subject} (client certificate; client-controlled text)
  std::string cert_issuer;   // {cert_issuer}
  std::string auth_authen;   // {auth_authen}: the SASL login name
};

enum class TlsRequiredField { Absent, No, Other };

struct MessageFacts {
  bool requiretls = false;  // MAIL FROM:<...> REQUIRETLS
  TlsRequiredField tls_required = TlsRequiredField::Absent;
  InboundFacts inbound;
};

// The ESMTP parameters of MAIL FROM (libmilter's envfrom argv after the address).
bool has_requiretls(const std::vector<std::string>& esmtp_params);

// RFC 8689 5: the only value defined is "No" (case-insensitive, surrounding white space
// and a trailing comment allowed). Anything else is Other, which asks for nothing.
TlsRequiredField parse_tls_required(std::string_view value);

// Whether the message asks for TLS on every hop: REQUIRETLS only. RFC 8689 4.1 says the
// TLS-Required field is ignored when REQUIRETLS was given, and "TLS-Required: No" can only
// relax, so the header field never makes the answer stricter.
bool requires_tls(const MessageFacts& facts);

}  // namespace tlsrelay::milter
