#include "tests/e2e/netns.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "tests/e2e/process.hpp"

namespace tlsrelay::e2e {

namespace {
int counter = 0;
constexpr const char* kResolvConf = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n";
}  // namespace

Netns::Netns() {
  name_ = "tlsrelay-t" + std::to_string(getpid()) + "-" + std::to_string(++counter);
  etc_ = "/etc/netns/" + name_;
  std::filesystem::create_directories(etc_);
  // Short resolver time-outs keep a failing DNS test quick; only our own server is named.
  std::ofstream(etc_ + "/resolv.conf") << kResolvConf;
  std::ofstream(etc_ + "/hosts") << "127.0.0.1 localhost\n::1 localhost\n";
  RunResult r = run({"ip", "netns", "add", name_});
  if (r.exit_code != 0) FAIL("ip netns add failed: " << r.err);
  must({"ip", "link", "set", "lo", "up"});
}

Netns::~Netns() {
  run({"ip", "netns", "del", name_});
  std::error_code ec;
  std::filesystem::remove_all(etc_, ec);
}

void Netns::trust_ad() const {
  std::ofstream(etc_ + "/resolv.conf") << kResolvConf << "options trust-ad\n";
}

void Netns::must(const std::vector<std::string>& argv) const {
  std::vector<std::string> full = exec();
  full.insert(full.end(), argv.begin(), argv.end());
  RunResult r = run(full);
  INFO("command: " << argv.front() << " ... stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
}

}  // namespace tlsrelay::e2e
