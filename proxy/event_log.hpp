// The event log: one attempt record (JSON, ../shared/spec/interfaces.md) per line, appended
// to [log] events, plus the daemon's own key=value log lines on stderr.
//
// Thread-safe (one mutex); every line is written whole and flushed, so a crash loses no
// finished record. Peer text inside log lines is escaped and truncated by the caller.
#pragma once

#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace tlsrelay::proxy {

class EventLog {
 public:
  // path "" disables the JSON log. Throws std::runtime_error when it cannot be opened.
  explicit EventLog(const std::string& path);
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  void record(const nlohmann::ordered_json& attempt);
  // Closes and opens the file again (SIGUSR1, after logrotate moved it). On failure the old
  // file stays in use and the reason is returned; "" on success.
  std::string reopen();

 private:
  std::mutex mutex_;
  std::string path_;
  std::FILE* file_ = nullptr;
};

// One key=value line on stderr: "2026-11-29T10:00:00.123Z tlsrelay[pid]: session=ID ...".
void log_line(const std::string& session, const std::string& text);

}  // namespace tlsrelay::proxy
