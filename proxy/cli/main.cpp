// tlsrelay: the command line. Dispatches to the subcommands of ../shared/spec/interfaces.md.
#include <iostream>
#include <string>
#include <vector>

#include "proxy/cli/audit_command.hpp"
#include "proxy/cli/check_config_command.hpp"
#include "proxy/cli/explain_command.hpp"
#include "proxy/cli/probe_command.hpp"
#include "proxy/cli/report_command.hpp"
#include "proxy/cli/serve_command.hpp"
#include "proxy/cli/setup_command.hpp"
#include "tls/build_info.hpp"

namespace {

constexpr const char* kUsage = R"(usage: tlsrelay COMMAND [options]
commands:
  explain [FILE...]        read the MTA's log: why each TLS route failed, whether it still
                           does, what to change (tlsrelay explain --help)
  probe HOST[:PORT]        one upstream attempt, diagnosed (tlsrelay probe --help)
  audit HOST[:PORT]        grade a smarthost's TLS against RFC 9325 and Mozilla's
                           intermediate configuration (tlsrelay audit --help)
  serve --config PATH      run the relay in the foreground
  check-config PATH        validate a configuration (--explain: the effective policy)
  report                   summarise an event log, or write an RFC 8460 TLS report
  setup --smarthost HOST[:PORT]
                           put tlsrelay between Postfix and its smarthost: probes the
                           route, then shows the changes (tlsrelay setup --help);
                           --apply makes them, --undo puts Postfix back
options: --help, --version
)";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << "tlsrelay: a command is missing (explain, probe, audit, serve, check-config, "
                 "report, setup)\n";
    return 2;
  }
  const std::string cmd = args.front();
  args.erase(args.begin());
  if (cmd == "--help" || cmd == "-h") {
    std::cout << kUsage;
    return 0;
  }
  if (cmd == "--version") {
    std::cout << "tlsrelay " << tlsrelay::tls::kVersion << "\n";
    return 0;
  }
  if (cmd == "probe") {
    for (const auto& a : args) {
      if (a == "--help" || a == "-h") {
        std::cout << tlsrelay::proxy::probe_usage();
        return 0;
      }
      if (a == "--version") {
        std::cout << "tlsrelay " << tlsrelay::tls::kVersion << "\n";
        return 0;
      }
    }
    return tlsrelay::proxy::probe_command(args);
  }
  if (cmd == "audit") {
    for (const auto& a : args) {
      if (a == "--help" || a == "-h") {
        std::cout << tlsrelay::proxy::audit_usage();
        return 0;
      }
    }
    return tlsrelay::proxy::audit_command(args, std::cout, std::cerr);
  }
  if (cmd == "serve") {
    for (const auto& a : args) {
      if (a == "--help" || a == "-h") {
        std::cout << tlsrelay::proxy::serve_usage();
        return 0;
      }
    }
    return tlsrelay::proxy::serve_command(args);
  }
  if (cmd == "check-config") return tlsrelay::proxy::check_config_command(args);
  if (cmd == "setup") {
    for (const auto& a : args) {
      if (a == "--help" || a == "-h") {
        std::cout << tlsrelay::proxy::setup_usage();
        return 0;
      }
    }
    return tlsrelay::proxy::setup_command(args);
  }
  if (cmd == "report") return tlsrelay::proxy::report_command(args);
  if (cmd == "explain") {
    for (const auto& a : args) {
      if (a == "--help" || a == "-h") {
        std::cout << tlsrelay::proxy::explain_usage();
        return 0;
      }
    }
    return tlsrelay::proxy::explain_command(args, std::cout, std::cerr);
  }
  std::cerr << "tlsrelay: unknown command \"" << cmd
            << "\" (explain, probe, audit, serve, check-config, report, setup)\n";
  return 2;
}
