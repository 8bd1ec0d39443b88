#include "milter/milter_daemon.hpp"

#include <libmilter/mfapi.h>
#include <signal.h>

#include <iostream>

#include "common/log.hpp"
#include "milter/header_text.hpp"
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
  log_line("", LogFields("listening")
                   .add("socket", socket)
                   .add("status_url", *settings.status_url)
                   .add("policy", config::to_string(settings.policy))
                   .add("cache_ms", static_cast<std::uint64_t>(settings.cache.count()))
                   .add("timeout_ms", static_cast<std::uint64_t>(settings.timeout.count())));
  const int rc = smfi_main();
  log_line("", LogFields("stopped")
                   .add("messages", runtime.messages.load())
                   .add("status_fetches", cache.fetches())
                   .add("fail_open_total", fail_open.total()));
  set_milter_runtime(nullptr);
  return rc == MI_SUCCESS ? 0 : 1;
}

}  // namespace tlsrelay::milter
