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
#include "tests/e2e/netns.hpp"
#include "tests/e2e/postfix_instance.hpp"
#include "tests/e2e/smtp_client.hpp"

using namespace tlsrelay;
using namespace tlsrelay::e2e;

namespace {

class Relay {
 public:
  // `more` is appended to the configuration: further [[upstream]] tables, say.
  explicit Relay(unsigned short upstream_port, const std::string& more = "") {
    config_ = dir_.path() + "/relay.toml";
    std::ofstream(config_) << "[proxy]\nlisten = [\"127.0.0.1:0\"]\nhostname = \"relay.test\"\n"
                           << "[tls]\nca_file = \"" << cert("ca.pem") << "\"\n"
                           << "[[upstream]]\nname = \"smarthost\"\nhost = \"mx.test\"\nport = "
                           << upstream_port << "\nconnect = \"127.0.0.1\"\ntimeout_s = 3\n"
                           << more;
    server_ = std::make_unique<Server>(
        std::vector<std::string>{tlsrelay_bin(), "serve", "--config", config_});
  }
  unsigned short port() const { return server_->port(); }

 private:
  TempDir dir_;
  std::string config_;
  std::unique_ptr<Server> server_;
};

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

// The delay reason of the first queue entry, once the queue manager has deferred it (the
// maillog line comes before that; until then postqueue shows it active, without a reason).
std::string delay_reason(const Postfix& postfix) {
  std::string queue;
  std::string reason;
  REQUIRE(wait_until(
      [&] {
        queue = postfix.queue();
        const auto entry = nlohmann::json::parse(queue.substr(0, queue.find('\n')), nullptr, false);
        const auto why = entry.is_object() ? entry.value("/recipients/0/delay_reason"_json_pointer,
                                                         nlohmann::json())
                                           : nlohmann::json();
        if (!why.is_string()) return false;
        reason = why.get<std::string>();
        return true;
      },
      std::chrono::seconds(30)));
  INFO("postqueue -j:\n" << queue);
  return reason;
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
  const std::string reason = delay_reason(postfix);
  CHECK(reason.find("certificate-expired") != std::string::npos);
  CHECK(reason.find("expired 2021-01-01") != std::string::npos);
  CHECK(log.find("status=sent") == std::string::npos);
}

// Issue 19: the admin's mailq must show every upstream's failure, not only the last one's.
TEST_CASE("deferred after two failing upstreams, mailq names both classes", "[postfix]") {
  Server upstream(peer_argv({"--cert", "expired"}));
  const unsigned short closed = free_port();  // nothing listens: connect-refused
  Relay relay(upstream.port(), "[[upstream]]\nname = \"backup\"\nhost = \"mx.test\"\nport = " +
                                   std::to_string(closed) +
                                   "\nconnect = \"127.0.0.1\"\ntimeout_s = 3\n"
                                   "[policy]\nbackoff_s = [0.1]\n");
  Postfix postfix(relay.port());
  submit(postfix.port(), "Message-ID: <e2e-3@test>\r\nSubject: held twice\r\n\r\nbody\r\n");
  REQUIRE(wait_until([&] { return postfix.maillog().find("status=deferred") != std::string::npos; },
                     std::chrono::seconds(30)));
  const std::string log = postfix.maillog();
  INFO("maillog:\n" << log);
  CHECK(log.find("tlsrelay: smarthost certificate-expired, backup connect-refused (2 tries); "
                 "smarthost mx.test[127.0.0.1]:") != std::string::npos);
  const std::string reason = delay_reason(postfix);
  INFO(reason);
  CHECK(reason.find("smarthost certificate-expired") != std::string::npos);
  CHECK(reason.find("backup connect-refused") != std::string::npos);
  CHECK(reason.find("tried 3 times over 2 upstreams; txn ") != std::string::npos);
}

namespace {

// A relay inside the namespace whose only upstream name resolves (the namespace's own
// /etc/hosts) to ::1 first, then 127.0.0.1.
class NetnsRelay {
 public:
  NetnsRelay(const Netns& ns, unsigned short upstream_port) {
    config_ = dir_.path() + "/relay.toml";
    std::ofstream(config_) << "[proxy]\nlisten = [\"127.0.0.1:0\"]\nhostname = \"relay.test\"\n"
                           << "[tls]\nca_file = \"" << cert("ca.pem") << "\"\n"
                           << "[[upstream]]\nname = \"dual\"\nhost = \"mx.test\"\nport = "
                           << upstream_port << "\ntimeout_s = 1\n";
    std::vector<std::string> argv = ns.exec();
    argv.insert(argv.end(), {tlsrelay_bin(), "serve", "--config", config_});
    server_ = std::make_unique<Server>(argv);
  }
  unsigned short port() const { return server_->port(); }
  std::string log() const { return server_->stderr_text(); }

 private:
  TempDir dir_;
  std::string config_;
  std::unique_ptr<Server> server_;
};

}  // namespace

TEST_CASE("next-address: a stalling ::1 falls back to a healthy 127.0.0.1", "[netns]") {
  Netns ns;
  {
    std::ofstream hosts("/etc/netns/" + ns.name() + "/hosts");
    hosts << "::1 mx.test\n127.0.0.1 mx.test\n127.0.0.1 localhost\n";
  }
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  const std::string port = "2600";
  Server stall(peer_argv({"--listen", "[::1]:" + port, "--behaviour", "silent"}, ns.exec()));
  Server good(peer_argv({"--listen", "127.0.0.1:" + port, "--capture", capture}, ns.exec()));
  NetnsRelay relay(ns, 2600);
  std::vector<std::string> swaks = ns.exec();
  swaks.insert(swaks.end(), {"swaks", "--server", "127.0.0.1:" + std::to_string(relay.port()),
                             "--from", "a@example.org", "--to", "b@example.org", "--ehlo",
                             "client.test", "--body", "next address"});
  RunResult r = run(swaks, std::chrono::seconds(60));
  INFO("swaks:\n" << r.out << "\nrelay log:\n" << relay.log());
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("<-  250 2.0.0 Ok: queued as") != std::string::npos);
  const std::string seen = read_file(capture);
  INFO("capture:\n" << seen);
  CHECK(seen.find("TLS-Relay: upstream=dual; host=mx.test; address=127.0.0.1;") !=
        std::string::npos);
  CHECK(seen.find("TLS-Relay-Failure: attempt=1; upstream=dual; address=::1;") !=
        std::string::npos);
  CHECK(seen.find("class=timeout") != std::string::npos);
}

TEST_CASE("Postfix: one recipient of three rejected upstream; the others are delivered",
          "[postfix]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server upstream(peer_argv({"--capture", capture, "--reject-rcpt", "nobody@example.org"}));
  Relay relay(upstream.port());
  Postfix postfix(relay.port());
  SmtpClient c(postfix.port());
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  REQUIRE(SmtpClient::code(c.cmd("EHLO submitter.test")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("MAIL FROM:<alice@test>")) == 250);
  for (const char* to : {"<bob@example.org>", "<nobody@example.org>", "<carol@example.org>"}) {
    REQUIRE(SmtpClient::code(c.cmd(std::string("RCPT TO:") + to)) == 250);
  }
  REQUIRE(SmtpClient::code(c.cmd("DATA")) == 354);
  c.send("Message-ID: <e2e-3@test>\r\nSubject: three\r\n\r\nbody\r\n.\r\n");
  REQUIRE(SmtpClient::code(c.reply()) == 250);
  c.cmd("QUIT");
  // Postfix bounces the one the upstream refused (its own 550, passed on by tlsrelay) and
  // delivers the other two in the same transaction.
  INFO("maillog:\n" << postfix.maillog());
  REQUIRE(wait_until(
      [&] {
        const std::string log = postfix.maillog();
        return log.find("status=sent") != std::string::npos &&
               log.find("status=bounced") != std::string::npos;
      },
      std::chrono::seconds(30)));
  const std::string log = postfix.maillog();
  INFO("maillog:\n" << log);
  CHECK(log.find("to=<nobody@example.org>") != std::string::npos);
  CHECK(log.find("550 5.1.1 <nobody@example.org>: Recipient address rejected") !=
        std::string::npos);
  const std::string seen = read_file(capture);
  INFO("capture:\n" << seen);
  CHECK(seen.find("RCPT TO:<bob@example.org>") != std::string::npos);
  CHECK(seen.find("RCPT TO:<carol@example.org>") != std::string::npos);
  CHECK(seen.find("Subject: three") != std::string::npos);
}
