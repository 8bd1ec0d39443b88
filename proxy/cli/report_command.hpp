// `tlsrelay report [options] EVENTS.jsonl...`: the event log over a window, as a summary
// or an RFC 8460 aggregate report (proxy/status/report.hpp). Exit 0, 1 when a file cannot be
// read, 2 on a usage error.
//
// Several logs are one (issue 22, docs/scaling.md "The fleet view"): each argument is a file
// (plain or gzip, through explain's reader, lines bounded by kMaxLogLine), `-` for standard
// input, or a directory, which stands for the event logs in it (event_logs_in).
#pragma once

#include <string>
#include <vector>

namespace tlsrelay::proxy {

const char* report_usage();
int report_command(const std::vector<std::string>& args);

// The event logs in `dir`, by name: each regular file named NAME.jsonl and its rotations
// (NAME.jsonl.1, NAME.jsonl.2.gz, NAME.jsonl-20261207[.gz]); not subdirectories. Throws
// InputError (explain_input.hpp) when `dir` cannot be listed.
std::vector<std::string> event_logs_in(const std::string& dir);

}  // namespace tlsrelay::proxy
