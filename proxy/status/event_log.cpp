#include "proxy/status/event_log.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <stdexcept>

#include "common/text.hpp"
#include "tls/attempt_record.hpp"

namespace tlsrelay::proxy {

namespace {

std::FILE* open_log(const std::string& path, std::string& error) {
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (!f) error = "cannot open event log " + path + ": " + std::strerror(errno);
  return f;
}

}  // namespace

EventLog::EventLog(const std::string& path) : path_(path) {
  if (path.empty()) return;
  if (path == "-") {
    file_ = stdout;
    is_stdout_ = true;
  } else {
    std::string error;
    file_ = open_log(path, error);
    if (!file_) throw std::runtime_error(error);
  }
  writer_ = std::thread([this] { writer_loop(); });
}

EventLog::~EventLog() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (file_ && !is_stdout_) std::fclose(file_);
}

void EventLog::record(const nlohmann::ordered_json& attempt) {
  if (!file_) return;
  std::string line = attempt.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line += '\n';
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= kMaxQueuedLines) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(line));
  }
  wake_.notify_one();
}

void EventLog::writer_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty() && stop_) return;
    std::deque<std::string> batch;
    batch.swap(queue_);
    writing_ = true;
    std::FILE* f = file_;
    lock.unlock();
    for (const std::string& line : batch) std::fwrite(line.data(), 1, line.size(), f);
    std::fflush(f);
    lock.lock();
    writing_ = false;
    drained_.notify_all();
  }
}

void EventLog::flush() {
  if (!file_) return;
  std::unique_lock lock(mutex_);
  drained_.wait(lock, [this] { return queue_.empty() && !writing_; });
}

std::uint64_t EventLog::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

std::string EventLog::reopen() {
  if (path_.empty() || is_stdout_) return "";
  std::string error;
  std::FILE* fresh = open_log(path_, error);
  if (!fresh) return error;
  std::unique_lock lock(mutex_);
  // The writer holds the old FILE only while it is writing a batch, outside the lock.
  drained_.wait(lock, [this] { return !writing_; });
  if (file_) std::fclose(file_);
  file_ = fresh;
  return "";
}

}  // namespace tlsrelay::proxy
