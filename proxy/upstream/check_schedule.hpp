// When the route checker (route_checker.hpp) checks an upstream address: the pure part of
// its schedule. A route is due once it has gone `interval` without an attempt (mail or
// check), the interval jittered by ±10% so that the checks of many routes (and of many
// relays in front of one smarthost) spread out instead of arriving together. A route never
// tried yet is due soon after the start, between 5% and 15% of the interval (15 to 45 s
// of the default 300 s): known well within one interval, yet not in the seconds in which
// the relay starts and takes its first mail, which tries the route anyway.
//
// The jitter is a fixed function of the seed, the route and its last activity, so asking
// twice gives the same answer and a unit test can give a seed. Pure: the caller passes
// every time; no I/O, no clock. Not thread-safe (no state but the seed).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "proxy/upstream/route_health.hpp"

namespace tlsrelay::proxy {

class CheckSchedule {
 public:
  static constexpr double kJitter = 0.1;               // ±10% of the interval
  static constexpr double kFirstCheckEarliest = 0.05;  // of the interval, after the start
  static constexpr double kFirstCheckLatest = 0.15;

  explicit CheckSchedule(std::uint64_t seed) : seed_(seed) {}

  // When `route` (any stable key, e.g. "upstream address") is next due, given its last
  // activity (nullopt: none since the start). `interval` must be positive.
  SysClock::time_point due(std::string_view route,
                           std::optional<SysClock::time_point> last_activity,
                           SysClock::time_point started, std::chrono::milliseconds interval) const;

  // A number in [0, 1), fixed for (seed, route, when).
  double fraction(std::string_view route, std::int64_t when) const;

 private:
  std::uint64_t seed_;
};

}  // namespace tlsrelay::proxy
