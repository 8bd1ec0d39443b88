// Failure policy: the replies our client gets when the upstream hop fails, in one place
// (Postfix's smtp_trouble.c is the model). Which upstream to try next lives in route.cpp;
// what each class deserves (retry, next address, compat, ...) grows here with the policy
// engine.
//
// Pure functions; thread-safe.
#pragma once

#include <string>

#include "common/smtp_reply.hpp"
#include "config/settings.hpp"
#include "tls/attempt.hpp"
#include "tls/classifier.hpp"

namespace tlsrelay::proxy {

// One upstream attempt that did not give a route, with its verdict.
struct FailedAttempt {
  tls::AttemptFacts facts;
  tls::Verdict verdict;
};

// RFC 3463 enhanced code for a deferral of this class: 4.4.1 no answer, 4.4.2 connection
// dropped, 4.4.3 DNS, 4.7.5 TLS/certificate, 4.7.0 STARTTLS/security (interfaces.md).
std::string deferral_enhanced_code(FailureClass c);

// "451 4.7.5 tlsrelay: gmail smtp.gmail.com[142.250.102.108]:587 certificate-expired:
// <hint>; tried 3 times over 2 upstreams" — the text Postfix shows in its queue.
Reply deferral_reply(const tls::AttemptFacts& last, const tls::Verdict& verdict, int attempts,
                     int upstreams);

// The `reject` action: the same text as the deferral, as a permanent 5.7.x failure.
Reply rejection_reply(const Reply& deferral, const tls::Verdict& verdict);

// RFC 8689 4.2.1: whether a REQUIRETLS message may travel over this upstream connection:
// the server offers REQUIRETLS, and the connection was made with the upstream's normal
// profile (never compat, which may go down to security level 0) over TLS 1.2 or later
// (RFC 8996) whose certificate was verified against the host name
// (CertificateFacts::verified). The same test for every connection, new, kept from the
// session's last message, pooled or replayed.
bool carries_requiretls(const tls::AttemptFacts& upstream, bool offers_requiretls,
                        bool normal_profile);

// RFC 8689 4.2.1: a REQUIRETLS message the next hop cannot take with verified TLS.
Reply requiretls_reply(const std::string& upstream);

// The message needs an extension the upstream lacks (SMTPUTF8: RFC 6531 3.4 says 553 5.6.7;
// BINARYMIME: 554 5.6.3, it cannot be converted here).
Reply extension_missing_reply(const std::string& upstream, const std::string& extension);

// The upstream went away (or timed out) while `stage` ("MAIL FROM", "RCPT TO", "DATA",
// "end of DATA") was in progress. After the final dot this is the RFC 1047 window: the
// message may have been delivered, so the client must not take it as a hard failure.
Reply lost_upstream_reply(const std::string& upstream, const std::string& stage, FailureClass lost);

// Whether a transaction whose upstream was lost (connection-reset, -closed, timeout) before
// our final dot may be replayed on a new route: when the class's effective rule moves on at
// all (retry, next-address, next-upstream). A rule of only "defer" or "reject" keeps the
// first failure, as it would for a failure while opening the route.
bool replay_allowed(const config::PolicySettings& policy, FailureClass lost);

// A replay that did not take: the loss that started it, and what stopped it.
Reply replay_failed_reply(const Reply& lost, const std::string& why);

// The upstream answered something that makes no sense at this point (e.g. 354 to RCPT).
Reply unexpected_reply(const std::string& upstream, const std::string& stage, const Reply& got);

}  // namespace tlsrelay::proxy
