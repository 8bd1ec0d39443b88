#include "proxy/event_log.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <stdexcept>

#include "tls/attempt_record.hpp"

namespace tlsrelay::proxy {

EventLog::EventLog(const std::string& path) : path_(path) {
  if (path.empty()) return;
  file_ = std::fopen(path.c_str(), "a");
  if (!file_) {
    throw std::runtime_error("cannot open event log " + path + ": " + std::strerror(errno));
  }
}

EventLog::~EventLog() {
  if (file_) std::fclose(file_);
}

void EventLog::record(const nlohmann::ordered_json& attempt) {
  if (!file_) return;
  std::string line = attempt.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line += '\n';
  std::lock_guard lock(mutex_);
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

std::string EventLog::reopen() {
  if (path_.empty()) return "";
  std::FILE* fresh = std::fopen(path_.c_str(), "a");
  if (!fresh) return "cannot open event log " + path_ + ": " + std::strerror(errno);
  std::lock_guard lock(mutex_);
  if (file_) std::fclose(file_);
  file_ = fresh;
  return "";
}

void log_line(const std::string& session, const std::string& text) {
  static std::mutex mutex;
  std::string line = tls::iso8601_millis(std::chrono::system_clock::now()) + " tlsrelay[" +
                     std::to_string(getpid()) +
                     "]: " + (session.empty() ? std::string() : "session=" + session + " ") + text +
                     "\n";
  std::lock_guard lock(mutex);
  std::cerr << line << std::flush;
}

}  // namespace tlsrelay::proxy
