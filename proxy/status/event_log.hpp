// The event log: one attempt record (JSON, ../shared/spec/interfaces.md) per line, appended
// to [log] events ("-" for standard output, e.g. under systemd's journal). The daemon's own
// key=value lines on stderr are common/log.hpp.
//
// Never blocks the data path: record() only queues the line; a writer thread appends and
// flushes it, so a slow disk delays the log, not the mail. The queue is bounded
// (kMaxQueuedLines); beyond it lines are dropped and counted (dropped()), never the mail.
// Thread-safe. The destructor writes what is queued before it returns.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>

#include "common/log.hpp"

namespace tlsrelay::proxy {

class EventLog {
 public:
  static constexpr std::size_t kMaxQueuedLines = 100000;

  // path "" disables the JSON log. Throws std::runtime_error when it cannot be opened.
  explicit EventLog(const std::string& path);
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  void record(const nlohmann::ordered_json& attempt);
  // Closes and opens the file again (SIGUSR1, after logrotate moved it). On failure the old
  // file stays in use and the reason is returned; "" on success.
  std::string reopen();
  // Waits until every line queued so far is written (tests, shutdown).
  void flush();
  std::uint64_t dropped() const;

 private:
  void writer_loop();

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable drained_;
  std::deque<std::string> queue_;
  bool writing_ = false;
  bool stop_ = false;
  std::uint64_t dropped_ = 0;
  std::string path_;
  std::FILE* file_ = nullptr;
  bool is_stdout_ = false;
  std::thread writer_;
};

}  // namespace tlsrelay::proxy
