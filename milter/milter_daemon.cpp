#include "milter/milter_daemon.hpp"

#include <libmilter/mfapi.h>
#include <signal.h>

#include <iostream>

#include "milter/header_text.hpp"
#include "milter/log.hpp"
#include "milter/milter_session.hpp"

namespace tlsrelay::milter {

int run_milter(const config::MilterSettings& settings) {
  signal(SIGPIPE, SIG_IGN);
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(settings.timeout);
  StatusCache cache(
      [&settings, timeout] {
        return fetch_status(settings.status_host, settings.status_port, settings.status_target,
                            timeout);
      },
      settings.cache);
  FailOpenLog fail_open;
  static MilterRuntime runtime;  // libmilter's callbacks may run until smfi_main returns
  runtime.settings = settings;
  runtime.cache = &cache;
  runtime.fail_open = &fail_open;
  set_milter_runtime(&runtime);

  smfiDesc desc = milter_description();
  const std::string socket = *settings.socket;
  if (smfi_register(desc) != MI_SUCCESS) {
    std::cerr << "tlsrelay-milter: smfi_register failed\n";
    return 1;
  }
  if (smfi_setconn(const_cast<char*>(socket.c_str())) != MI_SUCCESS) {
    std::cerr << "tlsrelay-milter: cannot use socket " << socket << "\n";
    return 1;
  }
  // true: remove a stale UNIX socket left by an earlier run.
  if (smfi_opensocket(true) != MI_SUCCESS) {
    std::cerr << "tlsrelay-milter: cannot open socket " << socket
              << " (in use, or no permission?)\n";
    return 1;
  }
  std::cout << "listening " << socket << std::endl;
  log_line("", "event=listening socket=" + param_value(socket) +
                   " status_url=" + param_value(*settings.status_url) +
                   " policy=" + std::string(config::to_string(settings.policy)) +
                   " cache_ms=" + std::to_string(settings.cache.count()) +
                   " timeout_ms=" + std::to_string(settings.timeout.count()));
  const int rc = smfi_main();
  log_line("", "event=stopped messages=" + std::to_string(runtime.messages.load()) +
                   " status_fetches=" + std::to_string(cache.fetches()) +
                   " fail_open_total=" + std::to_string(fail_open.total()));
  set_milter_runtime(nullptr);
  return rc == MI_SUCCESS ? 0 : 1;
}

}  // namespace tlsrelay::milter
