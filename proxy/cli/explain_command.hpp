// `tlsrelay explain` (issue 20, docs/explain.md): reads the MTA's own log — files, rotated
// .gz files, standard input or the journal — and says for each TLS route that failed why it
// failed, whether it still fails (one probe per route, with the MTA's own TLS settings), and
// what to change. Works with no configuration, on a host that has never run tlsrelay.
//
// Exit status: 0 nothing to explain, 1 failures found, 2 bad usage or unreadable input.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace tlsrelay::proxy {

const char* explain_usage();
int explain_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace tlsrelay::proxy
