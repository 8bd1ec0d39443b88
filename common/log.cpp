#include "common/log.hpp"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <mutex>

#include "common/text.hpp"
#include "common/time_format.hpp"

namespace tlsrelay {

namespace {

std::string& program() {
  static std::string name = "tlsrelay";
  return name;
}

}  // namespace

LogFields& LogFields::add(std::string_view key, std::string_view value) {
  if (!text_.empty()) text_ += ' ';
  text_ += key;
  text_ += '=';
  text_ += log_value(value);
  return *this;
}

LogFields& LogFields::add(std::string_view key, std::uint64_t number) {
  return add(key, std::to_string(number));
}

void set_log_program(std::string_view name) {
  program() = std::string(name);
}

void log_line(const std::string& session, const LogFields& fields) {
  static std::mutex mutex;
  const std::string line = iso8601_millis(std::chrono::system_clock::now()) + " " + program() +
                           "[" + std::to_string(getpid()) +
                           "]: " + (session.empty() ? std::string() : "session=" + session + " ") +
                           fields.text() + "\n";
  std::lock_guard lock(mutex);
  std::cerr << line << std::flush;
}

}  // namespace tlsrelay
