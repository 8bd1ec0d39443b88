// Times as we write them, in UTC, in one place: RFC 3339 with milliseconds for records and
// log lines, RFC 3339 to the second for headers and documents, and a form for people in
// hints ("2026-11-01 00:00:00 UTC"). Pure; thread-safe (gmtime_r).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tlsrelay {

// "2026-11-29T10:00:00.123Z"
std::string iso8601_millis(std::chrono::system_clock::time_point t);
// "2026-11-29T10:00:00Z"
std::string iso8601_seconds(std::int64_t epoch_seconds);
std::string iso8601_seconds(std::chrono::system_clock::time_point t);
// "2026-11-29 10:00:00 UTC"
std::string utc_readable(std::int64_t epoch_seconds);

}  // namespace tlsrelay
