// The relay's route status shared by all milter threads: one reading is reused for
// `max_age`, so under load the relay sees at most one /status request per max_age, never
// one per message. Failed readings are cached the same way (a down relay is not hammered).
//
// Thread-safe: one mutex. The caller that finds the reading stale fetches while holding
// it; the others wait for that fetch (bounded by the fetch's own time-out) and share it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>

#include "milter/route_status.hpp"

namespace tlsrelay::milter {

class StatusCache {
 public:
  using Clock = std::chrono::steady_clock;
  using Fetch = std::function<StatusReading()>;
  using Now = std::function<Clock::time_point()>;

  StatusCache(Fetch fetch, Clock::duration max_age, Now now = &Clock::now);

  // The current reading: fetched now when none is younger than max_age.
  StatusReading get();
  // How many fetches were made (for tests and the exit log).
  std::uint64_t fetches() const;

 private:
  Fetch fetch_;
  Clock::duration max_age_;
  Now now_;
  mutable std::mutex mutex_;
  bool have_ = false;
  Clock::time_point fetched_at_;
  StatusReading reading_;
  std::uint64_t fetches_ = 0;
};

// The fetch used in production: http_get of the status URL, then parse_status_document.
StatusReading fetch_status(const std::string& host, std::uint16_t port, const std::string& target,
                           std::chrono::milliseconds timeout);

}  // namespace tlsrelay::milter
