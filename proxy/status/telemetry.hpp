// What the relay knows about its own traffic, in one place: the event log, route health,
// metrics and the last attempt records. Sessions report each upstream attempt and each
// transaction's end here; /status, /metrics and the status page read it.
//
// Not thread-safe apart from the event log: used on the relay's single thread.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

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

  EventLog& events() { return *events_; }
  RouteHealth& health() { return health_; }
  const RouteHealth& health() const override { return health_; }
  Metrics& metrics() { return metrics_; }
  const Metrics& metrics() const { return metrics_; }
  CertificateExpiry& certificates() { return certificates_; }
  const CertificateExpiry& certificates() const { return certificates_; }
  const std::deque<nlohmann::ordered_json>& recent() const { return recent_; }
  // The last hour's attempts, oldest first (pruned as attempts arrive).
  const std::deque<TimelineEntry>& timeline() const { return timeline_; }
  SysClock::time_point started() const { return started_; }

 private:
  // Route health, the certificate's expiry and the event log: what a check and an attempt
  // both feed. Returns `record` as logged: it may have gained an "expiry_warning".
  nlohmann::ordered_json observe(const tls::AttemptFacts& facts, const tls::Verdict& verdict,
                                 nlohmann::ordered_json record, SysClock::time_point now);

  std::unique_ptr<EventLog> events_;
  RouteHealth health_;
  CertificateExpiry certificates_;
  Metrics metrics_;
  std::deque<nlohmann::ordered_json> recent_;
  std::deque<TimelineEntry> timeline_;
  SysClock::time_point started_ = SysClock::now();
};

}  // namespace tlsrelay::proxy
