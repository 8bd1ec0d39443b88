// Opening the upstream route for one transaction: the executor of the failure policy. Tries
// the configured upstreams through the tls/ engine and, after each failure, carries out the
// step that policy/policy.hpp's next_step() takes from the effective rule for its class
// (retry with jittered backoff, next address, next upstream, compat profile, gated
// plaintext, defer, reject), all within one deadline. Every attempt is written to the event
// log with the transaction id and feeds route health; an upstream or address that route
// health holds down is tried after the others, never skipped. An idle pooled connection to
// the first upstream in that order is used before a new one.
//
// Runs on the calling session's executor (its thread's loop); the pool is that thread's, the
// telemetry is shared (AttemptSink implementations are thread-safe).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/policy/policy.hpp"
#include "proxy/upstream/attempt_sink.hpp"
#include "proxy/upstream/routes.hpp"
#include "proxy/upstream/upstream_pool.hpp"
#include "proxy/upstream/upstream_session.hpp"
#include "tls/classifier.hpp"

namespace tlsrelay::proxy {

struct RouteResult {
  std::unique_ptr<UpstreamSession> session;  // set when a route is open
  std::vector<FailedAttempt> failures;       // attempts that failed before, oldest first
  Reply failure_reply;                       // when no route could be opened
  bool pooled = false;                       // the session came idle from the pool
};

struct RouteRequest {
  std::string transaction_id;
  bool require_tls = false;  // REQUIRETLS (RFC 8689): verified TLS >= 1.2 on every attempt
  bool allow_pool = true;    // false: a pooled connection just turned out dead
  // When all tries for the message must have ended; unset: [policy] deadline_s from now.
  // A replay mid-transaction (server_session.cpp) gets what is left of the first one.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

// The upstream's credentials read from their file now (nullopt without auth_user); on a
// file that cannot be read, nullopt and `error` says why.
std::optional<tls::Credentials> read_credentials(const UpstreamConfig& u, std::string& error);

boost::asio::awaitable<RouteResult> open_route(std::shared_ptr<const Routes> routes,
                                               AttemptSink& sink, UpstreamPool& pool,
                                               const RouteRequest& request);

}  // namespace tlsrelay::proxy
