#include "proxy/upstream/check_schedule.hpp"

#include <algorithm>

namespace tlsrelay::proxy {

namespace {

// SplitMix64's finaliser: a well-mixed 64-bit value from any 64-bit input.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

double CheckSchedule::fraction(std::string_view route, std::int64_t when) const {
  std::uint64_t h = mix(seed_);
  for (unsigned char c : route) h = mix(h ^ c);
  h = mix(h ^ static_cast<std::uint64_t>(when));
  return static_cast<double>(h >> 11) / 9007199254740992.0;  // 53 bits into [0, 1)
}

SysClock::time_point CheckSchedule::due(std::string_view route,
                                        std::optional<SysClock::time_point> last_activity,
                                        SysClock::time_point started,
                                        std::chrono::milliseconds interval) const {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  if (!last_activity) {
    // Spread, so that a relay with many upstreams does not open them all in one instant.
    const double f = fraction(route, started.time_since_epoch().count());
    const double share = kFirstCheckEarliest + (kFirstCheckLatest - kFirstCheckEarliest) * f;
    return started + duration_cast<SysClock::duration>(milliseconds(static_cast<milliseconds::rep>(
                         static_cast<double>(interval.count()) * share)));
  }
  const double f = fraction(route, last_activity->time_since_epoch().count());
  const double factor = 1.0 - kJitter + 2 * kJitter * f;
  return *last_activity +
         duration_cast<SysClock::duration>(milliseconds(
             static_cast<milliseconds::rep>(static_cast<double>(interval.count()) * factor)));
}

}  // namespace tlsrelay::proxy
