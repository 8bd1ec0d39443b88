// Every reply we write ourselves when something is not the upstream's or a syntax error's
// to say: deferrals that name the failure class, losses of the upstream, the session's own
// 421s, and the few positive replies of the relay (354, a BDAT chunk's 250). One place, so
// that a reader finds what the client can be told, and no reply code is invented elsewhere
// (STYLE.md "Failure policy in one place"; Postfix's smtp_trouble.c).
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/recurrence.hpp"
#include "common/smtp_reply.hpp"
#include "tls/attempt.hpp"
#include "tls/classifier.hpp"

namespace tlsrelay::proxy {

// One upstream attempt that did not give a route, with its verdict.
struct FailedAttempt {
  tls::AttemptFacts facts;
  tls::Verdict verdict;
  // The route's (upstream and address) verdict by its incidents, this attempt included
  // (route_health.hpp); unset when route health did not count the attempt.
  std::optional<Recurrence> recurrence;
};

// RFC 3463 enhanced code for a deferral of this class: 4.4.1 no answer, 4.4.2 connection
// dropped, 4.4.3 DNS, 4.7.5 TLS/certificate, 4.7.0 STARTTLS/security (interfaces.md).
std::string deferral_enhanced_code(FailureClass c);

// "451 4.7.5 tlsrelay: gmail smtp.gmail.com[142.250.102.108]:587 certificate-expired:
// <hint>; tried 3 times over 2 upstreams" — the text Postfix shows in its queue.
Reply deferral_reply(const tls::AttemptFacts& last, const tls::Verdict& verdict, int attempts,
                     int upstreams);

// The deferral for a route that opened nowhere, naming every upstream tried (spec:
// "a deferral after attempts on more than one upstream names every upstream's class"), on
// one line of at most 480 octets that Postfix logs and shows in mailq whole:
//   one upstream:  "tlsrelay: gmail smtp.gmail.com[142.250.102.108]:587 certificate-expired:
//                   HINT; tried 3 times over 1 upstream; txn 1a.3"
//   several:       "tlsrelay: gmail certificate-expired (2 tries), backup connect-timeout;
//                   gmail smtp.gmail.com[142.250.102.108]:587: HINT; tried 3 times over 2
//                   upstreams; txn 1a.3"
// Most important first: an upstream whose last failure will not go away by itself (not
// transient: a certificate, TLS, AUTH or local problem) before one whose may, then in the
// order tried. The enhanced code and the hint are the most important one's. `txn` is the
// transaction id of the event log and the journal line ("" for none).
Reply deferral_reply(const std::vector<FailedAttempt>& failures, int upstreams,
                     std::string_view txn);

// The `reject` action: the same text as the deferral, as a permanent 5.7.x failure.
Reply rejection_reply(const Reply& deferral, const tls::Verdict& verdict);

// RFC 8689 4.2.1: a REQUIRETLS message the next hop cannot take with verified TLS.
Reply requiretls_reply(const std::string& upstream);

// The message needs an extension the upstream lacks (SMTPUTF8: RFC 6531 3.4 says 553 5.6.7;
// BINARYMIME: 554 5.6.3, it cannot be converted here).
Reply extension_missing_reply(const std::string& upstream, const std::string& extension);

// The upstream went away (or timed out) while `stage` ("MAIL FROM", "RCPT TO", "DATA",
// "end of DATA") was in progress. After the final dot this is the RFC 1047 window: the
// message may have been delivered, so the client must not take it as a hard failure.
Reply lost_upstream_reply(const std::string& upstream, const std::string& stage, FailureClass lost);

// A replay that did not take: the loss that started it, and what stopped it (before the
// transaction id, when `lost` ends with one).
Reply replay_failed_reply(const Reply& lost, const std::string& why);

// The upstream answered something that makes no sense at this point (e.g. 354 to RCPT).
Reply unexpected_reply(const std::string& upstream, const std::string& stage, const Reply& got);

// A reply of ours for a transaction, with "; txn ID" at the end of its text (the id of the
// event log and the journal line, so that one grep leads from the MTA's log to them); the
// text gives way to keep the line within 480 octets. Unchanged when `txn` is empty.
Reply with_txn(const Reply& ours, std::string_view txn);

// ---- what the session says on its own ------------------------------------------------

// 421 4.3.2: we are stopping; an idle client is told at once, one in a transaction after it.
Reply shutting_down_reply(const std::string& hostname);
// 421 4.7.0: the relay is full and this session waited longest without a transaction.
Reply evicted_reply(const std::string& hostname);
// 421 4.4.2: the client sent nothing (or not a whole line) within command_s / data_block_s.
Reply client_timeout_reply(const std::string& hostname);
// 421 4.4.2 `why`: the client went away mid-transaction (for the transaction log).
Reply abandoned_reply(const std::string& why);
// 421 4.3.4: a message past max_message_size that we will not read on; we close.
Reply too_big_closing_reply(const std::string& hostname);
// 354 after the upstream's 354 to DATA.
Reply go_ahead_reply();
// 250 2.0.0 to a BDAT chunk that is not LAST, once its lines are written upstream.
Reply chunk_accepted_reply(std::uint64_t octets);
// 451 4.3.5: the configuration has no upstream at all.
Reply no_upstream_reply();
// 554 5.7.1: a client outside allow_clients (never an open relay).
Reply client_refused_reply(const std::string& client);
// 421 4.7.0: past max_connection_rate_per_client.
Reply connection_rate_reply(const std::string& hostname, const std::string& client);
// 421 4.7.0: past max_connections_per_client or max_connections.
Reply connection_limit_reply(const std::string& hostname);

}  // namespace tlsrelay::proxy
