// One log line into its parts: when, which host, which program and pid, and the message
// (issue 20). The syslog forms an MTA's log arrives in:
//   RFC 3164       "Dec  7 03:35:47 mta postfix/smtp[12091]: ..."  (no year, local time)
//   maillog_file   "Dec 07 03:35:47 mta postfix/smtp[12091]: ..."  (Postfix 3.7 postlogd:
//                  src/util/msg_logger.c strftime "%b %d %H:%M:%S ", zero-padded day)
//   rsyslog ISO    "2026-12-07T03:35:47.123456+00:00 mta postfix/smtp[12091]: ..."
//   journalctl     "2026-12-07T03:35:47+0000 mta postfix/smtp[12091]: ..." (-o short-iso,
//                  and -o short-iso-precise with ".123456")
//   RFC 5424       "<22>1 2026-12-07T03:35:47.123Z mta postfix/smtp 12091 - - ..."
//   journal JSON   one `journalctl -o json` object a line (MESSAGE as a string or an array
//                  of bytes, SYSLOG_IDENTIFIER, _PID/SYSLOG_PID, __REALTIME_TIMESTAMP,
//                  _HOSTNAME)
//   Exim mainlog   "2026-12-07 03:35:47 [1234] 1tJabc-000Abc-Xy ..." (Exim 4.96
//                  src/tod.c tod_log "%Y-%m-%d %H:%M:%S", optional ".ddd", " +zzzz" and
//                  "[pid] "; local time); program is "exim".
// Anything else is "not a log line" (false), never an error.
//
// Limits: the line is taken as given (the caller cuts it, see ReaderOptions); RFC 3164
// years are guessed so that the time is not later than `now` plus a day. Fields of the
// result are views into the line or into `scratch`; nothing is copied otherwise.
// Thread-safety: a LineParser holds a small time cache; one per thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/explain/log_event.hpp"

namespace tlsrelay::explain {

// The longest host name a log line may carry (a DNS name is at most 255 octets).
inline constexpr std::size_t kMaxHost = 255;

enum class LineForm { Rfc3164, Iso, Rfc5424, JournalJson, EximMainlog };

struct LogLine {
  LineForm form = LineForm::Rfc3164;
  LogTime time;
  std::string_view host;     // "" when the form carries none (Exim's mainlog)
  std::string_view program;  // "postfix/smtp", "exim", "sm-mta"
  std::int64_t pid = -1;     // -1 when not logged
  std::string_view message;  // the text after "program[pid]: "
};

class LineParser {
 public:
  // `now_unix`: the reference for RFC 3164's missing year (usually the time of the run).
  explicit LineParser(std::int64_t now_unix);

  // Recognises `line`; views in `out` point into `line` or `scratch` (JSON messages are
  // decoded there). False when the line has none of the forms above.
  bool parse(std::string_view line, LogLine& out, std::string& scratch);

  // Local time (the process's TZ) to seconds since the epoch; cached per hour because
  // mktime() is slow and log lines come in order.
  std::int64_t local_to_unix(int year, int month, int day, int hour, int minute, int second);

 private:
  bool parse_bsd(std::string_view line, LogLine& out);
  bool parse_iso(std::string_view line, LogLine& out);
  bool parse_5424(std::string_view line, LogLine& out);
  bool parse_json(std::string_view line, LogLine& out, std::string& scratch);
  bool parse_exim(std::string_view line, LogLine& out);

  std::int64_t now_;
  int now_year_;
  // The last hour converted by mktime(): key and its epoch.
  std::int64_t hour_key_ = -1;
  std::int64_t hour_epoch_ = 0;
};

// Days from 1970-01-01 to the civil date (proleptic Gregorian); no libc, no time zone.
std::int64_t days_from_civil(int year, int month, int day);

}  // namespace tlsrelay::explain
