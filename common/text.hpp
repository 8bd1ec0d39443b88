// Small text helpers shared by the engine: joining, escaping peer bytes for logs and
// records, case-insensitive comparisons, recognising a protocol from its first bytes.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tlsrelay {

std::string join(const std::vector<std::string>& parts, std::string_view sep);
// Peer text made safe for one log line or JSON string: printable ASCII kept, CR/LF as \r \n,
// other bytes as \xNN; cut at max characters with "..." appended.
std::string printable(std::string_view bytes, std::size_t max);
// A value for a key=value log line: printable() first, then, unless it is a plain token,
// in double quotes with every " written \" (printable() already wrote \ as \\), so a
// value can never close early and add keys of its own. "" when empty is the quoted "".
std::string log_value(std::string_view text, std::size_t max = 512);
// "30 s", "1.5 s", "250 ms".
std::string format_seconds(double seconds);
bool iequals(std::string_view a, std::string_view b);
// SMTP's and RFC 5322's WSP: a space or a tab.
constexpr bool is_wsp(char c) {
  return c == ' ' || c == '\t';
}
// Without leading and trailing spaces and tabs (SMTP's WSP).
std::string_view trim_wsp(std::string_view s);
// A decimal number of at most 20 digits that fits 64 bits; nothing else (no sign, no space).
bool parse_u64(std::string_view digits, std::uint64_t& out);
bool istarts_with(std::string_view s, std::string_view prefix);
// A TLS record header: content type 20..24, then major version 3.
bool looks_like_tls_record(std::string_view bytes);
// What the first bytes of a non-SMTP peer look like: "an SSH server", "an HTTP server", ...
std::string describe_protocol(std::string_view bytes);

}  // namespace tlsrelay
