// `tlsrelay setup`: from nothing to a relay in front of the smarthost, for Postfix. Probes
// the route with the credentials, then writes tlsrelay.toml and the secret, points Postfix
// at the relay (postconf), starts the units and reloads Postfix; `--undo` puts Postfix's
// main.cf and master.cf back byte for byte.
//
// A dry run unless --apply: it prints what it would do and changes nothing. Exit status: 0
// done (or the dry run's plan), 1 refused with a one-line reason and nothing changed (a
// failing probe also prints the probe's report), 2 on a usage error. Not thread-safe;
// used once per process. The secret is never printed or logged.
#pragma once

#include <string>
#include <vector>

namespace tlsrelay::proxy {

int setup_command(const std::vector<std::string>& args);
const char* setup_usage();

}  // namespace tlsrelay::proxy
