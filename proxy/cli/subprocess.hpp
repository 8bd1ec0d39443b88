// Running another program from a subcommand (postconf, postfix, systemctl for `setup`):
// argv as given, never through a shell, its standard output and error captured.
//
// Blocking; no time-out (the programs run are local and short-lived, and an admin watches
// the command). Not thread-safe (fork).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tlsrelay::proxy {

struct ProgramResult {
  bool started = false;  // false: it could not be run at all (err says why)
  int exit_code = -1;    // -1 when it died by a signal
  std::string out;
  std::string err;
  bool ok() const { return started && exit_code == 0; }
  // The first line of err (else of out), for a one-line message.
  std::string first_line() const;
};

// The program's path: NAME searched in PATH, then in /usr/sbin, /sbin and /usr/local/sbin
// (Debian puts postconf and postfix there, and a non-root user's PATH lacks them).
std::optional<std::string> find_program(const std::string& name);

// argv[0] is a path or a name found with find_program. Standard input is /dev/null.
ProgramResult run_program(const std::vector<std::string>& argv);

}  // namespace tlsrelay::proxy
