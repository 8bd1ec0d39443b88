// Where `tlsrelay explain` reads its lines from (issue 20): log files, plain or gzip-compressed
// (rotated mail.log.2.gz), standard input, and the journal (`journalctl -o json`, run for the
// user). One reader for all of them: zlib reads plain input as it is and gzip as it unpacks,
// from a file or a pipe.
//
// Bounded whatever the input: lines longer than kMaxLogLine are cut there (the rest of the
// line is skipped and counted, never buffered), and a file read is a stream, so a 10 GB file
// costs the same memory as a small one. A truncated .gz ends its input with a clear message.
//
// Blocking; not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tlsrelay::proxy {

// The longest line handed on; a longer one is cut here (no MTA writes one: syslog's own
// limit is 8 KiB, the journal's MESSAGE is capped by LineMax = 48 KiB).
inline constexpr std::size_t kMaxLogLine = 64 * 1024;

// An input that cannot be opened or read at all: the message names it and says why.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct InputStats {
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;      // after decompression
  std::uint64_t cut_lines = 0;  // longer than kMaxLogLine
  std::uint64_t nul_bytes = 0;  // NULs in lines (replaced by spaces: not text)
};

class LineSource {
 public:
  virtual ~LineSource() = default;
  // The next line without its newline; false at the end. Throws InputError when the input
  // cannot be read on (a read error); a truncated .gz is the end, with warning() set.
  virtual bool next(std::string& line) = 0;
  // What the input is called in messages: the path, "standard input", "journalctl -o json".
  const std::string& name() const { return name_; }
  // Set when the input ended early but what was read stands (a truncated .gz).
  const std::string& warning() const { return warning_; }
  const InputStats& stats() const { return stats_; }

 protected:
  std::string name_;
  std::string warning_;
  InputStats stats_;
};

// PATH ("-" is standard input), plain or gzip. Throws InputError naming the path and the
// reason (no such file, permission denied, a directory).
std::unique_ptr<LineSource> open_log(const std::string& path);

// `journalctl -o json --no-pager [-u UNIT] [--since S] [--until U]`: the journal as JSON
// objects, one per line (log_line reads them). Throws InputError when journalctl cannot be
// run; its exit status and stderr are checked when the input ends.
std::unique_ptr<LineSource> open_journal(const std::optional<std::string>& unit,
                                         const std::optional<std::string>& since,
                                         const std::optional<std::string>& until);

// The inputs when none is named: /var/log/mail.log (rsyslog's, Debian's default) and its
// rotations, oldest first, when it exists; otherwise empty (the caller reads the journal).
std::vector<std::string> default_mail_logs(const std::string& dir = "/var/log");

// --since/--until for log files, as journalctl(1) reads them: "2026-12-01",
// "2026-12-01 10:00[:00]", "2026-12-01T10:00:00[Z]", "today", "yesterday", "-2h", "-30m",
// "-7d". Local time unless it ends in Z. nullopt when the form is not one of those.
std::optional<std::int64_t> parse_time_arg(const std::string& text, std::int64_t now_unix);

}  // namespace tlsrelay::proxy
