// One upstream attempt made from the command line and judged, as `tlsrelay probe` and
// `tlsrelay setup` make it: tls::run_attempt, then optionally MAIL, RCPT and RSET on the
// open route (never DATA), a polite QUIT, and the classifier's verdict.
//
// Blocking: runs an io_context of its own until the attempt is over (bounded by the
// attempt's phase time-outs). The credentials in the options serve AUTH only; the result
// holds no secret (the transcript masks AUTH payloads). Not thread-safe.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tls/attempt.hpp"
#include "tls/classifier.hpp"
#include "tls/client_context.hpp"
#include "tls/connector.hpp"

namespace tlsrelay::proxy {

// What the envelope test saw: each command and its reply, in order.
struct EnvelopeResult {
  std::vector<std::pair<std::string, std::string>> steps;  // command, reply (or "(no reply)")
  bool accepted = false;
};

struct RouteProbe {
  tls::AttemptFacts facts;
  tls::Verdict verdict;
  std::optional<EnvelopeResult> envelope;  // when one was asked for and the route opened
  // The attempt ended ok and, when an envelope was asked for, it was accepted.
  bool ok(bool envelope_asked) const;
};

// `envelope`: FROM and TO for MAIL FROM:<FROM>, RCPT TO:<TO>, RSET after AUTH.
RouteProbe probe_route(const tls::AttemptOptions& attempt, const tls::ClientProfile& profile,
                       const std::optional<std::pair<std::string, std::string>>& envelope = {});

// After tls-protocol-mismatch or tls-no-shared-cipher: a bounded follow-up
// (tls/server_speaks.hpp, at most 4 handshakes within one phase time-out) finds what the
// server speaks, and the verdict's hint says it, and whether `compat` would reach it. The
// class stays the same. Other classes: nothing is done.
void add_server_speaks_hint(RouteProbe& probe, const tls::AttemptOptions& attempt,
                            const tls::ClientProfile& profile,
                            const std::optional<tls::ClientProfile>& compat);

}  // namespace tlsrelay::proxy
