// The daemons' own log: one event a line on stderr (the journal under systemd),
// "2026-11-29T10:00:00.123Z tlsrelay[PID]: session=ID event=NAME key=value ...", as
// STYLE.md asks. Lines are built from LogFields so that nothing from outside can forge a
// pair: every value goes through log_value() (escaped, cut, and quoted unless a plain
// token); keys are ours, literal. Thread-safe: one mutex, whole lines.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tlsrelay {

class LogFields {
 public:
  explicit LogFields(std::string_view event) { add("event", event); }
  LogFields& add(std::string_view key, std::string_view value);
  LogFields& add(std::string_view key, std::uint64_t number);
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// The pairs of a line's key=value text (what LogFields::text() wrote, or a whole log line
// from its first key on), in order; a quoted value loses its quotes, and a backslash in it
// takes the next character as it is (so text without control characters reads back as it
// was given). For readers of our own logs; a word without "=" ends the reading.
std::vector<std::pair<std::string, std::string>> parse_log_fields(std::string_view text);

// The program name in every line ("tlsrelay" unless set, once, at start-up).
void set_log_program(std::string_view name);
void log_line(const std::string& session, const LogFields& fields);

}  // namespace tlsrelay
