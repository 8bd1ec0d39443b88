// End to end: active route checks and certificate expiry ([health], docs/monitoring.md).
// `tlsrelay serve` in front of real test peers, with no mail sent: each route's state, the
// check counts and the certificates' notAfter reach /metrics and /status within an
// interval; the 5-day certificate gives the 7-day warning once; a check never sends MAIL
// and authenticates only with [health] auth = true; a route found failing is held down
// before the first message;
// a reload turns checks on; shutdown with a check stuck in a tarpit is prompt and clean.
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <ctime>
#include <fstream>
#include <functional>
#include <memory>
#include <regex>

#include "tests/e2e/fixture.hpp"
#include "tests/e2e/smtp_client.hpp"

using namespace tlsrelay;
using namespace tlsrelay::e2e;

namespace {

std::string upstream(const std::string& name, unsigned short port,
                     const std::string& timeout = "3") {
  return "[[upstream]]\nname = \"" + name +
         "\"\nhost = \"mx.test\"\nport = " + std::to_string(port) +
         "\nconnect = \"127.0.0.1\"\ntimeout_s = " + timeout + "\n";
}

// Calls `get` until `ok` holds for what it returns (bounded); the last value either way.
std::string wait_until(const std::function<std::string()>& get,
                       const std::function<bool(const std::string&)>& ok,
                       std::chrono::seconds limit = std::chrono::seconds(15)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  std::string value;
  do {
    value = get();
    if (ok(value)) break;
    poll(nullptr, 0, 50);
  } while (std::chrono::steady_clock::now() < until);
  return value;
}

// A relay with [http] on a free port, its event log, and the given [health] and upstreams.
class CheckedRelay {
 public:
  CheckedRelay(const std::string& health, const std::string& upstreams,
               const std::string& proxy_extra = "")
      : http_(free_port()) {
    config_ = dir_.path() + "/relay.toml";
    events_ = dir_.path() + "/events.jsonl";
    proxy_extra_ = proxy_extra;
    write(health, upstreams);
    server_ = std::make_unique<Server>(
        std::vector<std::string>{tlsrelay_bin(), "serve", "--config", config_});
  }
  void write(const std::string& health, const std::string& upstreams) const {
    std::ofstream f(config_);
    f << "[proxy]\nlisten = [\"127.0.0.1:0\"]\nhostname = \"relay.test\"\n"
      << proxy_extra_ << "\n[tls]\nca_file = \"" << cert("ca.pem") << "\"\n\n[log]\nevents = \""
      << events_ << "\"\n\n[http]\nlisten = \"127.0.0.1:" << http_ << "\"\n\n[health]\n"
      << health << "\n"
      << upstreams;
  }
  std::string get(const std::string& path) const {
    auto r =
        run({"curl", "-sS", "--max-time", "5", "http://127.0.0.1:" + std::to_string(http_) + path});
    return r.exit_code == 0 ? r.out : std::string();
  }
  // Polls `path` until `ok` holds for its body (bounded); the last body either way.
  std::string wait_for(const std::string& path, const std::function<bool(const std::string&)>& ok,
                       std::chrono::seconds limit = std::chrono::seconds(15)) const {
    return wait_until([&] { return get(path); }, ok, limit);
  }
  std::string events() const { return read_file(events_); }
  std::string log() const { return server_->stderr_text(); }
  pid_t pid() const { return server_->pid(); }
  unsigned short port() const { return server_->port(); }  // SMTP
  const std::string& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  unsigned short http_;
  std::string config_, events_, proxy_extra_;
  std::unique_ptr<Server> server_;
};

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The value of the first sample whose line starts with `series` ("" when there is none).
std::string sample(const std::string& metrics, const std::string& series) {
  const auto at = metrics.find("\n" + series + " ");
  if (at == std::string::npos) return "";
  const auto from = at + series.size() + 2;
  return metrics.substr(from, metrics.find('\n', from) - from);
}

// The [proxy] lines offering STARTTLS with the peer's `expiring` certificate (5 days).
std::string own_expiring_certificate(const TempDir& dir) {
  const std::string key = dir.path() + "/relay.key";
  {
    std::ofstream k(key);
    k << read_file(cert("expiring.key"));
  }
  ::chmod(key.c_str(), 0600);
  return "tls_cert = \"" + cert("expiring.chain.pem") + "\"\ntls_key = \"" + key + "\"\n";
}

}  // namespace

TEST_CASE(
    "without mail, checks put every route's state, counts and certificate on /metrics "
    "and /status; the 5-day certificate warns once; no MAIL is sent",
    "[route-checks]") {
  TempDir dir;
  const std::string good_capture = dir.path() + "/good", expiring_capture = dir.path() + "/exp";
  Server good(peer_argv({"--capture", good_capture}));
  Server expiring(peer_argv({"--cert", "expiring", "--capture", expiring_capture}));
  Server wronghost(peer_argv({"--cert", "wronghost"}));
  const auto started = std::time(nullptr);
  CheckedRelay relay("interval_s = 1\nconcurrency = 2\n",
                     upstream("good", good.port()) + upstream("expiring", expiring.port()) +
                         upstream("wronghost", wronghost.port()),
                     own_expiring_certificate(dir));

  // Three failures in a row make a route failing (docs/status-api.md): three checks.
  const std::string metrics = relay.wait_for("/metrics", [](const std::string& m) {
    return has(m, "tlsrelay_route_checks_total{upstream=\"good\",class=\"ok\"}") &&
           has(m, "tlsrelay_route_checks_total{upstream=\"expiring\",class=\"ok\"}") &&
           has(m, "tlsrelay_route_health{upstream=\"wronghost\",state=\"failing\"} 1");
  });
  INFO(metrics);
  INFO("relay log: " << relay.log());
  CHECK(has(metrics, "tlsrelay_route_health{upstream=\"good\",state=\"healthy\"} 1"));
  CHECK(has(metrics, "tlsrelay_route_health{upstream=\"expiring\",state=\"healthy\"} 1"));
  CHECK(has(metrics, "tlsrelay_route_health{upstream=\"wronghost\",state=\"failing\"} 1"));
  CHECK(has(
      metrics,
      "tlsrelay_route_checks_total{upstream=\"wronghost\",class=\"certificate-host-mismatch\"}"));
  // Counted apart from real traffic: no mail, no attempt series.
  CHECK_FALSE(has(metrics, "tlsrelay_upstream_attempts_total{"));
  // The certificates' notAfter: 5 days and a year ahead; ours is the expiring one too.
  const std::string in5 = sample(metrics,
                                 "tlsrelay_upstream_certificate_not_after_timestamp_seconds{"
                                 "upstream=\"expiring\",address=\"127.0.0.1\"}");
  REQUIRE_FALSE(in5.empty());
  CHECK(std::abs(std::stod(in5) - (started + 5 * 86400.0)) < 7200);
  const std::string in365 = sample(metrics,
                                   "tlsrelay_upstream_certificate_not_after_timestamp_seconds{"
                                   "upstream=\"good\",address=\"127.0.0.1\"}");
  REQUIRE_FALSE(in365.empty());
  CHECK(std::abs(std::stod(in365) - (started + 365 * 86400.0)) < 7200);
  const std::string own =
      sample(metrics, "tlsrelay_certificate_not_after_timestamp_seconds{certificate=\"proxy\"}");
  REQUIRE_FALSE(own.empty());
  CHECK(std::abs(std::stod(own) - (started + 5 * 86400.0)) < 7200);

  const auto status = nlohmann::json::parse(relay.get("/status"));
  INFO(status.dump(2));
  CHECK(status["checks"]["interval_s"] == 1);
  CHECK(status["certificate"]["certificate_expires_in_days"] == 4);
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& u : status["upstreams"]) by_name[u["name"]] = u;
  CHECK(by_name["good"]["state"] == "healthy");
  CHECK(by_name["good"]["certificate_expires_in_days"].get<int>() >= 364);
  CHECK(by_name["expiring"]["state"] == "healthy");
  CHECK(by_name["expiring"]["certificate_expires_in_days"] == 4);
  CHECK(by_name["expiring"]["addresses"][0]["certificate_expires_in_days"] == 4);
  CHECK(by_name["wronghost"]["state"] == "failing");
  CHECK(by_name["wronghost"]["class"] == "certificate-host-mismatch");
  CHECK(status["route"]["state"] == "healthy");
  CHECK(status["recent"].empty());  // recent attempts are the mail's

  // The expiring route has been checked several times by now; one warning, the 7-day one.
  // The event log is written by its own thread: wait for its records too.
  const std::string expiring_record = "\"upstream\":{\"name\":\"expiring\"";
  const std::string events =
      wait_until([&] { return relay.events(); },
                 [&](const std::string& e) { return count(e, expiring_record) >= 3; });
  INFO(events);
  REQUIRE(count(events, expiring_record) >= 3);
  CHECK(count(events, "\"expiry_warning\":{") == 1);
  CHECK(count(events, "\"expiry_warning\":null") >= 2);
  CHECK(has(events, "\"expiry_warning\":{\"threshold_days\":7,\"days_left\":4"));
  // good at least once, wronghost three times (failing), expiring three times.
  CHECK(count(events, "\"check\":true") >= 1 + 3 + 3);
  CHECK_FALSE(has(events, "\"check\":false"));
  const std::string log = relay.log();
  CHECK(count(log, "event=certificate-expiry upstream=expiring") == 1);
  CHECK(count(log, "event=certificate-expiry upstream=\"(proxy tls_cert)\"") == 1);

  // A check goes as far as STARTTLS, EHLO again and QUIT; never MAIL.
  for (const std::string& capture : {good_capture, expiring_capture}) {
    const std::string seen = read_file(capture);
    INFO(capture << ":\n" << seen);
    CHECK(has(seen, "STARTTLS"));
    CHECK(count(seen, "EHLO relay.test") >= 2);
    CHECK(has(seen, "QUIT"));
    CHECK_FALSE(has(seen, "MAIL"));
    CHECK_FALSE(has(seen, "RCPT"));
  }
}

TEST_CASE("checks follow SIGHUP: off at start, on after a reload", "[route-checks]") {
  Server good(peer_argv({}));
  CheckedRelay relay("interval_s = 0\n", upstream("good", good.port()));
  auto status = nlohmann::json::parse(relay.get("/status"));
  CHECK(status["upstreams"][0]["state"] == "unknown");
  CHECK(status["checks"]["interval_s"] == 0);
  relay.write("interval_s = 1\n", upstream("good", good.port()));
  kill(relay.pid(), SIGHUP);
  const std::string metrics = relay.wait_for("/metrics", [](const std::string& m) {
    return has(m, "tlsrelay_route_checks_total{upstream=\"good\",class=\"ok\"}");
  });
  INFO(metrics << "\nrelay log: " << relay.log());
  CHECK(has(metrics, "tlsrelay_route_health{upstream=\"good\",state=\"healthy\"} 1"));
}

TEST_CASE("a route that checks found failing is not the first message's first try",
          "[route-checks]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server dead(peer_argv({"--cert", "leafonly"}));  // certificate-chain-incomplete, every time
  Server good(peer_argv({"--capture", capture}));
  CheckedRelay relay("interval_s = 1\n",
                     upstream("primary", dead.port()) + upstream("backup", good.port()));
  const std::string metrics = relay.wait_for("/metrics", [](const std::string& m) {
    return has(m, "tlsrelay_route_health{upstream=\"primary\",state=\"failing\"} 1");
  });
  INFO(metrics << "\nrelay log: " << relay.log());
  REQUIRE(has(metrics, "tlsrelay_route_health{upstream=\"primary\",state=\"failing\"} 1"));

  SmtpClient c(relay.port());
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("MAIL FROM:<a@example.org>")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("RCPT TO:<b@example.org>")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("DATA")) == 354);
  c.send("Subject: after an outage\r\n\r\nbody\r\n.\r\n");
  CHECK(SmtpClient::code(c.reply()) == 250);
  const std::string seen = read_file(capture);
  INFO(seen);
  // Straight to the backup: no attempt on the primary first (without checks: attempts=2).
  CHECK(has(seen, "TLS-Relay: upstream=backup;"));
  CHECK(has(seen, "attempts=1"));
  CHECK_FALSE(has(seen, "TLS-Relay-Failure:"));
}

TEST_CASE("a check authenticates only with [health] auth = true", "[route-checks]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture", password = dir.path() + "/pw";
  {
    std::ofstream pw(password);
    pw << "Check-Pw-4b1e\n";
  }
  ::chmod(password.c_str(), 0600);
  Server peer(peer_argv(
      {"--auth-user", "relay", "--auth-password", "Check-Pw-4b1e", "--capture", capture}));
  const std::string authed = upstream("authed", peer.port()) +
                             "auth_user = \"relay\"\nauth_password_file = \"" + password + "\"\n";
  CheckedRelay relay("interval_s = 1\n", authed);
  // The peer writes its capture as it reads: wait for the first check's QUIT.
  const std::string without = wait_until([&] { return read_file(capture); },
                                         [](const std::string& c) { return has(c, "QUIT"); });
  INFO("capture:\n" << without << "\nrelay log: " << relay.log());
  REQUIRE(has(without, "QUIT"));
  CHECK(has(without, "STARTTLS"));
  CHECK_FALSE(has(without, "AUTH"));

  relay.write("interval_s = 1\nauth = true\n", authed);
  kill(relay.pid(), SIGHUP);
  const std::string with = wait_until([&] { return read_file(capture); },
                                      [](const std::string& c) { return has(c, "AUTH PLAIN"); });
  INFO("capture after the reload:\n" << with);
  CHECK(has(with, "AUTH PLAIN"));
  CHECK_FALSE(has(with, "MAIL"));
  const std::string metrics = relay.wait_for("/metrics", [](const std::string& m) {
    const std::string ok =
        sample(m, "tlsrelay_route_checks_total{upstream=\"authed\",class=\"ok\"}");
    return !ok.empty() && std::stod(ok) >= 2;
  });
  INFO(metrics);
  CHECK_FALSE(has(metrics, "class=\"auth-failed\""));
}

TEST_CASE("shutdown with a check stuck in a tarpit is prompt and clean", "[route-checks]") {
  // The peer accepts and says nothing; the check waits for a banner for up to 30 s.
  Server tarpit(peer_argv({"--tls", "none", "--behaviour", "silent"}));
  CheckedRelay relay("interval_s = 1\n", upstream("tarpit", tarpit.port(), "30"));
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!has(tarpit.stderr_text(), "event=accepted") && std::chrono::steady_clock::now() < until) {
    poll(nullptr, 0, 20);
  }
  INFO("peer log: " << tarpit.stderr_text());
  REQUIRE(has(tarpit.stderr_text(), "event=accepted"));
  const auto asked = std::chrono::steady_clock::now();
  kill(relay.pid(), SIGTERM);
  // WNOWAIT: the Server's destructor still reaps it (a reaped pid would make it wait).
  siginfo_t exited{};
  while (
      (waitid(P_PID, static_cast<id_t>(relay.pid()), &exited, WEXITED | WNOHANG | WNOWAIT) != 0 ||
       exited.si_pid != relay.pid()) &&
      std::chrono::steady_clock::now() - asked < std::chrono::seconds(5)) {
    poll(nullptr, 0, 10);
  }
  INFO("relay log: " << relay.log());
  REQUIRE(exited.si_pid == relay.pid());
  CHECK(exited.si_code == CLD_EXITED);
  CHECK(exited.si_status == 0);
  CHECK(has(relay.log(), "event=stopped"));
  // Cut short by shutdown: no record that would blame the route.
  CHECK_FALSE(has(relay.events(), "\"upstream\":{\"name\":\"tarpit\""));
}
