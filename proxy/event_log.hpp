// The event log: one attempt record (JSON, ../shared/spec/interfaces.md) per line, appended
// to [log] events ("-" for standard output, e.g. under systemd's journal), plus the
// daemon's own key=value log lines on stderr.
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

// One event's key=value pairs for log_line (STYLE.md "Logs"), built so that nothing from
// outside can forge a pair: every value goes through log_value() (escaped, cut, and
// quoted unless a plain token). Keys are ours, literal.
class LogFields {
 public:
  explicit LogFields(std::string_view event) { add("event", event); }
  LogFields& add(std::string_view key, std::string_view value);
  LogFields& add(std::string_view key, std::uint64_t number);
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// One key=value line on stderr: "2026-11-29T10:00:00.123Z tlsrelay[pid]: session=ID ...".
void log_line(const std::string& session, const LogFields& fields);

}  // namespace tlsrelay::proxy
