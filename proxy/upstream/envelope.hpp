// The envelope of one transaction as our client gave it (MAIL and RCPT with their
// service-extension parameters), what the upstream offers (its EHLO keywords), and MAIL
// and RCPT formatted again for the upstream with only what it advertised.
//
// Pure functions on plain data; thread-safe. The parsing of the client's commands is
// server/command_parser.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tlsrelay::proxy {

struct MailParams {
  enum class Body { Unspecified, SevenBit, EightBitMime, BinaryMime };

  std::string reverse_path;           // without <>, source route stripped; "" for <>
  std::optional<std::uint64_t> size;  // SIZE= (RFC 1870)
  Body body = Body::Unspecified;      // BODY= (RFC 6152, RFC 3030)
  bool smtputf8 = false;              // SMTPUTF8 (RFC 6531)
  bool requiretls = false;            // REQUIRETLS (RFC 8689)
  std::string ret;                    // "FULL", "HDRS" or "" (RFC 3461 4.3)
  std::string envid;                  // xtext as received (RFC 3461 4.4)
  std::string auth;                   // AUTH= as received (RFC 4954 5)

  bool operator==(const MailParams&) const = default;
};

struct RcptParams {
  std::string forward_path;  // without <>, source route stripped; "Postmaster" allowed
  std::string notify;        // "NEVER" or a comma list of SUCCESS,FAILURE,DELAY; upper case
  std::string orcpt;         // addr-type ";" xtext, as received (RFC 3461 4.2)

  bool operator==(const RcptParams&) const = default;
};

// What the upstream said it supports in its EHLO reply.
struct UpstreamCaps {
  bool size = false;
  bool eightbitmime = false;
  bool smtputf8 = false;
  bool dsn = false;
  bool requiretls = false;
  bool chunking = false;
  bool binarymime = false;
  std::uint64_t size_limit = 0;  // the SIZE value; 0 when none or unlimited (RFC 1870 4)

  bool operator==(const UpstreamCaps&) const = default;
};

// The EHLO reply's lines after the greeting line ("SIZE 10240000", "8BITMIME", ...);
// keywords are case-insensitive.
UpstreamCaps caps_from_ehlo(const std::vector<std::string>& extension_lines);

// The whole command line for the upstream, without CRLF: "MAIL FROM:<a@b> SIZE=123 ...".
// A parameter goes out only when the upstream advertised its extension (RFC 5321 4.1.1.11:
// a client must not use an extension the server did not offer). AUTH= never goes out: it
// vouches for the sender, and we authenticate upstream as ourselves (RFC 4954 5).
std::string format_mail(const MailParams& params, const UpstreamCaps& caps);
// "RCPT TO:<path> [NOTIFY=...] [ORCPT=...]"; NOTIFY and ORCPT only with DSN.
std::string format_rcpt(const RcptParams& params, const UpstreamCaps& caps);

// Extensions this transaction needs that the upstream lacks, so that format_mail() would
// drop something the message relies on: "REQUIRETLS" (RFC 8689 4.2.1: must not be relayed
// without it), "BINARYMIME" (RFC 3030 3: cannot be sent otherwise), "SMTPUTF8" (RFC 6531
// 3.4), "8BITMIME" (RFC 6152 3). What to do about it is the policy module's decision.
std::vector<std::string> missing_extensions(const MailParams& params, const UpstreamCaps& caps);

}  // namespace tlsrelay::proxy
