// The upstream connector: one attempt to reach an SMTP server, phase by phase — DNS,
// connect, banner, EHLO (HELO fallback), STARTTLS or implicit TLS, TLS handshake,
// certificate check, AUTH — each with its own time-out, capturing every fact the attempt
// record holds.
//
// It never decides policy: it reports AttemptFacts and, when the attempt reached the state
// it was asked for, hands over the open stream ready for MAIL FROM. Credentials are used
// only after TLS and never recorded. One attempt per call; runs on the caller's executor.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "tls/attempt.hpp"
#include "tls/client_context.hpp"
#include "tls/smtp_stream.hpp"

namespace tlsrelay::tls {

struct Credentials {
  std::string user;
  std::string password;  // or the XOAUTH2 bearer token; never logged, never in a record
  AuthMechanism mechanism = AuthMechanism::Auto;
};

struct AttemptOptions {
  UpstreamTarget target;
  std::string ehlo_name = "localhost";
  std::chrono::milliseconds phase_timeout{30000};
  std::optional<Credentials> credentials;
  // When the banner times out on a silent port, try a TLS ClientHello on a second
  // connection to recognise an implicit-TLS port (465) spoken to as STARTTLS.
  bool detect_implicit_tls = true;
  // This attempt is a retry with a lowered (compat) profile after a failed one on the same
  // route: send TLS_FALLBACK_SCSV (RFC 7507), so that a server that speaks a newer version
  // refuses the downgrade (alert inappropriate_fallback) instead of accepting it.
  bool fallback = false;
};

struct AttemptResult {
  AttemptFacts facts;
  std::unique_ptr<SmtpStream> stream;  // open, after EHLO/AUTH, when facts.ending == Ok
};

// context may be null when the profile could not be built; context_error then says why and
// the attempt ends as LocalSetup (only if it needs TLS).
boost::asio::awaitable<AttemptResult> run_attempt(AttemptOptions options,
                                                  std::shared_ptr<ClientContext> context,
                                                  std::string context_error = {});

}  // namespace tlsrelay::tls
