#include "proxy/cli/serve_command.hpp"

#include <signal.h>
#include <sys/prctl.h>

#include <boost/asio/io_context.hpp>
#include <iostream>

#include "config/loader.hpp"
#include "proxy/cli/cli_args.hpp"
#include "proxy/server/relay_server.hpp"

namespace tlsrelay::proxy {

const char* serve_usage() {
  return "usage: tlsrelay serve --config PATH\n"
         "  runs the relay in the foreground; SIGHUP reloads the config, SIGTERM stops\n";
}

int serve_command(const std::vector<std::string>& args) {
  std::string path;
  try {
    ArgCursor c(args);
    while (!c.done()) {
      if (!c.is_option()) throw UsageError("unexpected argument \"" + c.peek() + "\"");
      if (c.option_name() == "config") {
        path = c.take_value();
      } else {
        throw UsageError("unknown option --" + c.option_name());
      }
    }
    if (path.empty()) throw UsageError("--config PATH is missing");
  } catch (const UsageError& e) {
    std::cerr << "tlsrelay serve: " << e.what() << "\n";
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  // The daemon reads passwords and tokens at each use: no core dump may carry them, and no
  // other process of the same user may read its memory (ptrace, /proc/PID/mem).
  prctl(PR_SET_DUMPABLE, 0);
  try {
    auto config = make_relay_config(config::load_settings(path));
    boost::asio::io_context io;
    RelayServer server(io, config, path);
    server.start();
    io.run();
    log_line("", LogFields("stopped"));
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "tlsrelay serve: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace tlsrelay::proxy
