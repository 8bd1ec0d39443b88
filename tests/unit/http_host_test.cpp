// The Host rule of the relay's HTTP server (proxy/status/http_host.hpp): only names that are ours
// are answered, the defence against DNS rebinding. Table-driven, pure.
#include <catch2/catch.hpp>

#include "proxy/status/http_host.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;
using tlsrelay::config::IpAddress;
using tlsrelay::config::parse_ip_address;

namespace {

IpAddress address_of(const std::string& text) {
  auto a = parse_ip_address(text);
  REQUIRE(a);
  return *a;
}

std::string_view to_string(HostVerdict v) {
  switch (v) {
    case HostVerdict::Allowed:
      return "allowed";
    case HostVerdict::Forbidden:
      return "forbidden";
    case HostVerdict::Invalid:
      return "invalid";
  }
  return "?";
}

}  // namespace

TEST_CASE("host_of: the host of a Host field, or nothing when it is malformed", "[http-host]") {
  auto [field, host] = GENERATE(table<std::string, std::string>({
      {"localhost", "localhost"},
      {"localhost:9325", "localhost"},
      {"localhost:", "localhost"},  // RFC 3986: port = *DIGIT
      {"127.0.0.1:9325", "127.0.0.1"},
      {"[::1]:9325", "::1"},
      {"[::1]", "::1"},
      {"Relay.Example.NET.", "Relay.Example.NET."},
      // Negative rows: "" means malformed.
      {"", ""},
      {":9325", ""},
      {"[::1", ""},
      {"[::1]9325", ""},
      {"[127.0.0.1]:80", ""},   // an IP-literal holds IPv6
      {"[v1.fe80::a]:80", ""},  // IPvFuture
      {"::1:9325", ""},         // IPv6 without brackets
      {"localhost:93x5", ""},
      {"localhost:123456", ""},  // more than 5 digits
      {"a b", ""},
      {"user@localhost", ""},
      {"localhost/x", ""},
  }));
  INFO("Host: " << field);
  const auto got = host_of(field);
  if (host.empty()) {
    CHECK_FALSE(got);
  } else {
    REQUIRE(got);
    CHECK(*got == host);
  }
}

TEST_CASE("only our own names are answered: listen address, localhost, allowed_hosts",
          "[http-host]") {
  const HostAllowList list({"relay.example.net", "Status.Example.", "192.0.2.25", "2001:db8::25"});
  const std::vector<IpAddress> own = {address_of("127.0.0.1")};
  auto [field, verdict] = GENERATE(table<std::string, HostVerdict>({
      {"127.0.0.1:9325", HostVerdict::Allowed},
      {"127.0.0.1", HostVerdict::Allowed},
      {"[::ffff:127.0.0.1]:9325", HostVerdict::Allowed},  // the same address
      {"localhost:9325", HostVerdict::Allowed},
      {"LOCALHOST", HostVerdict::Allowed},
      {"localhost.:9325", HostVerdict::Allowed},
      {"relay.example.net:9325", HostVerdict::Allowed},
      {"RELAY.example.NET.", HostVerdict::Allowed},
      {"status.example", HostVerdict::Allowed},
      {"192.0.2.25:80", HostVerdict::Allowed},
      {"[2001:db8:0::25]:9325", HostVerdict::Allowed},  // compared as addresses
      // Rebinding: a name the attacker controls, pointed at us.
      {"attacker.example", HostVerdict::Forbidden},
      {"attacker.example:9325", HostVerdict::Forbidden},
      {"relay.example.net.attacker.example", HostVerdict::Forbidden},
      {"localhost.attacker.example", HostVerdict::Forbidden},
      {"sub.localhost", HostVerdict::Forbidden},
      {"127.0.0.2", HostVerdict::Forbidden},
      {"[::1]:9325", HostVerdict::Forbidden},  // not where we listen
      {"0.0.0.0", HostVerdict::Forbidden},
      {"127.0.0.1.", HostVerdict::Forbidden},
      {"local%68ost", HostVerdict::Forbidden},  // no decoding: not our name
      {"", HostVerdict::Invalid},
      {"localhost:x", HostVerdict::Invalid},
  }));
  INFO("Host: " << field);
  const auto got = list.check(11, {field}, own);
  INFO("got " << to_string(got));
  CHECK(got == verdict);
}

TEST_CASE("a missing or doubled Host", "[http-host]") {
  const HostAllowList list;
  const std::vector<IpAddress> own = {address_of("127.0.0.1")};
  // HTTP/1.1 requires Host (RFC 9112 3.2); a browser always sends one, so HTTP/1.0 without
  // it is no rebinding request.
  CHECK(list.check(11, {}, own) == HostVerdict::Invalid);
  CHECK(list.check(10, {}, own) == HostVerdict::Allowed);
  CHECK(list.check(10, {"attacker.example"}, own) == HostVerdict::Forbidden);
  CHECK(list.check(11, {"localhost", "attacker.example"}, own) == HostVerdict::Invalid);
  CHECK(list.check(11, {"localhost", "localhost"}, own) == HostVerdict::Invalid);
}

TEST_CASE("a wildcard listen: the address the connection arrived at is ours", "[http-host]") {
  const HostAllowList list;
  // [http] listen = "0.0.0.0:9325", reached at 192.0.2.5.
  const std::vector<IpAddress> own = {address_of("0.0.0.0"), address_of("192.0.2.5")};
  CHECK(list.check(11, {"192.0.2.5:9325"}, own) == HostVerdict::Allowed);
  CHECK(list.check(11, {"192.0.2.6:9325"}, own) == HostVerdict::Forbidden);
  CHECK(list.check(11, {"0.0.0.0:9325"}, own) == HostVerdict::Forbidden);
  CHECK(list.check(11, {"[::]:9325"}, {address_of("::")}) == HostVerdict::Forbidden);
  CHECK(list.check(11, {"relay.example.net:9325"}, own) == HostVerdict::Forbidden);
}
