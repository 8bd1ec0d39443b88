// tlsrelay-milter's command line behaves like tlsrelay's: --help, --version, one-line
// usage errors with exit 2, FILE:LINE:COL problems with exit 1.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "milter/milter_command.hpp"

using namespace tlsrelay;
using namespace tlsrelay::milter;

namespace {

struct Result {
  int status;
  std::string out;
  std::string err;
  bool ran = false;
  tlsrelay::config::MilterSettings settings;
};

Result run_cli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  Result r{};
  r.status = milter_command(args, out, err, [&](const tlsrelay::config::MilterSettings& s) {
    r.ran = true;
    r.settings = s;
    return 0;
  });
  r.out = out.str();
  r.err = err.str();
  return r;
}

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = "/tmp/tlsrelay-milter-test-" + std::to_string(getpid()) + "-" + name;
  std::ofstream(path) << text;
  return path;
}

constexpr const char* kUpstream = "[[upstream]]\nname = \"a\"\nhost = \"a.example\"\n";

}  // namespace

TEST_CASE("--help and --version", "[milter][cli]") {
  auto r = run_cli({"--help"});
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::StartsWith("usage: tlsrelay-milter --config PATH"));
  r = run_cli({"check-config", "x", "-h"});
  CHECK(r.status == 0);
  r = run_cli({"--version"});
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::Matches("tlsrelay-milter [0-9]+\\.[0-9]+\\.[0-9]+\n"));
}

TEST_CASE("usage errors: one line, exit 2", "[milter][cli]") {
  for (const auto& args :
       std::vector<std::vector<std::string>>{{},
                                             {"--config"},
                                             {"--conf", "x"},
                                             {"serve"},
                                             {"check-config"},
                                             {"check-config", "a", "b"},
                                             {"check-config", "--explain"},
                                             {"--config", "a", "--config", "b"}}) {
    const auto r = run_cli(args);
    INFO(r.err);
    CHECK(r.status == 2);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::StartsWith("tlsrelay-milter: "));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_FALSE(r.ran);
  }
}

TEST_CASE("check-config: ok line, or one FILE:LINE:COL line per problem", "[milter][cli]") {
  const std::string good = write_file(
      "good.toml", std::string(kUpstream) +
                       "[http]\nlisten = \"127.0.0.1:9325\"\n"
                       "[milter]\nsocket = \"inet:8891@127.0.0.1\"\n"
                       "status_url = \"http://127.0.0.1:9325/status\"\npolicy = \"hold\"\n");
  auto r = run_cli({"check-config", good});
  CHECK(r.status == 0);
  CHECK(r.out == good +
                     ": ok (socket inet:8891@127.0.0.1, status http://127.0.0.1:9325/status, "
                     "policy hold)\n");
  CHECK_FALSE(r.ran);

  const std::string missing =
      write_file("missing.toml", std::string(kUpstream) + "\n[milter]\npolicy = \"hold\"\n");
  r = run_cli({"check-config", missing});
  CHECK(r.status == 1);
  CHECK(r.err == missing + ":5:1: [milter] is missing the required key \"socket\"\n" + missing +
                     ":5:1: [milter] is missing the required key \"status_url\"\n");

  const std::string none = write_file("none.toml", kUpstream);
  r = run_cli({"check-config", none});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::StartsWith(none + ": no [milter] section"));

  r = run_cli({"check-config", "/nonexistent/x.toml"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("cannot read the configuration"));

  // The relay in the same file must answer status_url (issue 19): no [http] listen, another
  // port or another address, and the milter would accept everything without route health.
  for (const auto& [http, why] : std::vector<std::pair<std::string, std::string>>{
           {"", "names the relay's /status, but this file has no [http] listen"},
           {"[http]\nlisten = \"127.0.0.1:9999\"\n",
            "uses port 9325, but [http] listen is "
            "127.0.0.1:9999"},
           {"[http]\nlisten = \"127.0.0.2:9325\"\n",
            "names 127.0.0.1, but [http] listen is "
            "127.0.0.2:9325"}}) {
    const std::string unanswered =
        write_file("unanswered.toml", std::string(kUpstream) + http +
                                          "[milter]\nsocket = \"inet:8891@127.0.0.1\"\n"
                                          "status_url = \"http://127.0.0.1:9325/status\"\n");
    r = run_cli({"check-config", unanswered});
    INFO(r.err);
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Catch::Contains("[milter] status_url " + why));
    std::remove(unanswered.c_str());
  }

  for (const auto& f : {good, missing, none}) std::remove(f.c_str());
}

TEST_CASE("--config loads the settings and runs", "[milter][cli]") {
  const std::string good =
      write_file("run.toml", std::string(kUpstream) +
                                 "[milter]\nsocket = \"unix:/run/m.sock\"\n"
                                 "status_url = \"http://[::1]:9325/status\"\ncache_s = 2\n");
  const auto r = run_cli({"--config=" + good});
  CHECK(r.status == 0);
  REQUIRE(r.ran);
  CHECK(r.settings.socket == "unix:/run/m.sock");
  CHECK(r.settings.status_host == "::1");
  CHECK(r.settings.status_port == 9325);
  CHECK(r.settings.status_target == "/status");
  CHECK(r.settings.cache == std::chrono::seconds(2));
  std::remove(good.c_str());
}
