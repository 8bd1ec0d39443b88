// Certificate expiry, before it bites: per upstream address the earliest notAfter of the
// chain it last sent, and our own [proxy] tls_cert's, with the warning thresholds of
// [health] certificate_warn_days (default 30, 14, 7, 1 days). One warning per threshold
// crossed per route: a certificate first seen with 5 days left gives the 7-day warning
// (not 30 and 14 as well), later the 1-day one; a renewed certificate (another notAfter)
// starts afresh. What /metrics, /status and the status page show (docs/monitoring.md).
//
// Pure bookkeeping: the caller passes the time. Bounded: at most kMaxEntries routes (the
// least recently seen go first). Not thread-safe itself: the relay's Telemetry holds it
// behind its mutex.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proxy/upstream/route_health.hpp"
#include "tls/attempt.hpp"

namespace tlsrelay::proxy {

// The threshold (days) to warn of now, for a certificate with `days_left`, when `warned`
// is the lowest threshold already warned of for it (nullopt: none): the lowest threshold
// that days_left has reached, if it is below `warned`; nullopt when there is nothing new.
// `thresholds` in any order.
std::optional<int> threshold_crossed(const std::vector<int>& thresholds, double days_left,
                                     std::optional<int> warned);

// The earliest notAfter (Unix time) of a chain; nullopt when it holds no certificate.
std::optional<std::int64_t> earliest_not_after(const std::vector<tls::CertFacts>& chain);

// Days from `now` to `not_after` (negative once expired).
double days_left(std::int64_t not_after, SysClock::time_point now);

class CertificateExpiry {
 public:
  static constexpr std::size_t kMaxEntries = 512;

  struct Entry {
    std::int64_t not_after = 0;
    std::optional<int> warned;  // the lowest threshold warned of for this notAfter
    SysClock::time_point seen;
  };

  explicit CertificateExpiry(std::vector<int> thresholds) : thresholds_(std::move(thresholds)) {}
  void set_thresholds(std::vector<int> t) { thresholds_ = std::move(t); }

  // A chain's earliest notAfter seen on (upstream, address) at `now`; returns the threshold
  // to warn of, when one is newly crossed.
  std::optional<int> record(const std::string& upstream, const std::string& address,
                            std::int64_t not_after, SysClock::time_point now);
  // Our own certificate ([proxy] tls_cert); nullopt not_after: there is none.
  std::optional<int> record_own(std::optional<std::int64_t> not_after, SysClock::time_point now);

  const Entry* find(const std::string& upstream, const std::string& address) const;
  const std::optional<Entry>& own() const { return own_; }

 private:
  std::optional<int> update(Entry& e, std::int64_t not_after, SysClock::time_point now);

  std::vector<int> thresholds_;
  std::map<std::pair<std::string, std::string>, Entry> entries_;
  std::optional<Entry> own_;
};

}  // namespace tlsrelay::proxy
