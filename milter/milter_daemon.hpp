// Running tlsrelay-milter: registering with libmilter, opening the socket, and serving
// until SIGTERM/SIGINT/SIGHUP (libmilter's own signal thread stops smfi_main()).
//
// Prints "listening SOCKET" on stdout once the socket accepts (for scripts and tests),
// then logs key=value lines on stderr. Call once per process: libmilter keeps global state.
#pragma once

#include "config/settings.hpp"

namespace tlsrelay::milter {

// `settings` must have socket and status_url (milter_command checks). Exit status: 0 after
// a clean stop, 1 when the socket cannot be opened or libmilter fails.
int run_milter(const config::MilterSettings& settings);

}  // namespace tlsrelay::milter
