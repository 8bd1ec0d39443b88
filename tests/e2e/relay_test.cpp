// End to end: `tlsrelay serve` between a client and real upstreams (tlsrelay-testpeer with
// STARTTLS; Postfix's smtp-sink with its fault switches). Checks the relay's promises:
// 250 only after the upstream's 250, every failure a precise 4xx/5xx, the upstream sees
// exactly the message meant, never an open relay.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <cctype>
#include <fstream>
#include <map>
#include <sstream>

#include "common/log.hpp"
#include "common/text.hpp"
#include "tests/e2e/fixture.hpp"
#include "tests/e2e/relay_fixture.hpp"
#include "tests/e2e/smtp_client.hpp"
#include "tls/classifier.hpp"
#include "tls/client_context.hpp"
#include "tls/connector.hpp"

using namespace tlsrelay;
using namespace tlsrelay::e2e;

TEST_CASE("a message is relayed and answered 250 only after the upstream's 250", "[relay]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  Relay relay({peer_upstream("primary", peer.port())});
  SmtpClient c(relay.port());
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  const std::string body =
      "Subject: test\r\n\r\nline one\r\n.leading dot\r\n..two dots\r\n\xc3\xa9t\xc3\xa9\r\n";
  std::string final_reply = send_message(c, body);
  INFO("relay log: " << relay.log());
  CHECK(SmtpClient::code(final_reply) == 250);
  CHECK(final_reply.find("queued as") != std::string::npos);  // the upstream's own words
  CHECK(SmtpClient::code(c.cmd("QUIT")) == 221);

  std::string seen = read_file(capture);
  INFO("upstream capture:\n" << seen);
  // Our header first, then the message exactly as meant, dot-stuffed on the wire.
  CHECK(seen.find("TLS-Relay: upstream=primary; host=mx.test; address=127.0.0.1; tls=TLSv1.3") !=
        std::string::npos);
  // The client's ".leading dot" was stuffing (content "leading dot"); its "..two dots" is
  // content ".two dots", which must be stuffed again on our wire.
  CHECK(seen.find("\r\nSubject: test\r\n\r\nline one\r\nleading dot\r\n..two dots\r\n"
                  "\xc3\xa9t\xc3\xa9\r\n.\r\n") != std::string::npos);
  CHECK(seen.find("MAIL FROM:<a@example.org>") != std::string::npos);
  // One attempt record for the transaction, linked to it.
  auto record = nlohmann::json::parse(relay.events().substr(0, relay.events().find('\n')));
  CHECK(record["class"] == "ok");
  CHECK(record["transaction"].is_string());
}

TEST_CASE("an upstream with an expired certificate: 451 naming the class and hint", "[relay]") {
  Server peer(peer_argv({"--cert", "expired"}));
  Relay relay({peer_upstream("primary", peer.port())});
  SmtpClient c(relay.port());
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
  std::string r = c.cmd("MAIL FROM:<a@example.org>");
  INFO(r);
  CHECK(r.rfind("451 4.7.5 tlsrelay: primary mx.test[127.0.0.1]:" + std::to_string(peer.port()) +
                    " certificate-expired: the certificate for mx.test expired",
                0) == 0);
  CHECK(r.find("tried 1 time over 1 upstream") != std::string::npos);
  // The transaction did not start: RCPT is out of sequence.
  CHECK(SmtpClient::code(c.cmd("RCPT TO:<b@example.org>")) == 503);
  auto record = nlohmann::json::parse(relay.events().substr(0, relay.events().find('\n')));
  CHECK(record["class"] == "certificate-expired");
}

TEST_CASE("the backup upstream takes over, and the message says what failed", "[relay]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server bad(peer_argv({"--cert", "leafonly"}));
  Server good(peer_argv({"--capture", capture}));
  Relay relay({peer_upstream("primary", bad.port()), peer_upstream("backup", good.port())});
  SmtpClient c(relay.port());
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  CHECK(SmtpClient::code(send_message(c, "Subject: x\r\n\r\nbody\r\n")) == 250);
  std::string seen = read_file(capture);
  INFO(seen);
  CHECK(seen.find("TLS-Relay: upstream=backup;") != std::string::npos);
  CHECK(seen.find("attempts=2") != std::string::npos);
  CHECK(seen.find("TLS-Relay-Failure: attempt=1; upstream=primary; address=127.0.0.1;") !=
        std::string::npos);
  CHECK(seen.find("class=certificate-chain-incomplete; phase=certificate") != std::string::npos);
}

TEST_CASE("clients outside allow_clients are refused: never an open relay", "[relay]") {
  Server peer(peer_argv({}));
  Relay relay({peer_upstream("primary", peer.port())},
              "allow_clients = [\"192.0.2.0/24\", \"2001:db8::/32\"]");
  SmtpClient c(relay.port());
  std::string r = c.reply();
  CHECK(r.rfind("554 5.7.1", 0) == 0);
  CHECK(c.closed());
}

TEST_CASE("bad input gets the RFC reply and the session goes on", "[relay]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  Relay relay({peer_upstream("primary", peer.port())}, "max_message_size = 2000");
  SmtpClient c(relay.port());
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  SECTION("an over-long command line") {
    CHECK(SmtpClient::code(c.cmd("EHLO " + std::string(5000, 'a'))) == 500);
    CHECK(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
  }
  SECTION("a message over the size limit is refused and the upstream gets no final dot") {
    std::string body = "Subject: big\r\n\r\n";
    for (int i = 0; i < 40; ++i) body += std::string(80, 'x') + "\r\n";  // > 2000 octets
    std::string r = send_message(c, body);
    CHECK(SmtpClient::code(r) == 552);
    CHECK(SmtpClient::code(c.cmd("NOOP")) == 250);
    CHECK(read_file(capture).find("\r\n.\r\n") == std::string::npos);
  }
  SECTION("bare LF in DATA: refused, and a smuggled transaction is never executed") {
    std::string r = send_message(
        c,
        "Subject: s\r\n\r\nhello\n.\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<x@example.org>\r\n");
    CHECK(SmtpClient::code(r) / 100 == 5);
    CHECK(SmtpClient::code(c.cmd("NOOP")) == 250);
    std::string seen = read_file(capture);
    CHECK(seen.find("evil@example.org") == std::string::npos);
  }
}

// ---- SMTP smuggling end to end (SEC Consult 2023; CVE-2023-51764/51765/51766) -----------

namespace {

// Every published fake end-of-data sequence.
const std::vector<std::string>& smuggling_variants() {
  static const std::vector<std::string> v = {
      std::string("\n.\n"),          std::string("\r.\r"),      std::string("\r.\n"),
      std::string("\n.\r"),          std::string("\n.\r\n"),    std::string("\r\n.\n"),
      std::string("\r.\r\n"),        std::string("\r\n.\r"),    std::string("\r\n\0.\r\n", 6),
      std::string("\r\n.\0\r\n", 6), std::string("\r\n.\r\r\n")};
  return v;
}

const std::string kSmuggled =
    "MAIL FROM:<smuggler@evil.example>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\n"
    "From: ceo@victim.example\r\n\r\nsmuggled\r\n";

// No CR or LF of the upstream's stream stands outside a CRLF pair.
bool only_crlf(const std::string& s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) return false;
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("SMTP smuggling: no fake end of data reaches the upstream, DATA or BDAT, any split",
          "[relay][smuggling]") {
  const bool normalize = GENERATE(false, true);
  INFO("bare_newlines = " << (normalize ? "normalize" : "reject"));
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  // Our trace headers on (the default): the data we write starts with fields of ours.
  Relay relay({peer_upstream("primary", peer.port())},
              normalize ? "bare_newlines = \"normalize\"\n" : "");
  std::size_t delivered = 0;
  std::size_t sessions = 0;
  for (const std::string& variant : smuggling_variants()) {
    for (const std::string placement : {"after DATA", "in the header", "in the body"}) {
      std::string before = placement == std::string("after DATA")      ? ""
                           : placement == std::string("in the header") ? "Subject: s"
                                                                       : "Subject: s\r\n\r\nhi";
      const std::string message = before + variant + kSmuggled + "tail\r\n";
      const std::size_t at = before.size();
      // Split at every offset from just before the fake terminator to just after it.
      for (std::size_t split = at == 0 ? 0 : at - 1; split <= at + variant.size() + 1; ++split) {
        const bool bdat = split % 2 == 1;  // every other try as one BDAT LAST chunk
        INFO("variant " << tlsrelay::printable(variant, 40) << " " << placement << ", split at "
                        << split << (bdat ? ", BDAT" : ", DATA"));
        SmtpClient c(relay.port());
        REQUIRE(SmtpClient::code(c.reply()) == 220);
        REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
        REQUIRE(SmtpClient::code(c.cmd("MAIL FROM:<a@example.org>")) == 250);
        REQUIRE(SmtpClient::code(c.cmd("RCPT TO:<b@example.org>")) == 250);
        std::string reply;
        if (bdat) {
          const std::string chunk = message + "\r\n.\r\n" + kSmuggled;  // all content in BDAT
          c.send("BDAT " + std::to_string(chunk.size()) + " LAST\r\n" + chunk.substr(0, split));
          c.send(chunk.substr(split));
          reply = c.reply();
        } else {
          REQUIRE(SmtpClient::code(c.cmd("DATA")) == 354);
          c.send(message.substr(0, split));
          c.send(message.substr(split) + ".\r\n");
          reply = c.reply();
        }
        ++sessions;
        INFO("reply: " << reply);
        const bool nul = variant.find('\0') != std::string::npos;
        if (normalize) {
          // NUL is refused in both modes: removing it could change the message's structure.
          CHECK(SmtpClient::code(reply) == (nul ? 554 : 250));
        } else {
          // A bare CR or LF (or NUL) anywhere: refused whole, never passed on.
          const bool bare = nul || !only_crlf(variant);
          CHECK(SmtpClient::code(reply) == (bare ? 554 : 250));
        }
        if (SmtpClient::code(reply) == 250) ++delivered;
        // The session goes on in step: the smuggled text was data, never commands.
        CHECK(SmtpClient::code(c.cmd("NOOP")) == 250);
        c.cmd("QUIT");
      }
    }
  }
  // What the relay sent, without the capture's own "=== ... ===\n" marker lines.
  std::string seen = read_file(capture);
  for (auto at = seen.find("=== tlsrelay-testpeer"); at != std::string::npos;
       at = seen.find("=== tlsrelay-testpeer", at)) {
    seen.erase(at, seen.find("===\n", at + 3) + 4 - at);
  }
  INFO(sessions << " sessions, " << delivered << " delivered");
  CHECK(sessions > 100);
  // The upstream saw one final dot per delivered message and not one more, never a command
  // from the smuggled part, and only CRLF line ends.
  CHECK(occurrences(seen, "\r\n.\r\n") == delivered);
  CHECK(only_crlf(seen));
  // Refused messages left nothing upstream, not even as content.
  if (!normalize) CHECK(seen.find("smuggler") == std::string::npos);
}

TEST_CASE("a client that stalls mid-DATA: the upstream never sees a final dot", "[relay]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  Relay relay({peer_upstream("primary", peer.port())}, "[proxy.timeouts]\ndata_block_s = 1\n");
  SmtpClient c(relay.port());
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("MAIL FROM:<a@example.org>")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("RCPT TO:<b@example.org>")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("DATA")) == 354);
  c.send("Subject: partial\r\n\r\nthe message stops here\r\n");
  CHECK(SmtpClient::code(c.reply(std::chrono::seconds(10))) == 421);
  CHECK(c.closed());
  CHECK(read_file(capture).find("\r\n.\r\n") == std::string::npos);
}

namespace {

// Postfix's smtp-sink as a plaintext upstream with a fault switch. It prints nothing when
// ready, so we connect until it answers (bounded); its port is found by binding port 0.
class Sink {
 public:
  explicit Sink(const std::vector<std::string>& faults) {
    port_ = free_port();
    std::vector<std::string> argv = {"smtp-sink", "-u", "nobody"};
    argv.insert(argv.end(), faults.begin(), faults.end());
    argv.push_back("127.0.0.1:" + std::to_string(port_));
    argv.push_back("10");
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      execvp(args[0], args.data());
      _exit(127);
    }
    for (int i = 0; i < 500; ++i) {
      try {
        SmtpClient probe(port_);
        if (SmtpClient::code(probe.reply()) == 220) return;
      } catch (const std::exception&) {
      }
      poll(nullptr, 0, 10);  // bounded wait for the listener to appear
    }
    FAIL("smtp-sink did not start");
  }
  ~Sink() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  Upstream upstream() const {
    return {"[[upstream]]\nname = \"sink\"\nhost = \"127.0.0.1\"\nport = " + std::to_string(port_) +
            "\ntls = \"none\"\nallow_plaintext = true\ntimeout_s = 3\n"};
  }

 private:
  unsigned short port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("smtp-sink faults never turn into a 250 we did not earn", "[relay][smtp-sink]") {
  SECTION("disconnect without a reply after the final dot: 451, a duplicate is possible") {
    Sink sink({"-q", "."});
    Relay relay({sink.upstream()});
    SmtpClient c(relay.port());
    REQUIRE(SmtpClient::code(c.reply()) == 220);
    std::string r = send_message(c, "Subject: x\r\n\r\nbody\r\n");
    INFO(r);
    CHECK(r.rfind("451 4.4.2", 0) == 0);
    CHECK(r.find("end of DATA") != std::string::npos);
  }
  SECTION("421 after the final dot is passed on") {
    Sink sink({"-Q", "."});
    Relay relay({sink.upstream()});
    SmtpClient c(relay.port());
    REQUIRE(SmtpClient::code(c.reply()) == 220);
    CHECK(SmtpClient::code(send_message(c, "Subject: x\r\n\r\nbody\r\n")) == 421);
  }
  SECTION("4xx to the final dot is passed on") {
    Sink sink({"-r", "."});
    Relay relay({sink.upstream()});
    SmtpClient c(relay.port());
    REQUIRE(SmtpClient::code(c.reply()) == 220);
    CHECK(SmtpClient::code(send_message(c, "Subject: x\r\n\r\nbody\r\n")) / 100 == 4);
  }
  SECTION("5xx to RCPT is the upstream's own, and DATA then has no recipients") {
    Sink sink({"-f", "rcpt"});
    Relay relay({sink.upstream()});
    SmtpClient c(relay.port());
    REQUIRE(SmtpClient::code(c.reply()) == 220);
    REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
    REQUIRE(SmtpClient::code(c.cmd("MAIL FROM:<a@example.org>")) == 250);
    CHECK(SmtpClient::code(c.cmd("RCPT TO:<b@example.org>")) / 100 == 5);
    CHECK(SmtpClient::code(c.cmd("DATA")) == 554);
  }
  SECTION("an upstream slower than our time-out: 451 4.4.1, no 354") {
    Sink sink({"-w", "5"});
    Relay relay({sink.upstream()}, "[proxy.timeouts]\ncommand_s = 1\n");
    SmtpClient c(relay.port());
    REQUIRE(SmtpClient::code(c.reply()) == 220);
    REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
    REQUIRE(SmtpClient::code(c.cmd("MAIL FROM:<a@example.org>")) == 250);
    REQUIRE(SmtpClient::code(c.cmd("RCPT TO:<b@example.org>")) == 250);
    std::string r = c.cmd("DATA");
    INFO(r);
    CHECK(r.rfind("451 4.4.1", 0) == 0);
  }
}

TEST_CASE("SIGTERM: an idle client gets 421 and the daemon exits 0", "[relay]") {
  Server peer(peer_argv({}));
  Relay relay({peer_upstream("primary", peer.port())});
  SmtpClient c(relay.port());
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
  kill(relay.pid(), SIGTERM);
  CHECK(c.reply().rfind("421 4.3.2", 0) == 0);
  int status = 0;
  REQUIRE(waitpid(relay.pid(), &status, 0) == relay.pid());
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("a 40 MB message goes through whole", "[relay][large]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  Relay relay({peer_upstream("primary", peer.port())});
  SmtpClient c(relay.port());
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("MAIL FROM:<a@example.org> SIZE=42000000")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("RCPT TO:<b@example.org>")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("DATA")) == 354);
  const std::string line = std::string(98, 'x') + "\r\n";
  std::string block;
  for (int i = 0; i < 10000; ++i) block += line;  // 1 MB
  c.send("Subject: big\r\n\r\n");
  for (int i = 0; i < 40; ++i) c.send(block);
  c.send(".\r\n");
  CHECK(SmtpClient::code(c.reply(std::chrono::seconds(120))) == 250);
  std::ifstream in(capture, std::ios::binary | std::ios::ate);
  CHECK(static_cast<std::uint64_t>(in.tellg()) > 40'000'000u);
}

TEST_CASE("1001 recipients: the 1001st gets 452 and the rest are relayed", "[relay]") {
  Server peer(peer_argv({}));
  Relay relay({peer_upstream("primary", peer.port())});
  SmtpClient c(relay.port());
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("MAIL FROM:<a@example.org>")) == 250);
  int accepted = 0;
  for (int i = 0; i < 1000; ++i) {
    accepted += SmtpClient::code(c.cmd("RCPT TO:<r" + std::to_string(i) + "@example.org>")) == 250;
  }
  CHECK(accepted == 1000);
  std::string r = c.cmd("RCPT TO:<one-too-many@example.org>");
  CHECK(r.rfind("452 4.5.3", 0) == 0);
}

TEST_CASE("200 concurrent client sessions are all relayed", "[relay][concurrency]") {
  Server peer(peer_argv({}));
  Relay relay({peer_upstream("primary", peer.port())},
              "max_connections = 300\nmax_connections_per_client = 300");
  constexpr int kClients = 200;
  std::vector<std::unique_ptr<SmtpClient>> clients;
  // All connected and greeted first, so the sessions really are concurrent.
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<SmtpClient>(relay.port()));
    REQUIRE(SmtpClient::code(clients.back()->reply()) == 220);
  }
  for (auto& c : clients) c->send("EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
  int ok = 0;
  for (auto& c : clients) {
    ok += SmtpClient::code(c->reply()) == 250 && SmtpClient::code(c->reply()) == 250 &&
          SmtpClient::code(c->cmd("RCPT TO:<b@example.org>")) == 250 &&
          SmtpClient::code(c->cmd("DATA")) == 354;
  }
  REQUIRE(ok == kClients);
  int delivered = 0;
  for (auto& c : clients) {
    c->send("Subject: c\r\n\r\nbody\r\n.\r\n");
  }
  for (auto& c : clients) delivered += SmtpClient::code(c->reply()) == 250;
  CHECK(delivered == kClients);
}

TEST_CASE("SIGHUP reloads the config; a broken one keeps the old", "[relay]") {
  Server first(peer_argv({}));
  Server second(peer_argv({"--behaviour", "banner-554"}));
  TempDir dir;
  Relay relay({peer_upstream("primary", first.port())});
  const std::string config = relay.dir() + "/relay.toml";
  std::string text = read_file(config);
  auto send_mail = [&]() {
    SmtpClient c(relay.port());
    c.reply();
    c.cmd("EHLO client.test");
    return c.cmd("MAIL FROM:<a@example.org>");
  };
  REQUIRE(SmtpClient::code(send_mail()) == 250);
  // A broken config: the old one stays.
  std::ofstream(config) << text << "\nbogus_key = 1\n";
  kill(relay.pid(), SIGHUP);
  REQUIRE(wait_for_log(relay, "status=rejected"));
  CHECK(SmtpClient::code(send_mail()) == 250);
  // A good one pointing at another upstream takes effect.
  std::string moved = text;
  moved.replace(moved.find("port = " + std::to_string(first.port())),
                7 + std::to_string(first.port()).size(), "port = " + std::to_string(second.port()));
  std::ofstream(config) << moved;
  kill(relay.pid(), SIGHUP);
  REQUIRE(wait_for_log(relay, "status=ok"));
  std::string r = send_mail();
  INFO(r);
  CHECK(r.find("banner-rejected") != std::string::npos);
}

TEST_CASE("one client cannot take every connection: the 51st gets 421", "[relay]") {
  Server peer(peer_argv({}));
  Relay relay({peer_upstream("primary", peer.port())});  // per client: 50 by default
  std::vector<std::unique_ptr<SmtpClient>> clients;
  for (int i = 0; i < 50; ++i) {
    clients.push_back(std::make_unique<SmtpClient>(relay.port()));
    REQUIRE(SmtpClient::code(clients.back()->reply()) == 220);
  }
  SmtpClient extra(relay.port());
  CHECK(extra.reply().rfind("421 4.7.0", 0) == 0);
  clients.pop_back();  // one leaves; its slot is free again
  bool admitted = false;
  for (int i = 0; i < 100 && !admitted; ++i) {
    SmtpClient again(relay.port());
    admitted = SmtpClient::code(again.reply()) == 220;
  }
  CHECK(admitted);
}

namespace {

// A client that connects from `source` (any 127.0.0.0/8 address is this host) and sends
// the start of a command line, never its end: a slowloris. -1 when it could not connect.
int slow_client(unsigned short port, const std::string& source) {
  const int fd = connect_from(port, source);
  if (fd >= 0) (void)::send(fd, "EHLO slow", 9, MSG_NOSIGNAL);
  return fd;
}

}  // namespace

TEST_CASE("slowloris: 1,000 slow clients do not stop a working client from relaying",
          "[relay][slowloris]") {
  rlimit files{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &files) == 0);
  files.rlim_cur = std::min<rlim_t>(files.rlim_max, 8192);
  REQUIRE(files.rlim_cur >= 2000);
  REQUIRE(setrlimit(RLIMIT_NOFILE, &files) == 0);  // the relay inherits it
  Server peer(peer_argv({}));
  // 200 slots, 50 per client address: 20 addresses hold every slot many times over.
  Relay relay({peer_upstream("primary", peer.port())}, "allow_clients = [\"127.0.0.0/8\"]\n");
  std::vector<int> slow;
  for (int i = 0; i < 1000; ++i) {
    const int fd = slow_client(relay.port(), "127.0.0." + std::to_string(10 + i / 50));
    if (fd >= 0) slow.push_back(fd);
  }
  INFO(slow.size() << " slow clients connected");
  CHECK(slow.size() == 1000);
  // The working client: its message goes through at its first try.
  const std::string r = relay_one(relay.port());
  for (const int fd : slow) ::close(fd);
  INFO(r << "\n" << relay.log().substr(0, 3000));
  CHECK(SmtpClient::code(r) == 250);
  CHECK(relay.log().find("event=evicted") != std::string::npos);
}

TEST_CASE("slowloris: a command line trickled a byte at a time still has command_s to finish",
          "[relay][slowloris]") {
  Server peer(peer_argv({}));
  Relay relay({peer_upstream("primary", peer.port())}, "[proxy.timeouts]\ncommand_s = 1\n");
  SmtpClient c(relay.port());
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  // Each byte comes well within a per-read time-out; the line as a whole does not.
  for (const char b : std::string("EHLO trickling.example\r\n")) {
    c.send(std::string(1, b));
    poll(nullptr, 0, 150);  // the attacker's pace, not a wait for the relay
  }
  const std::string r = c.reply();
  INFO(r);
  CHECK(r.rfind("421 4.4.2", 0) == 0);
  CHECK(r.find("timeout exceeded") != std::string::npos);
}

TEST_CASE("max_connection_rate_per_client: the connection past the rate gets 421; others go on",
          "[relay]") {
  Server peer(peer_argv({}));
  Relay relay({peer_upstream("primary", peer.port())},
              "allow_clients = [\"127.0.0.0/8\"]\nmax_connection_rate_per_client = 5\n");
  for (int i = 0; i < 5; ++i) {
    SmtpClient c(relay.port());
    REQUIRE(SmtpClient::code(c.reply()) == 220);  // one at a time: only the rate counts
  }
  SmtpClient sixth(relay.port());
  const std::string r = sixth.reply();
  CHECK(r.rfind("421 4.7.0", 0) == 0);
  CHECK(r.find("too many connections from 127.0.0.1 in the last minute") != std::string::npos);
  // Another client address has its own minute.
  const int other = slow_client(relay.port(), "127.0.0.2");
  REQUIRE(other >= 0);
  char greeting[64] = {};
  CHECK(::recv(other, greeting, sizeof greeting - 1, 0) > 0);
  CHECK(std::string(greeting).rfind("220 ", 0) == 0);
  ::close(other);
}

TEST_CASE("policy: retry succeeds after one reset, and the message says so", "[relay][policy]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv(
      {"--behaviour", "rst-after-clienthello", "--misbehave-first", "1", "--capture", capture}));
  Relay relay(
      {peer_upstream("primary", peer.port())}, "",
      "[policy]\nbackoff_s = [0.1]\n[policy.rules]\n\"network\" = [\"retry:1\", \"defer\"]\n");
  CHECK(SmtpClient::code(relay_one(relay.port())) == 250);
  const std::string seen = read_file(capture);
  INFO(seen);
  CHECK(seen.find("attempts=2") != std::string::npos);
  CHECK(seen.find("class=connection-reset; phase=tls-handshake") != std::string::npos);
}

TEST_CASE("policy: compat reaches a TLS 1.0-only upstream the default profile refuses",
          "[relay][policy]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--tls-min", "1.0", "--tls-max", "1.0", "--capture", capture}));
  Upstream u = peer_upstream("old", peer.port());
  u.toml += "[upstream.compat]\nmin_version = \"1.0\"\n";
  Relay relay({u}, "", "[policy.rules]\n\"tls-protocol-mismatch\" = [\"compat\", \"defer\"]\n");
  CHECK(SmtpClient::code(relay_one(relay.port())) == 250);
  const std::string seen = read_file(capture);
  INFO(seen);
  CHECK(seen.find("tls=TLSv1;") != std::string::npos);
  CHECK(seen.find("class=tls-protocol-mismatch") != std::string::npos);
}

TEST_CASE("policy: plaintext only where the upstream and the message both allow it",
          "[relay][policy]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--behaviour", "no-starttls", "--capture", capture}));
  const std::string rules =
      "[policy.rules]\n\"starttls-not-offered\" = [\"plaintext\", \"defer\"]\n";
  SECTION("the upstream allows it: delivered in clear, and the header says tls=none") {
    Upstream u = peer_upstream("legacy", peer.port());
    u.toml += "allow_plaintext = true\n";
    Relay relay({u}, "", rules);
    CHECK(SmtpClient::code(relay_one(relay.port())) == 250);
    const std::string seen = read_file(capture);
    INFO(seen);
    CHECK(seen.find("tls=none;") != std::string::npos);
    CHECK(seen.find("verify=none") != std::string::npos);
    CHECK(seen.find("class=starttls-not-offered") != std::string::npos);
  }
  SECTION("a REQUIRETLS message never goes in clear") {
    Upstream u = peer_upstream("legacy", peer.port());
    u.toml += "allow_plaintext = true\n";
    Relay relay({u}, "", rules);
    std::string r = relay_one(relay.port(), " REQUIRETLS");
    INFO(r);
    CHECK(r.rfind("451 4.7.0 tlsrelay: legacy", 0) == 0);
    CHECK(r.find("starttls-not-offered") != std::string::npos);
    CHECK(read_file(capture).find("MAIL FROM") == std::string::npos);
  }
  SECTION("the upstream does not allow it: deferred") {
    Relay relay({peer_upstream("legacy", peer.port())}, "", rules);
    CHECK(SmtpClient::code(relay_one(relay.port())) == 451);
    CHECK(read_file(capture).find("MAIL FROM") == std::string::npos);
  }
}

TEST_CASE("policy: REQUIRETLS needs an upstream that offers it (RFC 8689)", "[relay][policy]") {
  Server peer(peer_argv({}));  // verified TLS, but no REQUIRETLS in its EHLO
  Relay relay({peer_upstream("primary", peer.port())});
  std::string r = relay_one(relay.port(), " REQUIRETLS");
  INFO(r);
  CHECK(r.rfind("550 5.7.30 REQUIRETLS support required", 0) == 0);
}

TEST_CASE("policy: the deadline turns a slow chain of failures into a timely defer",
          "[relay][policy]") {
  Server silent(peer_argv({"--behaviour", "silent"}));
  Upstream u = peer_upstream("slow", silent.port());
  u.toml.replace(u.toml.find("timeout_s = 3"), 13, "timeout_s = 30");
  Relay relay({u}, "", "[policy]\ndeadline_s = 2\n");
  const auto start = std::chrono::steady_clock::now();
  std::string r = relay_one(relay.port());
  const auto took = std::chrono::steady_clock::now() - start;
  INFO(r);
  CHECK(SmtpClient::code(r) == 451);
  CHECK(r.find("timeout") != std::string::npos);
  CHECK(took < std::chrono::seconds(10));  // not 30 s per phase: the deadline bounds it
}

TEST_CASE("policy: reject gives a permanent 5.7.x", "[relay][policy]") {
  Server peer(peer_argv({"--cert", "expired"}));
  Relay relay({peer_upstream("primary", peer.port())}, "",
              "[policy.rules]\n\"certificate-expired\" = [\"reject\"]\n");
  std::string r = relay_one(relay.port());
  INFO(r);
  CHECK(r.rfind("554 5.7.5 tlsrelay: primary", 0) == 0);
  CHECK(r.find("certificate-expired") != std::string::npos);
}

TEST_CASE("SIGUSR1 reopens the event log after logrotate moved it", "[relay]") {
  Server peer(peer_argv({}));
  // Without reuse, so that each message makes one attempt record.
  Relay relay({peer_upstream("primary", peer.port())}, "pool_size_per_upstream = 0\n");
  const std::string events = relay.dir() + "/events.jsonl";
  REQUIRE(SmtpClient::code(relay_one(relay.port())) == 250);
  // The writer thread has the first record out before the file is moved.
  const std::string before = relay.events(1);
  REQUIRE(std::count(before.begin(), before.end(), '\n') == 1);
  REQUIRE(std::rename(events.c_str(), (events + ".1").c_str()) == 0);
  kill(relay.pid(), SIGUSR1);
  REQUIRE(wait_for_log(relay, "event=reopen status=ok"));
  REQUIRE(SmtpClient::code(relay_one(relay.port())) == 250);
  // One record in each file: the old attempt stayed in the moved file, the new one is here.
  const std::string rotated = read_file(events + ".1");
  const std::string fresh = relay.events(1);
  CHECK(std::count(rotated.begin(), rotated.end(), '\n') == 1);
  CHECK(std::count(fresh.begin(), fresh.end(), '\n') == 1);
}

namespace {

// One instant query against a Prometheus server's HTTP API; the JSON answer.
nlohmann::json prometheus_query(unsigned short port, const std::string& query) {
  auto r = run({"curl", "-sS", "--max-time", "10", "-G", "--data-urlencode", "query=" + query,
                "http://127.0.0.1:" + std::to_string(port) + "/api/v1/query"});
  return nlohmann::json::parse(r.out, nullptr, false);
}

// The first sample's value of an instant query, or "" while there is none.
std::string first_value(const nlohmann::json& answer) {
  if (!answer.is_object() || answer.value("status", "") != "success") return "";
  const auto& result = answer["data"]["result"];
  if (!result.is_array() || result.empty()) return "";
  return result[0]["value"][1].get<std::string>();
}

}  // namespace

TEST_CASE("a real Prometheus server (Debian's) scrapes /metrics: failures by class, histograms",
          "[relay][prometheus]") {
  const std::string prometheus = "/usr/bin/prometheus";
  INFO("scripts/setup.sh installs Debian's prometheus package");
  REQUIRE(access(prometheus.c_str(), X_OK) == 0);
  Server bad(peer_argv({"--cert", "expired"}));
  const unsigned short http = free_port();
  Relay relay({peer_upstream("primary", bad.port())}, "",
              "[http]\nlisten = \"127.0.0.1:" + std::to_string(http) + "\"\n");
  const std::string r = relay_one(relay.port());
  REQUIRE(SmtpClient::code(r) == 451);

  TempDir dir;
  const std::string config = dir.path() + "/prometheus.yml";
  std::ofstream(config) << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                        << "scrape_configs:\n  - job_name: tlsrelay\n    static_configs:\n"
                        << "      - targets: ['127.0.0.1:" << http << "']\n";
  const unsigned short web = free_port();
  // Server waits for "ready PORT" on stdout: said before Prometheus takes over the process.
  Server prom({"sh", "-c",
               "echo ready " + std::to_string(web) + "; exec " + prometheus +
                   " --config.file=" + config + " --storage.tsdb.path=" + dir.path() +
                   "/data --web.listen-address=127.0.0.1:" + std::to_string(web) +
                   " --log.level=warn"});
  std::string attempts;
  bool scraped = false;
  for (int i = 0; i < 300 && !scraped; ++i) {
    attempts = first_value(prometheus_query(
        web,
        "sum(tlsrelay_upstream_attempts_total{upstream=\"primary\",class=\"certificate-"
        "expired\",group=\"certificate\"})"));
    scraped = !attempts.empty();
    if (!scraped) poll(nullptr, 0, 100);
  }
  INFO("prometheus log:\n" << prom.stderr_text());
  REQUIRE(scraped);
  CHECK(attempts == "1");
  // The whole exposition parsed: the target is up, without a scrape error.
  CHECK(first_value(prometheus_query(web, "up{job=\"tlsrelay\"}")) == "1");
  auto targets = run({"curl", "-sS", "--max-time", "10",
                      "http://127.0.0.1:" + std::to_string(web) + "/api/v1/targets"});
  const auto t = nlohmann::json::parse(targets.out, nullptr, false);
  REQUIRE(t.is_object());
  const auto& active = t["data"]["activeTargets"];
  REQUIRE(active.size() == 1);
  CHECK(active[0]["health"] == "up");
  CHECK(active[0]["lastError"] == "");
  // Histograms arrive as histograms: a quantile can be computed from the buckets.
  CHECK_FALSE(
      first_value(
          prometheus_query(web,
                           "histogram_quantile(0.5, sum by (le) "
                           "(tlsrelay_upstream_phase_duration_seconds_bucket{phase=\"connect\"}))"))
          .empty());
  CHECK(first_value(prometheus_query(web, "tlsrelay_transactions_total")) != "");
}

TEST_CASE("route health: a failing primary is held down, and /status and /metrics say why",
          "[relay][status]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server bad(peer_argv({"--cert", "expired"}));
  Server good(peer_argv({"--capture", capture}));
  const unsigned short http = free_port();
  // Without reuse: the second message must choose its route afresh.
  Relay relay({peer_upstream("primary", bad.port()), peer_upstream("backup", good.port())},
              "pool_size_per_upstream = 0\n",
              "[http]\nlisten = \"127.0.0.1:" + std::to_string(http) + "\"\n");
  REQUIRE(SmtpClient::code(relay_one(relay.port())) == 250);
  REQUIRE(SmtpClient::code(relay_one(relay.port())) == 250);
  const std::string seen = read_file(capture);
  INFO(seen);
  // The first message tried the primary and moved on; the second went straight to the
  // backup, because the primary is held down (docs/status-api.md), not skipped for good.
  const auto second = seen.find("TLS-Relay: upstream=backup", seen.find("attempts=2"));
  REQUIRE(second != std::string::npos);
  CHECK(seen.find("attempts=1", second) != std::string::npos);
  const std::string events = relay.events(3);
  CHECK(std::count(events.begin(), events.end(), '\n') == 3);
  // The failed attempt's field ends with the route's recurrence (docs/status-api.md
  // "Incidents"): its first incident, so one-off. Unfolded as a reader sees it.
  std::string unfolded = seen;
  for (std::size_t at; (at = unfolded.find("\r\n ")) != std::string::npos;) {
    unfolded.replace(at, 3, " ");
  }
  const auto failure = unfolded.find("TLS-Relay-Failure: attempt=1; upstream=primary;");
  REQUIRE(failure != std::string::npos);
  CHECK(unfolded.substr(failure, unfolded.find("\r\n", failure) - failure)
            .ends_with("; recurrence=one-off"));

  auto status = nlohmann::json::parse(http_get(http, "/status"));
  INFO(status.dump(2));
  CHECK(status["route"]["state"] == "degraded");
  CHECK(status["route"]["upstream"] == "backup");
  CHECK(status["route"]["class"] == "certificate-expired");
  CHECK(status["route"]["hint"].get<std::string>().find("expired") != std::string::npos);
  CHECK(status["route"]["verified_tls"] == true);
  const auto& primary = status["upstreams"][0];
  CHECK(primary["name"] == "primary");
  CHECK(primary["state"] == "failing");
  CHECK(primary["addresses"][0]["address"] == "127.0.0.1");
  CHECK(primary["addresses"][0]["held_down_until"].is_string());
  CHECK(primary["success_ratio_5m"] == 0.0);
  CHECK(primary["recurrence"] == "one-off");
  CHECK(primary["incident_count"] == 1);
  const auto& incidents = primary["addresses"][0]["incidents"];
  REQUIRE(incidents.size() == 1);
  CHECK(incidents[0]["class"] == "certificate-expired");
  CHECK(incidents[0]["failures"] == 1);
  CHECK(incidents[0]["first_seen"] == incidents[0]["last_seen"]);
  CHECK(incidents[0]["ongoing"] == true);
  CHECK(status["upstreams"][1]["recurrence"].is_null());
  CHECK(status["upstreams"][1]["state"] == "healthy");
  CHECK(status["upstreams"][1]["attempts_5m"] == 2);
  REQUIRE(status["recent"].size() == 3);
  CHECK(status["recent"][0]["class"] == "certificate-expired");
  CHECK(status["recent"][0]["transaction"].is_string());

  const std::string metrics = http_get(http, "/metrics");
  INFO(metrics);
  CHECK(metrics.find("tlsrelay_upstream_attempts_total{upstream=\"primary\",class=\"certificate-"
                     "expired\",group=\"certificate\",phase=\"certificate\"} 1\n") !=
        std::string::npos);
  CHECK(metrics.find("tlsrelay_upstream_attempts_total{upstream=\"backup\",class=\"ok\"") !=
        std::string::npos);
  CHECK(metrics.find("tlsrelay_route_health{upstream=\"primary\",state=\"failing\"} 1\n") !=
        std::string::npos);
  CHECK(metrics.find("tlsrelay_route_incidents_total{upstream=\"primary\",class=\"certificate-"
                     "expired\"} 1\n") != std::string::npos);
  CHECK(metrics.find("tlsrelay_route_recurring{upstream=\"primary\"} 0\n") != std::string::npos);
  // `report` rebuilds the same incident from the event log.
  const RunResult report = run({tlsrelay_bin(), "report", relay.dir() + "/events.jsonl"});
  INFO(report.out << report.err);
  CHECK(report.exit_code == 0);
  CHECK(report.out.find("incidents at 127.0.0.1: 1, one-off") != std::string::npos);
  CHECK(report.out.find("certificate-expired") != std::string::npos);
  // The relay's directory stands for its event log (docs/scaling.md "The fleet view").
  const RunResult by_dir = run({tlsrelay_bin(), "report", relay.dir()});
  CHECK(by_dir.exit_code == 0);
  // The same report, but for its first line: the window ends at each run's own second.
  CHECK(by_dir.out.substr(by_dir.out.find('\n')) == report.out.substr(report.out.find('\n')));
  CHECK(
      metrics.find("tlsrelay_transactions_total{upstream=\"backup\",outcome=\"delivered\"} 2\n") !=
      std::string::npos);
  CHECK(metrics.find(
            "tlsrelay_upstream_tls_handshakes_total{upstream=\"backup\",version=\"TLSv1.3\"") !=
        std::string::npos);
  CHECK(http_get(http, "/nope").find("not found") != std::string::npos);
}

namespace {

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// GET (or what `options` make it) http://HOST:PORT/PATH with curl; HOST is an address
// literal, the Host header whatever `options` set.
HttpAnswer http_fetch(const std::string& host, unsigned short port, const std::string& path,
                      const std::vector<std::string>& options = {}) {
  std::vector<std::string> argv = {"curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}"};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.push_back("http://" + host + ":" + std::to_string(port) + path);
  auto r = run(argv);
  INFO("curl: " << r.err);
  REQUIRE(r.exit_code == 0);
  const auto cut = r.out.rfind('\n');
  REQUIRE(cut != std::string::npos);
  return {std::stoi(r.out.substr(cut + 1)), r.out.substr(0, cut)};
}

}  // namespace

TEST_CASE("DNS rebinding: every page answers only a Host that names the relay",
          "[relay][status][http-host]") {
  Server peer(peer_argv({}));
  const unsigned short http = free_port();
  const std::string port = std::to_string(http);
  Relay relay({peer_upstream("primary", peer.port())}, "",
              "[http]\nlisten = \"127.0.0.1:" + port + "\"\nallowed_hosts = [\"status.test\"]\n");
  // The SMTP banner comes once the daemon's loop runs, and the HTTP server is bound before.
  REQUIRE(SmtpClient::code(relay_one(relay.port())) == 250);

  SECTION("a name that is not ours gets 403 and nothing else, on every path and method") {
    const std::vector<std::string> foreign = {"attacker.example", "attacker.example:" + port,
                                              "status.test.attacker.example",
                                              "localhost.attacker.example"};
    for (const char* path :
         {"/status", "/metrics", "/timeline", "/", "/index.html", "/healthz", "/nope"}) {
      for (const std::string& host : foreign) {
        INFO(path << " Host: " << host);
        const HttpAnswer a = http_fetch("127.0.0.1", http, path, {"-H", "Host: " + host});
        CHECK(a.status == 403);
        CHECK(a.body.empty());
      }
    }
    const HttpAnswer head =
        http_fetch("127.0.0.1", http, "/status", {"-I", "-H", "Host: attacker.example"});
    CHECK(head.status == 403);
    const HttpAnswer post =
        http_fetch("127.0.0.1", http, "/status", {"-X", "POST", "-H", "Host: attacker.example"});
    CHECK(post.status == 403);
    CHECK(post.body.empty());
  }
  SECTION("the listen address, localhost and an allowed_hosts name get the page") {
    for (const std::vector<std::string>& options :
         std::vector<std::vector<std::string>>{{},  // curl sends Host: 127.0.0.1:PORT
                                               {"-H", "Host: localhost:" + port},
                                               {"-H", "Host: localhost"},
                                               {"-H", "Host: status.test"},
                                               {"-H", "Host: STATUS.test.:" + port}}) {
      INFO((options.empty() ? "Host: 127.0.0.1:" + port : options[1]));
      const HttpAnswer a = http_fetch("127.0.0.1", http, "/status", options);
      CHECK(a.status == 200);
      const auto status = nlohmann::json::parse(a.body, nullptr, false);
      REQUIRE(status.is_object());
      CHECK(status["upstreams"][0]["state"] == "healthy");
    }
    const HttpAnswer metrics =
        http_fetch("127.0.0.1", http, "/metrics", {"-H", "Host: status.test:" + port});
    CHECK(metrics.status == 200);
    CHECK(metrics.body.find("tlsrelay_route_health{upstream=\"primary\",state=\"healthy\"} 1") !=
          std::string::npos);
  }
  SECTION("no Host: 400 on HTTP/1.1 (RFC 9112 3.2), answered on HTTP/1.0") {
    const HttpAnswer eleven = http_fetch("127.0.0.1", http, "/status", {"-H", "Host:"});
    CHECK(eleven.status == 400);
    CHECK(eleven.body.empty());
    const HttpAnswer ten = http_fetch("127.0.0.1", http, "/healthz", {"--http1.0", "-H", "Host:"});
    CHECK(ten.status == 200);
    CHECK(ten.body == "ok\n");
  }
  SECTION("SIGHUP takes a new allowed_hosts") {
    CHECK(http_fetch("127.0.0.1", http, "/healthz", {"-H", "Host: other.test"}).status == 403);
    const std::string config = relay.dir() + "/relay.toml";
    std::string text = read_file(config);
    text.replace(text.find("\"status.test\""), 13, "\"status.test\", \"other.test\"");
    std::ofstream(config) << text;
    kill(relay.pid(), SIGHUP);
    REQUIRE(wait_for_log(relay, "event=reload status=ok"));
    CHECK(http_fetch("127.0.0.1", http, "/healthz", {"-H", "Host: other.test"}).status == 200);
  }
}

TEST_CASE("DNS rebinding: IPv6 and wildcard listen addresses", "[relay][status][http-host]") {
  Server peer(peer_argv({}));
  const unsigned short http = free_port();
  const std::string port = std::to_string(http);
  SECTION("[::1]: the bracketed literal is ours") {
    Relay relay({peer_upstream("primary", peer.port())}, "",
                "[http]\nlisten = \"[::1]:" + port + "\"\n");
    REQUIRE(SmtpClient::code(relay_one(relay.port())) == 250);
    CHECK(http_fetch("[::1]", http, "/healthz").status == 200);  // Host: [::1]:PORT
    CHECK(http_fetch("[::1]", http, "/healthz", {"-H", "Host: localhost:" + port}).status == 200);
    CHECK(http_fetch("[::1]", http, "/healthz", {"-H", "Host: 127.0.0.1:" + port}).status == 403);
    CHECK(http_fetch("[::1]", http, "/healthz", {"-H", "Host: attacker.example"}).status == 403);
  }
  SECTION("0.0.0.0: the address a connection arrived at is ours, the wildcard is not") {
    Relay relay({peer_upstream("primary", peer.port())}, "",
                "[http]\nlisten = \"0.0.0.0:" + port + "\"\n");
    REQUIRE(SmtpClient::code(relay_one(relay.port())) == 250);
    CHECK(http_fetch("127.0.0.1", http, "/healthz").status == 200);
    CHECK(http_fetch("127.0.0.1", http, "/healthz", {"-H", "Host: 0.0.0.0:" + port}).status == 403);
    CHECK(http_fetch("127.0.0.1", http, "/healthz", {"-H", "Host: 127.0.0.2:" + port}).status ==
          403);
    CHECK(http_fetch("127.0.0.1", http, "/healthz", {"-H", "Host: attacker.example"}).status ==
          403);
  }
}

TEST_CASE("the status page shows the diagnosis in a real browser (headless Chromium)",
          "[relay][status-page]") {
  Server bad(peer_argv({"--cert", "expired"}));
  Server good(peer_argv({}));
  const unsigned short http = free_port();
  Relay relay({peer_upstream("primary", bad.port()), peer_upstream("backup", good.port())}, "",
              "[http]\nlisten = \"127.0.0.1:" + std::to_string(http) + "\"\n");
  REQUIRE(SmtpClient::code(relay_one(relay.port())) == 250);
  TempDir profile;
  // The page fetches /status and /timeline and renders; --virtual-time-budget lets its
  // scripts finish before the DOM is dumped. Flags keep Chromium off the (closed) network.
  auto r = run({"chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--user-data-dir=" + profile.path(), "--virtual-time-budget=5000",
                "--dump-dom", "http://127.0.0.1:" + std::to_string(http) + "/"},
               std::chrono::seconds(90));
  INFO("chromium stderr: " << r.err.substr(0, 2000));
  REQUIRE(r.exit_code == 0);
  const std::string& dom = r.out;
  INFO(dom.substr(0, 20000));
  CHECK(dom.find("data-loaded=\"yes\"") != std::string::npos);
  CHECK(dom.find("id=\"route-state\" class=\"badge degraded\" data-state=\"degraded\"") !=
        std::string::npos);
  CHECK(dom.find("<span class=\"cls\" id=\"route-class\">certificate-expired</span>") !=
        std::string::npos);
  CHECK(dom.find("class=\"upstream\" data-upstream=\"primary\" data-state=\"failing\"") !=
        std::string::npos);
  CHECK(dom.find("class=\"upstream\" data-upstream=\"backup\" data-state=\"healthy\"") !=
        std::string::npos);
  CHECK(dom.find("class=\"failure\" data-class=\"certificate-expired\"") != std::string::npos);
  CHECK(dom.find("data-class=\"certificate-expired\"><title>") != std::string::npos);  // timeline
  // The primary's incidents column (docs/status-api.md "Incidents"): one, so one-off.
  CHECK(dom.find("<span class=\"recurrence\" data-recurrence=\"one-off\">one-off: 1 incident<") !=
        std::string::npos);
}

TEST_CASE("XOAUTH2: the bearer token is read at each use and never shown", "[relay][auth]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  const std::string token = "ya29.a0-test-token";
  Server peer(
      peer_argv({"--auth-user", "me@example.org", "--auth-password", token, "--capture", capture}));
  const std::string token_file = dir.path() + "/token";
  auto write_token = [&](const std::string& t) {
    std::ofstream(token_file) << t << "\n";
    REQUIRE(chmod(token_file.c_str(), 0600) == 0);
  };
  write_token(token);
  Upstream u = peer_upstream("gmail", peer.port());
  u.toml += "auth_user = \"me@example.org\"\nauth_mechanism = \"xoauth2\"\noauth_token_file = \"" +
            token_file + "\"\n";
  Relay relay({u}, "pool_size_per_upstream = 0\n");  // a new login for each message
  const std::string first = relay_one(relay.port());
  INFO(first << "\n" << relay.events(1));
  REQUIRE(SmtpClient::code(first) == 250);
  const std::string seen = read_file(capture);
  // The peer offers PLAIN too: the forced mechanism is what went out.
  CHECK(seen.find("AUTH XOAUTH2 ") != std::string::npos);
  CHECK(seen.find("AUTH PLAIN") == std::string::npos);

  // The helper that refreshes the token wrote a stale one: the next message says so, and
  // nothing needed a reload to read it.
  write_token("ya29.expired");
  const std::string r = relay_one(relay.port());
  INFO(r);
  CHECK(r.rfind("451 ", 0) == 0);
  CHECK(r.find("auth-failed") != std::string::npos);
  const std::string events = relay.events(2);
  CHECK(events.find("\"C: AUTH XOAUTH2 ***\"") != std::string::npos);
  CHECK(events.find("ya29") == std::string::npos);
  CHECK(events.find("eWEy") == std::string::npos);  // nor in base64 ("ya2" encoded)
}

namespace {

// Whether `secret` shows in `text`: as itself, or inside any run of base64 characters (what
// AUTH carries), decoded from each of the four alignments a run can start at.
bool shows_secret(const std::string& text, const std::string& secret) {
  if (text.find(secret) != std::string::npos) return true;
  auto b64 = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/';
  };
  for (std::size_t i = 0; i < text.size();) {
    if (!b64(text[i])) {
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && (b64(text[end]) || text[end] == '=')) ++end;
    for (std::size_t skip = 0; skip < 4 && i + skip + 8 <= end; ++skip) {
      const std::string run = text.substr(i + skip, (end - i - skip) / 4 * 4);
      std::string out(run.size(), '\0');
      const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                    reinterpret_cast<const unsigned char*>(run.data()),
                                    static_cast<int>(run.size()));
      if (n > 0 && out.find(secret) != std::string::npos) return true;
    }
    i = end;
  }
  return false;
}

// The compat rule of the review's item 1: a failed default attempt with no shared cipher is
// retried with a profile at security level 0 whose cipher list would allow anonymous suites.
Upstream anonymous_prone(const std::string& name, unsigned short port, const std::string& auth) {
  Upstream u = peer_upstream(name, port);
  u.toml += auth + "[upstream.compat]\nmin_version = \"1.0\"\nciphers = \"ALL:@SECLEVEL=0\"\n";
  return u;
}
const std::string kAnonymousRule =
    "[policy.rules]\n\"tls-no-shared-cipher\" = [\"compat\", \"defer\"]\n";

// Greeting, EHLO, MAIL, RCPT and DATA, each accepted: the client may send message data.
void open_data(SmtpClient& c) {
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("MAIL FROM:<a@example.org>")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("RCPT TO:<b@example.org>")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("DATA")) == 354);
}

std::string secret_file_with(const TempDir& dir, const std::string& name,
                             const std::string& secret) {
  const std::string path = dir.path() + "/" + name;
  std::ofstream(path) << secret << "\n";
  REQUIRE(chmod(path.c_str(), 0600) == 0);
  return path;
}

}  // namespace

// Issue 8 item 4 as one sweep: a canary password and a canary token go through a login that
// works, a password the server refuses (LOGIN), a token it refuses (XOAUTH2) and a server
// that offers no AUTH after TLS; then everything the relay shows anyone is searched: its
// log, the event log, /status, /timeline, /metrics, the dashboard, the replies our client
// got, `tlsrelay report` and `check-config --explain` on that config, and probe's output.
TEST_CASE("secrets: a canary password and token show nowhere, in any form", "[relay][auth]") {
  TempDir dir;
  const std::string password = "Canary-Pw-7f3a9c";
  const std::string token = "ya29.Canary-Token-51d0e2";
  const std::string pw_file = secret_file_with(dir, "pw", password);
  const std::string token_file = secret_file_with(dir, "token", token);
  const std::string capture = dir.path() + "/capture";
  Server good(
      peer_argv({"--auth-user", "relay", "--auth-password", password, "--capture", capture}));
  Server refuses(peer_argv({"--auth-user", "relay", "--auth-password", "another"}));
  Server oauth(peer_argv({"--auth-user", "me@example.org", "--auth-password", "ya29.other"}));
  Server no_auth(peer_argv({"--behaviour", "no-auth-after-tls"}));
  // Issue 17: a man in the middle with only anonymous suites, behind a compat rule that
  // would have let them through; it would even accept the password.
  const std::string anon_capture = dir.path() + "/anon-capture";
  Server anonymous(peer_argv({"--anonymous", "--auth-user", "relay", "--auth-password", password,
                              "--capture", anon_capture}));

  auto with_auth = [&](const std::string& name, const Server& peer, const std::string& how) {
    Upstream u = peer_upstream(name, peer.port());
    u.toml += how;
    return u;
  };
  const std::string plain = "auth_user = \"relay\"\nauth_password_file = \"" + pw_file + "\"\n";
  const std::string login =
      "auth_user = \"relay\"\nauth_mechanism = \"login\"\n"
      "auth_password_file = \"" +
      pw_file + "\"\n";
  const std::string xoauth2 =
      "auth_user = \"me@example.org\"\nauth_mechanism = \"xoauth2\"\n"
      "oauth_token_file = \"" +
      token_file + "\"\n";
  struct Case {
    std::string name;
    Upstream upstream;
    bool delivered;
  };
  const std::vector<Case> cases = {
      {"plain-ok", with_auth("plain-ok", good, plain), true},
      {"login-refused", with_auth("login-refused", refuses, login), false},
      {"xoauth2-refused", with_auth("xoauth2-refused", oauth, xoauth2), false},
      {"no-auth", with_auth("no-auth", no_auth, plain), false},
      {"anonymous-mitm", anonymous_prone("anonymous-mitm", anonymous.port(), plain), false}};
  for (const auto& c : cases) {
    const unsigned short http = free_port();
    Relay relay({c.upstream}, "pool_size_per_upstream = 0\n",
                "[http]\nlisten = \"127.0.0.1:" + std::to_string(http) + "\"\n" + kAnonymousRule);
    const std::string reply = relay_one(relay.port());
    INFO(c.name << ": " << reply);
    CHECK((SmtpClient::code(reply) == 250) == c.delivered);
    std::vector<std::pair<std::string, std::string>> shown = {
        {"reply to our client", reply},           {"event log", relay.events(1)},
        {"/status", http_get(http, "/status")},   {"/timeline", http_get(http, "/timeline")},
        {"/metrics", http_get(http, "/metrics")}, {"dashboard", http_get(http, "/")}};
    const auto report = run({tlsrelay_bin(), "report", relay.dir() + "/events.jsonl"});
    shown.emplace_back("report", report.out + report.err);
    const auto explain =
        run({tlsrelay_bin(), "check-config", relay.dir() + "/relay.toml", "--explain"});
    shown.emplace_back("check-config --explain", explain.out + explain.err);
    shown.emplace_back("daemon log", relay.log());  // last: read after everything above
    for (const auto& [where, text] : shown) {
      INFO(c.name << ", " << where << ":\n" << text);
      CHECK_FALSE(shows_secret(text, password));
      CHECK_FALSE(shows_secret(text, token));
    }
    const std::string expected = c.name == "no-auth"          ? "auth-unavailable"
                                 : c.name == "anonymous-mitm" ? "tls-no-shared-cipher"
                                                              : "auth-failed";
    if (!c.delivered) CHECK(relay.events(1).find(expected) != std::string::npos);
  }
  // The man in the middle got neither the password nor a command after TLS.
  const std::string mitm_saw = read_file(anon_capture);
  INFO("anonymous man in the middle:\n" << mitm_saw);
  CHECK_FALSE(shows_secret(mitm_saw, password));
  CHECK(mitm_saw.find("AUTH") == std::string::npos);
  // probe: the same refused login, told on stdout and in its JSON.
  const Probe p =
      probe(local_args(refuses.port(), {"--auth-user", "relay", "--auth-password-file", pw_file}));
  CHECK(p.record["class"] == "auth-failed");
  CHECK_FALSE(shows_secret(p.raw + p.err, password));
  // The detector itself works: the upstream's own capture holds the real AUTH PLAIN.
  REQUIRE(shows_secret(read_file(capture), password));
}

// PR_SET_DUMPABLE 0 (serve_command.cpp): no core file, and no other process of the same
// user may read the daemon's memory. Linux shows it in /proc: the files of a process that
// is not dumpable belong to root, whoever runs it. So the daemon runs as nobody here.
TEST_CASE("the daemon holding secrets is not dumpable: its /proc files are root's",
          "[relay][auth]") {
  if (geteuid() != 0) {
    WARN("needs root to run the daemon as nobody; not checked");
    return;
  }
  TempDir dir;
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  const std::string bin = dir.path() + "/tlsrelay";
  REQUIRE(run({"cp", tlsrelay_bin(), bin}).exit_code == 0);  // reachable by nobody
  const std::string pw = secret_file_with(dir, "pw", "Canary-Pw-7f3a9c");
  REQUIRE(chown(pw.c_str(), 65534, 65534) == 0);  // nobody:nogroup, mode 0600
  const std::string config = dir.path() + "/relay.toml";
  std::ofstream(config) << "[proxy]\nlisten = [\"127.0.0.1:0\"]\nhostname = \"relay.test\"\n\n"
                        << peer_upstream("u", 9).toml << "auth_user = \"relay\"\n"
                        << "auth_password_file = \"" << pw << "\"\n";
  Server relay({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin, "serve",
                "--config", config});
  const std::string proc = "/proc/" + std::to_string(relay.pid());
  INFO(read_file(proc + "/status"));
  REQUIRE(read_file(proc + "/status").find("\nUid:\t65534\t") != std::string::npos);
  struct stat st {};
  REQUIRE(stat((proc + "/environ").c_str(), &st) == 0);
  CHECK(st.st_uid == 0);  // 65534 if the daemon were dumpable
}

TEST_CASE("a forced mechanism the server lacks is auth-unavailable, never a fallback",
          "[relay][auth]") {
  TempDir dir;
  Server peer(peer_argv({"--auth-user", "u", "--auth-password", "p"}));
  const std::string secret = dir.path() + "/secret";
  std::ofstream(secret) << "p\n";
  REQUIRE(chmod(secret.c_str(), 0600) == 0);
  Upstream login = peer_upstream("login", peer.port());
  login.toml +=
      "auth_user = \"u\"\nauth_mechanism = \"login\"\nauth_password_file = \"" + secret + "\"\n";
  Relay relay({login});
  const std::string r = relay_one(relay.port());
  INFO(r << "\n" << relay.events(1));
  REQUIRE(SmtpClient::code(r) == 250);
  CHECK(relay.events(1).find("\"C: AUTH LOGIN\"") != std::string::npos);
}

// Waits (bounded) until the relay's /metrics holds this sample line.

TEST_CASE(
    "upstream reuse: the next session takes the pooled connection; a dead one is "
    "replaced transparently",
    "[relay][pool]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  auto peer = std::make_unique<Server>(peer_argv({"--capture", capture}));
  const unsigned short upstream_port = peer->port();
  const unsigned short http = free_port();
  // One thread: each thread keeps its own pool (relay_threads_test.cpp shows two).
  Relay relay({peer_upstream("primary", upstream_port)}, "threads = 1\n",
              "[http]\nlisten = \"127.0.0.1:" + std::to_string(http) + "\"\n");
  // The connection goes to the pool after the client's QUIT (RSET first): wait for it.
  auto wait_pooled = [&] {
    return wait_for_metric(http, "tlsrelay_upstream_pooled_connections 1");
  };
  REQUIRE(SmtpClient::code(relay_one(relay.port())) == 250);
  REQUIRE(wait_pooled());
  REQUIRE(SmtpClient::code(relay_one(relay.port())) == 250);
  REQUIRE(wait_pooled());
  std::string seen = read_file(capture);
  INFO(seen);
  // Two messages from two client sessions, one upstream connection (one STARTTLS) and one
  // attempt record: the second session took the pooled connection.
  CHECK(occurrences(seen, "STARTTLS") == 1);
  CHECK(occurrences(seen, "MAIL FROM:<a@example.org>") == 2);
  CHECK(occurrences(seen, "RSET") >= 1);  // cleaned before it went into the pool
  CHECK(occurrences(relay.events(1), "\n") == 1);

  // The upstream goes away and comes back on the same port: the pooled connection is dead,
  // which is not the message's failure.
  peer.reset();
  peer = std::make_unique<Server>(
      peer_argv({"--capture", capture, "--listen", "127.0.0.1:" + std::to_string(upstream_port)}));
  const std::string r = relay_one(relay.port());
  INFO(relay.log());
  CHECK(SmtpClient::code(r) == 250);
  CHECK(relay.log().find("event=reused-upstream-lost") != std::string::npos);
  CHECK(occurrences(relay.events(2), "\n") == 2);  // one new attempt, no failure recorded
}

TEST_CASE("upstream reuse ends at reuse_time_limit_s: the next message gets a new connection",
          "[relay][pool]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  const unsigned short http = free_port();
  Relay relay({peer_upstream("primary", peer.port())}, "reuse_time_limit_s = 0.5\n",
              "[http]\nlisten = \"127.0.0.1:" + std::to_string(http) + "\"\n");
  REQUIRE(SmtpClient::code(relay_one(relay.port())) == 250);
  REQUIRE(wait_for_metric(http, "tlsrelay_upstream_pooled_connections 1"));
  // Idle for far less than idle_upstream_s (30 s), but past its age limit: the pool lets it go.
  REQUIRE(wait_for_metric(http, "tlsrelay_upstream_pooled_connections 0"));
  REQUIRE(SmtpClient::code(relay_one(relay.port())) == 250);
  const std::string seen = read_file(capture);
  INFO(seen);
  // The certificate was verified again, on a new connection.
  CHECK(occurrences(seen, "STARTTLS") == 2);
  const std::string events = relay.events(2);
  CHECK(std::count(events.begin(), events.end(), '\n') == 2);
}

namespace {

// Seconds from now until the test peer's "good" certificate expires.
long seconds_until_good_certificate_expires() {
  FILE* f = std::fopen(cert("good.chain.pem").c_str(), "r");
  REQUIRE(f != nullptr);
  X509* leaf = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  REQUIRE(leaf != nullptr);
  int days = 0;
  int seconds = 0;
  const int ok = ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(leaf));
  X509_free(leaf);
  REQUIRE(ok == 1);
  return days * 86400L + seconds;
}

}  // namespace

TEST_CASE(
    "TLS session resumption: a session is not offered once it is an hour old or its "
    "certificate has expired",
    "[relay][resumption]") {
  // The relay's wall clock comes from a file (libfaketime), so it can move on between two
  // messages; its monotonic clock, which drives time-outs, stays real. OpenSSL would still
  // offer both sessions: a TLS 1.3 ticket of an OpenSSL server lives two hours.
  Server peer(peer_argv({}));
  TempDir dir;
  const std::string clock = dir.path() + "/clock";
  const std::vector<std::string> faked = {
      "env", "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
      "FAKETIME_TIMESTAMP_FILE=" + clock, "FAKETIME_NO_CACHE=1", "DONT_FAKE_MONOTONIC=1"};
  // Replaced whole (rename), so that the relay never reads a half-written file.
  auto set_clock = [&](long offset) {
    std::ofstream(clock + ".new") << "+" << offset << "\n";
    REQUIRE(std::rename((clock + ".new").c_str(), clock.c_str()) == 0);
  };
  const long expires_in = seconds_until_good_certificate_expires();
  struct Step {
    long clock;  // offset of the relay's wall clock, seconds
    int code;
    const char* klass;
    bool resumed;
  };
  struct Case {
    const char* what;
    std::vector<Step> steps;
  };
  const std::vector<Case> cases = {
      // A resumption brings a new ticket (and OpenSSL gives it a new time): the hour still
      // counts from the full handshake.
      {"an hour after the full handshake, with a resumption in between",
       {{0, 250, "ok", false}, {1800, 250, "ok", true}, {4000, 250, "ok", false}}},
      {"certificate expired ten minutes after the session was made",
       {{expires_in - 1800, 250, "ok", false},
        {expires_in + 600, 451, "certificate-expired", false}}},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    set_clock(c.steps.front().clock);
    Relay relay({peer_upstream("primary", peer.port())}, "pool_size_per_upstream = 0\n", "", "",
                faked);
    for (std::size_t i = 0; i < c.steps.size(); ++i) {
      const Step& step = c.steps[i];
      INFO("message " << i + 1 << " at +" << step.clock << " s");
      set_clock(step.clock);
      const std::string r = relay_one(relay.port());
      INFO(r << relay.log());
      CHECK(SmtpClient::code(r) == step.code);
      std::istringstream lines(relay.events(i + 1));
      std::string line;
      for (std::size_t n = 0; n <= i; ++n) std::getline(lines, line);
      auto record = nlohmann::json::parse(line, nullptr, false);
      CHECK(record["tls"]["session_reused"] == step.resumed);
      CHECK(record["class"] == step.klass);
    }
  }
}

TEST_CASE("TLS session resumption: the next connection resumes a verified session",
          "[relay][resumption]") {
  Server peer(peer_argv({}));
  for (const bool on : {true, false}) {
    INFO("session_resumption = " << on);
    const std::string tls_extra = on ? "" : "session_resumption = false\n";
    // No pool, so that the second message needs a new connection.
    Relay relay({peer_upstream("primary", peer.port())}, "pool_size_per_upstream = 0\n", "",
                tls_extra);
    REQUIRE(SmtpClient::code(relay_one(relay.port())) == 250);
    REQUIRE(SmtpClient::code(relay_one(relay.port())) == 250);
    const std::string events = relay.events(2);
    const auto second = nlohmann::json::parse(
        events.substr(events.find('\n') + 1, events.rfind('\n') - events.find('\n')));
    CHECK(nlohmann::json::parse(events.substr(0, events.find('\n')))["tls"]["session_reused"] ==
          false);
    CHECK(second["tls"]["session_reused"] == on);
    CHECK(second["class"] == "ok");
  }
}

// A session is kept only for a verified certificate, and a resumed handshake has neither
// a chain to check nor a staple: after "revoked", the next connection must not resume.
TEST_CASE("a server whose staple says revoked gets no mail, also not over a later connection",
          "[relay][resumption]") {
  for (const char* tls_max : {"1.2", "1.3"}) {
    INFO("TLS max " << tls_max);
    TempDir dir;
    const std::string capture = dir.path() + "/capture";
    Server peer(peer_argv({"--ocsp", "revoked", "--tls-max", tls_max, "--capture", capture}));
    Relay relay({peer_upstream("primary", peer.port())}, "pool_size_per_upstream = 0\n");
    for (int i = 0; i < 3; ++i) {
      const std::string r = relay_one(relay.port());
      INFO("message " << i + 1 << ": " << r << relay.log());
      CHECK(SmtpClient::code(r) == 451);
      CHECK(r.find("certificate-revoked") != std::string::npos);
    }
    std::istringstream lines(relay.events(3));
    std::string line;
    int records = 0;
    while (std::getline(lines, line)) {
      auto record = nlohmann::json::parse(line, nullptr, false);
      INFO(line);
      CHECK(record["class"] == "certificate-revoked");
      CHECK(record["tls"]["session_reused"] == false);
      ++records;
    }
    CHECK(records >= 3);
    CHECK(read_file(capture).find("MAIL FROM") == std::string::npos);
  }
}

// ---- the replay buffer: an upstream lost before the final dot is replaced ---------------

namespace {

// tlsrelay-faultinject between the relay and an upstream, with its log.
class Injector {
 public:
  Injector(unsigned short target, const std::string& plan) : log_(dir_.path() + "/inject.log") {
    server_ = std::make_unique<Server>(
        std::vector<std::string>{FAULTINJECT_BIN, "--target", "127.0.0.1:" + std::to_string(target),
                                 "--plan", plan, "--log", log_, "--watch-stdin"});
  }
  unsigned short port() const { return server_->port(); }
  std::string log() const { return read_file(log_); }
  // Waits (bounded) until a connection the injector faulted is over: its RST is out.
  bool wait_fired() const {
    for (int i = 0; i < 1000; ++i) {
      if (log().find("event=end fired=yes") != std::string::npos) return true;
      poll(nullptr, 0, 10);
    }
    return false;
  }

 private:
  TempDir dir_;
  std::string log_;
  std::unique_ptr<Server> server_;
};

// Message lines without a leading dot, so the upstream sees them exactly as sent.
std::string numbered_lines(std::size_t from, std::size_t to) {
  std::string s;
  for (std::size_t i = from; i < to; ++i) {
    s += "line " + std::to_string(i) + " " + std::string(60, static_cast<char>('a' + i % 26)) +
         "\r\n";
  }
  return s;
}

// EHLO, MAIL, RCPT, DATA, the first part of the message; then, once the injector has
// reset the upstream connection in the middle of it, the rest and the final dot.
std::string send_across_a_reset(unsigned short port, const Injector& injector,
                                const std::string& first, const std::string& rest) {
  SmtpClient c(port);
  c.reply();
  REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("MAIL FROM:<a@example.org>")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("RCPT TO:<b@example.org>")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("DATA")) == 354);
  c.send(first);
  REQUIRE(injector.wait_fired());
  c.send(rest + ".\r\n");
  return c.reply(std::chrono::seconds(60));
}

}  // namespace

TEST_CASE("replay: an upstream reset mid-DATA is replaced; the message arrives once, whole",
          "[relay][replay]") {
  // In memory, and (a bound far below the message) from the unnamed file.
  const std::string memory = GENERATE(std::string("1048576"), std::string("4096"));
  INFO("replay_memory_bytes = " << memory);
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  // No AUTH, one recipient: flight 5 is the message data. The first connection is reset
  // after 20,000 bytes of it; every later one passes.
  Injector injector(peer.port(), "1:reset@flight=5+20000,*:pass");
  Relay relay({peer_upstream("primary", injector.port())},
              "replay_memory_bytes = " + memory + "\n");
  const std::string first = "Subject: replay\r\n\r\n" + numbered_lines(0, 3000);
  const std::string rest = numbered_lines(3000, 4000);
  const std::string r = send_across_a_reset(relay.port(), injector, first, rest);
  INFO("reply: " << r << "\nrelay log:\n" << relay.log() << "\ninjector log:\n" << injector.log());
  REQUIRE(SmtpClient::code(r) == 250);
  const std::string seen = read_file(capture);
  CHECK(occurrences(seen, "MAIL FROM:<a@example.org>") == 2);
  CHECK(occurrences(seen, "\r\n.\r\n") == 1);  // one final dot: one delivery
  // The whole message, contiguous: only the second connection can have it.
  CHECK(seen.find(first + rest + ".\r\n") != std::string::npos);
  CHECK(seen.find("TLS-Relay: upstream=primary;") != std::string::npos);
  CHECK(seen.find("attempts=2") != std::string::npos);
  CHECK(seen.find("TLS-Relay-Failure: attempt=1; upstream=primary; address=127.0.0.1;") !=
        std::string::npos);
  CHECK(seen.find("class=connection-reset; phase=transaction;") != std::string::npos);
  CHECK(relay.log().find("event=replay ") != std::string::npos);
  CHECK(relay.log().find("event=replayed ") != std::string::npos);
}

// Before the message: the new upstream gets MAIL (and the recipients it accepted so far),
// then the command that was lost once more, and the client never learns of it.
TEST_CASE("replay: an upstream reset at RCPT or at DATA is replaced; the message arrives once",
          "[relay][replay]") {
  // No AUTH: flight 3 is RCPT, flight 4 is DATA. The first connection is reset as it starts.
  const auto [flight, stage] = GENERATE(table<int, std::string>({{3, "RCPT"}, {4, "DATA"}}));
  INFO("reset at " << stage);
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  Injector injector(peer.port(), "1:reset@flight=" + std::to_string(flight) + ",*:pass");
  Relay relay({peer_upstream("primary", injector.port())});
  SmtpClient c(relay.port());
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("MAIL FROM:<a@example.org>")) == 250);
  const std::string rcpt = c.cmd("RCPT TO:<b@example.org>");
  INFO("relay log:\n" << relay.log() << "\ninjector log:\n" << injector.log());
  REQUIRE(SmtpClient::code(rcpt) == 250);
  REQUIRE(SmtpClient::code(c.cmd("DATA")) == 354);
  c.send("Subject: replayed early\r\n\r\nbody\r\n.\r\n");
  CHECK(SmtpClient::code(c.reply(std::chrono::seconds(30))) == 250);
  const std::string seen = read_file(capture);
  INFO("upstream capture:\n" << seen);
  CHECK(occurrences(seen, "MAIL FROM:<a@example.org>") == 2);
  CHECK(occurrences(seen, "\r\n.\r\n") == 1);  // one final dot: one delivery
  CHECK(seen.find("class=connection-reset; phase=transaction;") != std::string::npos);
  CHECK(relay.log().find("event=replayed ") != std::string::npos);
}

TEST_CASE("replay: where the policy only defers, a reset mid-DATA is the client's 451",
          "[relay][replay]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  Injector injector(peer.port(), "1:reset@flight=5+20000,*:pass");
  Relay deferring({peer_upstream("primary", injector.port())}, "",
                  "[policy.rules]\n\"connection-reset\" = [\"defer\"]\n");
  const std::string r = send_across_a_reset(deferring.port(), injector,
                                            "Subject: x\r\n\r\n" + numbered_lines(0, 3000),
                                            numbered_lines(3000, 3100));
  INFO(r << "\n" << deferring.log());
  CHECK(SmtpClient::code(r) == 451);
  CHECK(r.find("connection-reset") != std::string::npos);
  CHECK(deferring.log().find("event=no-replay") != std::string::npos);
  CHECK(occurrences(read_file(capture), "\r\n.\r\n") == 0);
  // One grep from the MTA's log: the reply's transaction id is the journal line's.
  const std::string first = r.substr(0, r.find("\r\n"));
  const std::size_t at = first.rfind("; txn ");
  REQUIRE(at != std::string::npos);
  const std::string txn = first.substr(at + 6);
  CHECK_FALSE(txn.empty());
  CHECK(deferring.log().find("event=transaction txn=" + txn + " ") != std::string::npos);
  CHECK(deferring.log().find("event=no-replay txn=" + txn + " ") != std::string::npos);
}

TEST_CASE("replay: a recipient the new upstream refuses ends it with 451; nothing delivered",
          "[relay][replay]") {
  TempDir dir;
  const std::string capture_a = dir.path() + "/a";
  const std::string capture_b = dir.path() + "/b";
  Server primary(peer_argv({"--capture", capture_a}));
  Server backup(peer_argv({"--capture", capture_b, "--reject-rcpt", "b@example.org"}));
  // The primary's first connection is reset mid-DATA, and every later one refused at once:
  // the replay goes on to the backup, which does not take the recipient.
  Injector injector(primary.port(), "1:reset@flight=5+20000,*:reset@connect");
  Relay relay({peer_upstream("primary", injector.port()), peer_upstream("backup", backup.port())},
              "", "[policy]\nbackoff_s = [0.05]\n");
  const std::string r =
      send_across_a_reset(relay.port(), injector, "Subject: x\r\n\r\n" + numbered_lines(0, 3000),
                          numbered_lines(3000, 3100));
  INFO(r << "\n" << relay.log());
  CHECK(SmtpClient::code(r) == 451);
  CHECK(r.find("connection-reset") != std::string::npos);
  CHECK(r.find("replay: backup") != std::string::npos);
  CHECK(r.find("RCPT TO:<b@example.org> answered \"550") != std::string::npos);
  CHECK(occurrences(read_file(capture_a), "\r\n.\r\n") == 0);
  CHECK(read_file(capture_b).find("DATA") == std::string::npos);
}

// ---- CHUNKING/BDAT (RFC 3030) and STARTTLS (RFC 3207) towards our clients ---------------

namespace {

// EHLO, MAIL, RCPT on a fresh plaintext session.
void open_transaction(SmtpClient& c) {
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  const std::string ehlo = c.cmd("EHLO client.test");
  REQUIRE(SmtpClient::code(ehlo) == 250);
  REQUIRE(ehlo.find("CHUNKING") != std::string::npos);
  REQUIRE(SmtpClient::code(c.cmd("MAIL FROM:<a@example.org>")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("RCPT TO:<b@example.org>")) == 250);
}

std::string bdat(const std::string& chunk, bool last = false) {
  return "BDAT " + std::to_string(chunk.size()) + (last ? " LAST" : "") + "\r\n" + chunk;
}

}  // namespace

TEST_CASE("BDAT: two chunks and LAST are relayed as DATA, byte-exact and dot-stuffed",
          "[relay][bdat]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  Relay relay({peer_upstream("primary", peer.port())});
  SmtpClient c(relay.port());
  open_transaction(c);
  // A line split across chunks, a CRLF split across chunks, and dots that BDAT never
  // stuffs: ".leading dot" is content, so it must go upstream stuffed as "..leading dot".
  c.send(bdat("Subject: chunks\r\n\r\nline o"));
  const std::string first = c.reply();
  CHECK(first.rfind("250 2.0.0", 0) == 0);
  c.send(bdat("ne\r\n.leading dot\r"));
  CHECK(SmtpClient::code(c.reply()) == 250);
  c.send(bdat("\n\xc3\xa9t\xc3\xa9\r\n", true));
  const std::string final_reply = c.reply();
  INFO("relay log: " << relay.log());
  CHECK(SmtpClient::code(final_reply) == 250);
  CHECK(final_reply.find("queued as") != std::string::npos);  // the upstream's own reply
  CHECK(SmtpClient::code(c.cmd("QUIT")) == 221);
  const std::string seen = read_file(capture);
  INFO("upstream capture:\n" << seen);
  CHECK(seen.find("TLS-Relay: upstream=primary;") != std::string::npos);
  CHECK(seen.find("\r\nSubject: chunks\r\n\r\nline one\r\n..leading dot\r\n"
                  "\xc3\xa9t\xc3\xa9\r\n.\r\n") != std::string::npos);
  CHECK(seen.find("BDAT") == std::string::npos);
  CHECK(occurrences(seen, "\r\n.\r\n") == 1);
}

// The one streaming loop reads a chunk's octets and no more: an empty LAST chunk has none,
// so the message ends at once, without waiting for octets the client will never send.
TEST_CASE("BDAT: an empty LAST chunk ends the message at once (BDAT 0 LAST)", "[relay][bdat]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  Relay relay({peer_upstream("primary", peer.port())});
  SmtpClient c(relay.port());
  open_transaction(c);
  c.send(bdat("Subject: empty last\r\n\r\nbody\r\n"));
  CHECK(SmtpClient::code(c.reply()) == 250);
  c.send(bdat("", true));
  const std::string final_reply = c.reply(std::chrono::seconds(10));
  INFO("relay log: " << relay.log());
  CHECK(SmtpClient::code(final_reply) == 250);
  CHECK(final_reply.find("queued as") != std::string::npos);
  CHECK(SmtpClient::code(c.cmd("QUIT")) == 221);
  const std::string seen = read_file(capture);
  INFO("upstream capture:\n" << seen);
  CHECK(seen.find("\r\nSubject: empty last\r\n\r\nbody\r\n.\r\n") != std::string::npos);
}

TEST_CASE("BDAT: a \".\" line inside a chunk is content, never the end of data", "[relay][bdat]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  Relay relay({peer_upstream("primary", peer.port())});
  SmtpClient c(relay.port());
  open_transaction(c);
  // Everything pipelined in one write: the chunk's octets are never read as commands.
  c.send(bdat("Subject: s\r\n\r\na\r\n.\r\nMAIL FROM:<evil@example.org>\r\n") +
         bdat("RCPT TO:<x@example.org>\r\n", true) + "NOOP\r\n");
  CHECK(SmtpClient::code(c.reply()) == 250);
  const std::string last = c.reply();
  CHECK(SmtpClient::code(last) == 250);
  CHECK(last.find("queued as") != std::string::npos);
  CHECK(c.reply().rfind("250 2.0.0 Ok", 0) == 0);  // the NOOP after the LAST chunk
  const std::string seen = read_file(capture);
  INFO("upstream capture:\n" << seen);
  CHECK(seen.find("\r\na\r\n..\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<x@example.org>\r\n"
                  ".\r\n") != std::string::npos);
  CHECK(occurrences(seen, "MAIL FROM:") == 2);  // ours, and the content line
  CHECK(occurrences(seen, "\r\nMAIL FROM:<evil") == 1);
  CHECK(occurrences(seen, "\r\n.\r\n") == 1);
}

TEST_CASE("BDAT out of sequence: 503, its octets read and dropped, never executed",
          "[relay][bdat]") {
  Server peer(peer_argv({}));
  Relay relay({peer_upstream("primary", peer.port())});
  SmtpClient c(relay.port());
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
  c.send(bdat("QUIT\r\n", true));
  CHECK(c.reply().rfind("503 5.5.1", 0) == 0);
  CHECK(SmtpClient::code(c.cmd("NOOP")) == 250);  // QUIT inside the chunk did not run
  REQUIRE(SmtpClient::code(c.cmd("MAIL FROM:<a@example.org>")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("RCPT TO:<b@example.org>")) == 250);
  c.send(bdat("x\r\n"));
  CHECK(SmtpClient::code(c.reply()) == 250);
  CHECK(SmtpClient::code(c.cmd("DATA")) == 503);  // DATA and BDAT do not mix
  c.send(bdat("y\r\n", true));
  CHECK(SmtpClient::code(c.reply()) == 250);
}

TEST_CASE("BDAT: bare LF or an oversize chunk fails the transaction; no final dot upstream",
          "[relay][bdat]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  Relay relay({peer_upstream("primary", peer.port())}, "max_message_size = 2000");
  SmtpClient c(relay.port());
  open_transaction(c);
  SECTION("bare LF") {
    c.send(bdat("Subject: s\r\n\r\nhello\n.\nMAIL FROM:<evil@example.org>\r\n"));
    CHECK(c.reply().rfind("554 5.5.2", 0) == 0);
    c.send(bdat("more\r\n", true));  // the transaction is gone
    CHECK(SmtpClient::code(c.reply()) == 503);
    CHECK(SmtpClient::code(c.cmd("NOOP")) == 250);  // the session goes on
    CHECK(SmtpClient::code(c.cmd("QUIT")) == 221);
    CHECK(c.closed());
  }
  // Past max_message_size nothing of a chunk is read: 421 and hang up (issue 17 item 9).
  SECTION("announced size over max_message_size, refused before it is read") {
    c.send(bdat("x\r\n"));
    CHECK(SmtpClient::code(c.reply()) == 250);
    c.send(bdat(std::string(2500, 'y'), true));
    CHECK(c.reply().rfind("421 4.3.4", 0) == 0);
    CHECK(c.closed());
  }
  SECTION("an oversize first chunk: nothing reaches the upstream, the next session works") {
    c.send(bdat(std::string(2500, 'y'), true));
    CHECK(c.reply().rfind("421 4.3.4", 0) == 0);
    CHECK(c.closed());
    SmtpClient next(relay.port());
    open_transaction(next);
    next.send(bdat("Subject: ok\r\n\r\nsmall\r\n", true));
    CHECK(SmtpClient::code(next.reply()) == 250);
  }
  const std::string seen = read_file(capture);
  INFO(seen);
  CHECK(occurrences(seen, "\r\n.\r\n") == occurrences(seen, "Subject: ok\r\n"));
  CHECK(seen.find("yyyy") == std::string::npos);
  CHECK(seen.find("evil@example.org") == std::string::npos);
}

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <sys/time.h>

namespace {

// A blocking SMTP client that can switch to TLS after STARTTLS (OpenSSL over the socket).
// Reads have a 20 s receive time-out so a broken relay fails the test, never hangs it.
class StarttlsClient {
 public:
  explicit StarttlsClient(unsigned short port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    timeval tv{20, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~StarttlsClient() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    ::close(fd_);
  }
  StarttlsClient(const StarttlsClient&) = delete;
  StarttlsClient& operator=(const StarttlsClient&) = delete;

  void send(const std::string& bytes) {
    if (ssl_) {
      REQUIRE(SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) ==
              static_cast<int>(bytes.size()));
    } else {
      REQUIRE(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
              static_cast<ssize_t>(bytes.size()));
    }
  }
  // One whole reply; "" on close or time-out.
  std::string reply() {
    std::string out;
    for (;;) {
      auto nl = buffer_.find("\r\n");
      if (nl == std::string::npos) {
        char b[4096];
        const int n =
            ssl_ ? SSL_read(ssl_, b, sizeof b) : static_cast<int>(::recv(fd_, b, sizeof b, 0));
        if (n <= 0) return "";
        buffer_.append(b, static_cast<std::size_t>(n));
        continue;
      }
      const std::string line = buffer_.substr(0, nl + 2);
      buffer_.erase(0, nl + 2);
      out += line;
      if (line.size() < 4 || line[3] != '-') return out;
    }
  }
  std::string cmd(const std::string& line) {
    send(line + "\r\n");
    return reply();
  }
  // The client side of the handshake, trusting the test CA for relay.test's certificate.
  bool handshake() {
    REQUIRE(buffer_.empty());  // nothing of the plaintext phase may be left
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, cert("ca.pem").c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    ssl_ = SSL_new(ctx_);
    SSL_set_tlsext_host_name(ssl_, "mx.test");
    SSL_set1_host(ssl_, "mx.test");
    SSL_set_fd(ssl_, fd_);
    return SSL_connect(ssl_) == 1;
  }
  // True when the server closes the connection (or the TLS session) within the time-out.
  bool closed() {
    char b[256];
    const int n =
        ssl_ ? SSL_read(ssl_, b, sizeof b) : static_cast<int>(::recv(fd_, b, sizeof b, 0));
    return n <= 0;
  }

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buffer_;
};

// [proxy] lines offering STARTTLS with the test peer's "good" certificate (for mx.test), the
// key copied to a 0600 file of our own.
std::string starttls_proxy(const TempDir& dir, mode_t key_mode = 0600) {
  const std::string key = dir.path() + "/relay.key";
  {
    std::ofstream k(key);
    k << read_file(cert("good.key"));
  }
  ::chmod(key.c_str(), key_mode);
  return "tls_cert = \"" + cert("good.chain.pem") + "\"\ntls_key = \"" + key + "\"\n";
}

}  // namespace

TEST_CASE("STARTTLS to our client: offered once, state reset, then mail flows under TLS",
          "[relay][starttls-server]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  Relay relay({peer_upstream("primary", peer.port())}, starttls_proxy(dir));
  StarttlsClient c(relay.port());
  REQUIRE(c.reply().rfind("220 ", 0) == 0);
  const std::string ehlo = c.cmd("EHLO client.test");
  CHECK(ehlo.find("STARTTLS") != std::string::npos);
  CHECK(c.cmd("STARTTLS foo").rfind("501 ", 0) == 0);
  CHECK(c.cmd("STARTTLS").rfind("220 2.0.0", 0) == 0);
  REQUIRE(c.handshake());
  // RFC 3207 4.2: the session starts afresh.
  CHECK(c.cmd("MAIL FROM:<a@example.org>").rfind("503 ", 0) == 0);
  const std::string ehlo2 = c.cmd("EHLO client.test");
  CHECK(ehlo2.rfind("250-relay.test", 0) == 0);
  CHECK(ehlo2.find("STARTTLS") == std::string::npos);
  CHECK(c.cmd("STARTTLS").rfind("503 ", 0) == 0);
  CHECK(c.cmd("MAIL FROM:<a@example.org>").rfind("250", 0) == 0);
  CHECK(c.cmd("RCPT TO:<b@example.org>").rfind("250", 0) == 0);
  CHECK(c.cmd("DATA").rfind("354", 0) == 0);
  c.send("Subject: over TLS\r\n\r\nhi\r\n.\r\n");
  CHECK(c.reply().rfind("250", 0) == 0);
  CHECK(c.cmd("QUIT").rfind("221", 0) == 0);
  INFO(relay.log());
  CHECK(wait_for_log(relay, "client_tls=TLSv1.3/"));
  CHECK(relay.log().find("event=starttls client=127.0.0.1 tls=TLSv1.3/") != std::string::npos);
  CHECK(read_file(capture).find("Subject: over TLS\r\n\r\nhi\r\n.\r\n") != std::string::npos);
}

TEST_CASE("STARTTLS injection (CVE-2011-0411): a command pipelined after STARTTLS is dropped",
          "[relay][starttls-server]") {
  TempDir dir;
  Server peer(peer_argv({}));
  Relay relay({peer_upstream("primary", peer.port())}, starttls_proxy(dir));
  const std::string injected =
      GENERATE(as<std::string>{}, "RSET", "NOOP", "EHLO evil.test", "MAIL FROM:<evil@example.org>");
  INFO("injected: " << injected);
  StarttlsClient c(relay.port());
  REQUIRE(c.reply().rfind("220 ", 0) == 0);
  REQUIRE(c.cmd("EHLO client.test").rfind("250", 0) == 0);
  c.send("STARTTLS\r\n" + injected + "\r\n");  // one write
  REQUIRE(c.reply().rfind("220 2.0.0", 0) == 0);
  REQUIRE(c.handshake());
  // The next reply is to our own EHLO: nothing answered the injected command.
  const std::string ehlo = c.cmd("EHLO client.test");
  CHECK(ehlo.rfind("250-relay.test", 0) == 0);
  CHECK(c.cmd("NOOP") == "250 2.0.0 Ok\r\n");
  // Not in a transaction (an injected MAIL never ran): MAIL is accepted, not "nested".
  CHECK(c.cmd("MAIL FROM:<a@example.org>").rfind("250", 0) == 0);
  INFO(relay.log());
  CHECK(wait_for_log(relay, "event=starttls-discard"));
}

TEST_CASE("STARTTLS: a failed handshake closes the session and is logged",
          "[relay][starttls-server]") {
  TempDir dir;
  Server peer(peer_argv({}));
  Relay relay({peer_upstream("primary", peer.port())}, starttls_proxy(dir));
  SmtpClient c(relay.port());
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("STARTTLS")) == 220);
  c.send("this is not a TLS ClientHello\r\n");
  CHECK(c.closed());
  CHECK(wait_for_log(relay, "event=starttls-failed"));
}

TEST_CASE("STARTTLS key and certificate problems fail check-config and serve with FILE:LINE:COL",
          "[relay][starttls-server]") {
  TempDir dir;
  const std::string config = dir.path() + "/relay.toml";
  auto write_config = [&](const std::string& proxy) {
    std::ofstream f(config);
    f << "[proxy]\nlisten = [\"127.0.0.1:0\"]\n"
      << proxy << "\n"
      << peer_upstream("primary", 25).toml;
  };
  SECTION("a group-readable key") {
    write_config(starttls_proxy(dir, 0640));
    auto r = run({tlsrelay_bin(), "check-config", config});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find(config + ":4:11: [proxy] tls_key: key file") != std::string::npos);
    CHECK(r.err.find("chmod 600") != std::string::npos);
    auto s = run({tlsrelay_bin(), "serve", "--config", config}, std::chrono::seconds(20));
    CHECK(s.exit_code != 0);
    CHECK(s.err.find(config + ":4:11: [proxy] tls_key:") != std::string::npos);
  }
  SECTION("a key that does not match the certificate") {
    std::string proxy = starttls_proxy(dir);
    const std::string other = dir.path() + "/other.key";
    REQUIRE(run({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", other})
                .exit_code == 0);
    ::chmod(other.c_str(), 0600);
    proxy = proxy.substr(0, proxy.find("tls_key")) + "tls_key = \"" + other + "\"\n";
    write_config(proxy);
    auto r = run({tlsrelay_bin(), "check-config", config});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find(":4:11: [proxy] tls_key:") != std::string::npos);
    CHECK(r.err.find("does not match") != std::string::npos);
  }
  SECTION("a certificate file that is not there") {
    write_config("tls_cert = \"" + dir.path() + "/missing.pem\"\ntls_key = \"/x\"\n");
    auto r = run({tlsrelay_bin(), "check-config", config});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find(config + ":3:12: [proxy] tls_cert:") != std::string::npos);
  }
}

TEST_CASE("swaks --tls through the relay", "[relay][starttls-server]") {
  if (::access("/usr/bin/swaks", X_OK) != 0 ||
      run({"perl", "-MNet::SSLeay", "-e", "1"}).exit_code != 0) {
    WARN("swaks with TLS support (Net::SSLeay) is not installed; skipped");
    return;
  }
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  Relay relay({peer_upstream("primary", peer.port())}, starttls_proxy(dir));
  auto r = run({"/usr/bin/swaks", "--server", "127.0.0.1", "--port", std::to_string(relay.port()),
                "--tls", "--from", "a@example.org", "--to", "b@example.org", "--ehlo",
                "client.test", "--header", "Subject: swaks"},
               std::chrono::seconds(30));
  INFO(r.out << r.err << relay.log());
  CHECK(r.exit_code == 0);
  CHECK(read_file(capture).find("Subject: swaks") != std::string::npos);
}

TEST_CASE("DSN parameters reach an upstream that offers DSN (RFC 3461)", "[relay][dsn]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  Relay relay({peer_upstream("primary", peer.port())});
  SmtpClient c(relay.port());
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  const std::string ehlo = c.cmd("EHLO client.test");
  REQUIRE(SmtpClient::code(ehlo) == 250);
  CHECK(ehlo.find("DSN") != std::string::npos);
  REQUIRE(SmtpClient::code(c.cmd("MAIL FROM:<a@example.org> RET=HDRS ENVID=QQ314159")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("RCPT TO:<b@example.org> NOTIFY=SUCCESS,DELAY "
                                 "ORCPT=rfc822;b@example.org")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("DATA")) == 354);
  c.send("Subject: dsn\r\n\r\nbody\r\n.\r\n");
  REQUIRE(SmtpClient::code(c.reply()) == 250);
  const std::string seen = read_file(capture);
  INFO(seen);
  CHECK(seen.find("MAIL FROM:<a@example.org> RET=HDRS ENVID=QQ314159") != std::string::npos);
  CHECK(seen.find("RCPT TO:<b@example.org> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b@example.org") !=
        std::string::npos);
}

// ---- Issue 17: what the attacker's review found -----------------------------------------

namespace {

// One message through a session that stays open: the final reply.
std::string message_in_session(SmtpClient& c, const std::string& mail_params) {
  const std::string mail = c.cmd("MAIL FROM:<a@example.org>" + mail_params);
  if (SmtpClient::code(mail) != 250) return mail;
  if (SmtpClient::code(c.cmd("RCPT TO:<b@example.org>")) != 250) return "rcpt refused";
  if (SmtpClient::code(c.cmd("DATA")) != 354) return "data refused";
  c.send("Subject: kept\r\n\r\nbody\r\n.\r\n");
  return c.reply(std::chrono::seconds(60));
}

}  // namespace

TEST_CASE("an anonymous man in the middle gets no AUTH and no mail, and the client a 451",
          "[relay][policy][auth]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  const std::string pw = dir.path() + "/pw";
  std::ofstream(pw) << "Canary-Anon-3b1\n";
  REQUIRE(chmod(pw.c_str(), 0600) == 0);
  // It offers AUTH once TLS is up, and only aNULL suites: it has no certificate to show.
  Server mitm(peer_argv(
      {"--anonymous", "--auth-user", "relay", "--auth-password", "x", "--capture", capture}));
  Relay relay({anonymous_prone("gmail", mitm.port(),
                               "auth_user = \"relay\"\nauth_password_file = \"" + pw + "\"\n")},
              "", kAnonymousRule);
  const std::string r = relay_one(relay.port());
  INFO(r << "\n" << relay.log());
  CHECK(r.rfind("451 4.7.5 tlsrelay: gmail", 0) == 0);
  CHECK(r.find("tls-no-shared-cipher") != std::string::npos);
  const std::string seen = read_file(capture);
  INFO("what the man in the middle got:\n" << seen);
  CHECK(seen.find("AUTH") == std::string::npos);
  CHECK(seen.find("MAIL FROM") == std::string::npos);
  CHECK(seen.find("Canary-Anon") == std::string::npos);
  // Both attempts are on record, the second with the compat profile, neither verified.
  const std::string events = relay.events(2);
  CHECK(events.find("\"profile\":\"compat\"") != std::string::npos);
  CHECK(events.find("\"verified\":true") == std::string::npos);
}

// Layer 1 on its own: even if an anonymous suite were negotiated (here forced onto the
// context, past the cipher-list guard), the attempt proves nothing and fails before a byte
// of SMTP is sent inside TLS.
TEST_CASE("a handshake without a certificate is never verified, whatever the cipher list",
          "[relay][policy]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server mitm(peer_argv({"--anonymous", "--tls", "implicit", "--capture", capture}));
  tlsrelay::tls::ClientProfile profile;
  profile.ca_file = cert("ca.pem");
  profile.min_version = "1.0";
  profile.security_level = 0;
  auto made = tlsrelay::tls::ClientContext::create(profile);
  auto ctx = std::get<std::shared_ptr<tlsrelay::tls::ClientContext>>(made);
  REQUIRE(SSL_CTX_set_cipher_list(ctx->native(), "aNULL:@SECLEVEL=0") == 1);
  tlsrelay::tls::AttemptOptions opt;
  opt.target.name = "mitm";
  opt.target.host = "mx.test";
  opt.target.port = mitm.port();
  opt.target.tls_mode = tlsrelay::TlsMode::Implicit;
  opt.target.connect_address = "127.0.0.1";
  opt.phase_timeout = std::chrono::seconds(5);
  boost::asio::io_context io;
  tlsrelay::tls::AttemptResult result;
  boost::asio::co_spawn(io, tlsrelay::tls::run_attempt(opt, ctx),
                        [&](std::exception_ptr e, tlsrelay::tls::AttemptResult r) {
                          REQUIRE_FALSE(e);
                          result = std::move(r);
                        });
  io.run();
  const auto v = tlsrelay::tls::classify(result.facts);
  INFO(v.detail << "\n" << v.hint);
  CHECK(result.facts.tls.handshake_done);  // the handshake did finish: anonymously
  CHECK_FALSE(result.facts.certificate.peer_certificate);
  CHECK_FALSE(result.facts.certificate.verified);
  CHECK_FALSE(result.stream);
  CHECK(v.cls == tlsrelay::FailureClass::CertificateInvalid);
  CHECK(v.hint.find("sent no certificate") != std::string::npos);
  // Implicit TLS: the server's banner is never even read, and nothing was sent.
  CHECK(read_file(capture).find("EHLO") == std::string::npos);
}

TEST_CASE("check-config warns about a cipher list that asks for anonymous suites", "[relay][cli]") {
  TempDir dir;
  const std::string path = dir.path() + "/relay.toml";
  std::ofstream(path) << "[proxy]\nlisten = [\"127.0.0.1:0\"]\nhostname = \"relay.test\"\n"
                      << "[tls]\nca_file = \"" << cert("ca.pem") << "\"\n"
                      << anonymous_prone("old", 25, "").toml;
  const auto r = run({tlsrelay_bin(), "check-config", path});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find(path + ":") == 0);
  CHECK(r.err.find("warning: [upstream.compat] ciphers of old selects") != std::string::npos);
  CHECK(r.err.find("never offers aNULL or eNULL") != std::string::npos);
}

TEST_CASE("a REQUIRETLS message never rides a compat connection kept from the last message",
          "[relay][policy]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv(
      {"--tls-min", "1.0", "--tls-max", "1.0", "--extension", "REQUIRETLS", "--capture", capture}));
  Upstream u = peer_upstream("old", peer.port());
  u.toml += "[upstream.compat]\nmin_version = \"1.0\"\n";
  Relay relay({u}, "", "[policy.rules]\n\"tls-protocol-mismatch\" = [\"compat\", \"defer\"]\n");
  SmtpClient c(relay.port());
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
  CHECK(SmtpClient::code(message_in_session(c, "")) == 250);  // over compat TLS 1.0
  const std::string r = message_in_session(c, " REQUIRETLS");
  INFO(r << "\n" << relay.log());
  // A fresh route for it, under its own requirements: no compat below TLS 1.2, so deferred.
  CHECK(r.rfind("451 ", 0) == 0);
  CHECK(r.find("tls-protocol-mismatch") != std::string::npos);
  const std::string seen = read_file(capture);
  INFO(seen);
  CHECK(occurrences(seen, "MAIL FROM:") == 1);
  CHECK(seen.find("REQUIRETLS\r\n") == std::string::npos);
}

TEST_CASE("a REQUIRETLS message after a plaintext one gets its own route, not a 550",
          "[relay][policy]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(
      peer_argv({"--behaviour", "no-starttls", "--extension", "REQUIRETLS", "--capture", capture}));
  Upstream u = peer_upstream("legacy", peer.port());
  u.toml += "allow_plaintext = true\n";
  Relay relay({u}, "", "[policy.rules]\n\"starttls-not-offered\" = [\"plaintext\", \"defer\"]\n");
  SmtpClient c(relay.port());
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
  CHECK(SmtpClient::code(message_in_session(c, "")) == 250);  // in clear, as allowed
  const std::string r = message_in_session(c, " REQUIRETLS");
  INFO(r);
  CHECK(r.rfind("451 4.7.0 tlsrelay: legacy", 0) == 0);
  CHECK(r.find("starttls-not-offered") != std::string::npos);
  CHECK(occurrences(read_file(capture), "MAIL FROM:") == 1);
}

TEST_CASE("the client's TLS-Relay fields and a folded first line never become ours",
          "[relay][headers]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  Relay relay({peer_upstream("primary", peer.port())});
  const bool bdat = GENERATE(false, true);
  INFO((bdat ? "BDAT" : "DATA"));
  const std::string spoof =
      "TLS-Relay: upstream=evil; verify=ok; attempts=1\r\n"
      "TLS-Relay-Failure: attempt=1; class=ok\r\nSubject: spoof\r\n\r\nbody\r\n";
  const std::string folded = "\t; verify=ok; tls=TLSv1.3\r\nSubject: folded\r\n\r\nbody\r\n";
  for (const std::string& message : {spoof, folded}) {
    SmtpClient c(relay.port());
    REQUIRE(SmtpClient::code(c.reply()) == 220);
    REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
    REQUIRE(SmtpClient::code(c.cmd("MAIL FROM:<a@example.org>")) == 250);
    REQUIRE(SmtpClient::code(c.cmd("RCPT TO:<b@example.org>")) == 250);
    if (bdat) {
      c.send("BDAT " + std::to_string(message.size()) + " LAST\r\n" + message);
    } else {
      REQUIRE(SmtpClient::code(c.cmd("DATA")) == 354);
      c.send(message + ".\r\n");
    }
    REQUIRE(SmtpClient::code(c.reply()) == 250);
  }
  const std::string seen = read_file(capture);
  INFO(seen);
  // Exactly our two fields start a line; the client's are renamed, values untouched.
  CHECK(occurrences(seen, "\r\nTLS-Relay:") == 2);
  CHECK(occurrences(seen, "\r\nTLS-Relay-Failure:") == 0);
  CHECK(seen.find("\r\nX-Untrusted-TLS-Relay: upstream=evil; verify=ok; attempts=1\r\n"
                  "X-Untrusted-TLS-Relay-Failure: attempt=1; class=ok\r\nSubject: spoof\r\n") !=
        std::string::npos);
  // The folded line ends up after our header section, never inside our field.
  CHECK(seen.find("attempts=1\r\n\r\n\t; verify=ok; tls=TLSv1.3\r\nSubject: folded\r\n") !=
        std::string::npos);
}

TEST_CASE("normalize: a line of only NUL cannot end the header section upstream",
          "[relay][smuggling]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  Relay relay({peer_upstream("primary", peer.port())}, "bare_newlines = \"normalize\"\n");
  SmtpClient c(relay.port());
  open_data(c);
  c.send(std::string("Subject: z\r\n\0\r\nX-Hidden: 1\r\n\r\nbody\r\n.\r\n", 39));
  const std::string r = c.reply();
  CHECK(r.rfind("554 5.5.2", 0) == 0);
  CHECK(SmtpClient::code(c.cmd("NOOP")) == 250);
  CHECK(read_file(capture).find("X-Hidden") == std::string::npos);
}

TEST_CASE("the journal line cannot be forged from a reply or an address", "[relay][log]") {
  Server peer(peer_argv({"--data-reply", "250 2.0.0 ok\" class=ok upstream=evil ms=\"1"}));
  Relay relay({peer_upstream("primary", peer.port())});
  SmtpClient c(relay.port());
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("MAIL FROM:<\"a\\\" class=ok\"@example.org>")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("RCPT TO:<b@example.org>")) == 250);
  REQUIRE(SmtpClient::code(c.cmd("DATA")) == 354);
  c.send("Subject: log\r\n\r\nbody\r\n.\r\n");
  REQUIRE(SmtpClient::code(c.reply()) == 250);
  REQUIRE(wait_for_log(relay, "event=transaction"));
  const std::string log = relay.log();
  const auto at = log.find("event=transaction");
  const std::string line = log.substr(at, log.find('\n', at) - at);
  INFO(line);
  // Read as key=value pairs (common/log.hpp): every key once, ours.
  std::map<std::string, std::string> pairs;
  std::vector<std::string> keys;
  for (auto& [key, value] : tlsrelay::parse_log_fields(line)) {
    keys.push_back(key);
    pairs[key] = value;
  }
  CHECK(keys == std::vector<std::string>{"event", "txn", "client", "from", "rcpts", "size",
                                         "upstream", "client_tls", "reply", "ms"});
  // Each value reads back as exactly what the client and the upstream sent.
  CHECK(pairs["from"] == "<\"a\\\" class=ok\"@example.org>");
  CHECK(pairs["reply"] == "250 2.0.0 ok\" class=ok upstream=evil ms=\"1");
  CHECK(pairs["upstream"] == "primary");
}

TEST_CASE("a BDAT past max_message_size is answered 421 at once, its octets never read",
          "[relay][bdat]") {
  Server peer(peer_argv({}));
  Relay relay({peer_upstream("primary", peer.port())}, "max_message_size = 1000\n");
  SECTION("in a transaction, taking the message past the limit") {
    SmtpClient c(relay.port());
    REQUIRE(SmtpClient::code(c.reply()) == 220);
    REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
    REQUIRE(SmtpClient::code(c.cmd("MAIL FROM:<a@example.org>")) == 250);
    REQUIRE(SmtpClient::code(c.cmd("RCPT TO:<b@example.org>")) == 250);
    c.send("BDAT 600\r\n" + std::string(598, 'x') + "\r\n");
    REQUIRE(SmtpClient::code(c.reply()) == 250);
    const std::string r = c.cmd("BDAT 18446744073709551615 LAST");
    CHECK(r.rfind("421 4.3.4", 0) == 0);
    CHECK(c.closed());
  }
  SECTION("refused (no transaction) and larger than the limit") {
    SmtpClient c(relay.port());
    REQUIRE(SmtpClient::code(c.reply()) == 220);
    REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
    const std::string r = c.cmd("BDAT 1000000000");
    CHECK(r.rfind("421 4.3.4", 0) == 0);
    CHECK(c.closed());
  }
  // The relay is still there for the next client.
  SmtpClient next(relay.port());
  CHECK(SmtpClient::code(next.reply()) == 220);
}

TEST_CASE("compat after a failed attempt announces itself; a newer server refuses the downgrade",
          "[relay][policy]") {
  // The first connection is reset after our ClientHello (a middlebox that breaks TLS 1.3,
  // or an attacker); the retry with compat offers at most TLS 1.2. The server speaks 1.3:
  // with TLS_FALLBACK_SCSV it refuses (RFC 7507) instead of settling for 1.2.
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv(
      {"--behaviour", "rst-after-clienthello", "--misbehave-first", "1", "--capture", capture}));
  Upstream u = peer_upstream("primary", peer.port());
  u.toml += "[upstream.compat]\nmax_version = \"1.2\"\n";
  Relay relay({u}, "", "[policy.rules]\n\"connection-reset\" = [\"compat\", \"defer\"]\n");
  const std::string r = relay_one(relay.port());
  INFO(r << "\n" << relay.events(2));
  CHECK(r.rfind("451 4.7.5", 0) == 0);
  CHECK(r.find("tls-alert") != std::string::npos);
  CHECK(r.find("downgrade") != std::string::npos);
  CHECK(relay.events(2).find("\"fallback_scsv\":true") != std::string::npos);
  CHECK(read_file(capture).find("MAIL FROM") == std::string::npos);
}

TEST_CASE("a REQUIRETLS message never gets the compat profile; another message says it did",
          "[relay][policy]") {
  // The default profile refuses the 1024-bit certificate (certificate-weak); compat at
  // security level 0 accepts it. That is for a message that may travel so, never for one
  // that requires TLS (RFC 8689): compat can be as weak as level 0.
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--cert", "rsa1024", "--extension", "REQUIRETLS", "--capture", capture}));
  Upstream u = peer_upstream("weak", peer.port());
  u.toml += "[upstream.compat]\nsecurity_level = 0\n";
  Relay relay({u}, "", "[policy.rules]\n\"certificate-weak\" = [\"compat\", \"defer\"]\n");
  const std::string required = relay_one(relay.port(), " REQUIRETLS");
  INFO(required);
  CHECK(required.rfind("451 4.7.5", 0) == 0);
  CHECK(required.find("certificate-weak") != std::string::npos);
  CHECK(read_file(capture).find("MAIL FROM") == std::string::npos);
  CHECK(SmtpClient::code(relay_one(relay.port())) == 250);
  const std::string seen = read_file(capture);
  INFO(seen);
  CHECK(seen.find("attempts=2; profile=compat") != std::string::npos);
}

TEST_CASE("after a reload, a session's next message goes by the new configuration", "[relay]") {
  TempDir dir;
  const std::string first_capture = dir.path() + "/first";
  const std::string second_capture = dir.path() + "/second";
  Server first(peer_argv({"--capture", first_capture}));
  Server second(peer_argv({"--capture", second_capture}));
  Relay relay({peer_upstream("primary", first.port())});
  SmtpClient c(relay.port());
  REQUIRE(SmtpClient::code(c.reply()) == 220);
  REQUIRE(SmtpClient::code(c.cmd("EHLO client.test")) == 250);
  REQUIRE(SmtpClient::code(message_in_session(c, "")) == 250);
  const std::string config = relay.dir() + "/relay.toml";
  std::string moved = read_file(config);
  moved.replace(moved.find("port = " + std::to_string(first.port())),
                7 + std::to_string(first.port()).size(), "port = " + std::to_string(second.port()));
  std::ofstream(config) << moved;
  kill(relay.pid(), SIGHUP);
  REQUIRE(wait_for_log(relay, "status=ok"));
  REQUIRE(SmtpClient::code(message_in_session(c, "")) == 250);  // the same client session
  CHECK(occurrences(read_file(first_capture), "MAIL FROM:") == 1);
  CHECK(occurrences(read_file(second_capture), "MAIL FROM:") == 1);
}

TEST_CASE("a refused DATA is not read without bound: past twice the limit, 421",
          "[relay][limits]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  Relay relay({peer_upstream("primary", peer.port())}, "max_message_size = 1000\n");
  SmtpClient c(relay.port());
  open_data(c);
  const std::string line(98, 'x');
  for (int i = 0; i < 25; ++i) c.send(line + "\r\n");  // 2,500 octets, no end
  const std::string r = c.reply();
  CHECK(r.rfind("421 4.3.4", 0) == 0);
  CHECK(c.closed());
  CHECK(read_file(capture).find("\r\n.\r\n") == std::string::npos);
}

TEST_CASE("a refused DATA within twice the limit still gets its 552 in step", "[relay][limits]") {
  Server peer(peer_argv({}));
  Relay relay({peer_upstream("primary", peer.port())}, "max_message_size = 1000\n");
  SmtpClient c(relay.port());
  open_data(c);
  for (int i = 0; i < 15; ++i) c.send(std::string(98, 'x') + "\r\n");  // 1,500 octets
  c.send(".\r\n");
  CHECK(c.reply().rfind("552 5.3.4", 0) == 0);
  CHECK(SmtpClient::code(c.cmd("NOOP")) == 250);
}

TEST_CASE("metrics: which build answers, and whether the last reload took", "[relay][metrics]") {
  Server peer(peer_argv({}));
  const unsigned short http = free_port();
  Relay relay({peer_upstream("primary", peer.port())}, "",
              "[http]\nlisten = \"127.0.0.1:" + std::to_string(http) + "\"\n");
  auto value = [&](const std::string& name) {
    const std::string m = http_get(http, "/metrics");
    const auto at = m.find("\n" + name + " ");
    REQUIRE(at != std::string::npos);
    return std::stod(m.substr(at + name.size() + 2, m.find('\n', at + 1) - at - name.size() - 2));
  };
  const std::string metrics = http_get(http, "/metrics");
  CHECK(metrics.find("tlsrelay_build_info{version=\"0.1.0\",openssl=\"3.") != std::string::npos);
  CHECK(value("tlsrelay_config_last_reload_successful") == 1);
  const double loaded = value("tlsrelay_config_last_reload_success_timestamp_seconds");
  CHECK(loaded > 1.7e9);
  const std::string config = relay.dir() + "/relay.toml";
  const std::string good = read_file(config);
  std::ofstream(config) << good << "\nbogus_key = 1\n";
  kill(relay.pid(), SIGHUP);
  REQUIRE(wait_for_log(relay, "status=rejected"));
  CHECK(value("tlsrelay_config_last_reload_successful") == 0);
  CHECK(value("tlsrelay_config_last_reload_success_timestamp_seconds") == loaded);
  std::ofstream(config) << good;
  kill(relay.pid(), SIGHUP);
  REQUIRE(wait_for_log(relay, "status=ok"));
  CHECK(value("tlsrelay_config_last_reload_successful") == 1);
  CHECK(value("tlsrelay_config_last_reload_success_timestamp_seconds") >= loaded);
}

TEST_CASE("check-config refuses what would defer every message, at its line", "[relay][cli]") {
  TempDir dir;
  const std::string path = dir.path() + "/relay.toml";
  const std::string head = "[proxy]\nlisten = [\"127.0.0.1:10025\"]\nhostname = \"relay.test\"\n";
  const std::string upstream = peer_upstream("old", 25).toml;
  struct Case {
    std::string name, toml, expected;
  };
  const std::vector<Case> cases = {
      {"a CA file that does not exist",
       head + "[tls]\nca_file = \"/nonexistent/ca.pem\"\n" + upstream,
       ":5:11: [tls] ca_file: cannot read CA file /nonexistent/ca.pem"},
      {"a compat cipher list OpenSSL refuses",
       head + "[tls]\nca_file = \"" + cert("ca.pem") + "\"\n" + upstream +
           "[upstream.compat]\nciphers = \"NOT-A-CIPHER\"\n",
       "[upstream.compat] of old: cipher list \"NOT-A-CIPHER\" selects no cipher"},
      {"a milter status_url that no [http] listen answers",
       head + "[tls]\nca_file = \"" + cert("ca.pem") + "\"\n" + upstream +
           "[milter]\nsocket = \"inet:8891@127.0.0.1\"\n"
           "status_url = \"http://127.0.0.1:9325/status\"\n",
       "[milter] status_url names the relay's /status, but this file has no [http] listen"},
  };
  for (const auto& c : cases) {
    std::ofstream(path) << c.toml;
    const auto r = run({tlsrelay_bin(), "check-config", path});
    INFO(c.name << ":\n" << r.out << r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.rfind(path + ":", 0) == 0);
    CHECK(r.err.find(c.expected) != std::string::npos);
  }
}

TEST_CASE("check-config reads the secrets as the service user too", "[relay][cli]") {
  if (geteuid() != 0) {
    WARN("not root: cannot check as another user; skipped");
    return;
  }
  TempDir dir;
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  const std::string pw = secret_file_with(dir, "pw", "root-only");  // 0600, root's
  const std::string path = dir.path() + "/relay.toml";
  std::ofstream(path) << "[proxy]\nlisten = [\"127.0.0.1:10025\"]\nhostname = \"relay.test\"\n"
                      << "[tls]\nca_file = \"/etc/ssl/certs/ca-certificates.crt\"\n"
                      << peer_upstream("gmail", 587).toml << "auth_user = \"me\"\n"
                      << "auth_password_file = \"" << pw << "\"\n";
  // Root can read it; the relay, running as nobody, could not.
  CHECK(run({tlsrelay_bin(), "check-config", path}).exit_code == 0);
  const auto r = run({tlsrelay_bin(), "check-config", path, "--as-user", "nobody"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find(path +
                   ":13:1: [[upstream]] auth_password_file: as nobody: cannot open secret file " +
                   pw + ": Permission denied") != std::string::npos);
  // Owned by the service user, it is fine.
  REQUIRE(chown(pw.c_str(), 65534, 65534) == 0);
  CHECK(run({tlsrelay_bin(), "check-config", path, "--as-user", "nobody"}).exit_code == 0);
}

TEST_CASE("policy: a retry whose backoff outlasts the deadline is not made; the real class stays",
          "[relay][policy]") {
  // Found by the review of the policy module: the relay used to wait out the deadline and
  // then try once more with no time left, answering with a made-up "timeout".
  Server peer(peer_argv({"--behaviour", "rst-after-clienthello"}));
  Relay relay({peer_upstream("primary", peer.port())}, "",
              "[policy]\ndeadline_s = 1\nbackoff_s = [5]\n"
              "[policy.rules]\n\"network\" = [\"retry:1\", \"defer\"]\n");
  for (int i = 0; i < 5; ++i) {
    const std::string r = relay_one(relay.port());
    INFO(r);
    CHECK(r.rfind("451 4.4.2", 0) == 0);
    CHECK(r.find("connection-reset") != std::string::npos);
    CHECK(r.find("tried 1 time over 1 upstream") != std::string::npos);  // no second attempt
  }
}

TEST_CASE(
    "a version or suite mismatch: the 451, the event record and /status name what the "
    "server speaks",
    "[relay]") {
  struct Case {
    std::vector<std::string> peer;
    std::string cls, names;
  };
  const Case c = GENERATE(
      Case{{"--tls-min", "1.0", "--tls-max", "1.0"},
           "tls-protocol-mismatch",
           "the server speaks only TLS 1.0; an [upstream.compat] profile with min_version"},
      Case{{"--tls-max", "1.2", "--ciphers", "CAMELLIA128-SHA", "--seclevel", "0"},
           "tls-no-shared-cipher",
           "its only suite is CAMELLIA128-SHA;"});
  Server peer(peer_argv(c.peer));
  const unsigned short http = free_port();
  Relay relay({peer_upstream("old", peer.port())}, "",
              "[http]\nlisten = \"127.0.0.1:" + std::to_string(http) + "\"\n");
  SmtpClient client(relay.port());
  REQUIRE(SmtpClient::code(client.reply()) == 220);
  REQUIRE(SmtpClient::code(client.cmd("EHLO client.test")) == 250);
  const std::string r = client.cmd("MAIL FROM:<a@example.org>");
  INFO(r);
  CHECK(r.rfind("451 ", 0) == 0);
  CHECK(r.find(c.cls + ": A follow-up found that " + c.names) != std::string::npos);
  auto record = nlohmann::json::parse(relay.events().substr(0, relay.events().find('\n')));
  CHECK(record["class"] == c.cls);
  CHECK(record["hint"].get<std::string>().find(c.names) != std::string::npos);
  auto status = nlohmann::json::parse(http_get(http, "/status"));
  CHECK(status["route"]["class"] == c.cls);
  CHECK(status["route"]["hint"].get<std::string>().find(c.names) != std::string::npos);
}
