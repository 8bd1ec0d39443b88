// Event log of the test peer: one line per event on stderr, "testpeer key=value ...".
// Limits: peer text must go through quote() so a hostile client cannot forge log lines.
// Thread-safety: log_event() may be called from any thread; lines never interleave.
#pragma once

#include <string>
#include <string_view>

namespace tlsrelay::testpeer {

// Writes one line to stderr, prefixed with "testpeer ".
void log_event(std::string_view line);

// Quotes peer-controlled text for a log value: escapes control bytes, quotes and
// backslashes, and cuts it at max_len bytes (marking the cut with "...").
std::string quote(std::string_view text, std::size_t max_len = 200);

}  // namespace tlsrelay::testpeer
