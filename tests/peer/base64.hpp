// Base64 decoding (RFC 4648 section 4) for SMTP AUTH responses (RFC 4954).
// Limits: strict: padding required, no whitespace, no URL-safe alphabet.
// Thread-safety: pure function.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tlsrelay::testpeer {

// nullopt when text is not canonical base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace tlsrelay::testpeer
