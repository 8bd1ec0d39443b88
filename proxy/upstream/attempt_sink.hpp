// Where the upstream side reports each attempt, and where it reads route health from: the
// relay's telemetry (status/telemetry.hpp) implements it, so that upstream/ does not
// depend on status/ (the dependency goes the other way: status/ reads route health).
//
// Implementations are thread-safe: sessions on every thread report and read.
#pragma once

#include <nlohmann/json.hpp>

#include "common/locked.hpp"
#include "proxy/upstream/route_health.hpp"
#include "tls/attempt.hpp"
#include "tls/classifier.hpp"

namespace tlsrelay::proxy {

class AttemptSink {
 public:
  virtual ~AttemptSink() = default;
  // One upstream attempt, with its record (already carrying the transaction id).
  virtual void attempt(const tls::AttemptFacts& facts, const tls::Verdict& verdict,
                       const nlohmann::ordered_json& record) = 0;
  // One route check (route_checker.hpp): an attempt made without mail, counted apart from
  // the attempts above; its record carries "check": true.
  virtual void check(const tls::AttemptFacts& facts, const tls::Verdict& verdict,
                     const nlohmann::ordered_json& record) = 0;
  // Route health, locked while the result lives: for one expression, never across co_await.
  virtual Locked<const RouteHealth> health() const = 0;
};

}  // namespace tlsrelay::proxy
