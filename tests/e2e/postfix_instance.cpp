#include "tests/e2e/postfix_instance.hpp"

#include <poll.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "tests/e2e/fixture.hpp"
#include "tests/e2e/smtp_client.hpp"

namespace tlsrelay::e2e {

namespace {

const std::string& rig() {
  static const std::string p =
      std::string(TLSRELAY_SOURCE_DIR) + "/integration/postfix-instance.sh";
  return p;
}

}  // namespace

bool wait_until(const std::function<bool()>& ready, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (ready()) return true;
    poll(nullptr, 0, 50);
  }
  return ready();
}

Postfix::Postfix(unsigned short relay_port) : port_(free_port()) {
  start("[127.0.0.1]:" + std::to_string(relay_port), "");
}

Postfix::Postfix(const std::string& relayhost, const std::string& extra_cf) : port_(free_port()) {
  start(relayhost, extra_cf);
}

void Postfix::start(const std::string& relayhost, const std::string& extra_cf) {
  // Postfix's own processes run as the postfix user and must reach the queue.
  chmod(dir_.path().c_str(), 0755);
  std::vector<std::string> argv = {rig(), "start", dir(), std::to_string(port_), relayhost};
  if (!extra_cf.empty()) {
    const std::string file = dir_.path() + "/extra.cf";
    std::ofstream(file) << extra_cf;
    argv.push_back(file);
  }
  RunResult r = e2e::run(argv);
  INFO("postfix start: " << r.out << r.err << read_file(dir() + "/maillog"));
  REQUIRE(r.exit_code == 0);
  REQUIRE(wait_until(
      [&] {
        try {
          SmtpClient c(port_);
          return SmtpClient::code(c.reply()) == 220;
        } catch (const std::exception&) {
          return false;
        }
      },
      std::chrono::seconds(20)));
}

Postfix::~Postfix() {
  e2e::run({rig(), "stop", dir()});
}

std::string Postfix::maillog() const {
  return read_file(dir() + "/maillog");
}

std::string Postfix::queue() const {
  return e2e::run({rig(), "queue", dir()}).out;
}

RunResult Postfix::run(const std::vector<std::string>& argv,
                       std::chrono::milliseconds limit) const {
  std::vector<std::string> full = {rig(), "run", dir()};
  full.insert(full.end(), argv.begin(), argv.end());
  return e2e::run(full, limit);
}

void submit(unsigned short port, const std::string& body) {
  SmtpClient c(port);
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  REQUIRE(SmtpClient::code(c.cmd("EHLO submitter.test")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("MAIL FROM:<alice@test>")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("RCPT TO:<bob@example.org>")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("DATA")) == 354);
  c.send(body + ".\r\n");
  REQUIRE(SmtpClient::code(c.reply()) == 250);
  c.cmd("QUIT");
}

}  // namespace tlsrelay::e2e
