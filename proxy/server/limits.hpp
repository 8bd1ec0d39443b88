// Protocol limits for what our SMTP client (the local MTA) may send us, in one place.
//
// Each is the constexpr default; config may override the ones marked "configurable" and the
// parsers take them as arguments. Every limit is enforced before the bytes are buffered
// (Postfix var_line_limit, OpenSMTPD SMTP_LINE_MAX), so a client can make us hold at most
// one line of any kind. Constants only; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tlsrelay::proxy {

// RFC 5321 4.5.3.1.4: a command line is at most 512 octets including CRLF. That is the
// figure to quote, not the one to enforce:
inline constexpr std::size_t kRfcMaxCommandLine = 512;
// ...because service extensions raise it (RFC 5321 4.5.3.1.4 allows them to): ORCPT adds up
// to 500 characters (RFC 3461 4.2), ENVID 100 (RFC 3461 4.4), AUTH= up to 500 (RFC 4954 5),
// plus SIZE, BODY, NOTIFY and SMTPUTF8 paths. 2048 is Postfix's line_length_limit and holds
// every legitimate MAIL or RCPT line. The command reader enforces this one.
inline constexpr std::size_t kMaxCommandLine = 2048;

// RFC 5321 4.5.3.1.6: a text line of message data is at most 1000 octets including CRLF,
// not counting a leading dot added for transparency. Configurable.
inline constexpr std::size_t kMaxTextLine = 1000;

// RFC 5321 4.5.3.1.8 asks for at least 100 recipients; we accept up to this many.
inline constexpr std::size_t kMaxRecipients = 1000;

// Message size in octets as RFC 1870 counts it (CRLFs included, stuffing dots and the final
// "." not). 50 MiB, Postfix's message_size_limit default. Configurable.
inline constexpr std::uint64_t kDefaultMaxMessageSize = 52'428'800;

// RFC 5321 4.5.3.1.3: reverse-path or forward-path, including "<" and ">".
inline constexpr std::size_t kMaxPathLength = 256;
// RFC 5321 4.5.3.1.1 and 4.5.3.1.2.
inline constexpr std::size_t kMaxLocalPart = 64;
inline constexpr std::size_t kMaxDomain = 255;

// RFC 5322 2.1.1: a header line is at most 998 characters without CRLF, and should be at
// most 78.
inline constexpr std::size_t kMaxHeaderLine = 998;
inline constexpr std::size_t kFoldHeaderAt = 78;

}  // namespace tlsrelay::proxy
