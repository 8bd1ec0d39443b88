// `tlsrelay explain`'s log reader (issue 20): MTA log lines in, LogEvents out. It parses the
// syslog/journal/mainlog envelope (log_line.hpp), drops every line whose program is not an
// MTA's, tries the MTA's shapes (mta_shapes.hpp) and joins what Postfix and Sendmail write
// over several lines: "SSL_connect error to HOST[ADDR]:PORT: -1" is followed by one
// "warning: TLS library problem: error:..." line per OpenSSL error from the same pid; the
// event is held until that pid writes something else, 5 s of log time pass, or finish().
//
// Limits, whatever the input: a line longer than ReaderOptions::max_line (64 KiB) is cut
// there and counted (the caller must bound its own read: the reader never buffers a line);
// at most max_pending held events (the oldest is emitted when full); at most 4 library
// reasons joined to one event; every string in an event is printable() ASCII and bounded
// (host 255, address 64, queue id 32, stage 64, detail 300 octets). Unrecognised lines are
// counted and skipped, never an error.
//
// Not thread-safe: one reader per input stream.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/explain/log_event.hpp"
#include "proxy/explain/log_line.hpp"

namespace tlsrelay::explain {

struct ReaderOptions {
  std::int64_t now_unix = 0;  // the reference "now" for RFC 3164's missing year
  std::size_t max_line = 64 * 1024;
  std::size_t max_pending = 1024;
};

struct ReaderStats {
  std::uint64_t lines = 0;       // fed
  std::uint64_t recognised = 0;  // gave an event or joined one
  std::uint64_t skipped = 0;     // not a log line, not an MTA's, or no shape of ours
  std::uint64_t not_log = 0;     // of the skipped: none of the log line forms
  std::uint64_t cut = 0;         // longer than max_line, cut there
  std::uint64_t not_utf8 = 0;    // an MTA's message that is not valid UTF-8 (still read)
  std::uint64_t evicted = 0;     // held events emitted early because the table was full
  std::uint64_t events = 0;      // appended to `out`
};

class LogReader {
 public:
  explicit LogReader(ReaderOptions o);

  // One line (without its newline; a trailing CR is dropped); appends what it recognised.
  void feed(std::string_view line, std::vector<LogEvent>& out);
  // End of input: emits every held event, oldest first.
  void finish(std::vector<LogEvent>& out);
  const ReaderStats& stats() const { return stats_; }

 private:
  struct Held {
    LogEvent event;
    std::uint64_t order = 0;
    int reasons = 0;
    bool default_classes = false;  // still the opening line's guess
  };

  void emit(LogEvent&& e, std::vector<LogEvent>& out);
  void hold(std::uint64_t key, LogEvent&& e, bool default_classes, std::vector<LogEvent>& out);
  void release_older_than(std::int64_t unix_s, std::vector<LogEvent>& out);

  ReaderOptions opts_;
  LineParser parser_;
  ReaderStats stats_;
  std::string scratch_;
  std::uint64_t line_no_ = 0;
  std::uint64_t order_ = 0;
  std::int64_t last_sweep_ = 0;
  std::unordered_map<std::uint64_t, Held> held_;
};

// True when `s` is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
bool is_utf8(std::string_view s);

}  // namespace tlsrelay::explain
