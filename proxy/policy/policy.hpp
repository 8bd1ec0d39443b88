// Failure policy: what to do when the upstream hop fails (Postfix's smtp_trouble.c is the
// model): the route's next step after each failed attempt, which open_route only carries
// out, and the answer when no route opened. The replies that go with it are replies.hpp;
// the rules themselves are config's ([policy.rules], config/policy_rules.hpp).
//
// Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/failure_class.hpp"
#include "common/modes.hpp"
#include "common/smtp_reply.hpp"
#include "config/settings.hpp"
#include "proxy/policy/replies.hpp"
#include "tls/attempt.hpp"
#include "tls/classifier.hpp"

namespace tlsrelay::proxy {

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

// ---- the route's next step after a failed attempt --------------------------------------
//
// open_route (upstream/route.cpp) tries the upstreams and only carries out what next_step()
// decides after each attempt that gave no route: the first action of the class's effective
// rule that still applies (../shared/spec/interfaces.md "Actions", docs/configuration.md
// "[policy.rules]"). The randomness (backoff jitter) and every timer stay with the caller.

// Retry, NextAddress, NextUpstream, Compat and Plaintext make one more attempt; Defer and
// Reject end the route and answer the client (route_failure_reply).
enum class StepKind { Retry, NextAddress, NextUpstream, Compat, Plaintext, Defer, Reject };

struct RouteStep {
  StepKind kind = StepKind::Defer;
  int retry = 0;  // Retry: which retry of the current address this is, from 1 (backoff_base)
  friend bool operator==(const RouteStep&, const RouteStep&) = default;
};

// The attempt record's policy_step for the attempt a step leads to: "retry:2",
// "next-address", "next-upstream", "compat", "plaintext"; "defer", "reject" end the route.
std::string to_string(const RouteStep& step);

// Whether the step makes another attempt (false for Defer and Reject).
bool moves_on(StepKind kind);

// Where the route stands after the failed attempt: what has been tried.
struct RouteCursor {
  std::size_t upstream = 0;   // index into the route's upstream order (held-down ones last)
  std::size_t upstreams = 0;  // how many upstreams that order has
  std::size_t address = 0;    // index into the current upstream's known addresses
  std::size_t addresses = 0;  // known addresses: 0 until a DNS answer gave more than one
  int retries = 0;            // retries done on this address with this profile
  bool compat = false;        // the attempt used the compat profile
  bool plaintext = false;     // the attempt went without TLS
  friend bool operator==(const RouteCursor&, const RouteCursor&) = default;
};

// What the policy needs to know of the current upstream.
struct UpstreamTraits {
  bool has_compat = false;       // a compat profile whose context was made
  bool allow_plaintext = false;  // allow_plaintext = true
  bool has_credentials = false;  // auth_user: credentials never travel in clear
  TlsMode tls_mode = TlsMode::Starttls;
};

// What the message asks of every hop.
struct MessageNeeds {
  bool require_tls = false;  // REQUIRETLS (RFC 8689): never compat, never plaintext
};

// After a failed attempt at `at`: Defer when the deadline is spent (whatever the rule says);
// else the first action of `rule` that still applies — retry:N while fewer than N retries
// were done on this address, next-address while one is left, next-upstream while one is
// left, compat once where the upstream has a compat profile, plaintext once where the
// upstream allows it, has no credentials and uses TLS; neither compat nor plaintext for a
// REQUIRETLS message; defer and reject always apply. Defer when no action applies.
RouteStep next_step(const std::vector<config::Action>& rule, const RouteCursor& at,
                    const UpstreamTraits& upstream, const MessageNeeds& message,
                    bool deadline_spent);

// The same with the effective rule (config::effective_rule) for the failure's class.
RouteStep next_step(const config::PolicySettings& policy, FailureClass failed,
                    const RouteCursor& at, const UpstreamTraits& upstream,
                    const MessageNeeds& message, bool deadline_spent);

// The cursor for the attempt a step leads to: a retry counts against the address; the next
// address, compat or plaintext starts the count again (and keeps the profile in use); the
// next upstream starts afresh (normal profile, addresses unknown). Defer and Reject leave
// it as it is.
RouteCursor advance(const RouteCursor& at, const RouteStep& step);

// The wait before retry `retry` (from 1) of an address, before the caller's jitter:
// backoff_s's entry for it, the last one repeating; zero when backoff_s is empty.
config::Duration backoff_base(const config::PolicySettings& policy, int retry);

// What the client is told when no route opened: 451 4.3.5 when no upstream is configured
// (no attempt at all); else the deferral naming every upstream tried (replies.hpp) with the
// number of attempts (one per failure) and of upstreams tried, made a 554 5.7.x when the
// route ended with Reject. `txn`: the transaction id, for the reply.
Reply route_failure_reply(const std::vector<FailedAttempt>& failures, int upstreams_tried,
                          StepKind ending, std::string_view txn = {});

// ---- replaying a transaction whose upstream was lost -----------------------------------

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
