// The milter's log: one event a line on stderr, "TIME tlsrelay-milter[PID]: key=value ...",
// as the relay writes its own (proxy/event_log.hpp's log_line), session id first.
//
// Values from outside (peer text, MTA macros) must go through header_text.hpp's
// printable()/param_value() before they are put in `text`. Thread-safe: one mutex, whole
// lines.
#pragma once

#include <string>

namespace tlsrelay::milter {

void log_line(const std::string& session, const std::string& text);

}  // namespace tlsrelay::milter
