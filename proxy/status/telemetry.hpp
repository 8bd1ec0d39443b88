// What the relay knows about its own traffic, in one place: the event log, route health,
// metrics and the last attempt records. Sessions report each upstream attempt and each
// transaction's end here; /status, /metrics and the status page read it.
//
// Thread-safe: sessions on every thread report here and the status server reads. One mutex
// guards route health, metrics, certificate expiry, the recent records and the timeline;
// the getters hand them out as Locked (common/locked.hpp), and read() shows them all at
// once for a consistent document. The event log has its own (lock order: ours, then its);
// nothing is written to stderr under ours.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/locked.hpp"
#include "common/log.hpp"
#include "proxy/status/certificate_expiry.hpp"
#include "proxy/status/event_log.hpp"
#include "proxy/status/metrics.hpp"
#include "proxy/upstream/attempt_sink.hpp"
#include "proxy/upstream/route_health.hpp"
#include "tls/attempt.hpp"
#include "tls/classifier.hpp"

namespace tlsrelay::proxy {

// One attempt on the status page's timeline.
struct TimelineEntry {
  SysClock::time_point at;
  std::string upstream;
  FailureClass cls = FailureClass::Ok;
};

// Everything Telemetry keeps, as read() shows it.
struct TelemetryView {
  const RouteHealth& health;
  const CertificateExpiry& certificates;
  const Metrics& metrics;
  const std::deque<nlohmann::ordered_json>& recent;  // the last attempt records
  const std::deque<TimelineEntry>& timeline;         // the last hour's attempts, oldest first
  SysClock::time_point started;
};

class Telemetry : public AttemptSink {
 public:
  static constexpr std::size_t kRecentRecords = 50;
  static constexpr std::size_t kTimelineEntries = 20000;  // within the last hour

  Telemetry(const std::string& event_log_path, std::chrono::milliseconds hold_down,
            std::vector<int> certificate_warn_days = {30, 14, 7, 1});

  // One upstream attempt, with its record (already carrying the transaction id).
  void attempt(const tls::AttemptFacts& facts, const tls::Verdict& verdict,
               const nlohmann::ordered_json& record) override;
  // One route check: route health, the event log and the certificate's expiry as above;
  // its own metric series; not in recent() or timeline(), which are the mail's.
  void check(const tls::AttemptFacts& facts, const tls::Verdict& verdict,
             const nlohmann::ordered_json& record) override;
  // Our own certificate ([proxy] tls_cert) at start and each reload; nullopt: none.
  void own_certificate(std::optional<std::int64_t> not_after);

  EventLog& events() { return *events_; }  // thread-safe itself
  Locked<RouteHealth> health() { return {mutex_, health_}; }
  Locked<const RouteHealth> health() const override { return {mutex_, health_}; }
  Locked<Metrics> metrics() { return {mutex_, metrics_}; }
  Locked<CertificateExpiry> certificates() { return {mutex_, certificates_}; }
  // Calls `f(const TelemetryView&)` under the lock and returns what it returns.
  template <class F>
  auto read(F&& f) const {
    std::lock_guard lock(mutex_);
    return f(TelemetryView{health_, certificates_, metrics_, recent_, timeline_, started_});
  }

 private:
  // Route health, the certificate's expiry and the event log: what a check and an attempt
  // both feed. Returns `record` as logged: it may have gained an "expiry_warning".
  // Under the lock; an expiry warning's stderr line comes back in `warning`, to be written
  // after it.
  nlohmann::ordered_json observe(const tls::AttemptFacts& facts, const tls::Verdict& verdict,
                                 nlohmann::ordered_json record, SysClock::time_point now,
                                 std::optional<LogFields>& warning);

  std::unique_ptr<EventLog> events_;
  mutable std::mutex mutex_;  // everything below but started_
  RouteHealth health_;
  CertificateExpiry certificates_;
  Metrics metrics_;
  std::deque<nlohmann::ordered_json> recent_;
  std::deque<TimelineEntry> timeline_;
  SysClock::time_point started_ = SysClock::now();
};

}  // namespace tlsrelay::proxy
