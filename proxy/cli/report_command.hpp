// `tlsrelay report [options] EVENTS.jsonl...`: the event log over a window, as a summary
// or an RFC 8460 aggregate report (proxy/status/report.hpp). Exit 0, 1 when a file cannot be
// read, 2 on a usage error.
#pragma once

#include <string>
#include <vector>

namespace tlsrelay::proxy {

const char* report_usage();
int report_command(const std::vector<std::string>& args);

}  // namespace tlsrelay::proxy
