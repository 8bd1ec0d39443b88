#include "proxy/status/telemetry.hpp"

namespace tlsrelay::proxy {

Telemetry::Telemetry(const std::string& event_log_path, std::chrono::milliseconds hold_down)
    : events_(std::make_unique<EventLog>(event_log_path)), health_(hold_down) {}

void Telemetry::attempt(const tls::AttemptFacts& facts, const tls::Verdict& verdict,
                        const nlohmann::ordered_json& record) {
  events_->record(record);
  recent_.push_back(record);
  if (recent_.size() > kRecentRecords) recent_.pop_front();
  metrics_.attempt(facts, verdict);

  AttemptOutcome o;
  o.upstream = facts.upstream.name;
  o.address = facts.network.address;
  o.cls = verdict.cls;
  o.transient = verdict.transient;
  o.hint = verdict.hint;
  // From the connector's positive evidence only (attempt.hpp), never from "it finished".
  o.verified_tls = facts.certificate.verified;
  if (facts.upstream.connect_address.empty()) o.resolved = facts.network.addresses;
  const auto now = SysClock::now();
  if (health_.record(o, now)) metrics_.incident(o.upstream, o.cls);
  timeline_.push_back({now, facts.upstream.name, verdict.cls});
  while (!timeline_.empty() && (timeline_.size() > kTimelineEntries ||
                                now - timeline_.front().at > std::chrono::hours(1))) {
    timeline_.pop_front();
  }
}

}  // namespace tlsrelay::proxy
