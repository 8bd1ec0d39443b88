// What a server speaks, asked after a tls-protocol-mismatch or tls-no-shared-cipher
// failure: a bounded follow-up through the scanner (tls_scan.hpp) that turns "we found
// nothing in common" into "it speaks only TLS 1.0" or "its only suite is CAMELLIA128-SHA",
// and tells whether a given (compat) profile would reach it. The class of the failure is
// never changed by it.
//
// At most kMaxFollowUpHandshakes handshakes, within the time given; never AUTH or MAIL.
// Runs on the caller's executor; the text functions are pure. Not thread-safe.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/failure_class.hpp"
#include "tls/client_context.hpp"
#include "tls/connector.hpp"

namespace tlsrelay::tls {

inline constexpr int kMaxFollowUpHandshakes = 4;

struct ServerSpeaks {
  std::vector<std::string> versions;  // accepted, of those tried: "1.0", "1.1", ...
  std::vector<std::string> suites;    // found one by one, in the order found
  bool suites_complete = false;       // without those, the server refused every other suite
  int handshakes = 0;
};

// Only for TlsProtocolMismatch (each version outside the failed profile's range) and
// TlsNoSharedCipher (the suites, one by one under TLS 1.0 to 1.2); anything else returns
// empty at once. `failed` is the profile that failed, with its CA file.
boost::asio::awaitable<ServerSpeaks> what_server_speaks(AttemptOptions base, ClientProfile failed,
                                                        FailureClass cls,
                                                        std::chrono::milliseconds time);

// "the server speaks only TLS 1.0", "its only suite is CAMELLIA128-SHA", "its suites
// include A, B"; "" when nothing was found.
std::string speaks_text(const ServerSpeaks& s);

// Whether `profile` offers a version the server speaks and, when its suites are known, one
// of them (computed locally from what OpenSSL would put in the ClientHello).
bool profile_reaches(const ClientProfile& profile, const ServerSpeaks& s);

// Of `suites`, those the relay never offers in any profile: NULL encryption (eNULL) and
// anonymous (aNULL) suites.
std::vector<std::string> unusable_suites(const std::vector<std::string>& suites);

// The [upstream.compat] settings that would reach it, e.g. `min_version = "1.0"` or
// `ciphers = "CAMELLIA128-SHA"` (with `security_level = N` only where OpenSSL needs it
// lowered); "" when nothing was found, or when the server's only suites are unusable ones.
std::string compat_suggestion(const ServerSpeaks& s);

// The sentence added to the failure's hint: what the server speaks and whether `compat`
// (the upstream's [upstream.compat] profile, when it has one) would reach it, else which
// compat settings would. "" when the follow-up found nothing.
std::string follow_up_hint(const ServerSpeaks& s, const std::optional<ClientProfile>& compat);

}  // namespace tlsrelay::tls
