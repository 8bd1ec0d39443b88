#include "tests/e2e/relay_fixture.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>

namespace tlsrelay::e2e {

Upstream peer_upstream(const std::string& name, unsigned short port) {
  return {"[[upstream]]\nname = \"" + name + "\"\nhost = \"mx.test\"\nport = " +
          std::to_string(port) + "\nconnect = \"127.0.0.1\"\ntimeout_s = 3\n"};
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

bool wait_for_log(const Relay& relay, const std::string& phrase) {
  for (int i = 0; i < 200; ++i) {
    if (relay.log().find(phrase) != std::string::npos) return true;
    poll(nullptr, 0, 25);
  }
  return false;
}

std::string send_message(SmtpClient& c, const std::string& body, const std::string& rcpt) {
  REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
  std::string mail = c.cmd("MAIL FROM:<a@example.org>");
  if (SmtpClient::code(mail) != 250) return mail;
  REQUIRE(SmtpClient::code(c.cmd("RCPT TO:" + rcpt)) == 250);
  REQUIRE(SmtpClient::code(c.cmd("DATA")) == 354);
  c.send(body + ".\r\n");
  return c.reply();
}

std::string relay_one(unsigned short port, const std::string& mail_params) {
  SmtpClient c(port);
  c.reply();
  c.cmd("EHLO client.test");
  std::string r = c.cmd("MAIL FROM:<a@example.org>" + mail_params);
  if (SmtpClient::code(r) != 250) return r;
  if (SmtpClient::code(c.cmd("RCPT TO:<b@example.org>")) != 250) return "rcpt refused";
  if (SmtpClient::code(c.cmd("DATA")) != 354) return "data refused";
  c.send("Subject: policy\r\n\r\nbody\r\n.\r\n");
  return c.reply(std::chrono::seconds(60));
}

std::string http_get(unsigned short port, const std::string& path) {
  auto r =
      run({"curl", "-sS", "--max-time", "10", "http://127.0.0.1:" + std::to_string(port) + path});
  INFO("curl: " << r.err);
  REQUIRE(r.exit_code == 0);
  return r.out;
}

bool wait_for_metric(unsigned short http, const std::string& sample) {
  for (int i = 0; i < 500; ++i) {
    if (http_get(http, "/metrics").find(sample + "\n") != std::string::npos) return true;
    poll(nullptr, 0, 10);
  }
  return false;
}

int connect_from(unsigned short port, const std::string& source) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace tlsrelay::e2e
