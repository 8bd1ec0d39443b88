// Opening the upstream route for one transaction: try the configured upstreams in order
// through the tls/ engine, write every attempt record to the event log, and come back with
// an open upstream session or the deferral reply that names what failed.
//
// Runs on the calling session's executor; the config and event log are shared read-only /
// thread-safe.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>
#include <vector>

#include "proxy/event_log.hpp"
#include "proxy/relay_config.hpp"
#include "proxy/upstream_session.hpp"
#include "tls/classifier.hpp"

namespace tlsrelay::proxy {

struct FailedAttempt {
  tls::AttemptFacts facts;
  tls::Verdict verdict;
};

struct RouteResult {
  std::unique_ptr<UpstreamSession> session;  // set when a route is open
  std::vector<FailedAttempt> failures;       // attempts that failed before, oldest first
  tls::Reply failure_reply;                  // when no route could be opened
};

boost::asio::awaitable<RouteResult> open_route(std::shared_ptr<const RelayConfig> config,
                                               EventLog& events, std::string transaction_id);

}  // namespace tlsrelay::proxy
