// tlsrelay-milter end to end, all real parts: a private Postfix (integration/
// postfix-instance.sh) with smtpd_milters pointing at a running tlsrelay-milter, relayhost
// = `tlsrelay serve` with its /status on [http] listen, and the test peer as the smarthost
// (healthy, or with an expired certificate). Both programs read one TOML file. Root only.
//
// TLSRELAY_MILTER_UNDER_TEST=PATH runs another milter binary (e.g. an ASan build) against
// the same rig; every test then also checks its stderr for sanitizer reports.
#define CATCH_CONFIG_RUNNER
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "milter/status_client.hpp"
#include "tests/e2e/fixture.hpp"
#include "tests/e2e/smtp_client.hpp"

using namespace tlsrelay;
using namespace tlsrelay::e2e;
using namespace std::chrono_literals;

namespace {

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

std::string milter_bin() {
  const char* other = std::getenv("TLSRELAY_MILTER_UNDER_TEST");
  return other && *other ? other : TLSRELAY_MILTER_BIN;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto i = text.find(what); i != std::string::npos; i = text.find(what, i + 1)) ++n;
  return n;
}

// The relay and the milter, configured by one file. policy: accept | tempfail | hold.
class Relay {
 public:
  Relay(unsigned short upstream_port, const std::string& policy)
      : http_port_(free_port()), milter_port_(free_port()) {
    config_ = dir_.path() + "/relay.toml";
    std::ofstream(config_) << "[proxy]\nlisten = [\"127.0.0.1:0\"]\nhostname = \"relay.test\"\n"
                           << "[tls]\nca_file = \"" << cert("ca.pem") << "\"\n"
                           << "[[upstream]]\nname = \"smarthost\"\nhost = \"mx.test\"\nport = "
                           << upstream_port << "\nconnect = \"127.0.0.1\"\ntimeout_s = 3\n"
                           << "[http]\nlisten = \"127.0.0.1:" << http_port_ << "\"\n"
                           << "[milter]\nsocket = \"inet:" << milter_port_ << "@127.0.0.1\"\n"
                           << "status_url = \"http://127.0.0.1:" << http_port_ << "/status\"\n"
                           << "policy = \"" << policy << "\"\ncache_s = 0.2\n";
    start();
  }
  void start() {
    server_ = std::make_unique<Server>(
        std::vector<std::string>{tlsrelay_bin(), "serve", "--config", config_});
    REQUIRE(wait_until([&] { return status().is_object(); }, 20s));
  }
  void kill() { server_.reset(); }
  unsigned short port() const { return server_->port(); }
  unsigned short milter_port() const { return milter_port_; }
  const std::string& config() const { return config_; }

  // GET /status; null when it cannot be read.
  nlohmann::json status() const {
    auto r = tlsrelay::milter::http_get({"127.0.0.1", http_port_, "/status"}, 2000ms);
    if (!r.ok) return nullptr;
    return nlohmann::json::parse(r.body, nullptr, false);
  }
  std::string route_state() const {
    auto s = status();
    if (!s.is_object() || !s.contains("route") || !s["route"]["state"].is_string()) return "";
    return s["route"]["state"];
  }

  // One transaction straight to the relay, so that its route has a state of its own
  // (healthy or failing) before the milter asks; the result itself does not matter.
  void prime(const std::string& expected_state) {
    {
      SmtpClient c(port());
      c.reply();
      c.cmd("EHLO primer.test");
      c.cmd("MAIL FROM:<primer@test>");
      c.cmd("RCPT TO:<primer@example.org>");
      if (SmtpClient::code(c.cmd("DATA")) == 354) {
        c.send("Subject: primer\r\n\r\nprimer\r\n.\r\n");
        c.reply();
      }
      c.cmd("QUIT");
    }
    INFO("relay /status: " << status().dump());
    REQUIRE(wait_until([&] { return route_state() == expected_state; }, 30s));
  }

 private:
  TempDir dir_;
  unsigned short http_port_;
  unsigned short milter_port_;
  std::string config_;
  std::unique_ptr<Server> server_;
};

class Milter {
 public:
  explicit Milter(const Relay& relay)
      : server_(std::vector<std::string>{milter_bin(), "--config", relay.config()}) {
    REQUIRE(server_.port() == relay.milter_port());
  }
  ~Milter() {
    const std::string err = server_.stderr_text();
    if (err.find("Sanitizer") != std::string::npos) {
      std::cerr << "milter stderr with a sanitizer report:\n" << err << "\n";
      FAIL_CHECK("the milter's stderr has a sanitizer report");
    }
  }
  std::string log() const { return server_.stderr_text(); }
  // SIGTERM and wait for the milter's last line (the Server destructor reaps it).
  std::string stop() {
    ::kill(server_.pid(), SIGTERM);
    wait_until([&] { return log().find("event=stopped") != std::string::npos; }, 30s);
    // Then until it has exited (a zombie, not yet reaped): LeakSanitizer reports at exit.
    wait_until(
        [&] {
          const std::string stat = read_file("/proc/" + std::to_string(server_.pid()) + "/stat");
          const auto paren = stat.rfind(')');
          return paren == std::string::npos || stat.compare(paren, 3, ") Z") == 0;
        },
        30s);
    return log();
  }

 private:
  Server server_;
};

class Postfix {
 public:
  Postfix(unsigned short relay_port, unsigned short milter_port) : port_(free_port()) {
    chmod(dir_.path().c_str(), 0755);
    const std::string extra = dir_.path() + "/extra.cf";
    // What README "The milter" tells admins to write, plus STARTTLS for the inbound facts.
    std::ofstream(extra) << "smtpd_milters = inet:127.0.0.1:" << milter_port << "\n"
                         << "milter_default_action = accept\n"
                         << "milter_protocol = 6\n"
                         << "smtpd_tls_security_level = may\n"
                         << "smtpd_tls_cert_file = " << cert("good.chain.pem") << "\n"
                         << "smtpd_tls_key_file = " << cert("good.key") << "\n"
                         << "smtpd_tls_ask_ccert = yes\n"
                         << "smtpd_tls_CAfile = " << cert("ca.pem") << "\n";
    RunResult r = run({rig(), "start", dir_.path() + "/pf", std::to_string(port_),
                       "[127.0.0.1]:" + std::to_string(relay_port), extra});
    INFO("postfix start: " << r.out << r.err << maillog());
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
        20s));
  }
  ~Postfix() { run({rig(), "stop", dir_.path() + "/pf"}); }
  unsigned short port() const { return port_; }
  std::string maillog() const { return read_file(dir_.path() + "/pf/maillog"); }
  // postqueue -j: one JSON object per queued message.
  std::vector<nlohmann::json> queue() const {
    std::vector<nlohmann::json> out;
    std::istringstream lines(run({rig(), "queue", dir_.path() + "/pf"}).out);
    for (std::string line; std::getline(lines, line);) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object()) out.push_back(j);
    }
    return out;
  }
  // The headers of a queued message (postcat -h -q ID).
  std::string queued_headers(const std::string& id) const {
    return run({rig(), "run", dir_.path() + "/pf", "postcat", "-h", "-q", id}).out;
  }

 private:
  TempDir dir_;
  unsigned short port_;
};

RunResult swaks(unsigned short port, const std::string& id) {
  return run({"swaks", "--server", "127.0.0.1:" + std::to_string(port), "--from", "alice@test",
              "--to", "bob@example.org", "--ehlo", "submitter.test", "--header",
              "Message-ID: <" + id + "@test>", "--body", "milter test " + id},
             60s);
}

// A client certificate (clientAuth) under the test root, made once with openssl(1): the
// peer's certificates are for servers only, and Postfix gives {cert_subject} and
// {cert_issuer} only for a client certificate it trusts.
struct ClientCert {
  std::string cert, key;
};
const ClientCert& client_cert() {
  static TempDir dir;
  static ClientCert c;
  if (c.cert.empty()) {
    const std::string d = dir.path();
    std::ofstream(d + "/ext.cnf") << "extendedKeyUsage = clientAuth\n";
    RunResult r = run({"openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj",
                       "/CN=client.test/O=Example Org", "-keyout", d + "/client.key", "-out",
                       d + "/client.csr"});
    REQUIRE(r.exit_code == 0);
    r = run({"openssl", "x509", "-req", "-in", d + "/client.csr", "-CA", cert("ca.pem"), "-CAkey",
             cert("ca.key"), "-set_serial", "7", "-days", "2", "-extfile", d + "/ext.cnf", "-out",
             d + "/client.pem"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    c = {d + "/client.pem", d + "/client.key"};
  }
  return c;
}

// A submission over STARTTLS with a client certificate, for the inbound facts (swaks
// cannot do TLS without Net::SSLeay). Returns the reply to the final ".".
std::string submit_tls(unsigned short port, const std::string& body) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  REQUIRE(SSL_CTX_use_certificate_chain_file(ctx.get(), client_cert().cert.c_str()) == 1);
  REQUIRE(SSL_CTX_use_PrivateKey_file(ctx.get(), client_cert().key.c_str(), SSL_FILETYPE_PEM) == 1);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(nullptr, SSL_free);
  std::string buffer;
  auto read_some = [&]() -> bool {
    char b[4096];
    const int n =
        ssl ? SSL_read(ssl.get(), b, sizeof b) : static_cast<int>(::recv(fd, b, sizeof b, 0));
    if (n <= 0) return false;
    buffer.append(b, static_cast<std::size_t>(n));
    return true;
  };
  auto reply = [&]() -> std::string {
    std::string out;
    for (;;) {
      auto nl = buffer.find('\n');
      if (nl == std::string::npos) {
        if (!read_some()) return out;
        continue;
      }
      std::string line = buffer.substr(0, nl + 1);
      buffer.erase(0, nl + 1);
      out += line;
      if (line.size() < 4 || line[3] == ' ') return out;
    }
  };
  auto send = [&](const std::string& s) {
    if (ssl) {
      SSL_write(ssl.get(), s.data(), static_cast<int>(s.size()));
    } else {
      (void)::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    }
  };
  auto cmd = [&](const std::string& line) {
    send(line + "\r\n");
    return reply();
  };
  REQUIRE(SmtpClient::code(reply()) == 220);
  REQUIRE(SmtpClient::code(cmd("EHLO submitter.test")) == 250);
  REQUIRE(SmtpClient::code(cmd("STARTTLS")) == 220);
  ssl.reset(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  REQUIRE(SSL_connect(ssl.get()) == 1);
  REQUIRE(SmtpClient::code(cmd("EHLO submitter.test")) == 250);
  REQUIRE(SmtpClient::code(cmd("MAIL FROM:<alice@test>")) == 250);
  REQUIRE(SmtpClient::code(cmd("RCPT TO:<bob@example.org>")) == 250);
  REQUIRE(SmtpClient::code(cmd("DATA")) == 354);
  send(body + ".\r\n");
  const std::string final_reply = reply();
  cmd("QUIT");
  SSL_shutdown(ssl.get());
  ssl.reset();
  ::close(fd);
  return final_reply;
}

// RFC 5322 2.2.3 unfolding: a line break followed by white space is removed.
std::string unfold(std::string s) {
  for (std::size_t i = s.find('\n'); i != std::string::npos; i = s.find('\n', i)) {
    std::size_t end = i + 1;
    if (end < s.size() && (s[end] == ' ' || s[end] == '\t')) {
      s.erase(i > 0 && s[i - 1] == '\r' ? i - 1 : i, i > 0 && s[i - 1] == '\r' ? 2 : 1);
    } else {
      ++i;
    }
  }
  return s;
}

// The queued message with this Message-ID (headers unfolded), or null.
nlohmann::json queued(const Postfix& pf, const std::string& id) {
  for (const auto& m : pf.queue()) {
    const std::string headers = pf.queued_headers(m.value("queue_id", ""));
    if (headers.find("<" + id + "@test>") != std::string::npos) {
      nlohmann::json j = m;
      j["headers"] = unfold(headers);
      return j;
    }
  }
  return nullptr;
}

}  // namespace

TEST_CASE("healthy route: the upstream receives state=healthy and the inbound TLS facts",
          "[milter][healthy]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server upstream(peer_argv({"--capture", capture}));
  Relay relay(upstream.port(), "tempfail");
  relay.prime("healthy");
  Milter milter(relay);
  Postfix postfix(relay.port(), relay.milter_port());
  // A forged copy of our field must not survive.
  const std::string reply = submit_tls(
      postfix.port(),
      "Message-ID: <healthy-1@test>\r\nTLS-Relay-Route: upstream=x; state=healthy; forged=yes"
      "\r\nSubject: healthy\r\n\r\nbody\r\n");
  INFO("milter log:\n" << milter.log() << "\nmaillog:\n" << postfix.maillog());
  CHECK(SmtpClient::code(reply) == 250);
  REQUIRE(wait_until([&] { return read_file(capture).find("healthy-1@test") != std::string::npos; },
                     30s));
  const std::string seen = unfold(read_file(capture));
  INFO("upstream capture:\n" << seen);
  CHECK(seen.find("TLS-Relay-Route: upstream=smarthost; state=healthy\r\n") != std::string::npos);
  CHECK(seen.find("forged=yes") == std::string::npos);
  CHECK(seen.find("TLS-Relay-Inbound: tls=TLSv1.3; cipher=TLS_AES_256_GCM_SHA384; bits=256;") !=
        std::string::npos);
  CHECK(seen.find("cert-subject=client.test") != std::string::npos);
  CHECK(seen.find("cert-issuer=\"tlsrelay test root\"") != std::string::npos);
  CHECK(milter.log().find("verdict=accept why=route-healthy") != std::string::npos);
  CHECK(milter.log().find("removed_forged=1") != std::string::npos);
}

TEST_CASE("expired certificate, policy accept: accepted, queued and tagged failing",
          "[milter][accept]") {
  Server upstream(peer_argv({"--cert", "expired"}));
  Relay relay(upstream.port(), "accept");
  relay.prime("failing");
  Milter milter(relay);
  Postfix postfix(relay.port(), relay.milter_port());
  const RunResult r = swaks(postfix.port(), "accept-1");
  INFO("swaks:\n" << r.out << "\nmilter log:\n" << milter.log());
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("<-  250 2.0.0 Ok: queued as") != std::string::npos);
  nlohmann::json q;
  REQUIRE(wait_until([&] { return !(q = queued(postfix, "accept-1")).is_null(); }, 30s));
  const std::string headers = q["headers"];
  INFO("queued headers:\n" << headers);
  CHECK(q["queue_name"] != "hold");
  CHECK(headers.find("TLS-Relay-Route: upstream=smarthost; state=failing; "
                     "class=certificate-expired; since=") != std::string::npos);
  CHECK(headers.find("hint=") != std::string::npos);
  CHECK(headers.find("TLS-Relay-Inbound: tls=none") != std::string::npos);
}

TEST_CASE("expired certificate, policy tempfail: the sender gets 451 4.7.5 with the class",
          "[milter][tempfail]") {
  Server upstream(peer_argv({"--cert", "expired"}));
  Relay relay(upstream.port(), "tempfail");
  relay.prime("failing");
  Milter milter(relay);
  Postfix postfix(relay.port(), relay.milter_port());
  const RunResult r = swaks(postfix.port(), "tempfail-1");
  INFO("swaks:\n"
       << r.out << "\nmilter log:\n"
       << milter.log() << "\nmaillog:\n"
       << postfix.maillog());
  CHECK(r.exit_code != 0);
  CHECK(r.out.find("<** 451 4.7.5 tlsrelay: upstream smarthost is failing "
                   "(certificate-expired: ") != std::string::npos);
  CHECK(postfix.queue().empty());
  CHECK(milter.log().find("verdict=tempfail why=route-failing route_state=failing "
                          "upstream=smarthost class=certificate-expired") != std::string::npos);
}

TEST_CASE("expired certificate, policy hold: the message waits in the hold queue with the reason",
          "[milter][hold]") {
  Server upstream(peer_argv({"--cert", "expired"}));
  Relay relay(upstream.port(), "hold");
  relay.prime("failing");
  Milter milter(relay);
  Postfix postfix(relay.port(), relay.milter_port());
  const RunResult r = swaks(postfix.port(), "hold-1");
  INFO("swaks:\n" << r.out << "\nmilter log:\n" << milter.log());
  CHECK(r.out.find("<-  250 2.0.0 Ok: queued as") != std::string::npos);
  nlohmann::json q;
  REQUIRE(wait_until([&] { return !(q = queued(postfix, "hold-1")).is_null(); }, 30s));
  INFO("postqueue -j: " << q.dump() << "\nmaillog:\n" << postfix.maillog());
  CHECK(q["queue_name"] == "hold");
  // Postfix logs the hold without the milter's reason; the reason travels in the held
  // message's TLS-Relay-Route field (postcat) and in the milter's log.
  CHECK(postfix.maillog().find("milter-hold: END-OF-MESSAGE") != std::string::npos);
  const std::string headers = q["headers"];
  CHECK(headers.find("TLS-Relay-Route: upstream=smarthost; state=failing; "
                     "class=certificate-expired;") != std::string::npos);
  CHECK(milter.log().find("verdict=hold why=route-failing") != std::string::npos);
  CHECK(milter.log().find("hold_reason=\"tlsrelay: upstream smarthost is failing "
                          "(certificate-expired: ") != std::string::npos);
}

TEST_CASE("relay down: submission still works, no route field, the log says fail-open",
          "[milter][down]") {
  Server upstream(peer_argv({}));
  Relay relay(upstream.port(), "tempfail");
  relay.prime("healthy");
  Milter milter(relay);
  Postfix postfix(relay.port(), relay.milter_port());
  relay.kill();
  for (const char* id : {"down-1", "down-2"}) {
    const RunResult r = swaks(postfix.port(), id);
    INFO("swaks:\n" << r.out << "\nmilter log:\n" << milter.log());
    CHECK(r.out.find("<-  250 2.0.0 Ok: queued as") != std::string::npos);
  }
  nlohmann::json q;
  REQUIRE(wait_until([&] { return !(q = queued(postfix, "down-1")).is_null(); }, 30s));
  const std::string headers = q["headers"];
  INFO("queued headers:\n" << headers << "\nmilter log:\n" << milter.log());
  CHECK(headers.find("TLS-Relay-Route") == std::string::npos);
  CHECK(headers.find("TLS-Relay-Inbound: tls=none") != std::string::npos);
  const std::string log = milter.log();
  // Logged once (rate-limited), counted for every message.
  CHECK(count(log, "event=fail-open") == 1);
  CHECK(log.find("event=fail-open reason=\"connect 127.0.0.1:") != std::string::npos);
  CHECK(count(log, "why=status-unavailable") == 2);
  const std::string last = milter.stop();
  CHECK(last.find("fail_open_total=2") != std::string::npos);
}

TEST_CASE("500 messages submitted concurrently are all handled, with few /status requests",
          "[milter][load]") {
  Server upstream(peer_argv({}));
  Relay relay(upstream.port(), "tempfail");
  relay.prime("healthy");
  Milter milter(relay);
  Postfix postfix(relay.port(), relay.milter_port());
  constexpr int kThreads = 20;
  constexpr int kEach = 25;
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        try {
          SmtpClient c(postfix.port());
          if (SmtpClient::code(c.reply()) != 220) continue;
          c.cmd("EHLO load.test");
          c.cmd("MAIL FROM:<load@test>");
          c.cmd("RCPT TO:<sink@example.org>");
          if (SmtpClient::code(c.cmd("DATA")) != 354) continue;
          c.send("Message-ID: <load-" + std::to_string(t) + "-" + std::to_string(i) +
                 "@test>\r\nSubject: load\r\n\r\nload\r\n.\r\n");
          if (SmtpClient::code(c.reply()) == 250) ++accepted;
          c.cmd("QUIT");
        } catch (const std::exception&) {
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start)
          .count();
  const std::string log = milter.stop();
  INFO("milter log tail:\n" << log.substr(log.size() > 3000 ? log.size() - 3000 : 0));
  CHECK(accepted == kThreads * kEach);
  CHECK(count(log, "event=message ") == kThreads * kEach);
  CHECK(count(log, "verdict=accept why=route-healthy") == kThreads * kEach);
  // cache_s = 0.2: at most about 5 requests a second, never one per message.
  const auto fetches_at = log.find("status_fetches=");
  REQUIRE(fetches_at != std::string::npos);
  const long fetches = std::atol(log.c_str() + fetches_at + 15);
  CHECK(fetches <= 5 * (seconds + 2));
  CHECK(fetches < kThreads * kEach / 4);
}

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    std::cerr << "these tests need root (a private Postfix in a mount namespace); skipped\n";
    return 77;  // CTest's SKIP_RETURN_CODE
  }
  return Catch::Session().run(argc, argv);
}
