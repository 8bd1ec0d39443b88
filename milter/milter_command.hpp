// tlsrelay-milter's command line: `--config PATH` (run), `check-config PATH`, `--help`,
// `--version`. Like `tlsrelay`: a usage error is one line on stderr and exit status 2;
// configuration problems are FILE:LINE:COL lines and exit status 1.
//
// Not thread-safe; used once at start-up.
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "config/settings.hpp"

namespace tlsrelay::milter {

const char* milter_usage();

// Loads PATH and checks the [milter] section as the milter needs it: present, with socket
// and status_url. Throws config::ConfigError (FILE:LINE:COL lines).
config::MilterSettings load_milter_settings(const std::string& path);

// `run` is what --config does with the loaded settings (run_milter in production).
int milter_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                   const std::function<int(const config::MilterSettings&)>& run);

}  // namespace tlsrelay::milter
