// `tlsrelay serve --config PATH`: runs the relay daemon in the foreground until SIGTERM.
//
// Exit status: 0 after a clean shutdown, 1 when the config or a listen address is unusable,
// 2 on a usage error.
#pragma once

#include <string>
#include <vector>

namespace tlsrelay::proxy {

int serve_command(const std::vector<std::string>& args);
const char* serve_usage();

}  // namespace tlsrelay::proxy
