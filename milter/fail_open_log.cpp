#include "milter/fail_open_log.hpp"

#include "milter/header_text.hpp"

namespace tlsrelay::milter {

FailOpenLog::FailOpenLog(Clock::duration interval) : interval_(interval) {}

std::optional<LogFields> FailOpenLog::record(std::string_view problem, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  ++total_;
  ++since_line_;
  in_outage_ = true;
  if (logged_once_ && now - last_line_ < interval_) return std::nullopt;
  logged_once_ = true;
  last_line_ = now;
  LogFields line("fail-open");
  line.add("reason", printable(problem, 200))
      .add("accepted_since_last_line", since_line_)
      .add("fail_open_total", total_)
      .add("action", "accept");
  since_line_ = 0;
  return line;
}

std::optional<LogFields> FailOpenLog::recovered(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (!in_outage_) return std::nullopt;
  in_outage_ = false;
  LogFields line("status-recovered");
  line.add("accepted_since_last_line", since_line_).add("fail_open_total", total_);
  since_line_ = 0;
  logged_once_ = false;  // the next outage is reported at once
  last_line_ = now;
  return line;
}

std::uint64_t FailOpenLog::total() const {
  std::lock_guard lock(mutex_);
  return total_;
}

}  // namespace tlsrelay::milter
