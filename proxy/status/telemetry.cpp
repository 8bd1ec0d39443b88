#include "proxy/status/telemetry.hpp"

#include <cmath>

#include "common/log.hpp"
#include "common/time_format.hpp"

namespace tlsrelay::proxy {

namespace {

// The stderr line of an expiry warning (the event log carries the same in the record). Made
// under the lock, written after it: a stalled stderr must not hold every thread's reports.
LogFields expiry_line(const std::string& upstream, const std::string& address, int threshold,
                      std::int64_t not_after, SysClock::time_point now) {
  const auto left = static_cast<std::int64_t>(std::floor(days_left(not_after, now)));
  LogFields f("certificate-expiry");
  f.add("upstream", upstream);
  if (!address.empty()) f.add("address", address);
  f.add("threshold_days", static_cast<std::uint64_t>(threshold));
  f.add("days_left", left < 0 ? std::string("expired") : std::to_string(left));
  f.add("not_after", iso8601_seconds(not_after));
  return f;
}

}  // namespace

Telemetry::Telemetry(const std::string& event_log_path, std::chrono::milliseconds hold_down,
                     std::vector<int> certificate_warn_days)
    : events_(std::make_unique<EventLog>(event_log_path)),
      health_(hold_down),
      certificates_(std::move(certificate_warn_days)) {}

nlohmann::ordered_json Telemetry::observe(const tls::AttemptFacts& facts,
                                          const tls::Verdict& verdict,
                                          nlohmann::ordered_json record, SysClock::time_point now,
                                          std::optional<LogFields>& warning) {
  record["expiry_warning"] = nullptr;  // absent facts are null, never missing keys
  if (const auto not_after = earliest_not_after(facts.certificate.chain)) {
    const std::string& address = facts.network.address;
    if (auto warn = certificates_.record(facts.upstream.name, address, *not_after, now)) {
      warning = expiry_line(facts.upstream.name, address, *warn, *not_after, now);
      record["expiry_warning"] = {
          {"threshold_days", *warn},
          {"days_left", static_cast<std::int64_t>(std::floor(days_left(*not_after, now)))},
          {"not_after", iso8601_seconds(*not_after)}};
    }
  }
  events_->record(record);

  AttemptOutcome o;
  o.upstream = facts.upstream.name;
  o.address = facts.network.address;
  o.cls = verdict.cls;
  o.transient = verdict.transient;
  o.hint = verdict.hint;
  // From the connector's positive evidence only (attempt.hpp), never from "it finished".
  o.verified_tls = facts.certificate.verified;
  if (facts.upstream.connect_address.empty()) o.resolved = facts.network.addresses;
  if (health_.record(o, now)) metrics_.incident(o.upstream, o.cls);
  return record;
}

void Telemetry::attempt(const tls::AttemptFacts& facts, const tls::Verdict& verdict,
                        const nlohmann::ordered_json& record) {
  const auto now = SysClock::now();
  std::optional<LogFields> warning;
  {
    std::lock_guard lock(mutex_);
    // recent holds the record exactly as the event log got it (with any expiry warning).
    recent_.push_back(observe(facts, verdict, record, now, warning));
    if (recent_.size() > kRecentRecords) recent_.pop_front();
    metrics_.attempt(facts, verdict);
    timeline_.push_back({now, facts.upstream.name, verdict.cls});
    while (!timeline_.empty() && (timeline_.size() > kTimelineEntries ||
                                  now - timeline_.front().at > std::chrono::hours(1))) {
      timeline_.pop_front();
    }
  }
  if (warning) log_line("", *warning);
}

void Telemetry::check(const tls::AttemptFacts& facts, const tls::Verdict& verdict,
                      const nlohmann::ordered_json& record) {
  std::optional<LogFields> warning;
  {
    std::lock_guard lock(mutex_);
    observe(facts, verdict, record, SysClock::now(), warning);
    metrics_.check(facts, verdict);
  }
  if (warning) log_line("", *warning);
}

void Telemetry::own_certificate(std::optional<std::int64_t> not_after) {
  const auto now = SysClock::now();
  std::optional<int> warn;
  {
    std::lock_guard lock(mutex_);
    warn = certificates_.record_own(not_after, now);
  }
  if (warn) log_line("", expiry_line("(proxy tls_cert)", "", *warn, *not_after, now));
}

}  // namespace tlsrelay::proxy
