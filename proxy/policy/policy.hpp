// Failure policy: what to do when the upstream hop fails (Postfix's smtp_trouble.c is the
// model). The replies that go with it are replies.hpp; the rules themselves are config's
// ([policy.rules], config/policy_rules.hpp).
//
// Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

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

// ---- replaying a transaction whose upstream was lost (issue 18) ------------------------

namespace tlsrelay::proxy {

// One replay per transaction: a second loss on a fresh connection is the route's problem,
// which the next try of the client's queue (with route health) deals with better.
inline constexpr int kMaxReplays = 1;
// Not worth a new route with less time than this left of the policy's deadline.
inline constexpr std::chrono::seconds kMinReplayTime{2};

// A transaction whose upstream was lost before our final dot, as the replay decision sees it.
struct LostTransaction {
  FailureClass lost = FailureClass::ConnectionClosed;  // how the upstream was lost
  int replays = 0;                                     // replays this transaction has had already
  bool in_data = false;       // lost while the message went upstream: its data must be replayed
  bool buffer_usable = true;  // the replay buffer holds all of that data (replay_buffer.hpp)
  std::chrono::steady_clock::time_point now;
  std::chrono::steady_clock::time_point deadline;  // [policy] deadline_s for this message
};

// What keeps a new route from taking the transaction over, checked in this order; None: a
// replay may be tried.
enum class ReplayBar { None, ReplayedAlready, PolicyDefers, NoReplayBuffer, DeadlineSpent };
// For the no-replay log line: "replayed once already", "the policy defers this class", "no
// replay buffer", "the policy deadline is spent"; "" for None.
std::string_view to_string(ReplayBar b);

ReplayBar replay_bar(const config::PolicySettings& policy, const LostTransaction& t);

}  // namespace tlsrelay::proxy
