// End to end, as root: faults that need a network namespace of our own (iptables drops and
// ICMP rejects, a DNS server answering NXDOMAIN and SERVFAIL) and a wrong clock (faketime).
// Nothing here touches an address outside 127.0.0.0/8 of a namespace the test made.
#define CATCH_CONFIG_RUNNER
#include <unistd.h>

#include <catch2/catch.hpp>
#include <iostream>

#include "tests/e2e/fixture.hpp"
#include "tests/e2e/netns.hpp"

using namespace tlsrelay;
using namespace tlsrelay::e2e;

namespace {

void expect(const Probe& p, const std::string& cls, const std::string& phase) {
  INFO("record: " << p.record.dump(2));
  CHECK(p.record["class"] == cls);
  CHECK(p.record["phase"] == phase);
}

std::vector<std::string> in_ns_args(const std::string& target, const std::string& timeout = "3") {
  return {"--ca-file", cert("ca.pem"), "--timeout", timeout, "--ehlo", "relay.test", target};
}

}  // namespace

TEST_CASE("a firewall that drops SYNs is connect-timeout", "[netns]") {
  Netns ns;
  ns.must({"iptables", "-A", "INPUT", "-p", "tcp", "--dport", "2525", "-j", "DROP"});
  Probe p = probe(in_ns_args("127.0.0.1:2525", "1.5"), ns.exec());
  expect(p, "connect-timeout", "connect");
}

TEST_CASE("ICMP unreachable and prohibited are network-unreachable", "[netns]") {
  Netns ns;
  for (const char* reject :
       {"icmp-host-unreachable", "icmp-net-unreachable", "icmp-admin-prohibited"}) {
    ns.must({"iptables", "-A", "INPUT", "-p", "tcp", "--dport", "2526", "-j", "REJECT",
             "--reject-with", reject});
    Probe p = probe(in_ns_args("127.0.0.1:2526"), ns.exec());
    INFO("reject with " << reject);
    expect(p, "network-unreachable", "connect");
    ns.must({"iptables", "-F", "INPUT"});
  }
}

TEST_CASE("DNS: NXDOMAIN, SERVFAIL and no address from our own DNS server", "[netns][dns]") {
  Netns ns;
  Server dns({"ip", "netns", "exec", ns.name(), testpeer_bin(), "dns", "--listen", "127.0.0.1:53",
              "--watch-stdin", "--a", "mx.test=127.0.0.1", "--nxdomain", "nx.test", "--servfail",
              "broken.test", "--nodata", "noaddr.test"});
  Server peer(peer_argv({"--listen", "127.0.0.1:2527"}, ns.exec()));

  SECTION("a name that resolves through our DNS server reaches the peer") {
    Probe p = probe(in_ns_args("mx.test:2527"), ns.exec());
    INFO(p.record.dump(2));
    CHECK(p.record["class"] == "ok");
    CHECK(p.record["timings_ms"]["dns"].is_number());
  }
  SECTION("NXDOMAIN") {
    Probe p = probe(in_ns_args("nx.test:25"), ns.exec());
    expect(p, "dns-nxdomain", "dns");
    CHECK(p.record["transient"] == false);
  }
  SECTION("SERVFAIL") {
    Probe p = probe(in_ns_args("www.broken.test:25"), ns.exec());
    expect(p, "dns-failure", "dns");
    CHECK(p.record["transient"] == true);
  }
  SECTION("the name exists but has no A/AAAA") {
    Probe p = probe(in_ns_args("noaddr.test:25"), ns.exec());
    expect(p, "dns-failure", "dns");
    CHECK(p.record["detail"].get<std::string>().find("no A/AAAA") != std::string::npos);
  }
}

TEST_CASE("a clock set back before our build is client-clock-skew, not not-yet-valid", "[clock]") {
  Server peer(peer_argv({"--cert", "good"}));
  std::vector<std::string> faketime = {"env", "DONT_FAKE_MONOTONIC=1", "faketime", "-f",
                                       "@2024-01-01 00:00:00"};
  Probe p = probe(local_args(peer.port()), faketime);
  expect(p, "client-clock-skew", "certificate");
  CHECK(p.record["hint"].get<std::string>().find("2024-01-01") != std::string::npos);
  CHECK(p.record["fault"] == "local");
}

TEST_CASE("a clock far ahead, past every certificate including the root, is client-clock-skew",
          "[clock]") {
  Server peer(peer_argv({"--cert", "good"}));
  std::vector<std::string> faketime = {"env", "DONT_FAKE_MONOTONIC=1", "faketime", "-f",
                                       "@2061-01-01 00:00:00"};
  Probe p = probe(local_args(peer.port()), faketime);
  expect(p, "client-clock-skew", "certificate");
}

TEST_CASE("a certificate that really is not yet valid, with a right clock", "[clock]") {
  Server peer(peer_argv({"--cert", "notyet"}));
  Probe p = probe(local_args(peer.port()));
  expect(p, "certificate-not-yet-valid", "certificate");
}

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    std::cerr << "these tests need root (network namespaces, iptables); skipped\n";
    return 77;  // CTest's SKIP_RETURN_CODE
  }
  return Catch::Session().run(argc, argv);
}
