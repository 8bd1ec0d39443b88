#include "common/time_format.hpp"

#include <cstdio>
#include <ctime>

namespace tlsrelay {

namespace {

std::string formatted(std::int64_t epoch_seconds, const char* format) {
  const std::time_t t = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}

}  // namespace

std::string iso8601_millis(std::chrono::system_clock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  // Floor, also before 1970: the second a time belongs to, then its milliseconds.
  const std::int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>(ms - secs * 1000));
  return formatted(secs, "%Y-%m-%dT%H:%M:%S") + millis;
}

std::string iso8601_seconds(std::int64_t epoch_seconds) {
  return formatted(epoch_seconds, "%Y-%m-%dT%H:%M:%SZ");
}

std::string iso8601_seconds(std::chrono::system_clock::time_point t) {
  return iso8601_seconds(std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count());
}

std::string utc_readable(std::int64_t epoch_seconds) {
  return formatted(epoch_seconds, "%Y-%m-%d %H:%M:%S UTC");
}

}  // namespace tlsrelay
