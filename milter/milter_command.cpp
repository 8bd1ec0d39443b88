#include "milter/milter_command.hpp"

#include <optional>

#include "config/config_error.hpp"
#include "config/loader.hpp"

namespace tlsrelay::milter {

const char* milter_usage() {
  return R"(usage: tlsrelay-milter --config PATH     run the milter in the foreground
       tlsrelay-milter check-config PATH  check the [milter] section of PATH
options: --help, --version
The [milter] section of the relay's TOML file sets the socket (e.g. "inet:10588@127.0.0.1"),
the relay's status_url and the policy for a failing route (accept, tempfail, hold).
Exit status: 0 after a clean stop (SIGTERM) or a valid configuration, 1 on a configuration
or start-up problem, 2 on a usage error.
)";
}

config::MilterSettings load_milter_settings(const std::string& path) {
  const config::Settings s = config::load_settings(path);
  if (!s.milter) {
    throw config::ConfigError(path +
                              ": no [milter] section: tlsrelay-milter needs its socket and "
                              "status_url there");
  }
  std::vector<std::string> problems;
  const std::string at = s.milter->at.to_string();
  if (!s.milter->socket) {
    problems.push_back(at + ": [milter] is missing the required key \"socket\"");
  }
  if (!s.milter->status_url) {
    problems.push_back(at + ": [milter] is missing the required key \"status_url\"");
  }
  if (!problems.empty()) throw config::ConfigError(std::move(problems));
  return *s.milter;
}

namespace {

constexpr const char* kVersion = TLSRELAY_MILTER_VERSION;

int usage_error(std::ostream& err, const std::string& why) {
  err << "tlsrelay-milter: " << why << "\n";
  return 2;
}

std::string summary(const config::MilterSettings& m) {
  return "socket " + *m.socket + ", status " + *m.status_url + ", policy " +
         std::string(config::to_string(m.policy)) +
         (m.degraded_is_failing ? " (failing and degraded)" : "");
}

}  // namespace

int milter_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                   const std::function<int(const config::MilterSettings&)>& run) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      out << milter_usage();
      return 0;
    }
    if (a == "--version") {
      out << "tlsrelay-milter " << kVersion << "\n";
      return 0;
    }
  }
  if (args.empty()) return usage_error(err, "--config PATH or check-config PATH is missing");
  std::optional<std::string> path;
  bool check = false;
  std::size_t i = 0;
  if (args[0] == "check-config") {
    check = true;
    if (args.size() < 2) return usage_error(err, "check-config: PATH is missing");
    if (args.size() > 2)
      return usage_error(err, "check-config: unexpected argument \"" + args[2] + "\"");
    if (args[1].rfind("--", 0) == 0) {
      return usage_error(err, "check-config: unknown option " + args[1]);
    }
    path = args[1];
    i = 2;
  }
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--config") {
      if (i + 1 >= args.size()) return usage_error(err, "--config needs a value");
      if (path) return usage_error(err, "--config given twice");
      path = args[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      if (path) return usage_error(err, "--config given twice");
      path = a.substr(9);
    } else if (a.rfind("--", 0) == 0) {
      return usage_error(err, "unknown option " + a.substr(0, a.find('=')));
    } else {
      return usage_error(err, "unexpected argument \"" + a + "\"");
    }
  }
  if (!path || path->empty()) return usage_error(err, "--config PATH is missing");

  config::MilterSettings settings;
  try {
    settings = load_milter_settings(*path);
  } catch (const config::ConfigError& e) {
    for (const auto& line : e.lines()) err << line << "\n";
    return 1;
  }
  if (check) {
    // The relay in the same file must answer status_url; otherwise every message would be
    // accepted without route health (the milter fails open), which only the log would show.
    if (auto problem = config::status_url_problem(config::load_settings(*path))) {
      err << *problem << "\n";
      return 1;
    }
    out << *path << ": ok (" << summary(settings) << ")\n";
    return 0;
  }
  return run(settings);
}

}  // namespace tlsrelay::milter
