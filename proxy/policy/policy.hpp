// Failure policy: what to do when the upstream hop fails (Postfix's smtp_trouble.c is the
// model). The replies that go with it are replies.hpp; the rules themselves are config's
// ([policy.rules], config/policy_rules.hpp).
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

// RFC 8689 4.2.1: whether a REQUIRETLS message may travel over this upstream connection:
// the server offers REQUIRETLS, and the connection was made with the upstream's normal
// profile (never compat, which may go down to security level 0) over TLS 1.2 or later
// (RFC 8996) whose certificate was verified against the host name
// (CertificateFacts::verified). The same test for every connection, new, kept from the
// session's last message, pooled or replayed.
bool carries_requiretls(const tls::AttemptFacts& upstream, bool offers_requiretls,
                        bool normal_profile);

// Whether a transaction whose upstream was lost (connection-reset, -closed, timeout) before
// our final dot may be replayed on a new route: when the class's effective rule moves on at
// all (retry, next-address, next-upstream). A rule of only "defer" or "reject" keeps the
// first failure, as it would for a failure while opening the route.
bool replay_allowed(const config::PolicySettings& policy, FailureClass lost);

}  // namespace tlsrelay::proxy
