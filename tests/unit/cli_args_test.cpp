// HOST[:PORT] and numbers on the command line, including the IPv6 forms.
#include <catch2/catch.hpp>

#include "proxy/cli/cli_args.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;

TEST_CASE("HOST[:PORT] forms", "[cli]") {
  auto [text, host, port] = GENERATE(table<std::string, std::string, int>({
      {"smtp.gmail.com", "smtp.gmail.com", 0},
      {"smtp.gmail.com:587", "smtp.gmail.com", 587},
      {"192.0.2.1:25", "192.0.2.1", 25},
      {"[2001:db8::1]:465", "2001:db8::1", 465},
      {"[::1]", "::1", 0},
      {"::1", "::1", 0},
  }));
  HostPort hp = parse_host_port(text);
  CHECK(hp.host == host);
  CHECK(hp.port.value_or(0) == port);
}

TEST_CASE("bad HOST[:PORT] is a usage error", "[cli]") {
  auto text = GENERATE(as<std::string>{}, "", ":25", "mx:0", "mx:65536", "mx:port", "[::1",
                       "[::1]x", "mx:");
  INFO(text);
  CHECK_THROWS_AS(parse_host_port(text), UsageError);
}
