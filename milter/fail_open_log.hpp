// Counting and rate-limiting the milter's fail-open events (a message accepted without a
// usable route status): the first one is logged at once, then at most one line per
// interval carrying how many happened meanwhile; the return of the status is logged once.
//
// Produces log lines; writing them is the caller's. Thread-safe: one mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/log.hpp"

namespace tlsrelay::milter {

class FailOpenLog {
 public:
  using Clock = std::chrono::steady_clock;
  explicit FailOpenLog(Clock::duration interval = std::chrono::minutes(1));

  // One message accepted without status; a log line when one is due.
  std::optional<LogFields> record(std::string_view problem, Clock::time_point now);
  // A status was read; a log line when fail-open events came before it.
  std::optional<LogFields> recovered(Clock::time_point now);
  std::uint64_t total() const;

 private:
  Clock::duration interval_;
  mutable std::mutex mutex_;
  std::uint64_t total_ = 0;
  std::uint64_t since_line_ = 0;  // counted since the last line written
  bool in_outage_ = false;
  bool logged_once_ = false;
  Clock::time_point last_line_;
};

}  // namespace tlsrelay::milter
