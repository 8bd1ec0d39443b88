#include "milter/fail_open_log.hpp"

#include "milter/header_text.hpp"

namespace tlsrelay::milter {

FailOpenLog::FailOpenLog(Clock::duration interval) : interval_(interval) {}

std::optional<std::string> FailOpenLog::record(std::string_view problem, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  ++total_;
  ++since_line_;
  in_outage_ = true;
  if (logged_once_ && now - last_line_ < interval_) return std::nullopt;
  logged_once_ = true;
  last_line_ = now;
  std::string line = "event=fail-open reason=" + param_value(printable(problem, 200)) +
                     " accepted_since_last_line=" + std::to_string(since_line_) +
                     " fail_open_total=" + std::to_string(total_) + " action=accept";
  since_line_ = 0;
  return line;
}

std::optional<std::string> FailOpenLog::recovered(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (!in_outage_) return std::nullopt;
  in_outage_ = false;
  std::string line =
      "event=status-recovered accepted_since_last_line=" + std::to_string(since_line_) +
      " fail_open_total=" + std::to_string(total_);
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
