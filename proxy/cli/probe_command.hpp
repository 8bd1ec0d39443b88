// `tlsrelay probe`: one upstream attempt from the command line, printed as a human
// transcript or as one JSON attempt record (../shared/spec/interfaces.md).
//
// Exit status: 0 when the attempt ended ok, 1 for any other class, 2 on a usage error.
#pragma once

#include <string>
#include <vector>

namespace tlsrelay::proxy {

int probe_command(const std::vector<std::string>& args);
const char* probe_usage();

}  // namespace tlsrelay::proxy
