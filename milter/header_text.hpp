// Text that goes into header fields and SMTP replies the milter writes: made printable,
// quoted where needed, and folded (RFC 5322 2.1.1, 2.2.3, 3.2.4).
//
// Limits: every output is printable US-ASCII plus the folds this module inserts itself
// ("\n " — libmilter's convention: LF, no CR, the MTA adds it); no line of a folded field
// passes 998 characters, and lines break before 78 where the text has spaces. Pure
// functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tlsrelay::milter {

inline constexpr std::size_t kFoldAt = 78;      // RFC 5322 2.1.1 SHOULD
inline constexpr std::size_t kMaxLine = 998;    // RFC 5322 2.1.1 MUST
inline constexpr std::size_t kMaxValue = 1800;  // whole value of one field we add

// Control characters (CR, LF, NUL, TAB, ...) and DEL become a space, bytes above 0x7e
// become '?'; runs of spaces shrink to one; no leading or trailing space. At most `max`
// bytes, then "..." is appended.
std::string printable(std::string_view text, std::size_t max);

// A value for "key=value; ..." lists: as is when it is a plain token, else a quoted-string
// with '"' and '\' escaped (RFC 5322 3.2.4). The input must be printable() already.
std::string param_value(std::string_view value);

// The value of "NAME: VALUE", folded for smfi_addheader: breaks are inserted as "\n"
// before a space of the value so that unfolding (removing the line break) gives the value
// back. A word too long for kMaxLine is cut with a break of its own. Values longer than
// kMaxValue are cut (with "...") first.
std::string fold_header_value(std::string_view name, std::string_view value);

// An SMTP reply text for smfi_setreply: printable, at most `max` bytes, and '%' written
// "%%" (libmilter passes the text through a printf-style format).
std::string reply_text(std::string_view text, std::size_t max = 400);

}  // namespace tlsrelay::milter
