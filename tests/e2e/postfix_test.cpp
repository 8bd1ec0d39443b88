// End to end with the MTA our users run: a real, private Postfix instance
// (integration/postfix-instance.sh) relays through `tlsrelay serve` to a real TLS upstream.
// Delivery must be exact; a failing upstream must leave the message in Postfix's queue with
// tlsrelay's diagnosis as the deferral reason. Root only (Postfix, mount namespaces).
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <functional>
#include <sstream>

#include "tests/e2e/fixture.hpp"
#include "tests/e2e/smtp_client.hpp"

using namespace tlsrelay::e2e;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

unsigned short free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  socklen_t len = sizeof sa;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  close(fd);
  return ntohs(sa.sin_port);
}

// Waits for something observable (a log line, a file's content), bounded.
bool wait_until(const std::function<bool()>& ready, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (ready()) return true;
    poll(nullptr, 0, 50);
  }
  return ready();
}

const std::string& rig() {
  static const std::string p =
      std::string(TLSRELAY_SOURCE_DIR) + "/integration/postfix-instance.sh";
  return p;
}

class Postfix {
 public:
  explicit Postfix(unsigned short relay_port) : port_(free_port()) {
    // Postfix's own processes run as the postfix user and must reach the queue.
    chmod(dir_.path().c_str(), 0755);
    RunResult r = run({rig(), "start", dir_.path() + "/pf", std::to_string(port_),
                       "[127.0.0.1]:" + std::to_string(relay_port)});
    INFO("postfix start: " << r.out << r.err << read_file(dir_.path() + "/pf/maillog"));
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
  ~Postfix() { run({rig(), "stop", dir_.path() + "/pf"}); }
  unsigned short port() const { return port_; }
  std::string maillog() const { return read_file(dir_.path() + "/pf/maillog"); }
  std::string queue() const { return run({rig(), "queue", dir_.path() + "/pf"}).out; }

 private:
  TempDir dir_;
  unsigned short port_;
};

class Relay {
 public:
  Relay(unsigned short upstream_port) {
    config_ = dir_.path() + "/relay.toml";
    std::ofstream(config_) << "[proxy]\nlisten = [\"127.0.0.1:0\"]\nhostname = \"relay.test\"\n"
                           << "[tls]\nca_file = \"" << cert("ca.pem") << "\"\n"
                           << "[[upstream]]\nname = \"smarthost\"\nhost = \"mx.test\"\nport = "
                           << upstream_port << "\nconnect = \"127.0.0.1\"\ntimeout_s = 3\n";
    server_ = std::make_unique<Server>(
        std::vector<std::string>{tlsrelay_bin(), "serve", "--config", config_});
  }
  unsigned short port() const { return server_->port(); }

 private:
  TempDir dir_;
  std::string config_;
  std::unique_ptr<Server> server_;
};

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

}  // namespace

TEST_CASE("Postfix relays through tlsrelay to a TLS upstream, message intact", "[postfix]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server upstream(peer_argv({"--capture", capture}));
  Relay relay(upstream.port());
  Postfix postfix(relay.port());
  const std::string marker = "Message-ID: <e2e-1@test>";
  const std::string body = marker +
                           "\r\nSubject: through tlsrelay\r\nContent-Type: text/plain; "
                           "charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                           "caf\xc3\xa9\r\n..a line that starts with a dot\r\nlast line\r\n";
  submit(postfix.port(), body);
  INFO("maillog:\n" << postfix.maillog());
  REQUIRE(wait_until([&] { return postfix.maillog().find("status=sent") != std::string::npos; },
                     std::chrono::seconds(30)));
  CHECK(postfix.maillog().find("relay=127.0.0.1[127.0.0.1]:" + std::to_string(relay.port())) !=
        std::string::npos);
  const std::string seen = read_file(capture);
  INFO("upstream capture:\n" << seen);
  CHECK(seen.find("TLS-Relay: upstream=smarthost; host=mx.test;") != std::string::npos);
  // Postfix adds its Received header; the rest of the message is exactly what was sent.
  CHECK(seen.find(marker) != std::string::npos);
  CHECK(seen.find("\r\n\r\ncaf\xc3\xa9\r\n..a line that starts with a dot\r\nlast line\r\n.\r\n") !=
        std::string::npos);
}

TEST_CASE("with an expired upstream certificate Postfix's queue says why", "[postfix]") {
  Server upstream(peer_argv({"--cert", "expired"}));
  Relay relay(upstream.port());
  Postfix postfix(relay.port());
  submit(postfix.port(), "Message-ID: <e2e-2@test>\r\nSubject: held\r\n\r\nbody\r\n");
  REQUIRE(wait_until([&] { return postfix.maillog().find("status=deferred") != std::string::npos; },
                     std::chrono::seconds(30)));
  const std::string log = postfix.maillog();
  INFO("maillog:\n" << log);
  CHECK(log.find("451 4.7.5 tlsrelay: smarthost mx.test[127.0.0.1]:" +
                 std::to_string(upstream.port()) + " certificate-expired") != std::string::npos);
  const std::string queue = postfix.queue();
  INFO("postqueue -j:\n" << queue);
  auto entry = nlohmann::json::parse(queue.substr(0, queue.find('\n')));
  const std::string reason = entry["recipients"][0]["delay_reason"];
  CHECK(reason.find("certificate-expired") != std::string::npos);
  CHECK(reason.find("expired 2021-01-01") != std::string::npos);
  CHECK(log.find("status=sent") == std::string::npos);
}
