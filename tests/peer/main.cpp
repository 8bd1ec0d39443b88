// tlsrelay-testpeer: entry point; dispatches to gen-certs, smtp or dns.
// Exit status: 0 on a clean stop, 1 on a runtime failure, 2 on a usage error.

#include "cert_factory.hpp"
#include "cli_options.hpp"
#include "dns_peer.hpp"
#include "smtp_peer.hpp"

#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace {

int usage_error(const std::string& reason) {
  std::fprintf(stderr, "tlsrelay-testpeer: %s (try --help)\n", reason.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tlsrelay::testpeer;
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty()) return usage_error("missing subcommand: gen-certs, smtp or dns");
  const std::string_view command = args.front();
  const std::vector<std::string_view> rest(args.begin() + 1, args.end());
  try {
    if (command == "--help" || command == "-h" || command == "help") {
      std::fputs(usage().c_str(), stdout);
      return 0;
    }
    if (command == "--version") {
      std::puts("tlsrelay-testpeer 0.1.0");
      return 0;
    }
    if (command == "gen-certs") {
      if (rest.size() != 1) return usage_error("gen-certs wants exactly one DIR");
      write_certificate_sets(std::string(rest.front()));
      std::printf("certs written to %.*s\n", static_cast<int>(rest.front().size()),
                  rest.front().data());
      return 0;
    }
    if (command == "smtp") return run_smtp_peer(parse_smtp_options(rest));
    if (command == "dns") return run_dns_peer(parse_dns_options(rest));
    return usage_error("unknown subcommand '" + std::string(command) + "'");
  } catch (const UsageError& e) {
    return usage_error(e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tlsrelay-testpeer %.*s: %s\n", static_cast<int>(command.size()),
                 command.data(), e.what());
    return 1;
  }
}
