// The modes more than one part names: how an upstream is reached (TlsMode), which SASL
// mechanism AUTH uses (AuthMechanism), what becomes of a bare CR or LF in message data
// (BareNewlines). Each exists once, here; config/ reads them from TOML, tls/ and the relay
// act on them. Their names are the configuration's words. Pure; thread-safe.
#pragma once

#include <optional>
#include <string_view>

namespace tlsrelay {

// starttls: plain SMTP, then STARTTLS (587, 25); implicit: TLS from the first byte (465);
// none: plaintext, only where the configuration says so.
enum class TlsMode { Starttls, Implicit, None };
std::string_view to_string(TlsMode m);
std::optional<TlsMode> tls_mode_from_string(std::string_view s);

// Auto: PLAIN, else LOGIN, whichever the server offers after TLS; XOAUTH2 (Google,
// Microsoft 365) only when asked for.
enum class AuthMechanism { Auto, Plain, Login, Xoauth2 };
std::string_view to_string(AuthMechanism m);

// What a bare CR or LF in message data becomes (RFC 5321 2.3.8; proxy's data_reader.hpp).
enum class BareNewlines { Reject, Normalize };
std::string_view to_string(BareNewlines b);

}  // namespace tlsrelay
