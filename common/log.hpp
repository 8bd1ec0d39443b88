// The daemons' own log: one event a line on stderr (the journal under systemd),
// "2026-11-29T10:00:00.123Z tlsrelay[PID]: session=ID event=NAME key=value ...", as
// STYLE.md asks. Lines are built from LogFields so that nothing from outside can forge a
// pair: every value goes through log_value() (escaped, cut, and quoted unless a plain
// token); keys are ours, literal. Thread-safe: one mutex, whole lines.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

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

// The program name in every line ("tlsrelay" unless set, once, at start-up).
void set_log_program(std::string_view name);
void log_line(const std::string& session, const LogFields& fields);

}  // namespace tlsrelay
