// SMTP commands from our client (the local MTA): splitting the byte stream into command
// lines, recognising the verb, and parsing the arguments of MAIL, RCPT, BDAT and EHLO with
// their service-extension parameters (RFC 5321, 1869/1870, 6152, 6531, 3461, 8689, 3030,
// 4954). The envelope they fill in (MailParams, RcptParams) is upstream/envelope.hpp, which
// also formats it again for the upstream.
//
// No I/O. Errors are SMTP replies (code, RFC 3463 enhanced code, text) ready to send to the
// client. Limits (limits.hpp) are enforced before anything is buffered: a command line is
// at most kMaxCommandLine octets, paths obey RFC 5321 4.5.3.1. Free functions are pure and
// thread-safe; a CommandReader belongs to one connection and is not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/smtp_reply.hpp"
#include "proxy/server/command_reader.hpp"
#include "proxy/server/limits.hpp"
#include "proxy/upstream/envelope.hpp"

namespace tlsrelay::proxy {

struct Command {
  enum class Verb {
    Ehlo,
    Helo,
    Mail,
    Rcpt,
    Data,
    Bdat,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
    Starttls,
    Auth,
    Unknown
  };
  Verb verb = Verb::Unknown;
  // Text after the verb, spaces around it trimmed; for Unknown the whole (trimmed) line so
  // that a log can say what was sent.
  std::string arg;

  bool operator==(const Command&) const = default;
};

std::string_view to_string(Command::Verb verb);

// One command line without its CRLF. An unrecognised verb is not an error (Verb::Unknown;
// the state machine answers 500 5.5.2); NUL, CR or LF in the line is.
ParseResult<Command> parse_command(std::string_view line);

// Length limits for paths, overridable by config.
struct AddressLimits {
  std::size_t max_path = kMaxPathLength;  // including "<" and ">"
  std::size_t max_local_part = kMaxLocalPart;
  std::size_t max_domain = kMaxDomain;
};

struct BdatParams {
  std::uint64_t size = 0;
  bool last = false;

  bool operator==(const BdatParams&) const = default;
};

// "FROM:<path> [SP params]" (the argument of MAIL).
ParseResult<MailParams> parse_mail(std::string_view arg, const AddressLimits& limits = {});
// "TO:<path> [SP params]". `smtputf8`: the transaction's MAIL had SMTPUTF8, which allows
// non-ASCII in the path and in ORCPT (RFC 6531 3.4, RFC 6533 3).
ParseResult<RcptParams> parse_rcpt(std::string_view arg, bool smtputf8 = false,
                                   const AddressLimits& limits = {});
// "chunk-size [SP LAST]" (RFC 3030 2).
ParseResult<BdatParams> parse_bdat(std::string_view arg);
// The EHLO or HELO argument: a domain or an address literal; returned as given.
ParseResult<std::string> parse_ehlo(std::string_view arg);

// RFC 3461 4: xtext = *( xchar / hexchar ), xchar = "!".."~" except "+" and "=",
// hexchar = "+" two upper-case hex digits.
bool is_xtext(std::string_view text);
std::optional<std::string> decode_xtext(std::string_view text);
std::string encode_xtext(std::string_view text);

}  // namespace tlsrelay::proxy
