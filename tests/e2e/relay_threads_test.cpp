// End to end: `tlsrelay serve` with [proxy] threads > 1. Sessions spread over the threads
// round robin; what they share (route health, metrics, the event log, the config a reload
// replaces, the client accounting at home) must come out exact with many clients at once;
// eviction reaches a session on another thread; SIGHUP and SIGTERM reach every thread; each
// thread keeps its own pool of upstream connections. The ThreadSanitizer build runs these
// too (scripts/test.sh), which is where a missing lock shows.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/e2e/relay_fixture.hpp"

using namespace tlsrelay;
using namespace tlsrelay::e2e;

namespace {

// A one-way gate the client threads wait at (bounded) until the test opens it.
class Gate {
 public:
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  bool wait() {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

// One message on an open session, without Catch's macros (they are not for other threads):
// the reply to the final dot, or what ended the transaction early.
std::string message_on(SmtpClient& c, int n) {
  std::string r = c.cmd("MAIL FROM:<a@example.org>");
  if (SmtpClient::code(r) != 250) return r;
  r = c.cmd("RCPT TO:<b@example.org>");
  if (SmtpClient::code(r) != 250) return r;
  r = c.cmd("DATA");
  if (SmtpClient::code(r) != 354) return r;
  c.send("Subject: thread test " + std::to_string(n) + "\r\n\r\nbody " + std::to_string(n) +
         "\r\n.\r\n");
  return c.reply(std::chrono::seconds(60));
}

// What arrives on `fd` within 10 s, up to a line end; "" when nothing does.
std::string read_line(int fd) {
  std::string got;
  pollfd p{fd, POLLIN, 0};
  char c = 0;
  while (got.find('\n') == std::string::npos && ::poll(&p, 1, 10000) == 1 &&
         ::recv(fd, &c, 1, 0) == 1) {
    got += c;
  }
  return got;
}

std::string http_listen(unsigned short port) {
  return "[http]\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\n";
}

}  // namespace

TEST_CASE(
    "threads = 4: 8 clients at once, each message relayed once and counted once; "
    "SIGHUP and SIGTERM reach every thread",
    "[relay][threads]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  const unsigned short http = free_port();
  Relay relay({peer_upstream("primary", peer.port())}, "threads = 4\n", http_listen(http));
  REQUIRE(wait_for_log(relay, "event=threads count=4"));

  constexpr int kClients = 8;
  constexpr int kPerClient = 6;
  std::vector<std::vector<std::string>> replies(kClients);
  std::atomic<int> halfway{0};
  Gate reloaded;
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      try {
        SmtpClient c(relay.port());
        if (SmtpClient::code(c.reply()) != 220) return;
        if (SmtpClient::code(c.cmd("EHLO client.test")) != 250) return;
        for (int m = 0; m < kPerClient; ++m) {
          // Half the messages before the reload, half after it, on the same sessions.
          if (m == kPerClient / 2) {
            ++halfway;
            if (!reloaded.wait()) return;
          }
          replies[i].push_back(message_on(c, i * kPerClient + m));
        }
        c.cmd("QUIT");
      } catch (const std::exception& e) {
        replies[i].push_back(std::string("exception: ") + e.what());
      }
    });
  }
  // Every client has sent its first half (each on its own session, 2 per thread).
  bool all_halfway = false;
  for (int i = 0; i < 3000 && !all_halfway; ++i) {
    all_halfway = halfway.load() == kClients;
    if (!all_halfway) poll(nullptr, 0, 10);
  }
  CHECK(all_halfway);
  // A reload while 8 sessions on 4 threads are open: the new config is taken by the
  // next transaction of each (the same upstream here, so mail keeps flowing).
  kill(relay.pid(), SIGHUP);
  CHECK(wait_for_log(relay, "event=reload status=ok"));
  reloaded.open();
  for (auto& t : clients) t.join();

  int delivered = 0;
  for (int i = 0; i < kClients; ++i) {
    INFO("client " << i);
    REQUIRE(replies[i].size() == static_cast<std::size_t>(kPerClient));
    for (const auto& r : replies[i]) {
      INFO(r);
      CHECK(SmtpClient::code(r) == 250);
      if (SmtpClient::code(r) == 250) ++delivered;
    }
  }
  CHECK(delivered == kClients * kPerClient);
  // Each 250 stands on the upstream's copy: one final dot per message, none twice.
  const std::string seen = read_file(capture);
  CHECK(occurrences(seen, "\r\n.\r\n") == static_cast<std::size_t>(delivered));
  for (int n = 0; n < kClients * kPerClient; ++n) {
    INFO("message " << n);
    CHECK(occurrences(seen, "body " + std::to_string(n) + "\r\n") == 1);
  }
  // Counted from every thread into the one Telemetry, none lost.
  CHECK(wait_for_metric(http,
                        "tlsrelay_transactions_total{upstream=\"primary\",outcome="
                        "\"delivered\"} " +
                            std::to_string(delivered)));
  CHECK(wait_for_metric(http, "tlsrelay_client_sessions 0"));
  const auto status = nlohmann::json::parse(http_get(http, "/status"));
  CHECK(status["upstreams"][0]["name"] == "primary");

  // SIGTERM with an idle client on each thread: every one hears 421, the daemon exits 0.
  std::vector<std::unique_ptr<SmtpClient>> idle;
  for (int i = 0; i < 4; ++i) {
    idle.push_back(std::make_unique<SmtpClient>(relay.port()));
    REQUIRE(SmtpClient::code(idle.back()->reply()) == 220);
    REQUIRE(SmtpClient::code(idle.back()->cmd("EHLO client.test")) == 250);
  }
  kill(relay.pid(), SIGTERM);
  for (auto& c : idle) CHECK(c->reply().rfind("421 4.3.2", 0) == 0);
  int status_code = 0;
  REQUIRE(waitpid(relay.pid(), &status_code, 0) == relay.pid());
  CHECK(WIFEXITED(status_code));
  CHECK(WEXITSTATUS(status_code) == 0);
}

TEST_CASE("threads = 2: each thread keeps its own pool; sessions alternate between them",
          "[relay][threads][pool]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  const unsigned short http = free_port();
  Relay relay({peer_upstream("primary", peer.port())}, "threads = 2\n", http_listen(http));
  // Session 1 on home, session 2 on the other thread: neither finds the other's connection.
  REQUIRE(SmtpClient::code(relay_one(relay.port())) == 250);
  REQUIRE(wait_for_metric(http, "tlsrelay_upstream_pooled_connections 1"));
  REQUIRE(SmtpClient::code(relay_one(relay.port())) == 250);
  REQUIRE(wait_for_metric(http, "tlsrelay_upstream_pooled_connections 2"));
  // Session 3 is home's again and takes home's connection: still two STARTTLS upstream.
  REQUIRE(SmtpClient::code(relay_one(relay.port())) == 250);
  REQUIRE(wait_for_metric(http, "tlsrelay_upstream_pooled_connections 2"));
  const std::string seen = read_file(capture);
  INFO(seen);
  CHECK(occurrences(seen, "STARTTLS\r\n") == 2);
  CHECK(occurrences(seen, "\r\n.\r\n") == 3);
}

TEST_CASE(
    "threads = 4: a full relay evicts one waiting session (they are on every thread), never "
    "one in a transaction",
    "[relay][threads]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--capture", capture}));
  Relay relay({peer_upstream("primary", peer.port())},
              "threads = 4\nmax_connections = 8\nmax_connections_per_client = 2\n"
              "allow_clients = [\"127.0.0.0/8\"]\n");
  // Connections go round robin from home: the first (home's) opens a transaction, the other
  // seven, each from its own address, greet and say nothing: six of them on the other three
  // threads. Every slot is taken. Which waiter has waited longest is the relay's to say (a
  // session notes it on its own thread, after its greeting is written).
  SmtpClient busy(relay.port());
  REQUIRE(SmtpClient::code(busy.reply()) == 220);
  REQUIRE(SmtpClient::code(busy.cmd("EHLO client.test")) == 250);
  REQUIRE(SmtpClient::code(busy.cmd("MAIL FROM:<a@example.org>")) == 250);
  std::vector<int> waiting;
  for (int i = 0; i < 7; ++i) {
    waiting.push_back(connect_from(relay.port(), "127.0.0." + std::to_string(10 + i)));
    REQUIRE(waiting.back() >= 0);
    REQUIRE(read_line(waiting.back()).rfind("220 ", 0) == 0);
  }
  // The ninth is let in, and exactly one waiter makes room with 421.
  const std::string r = relay_one(relay.port());
  INFO(r << "\n" << relay.log().substr(0, 3000));
  CHECK(SmtpClient::code(r) == 250);
  // Bounded wait until one of them hears something; then every one is looked at once.
  std::vector<pollfd> all;
  for (const int fd : waiting) all.push_back({fd, POLLIN, 0});
  REQUIRE(::poll(all.data(), all.size(), 10000) >= 1);
  int evicted = 0;
  int silent = 0;
  for (const int fd : waiting) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) == 1) {
      const std::string said = read_line(fd);
      INFO(said);
      CHECK(said.rfind("421 4.7.0", 0) == 0);
      ++evicted;
    } else {
      ++silent;
    }
  }
  CHECK(evicted == 1);
  CHECK(silent == 6);
  CHECK(occurrences(relay.log(), "event=evicted") == 1);
  for (const int fd : waiting) ::close(fd);
  // The transaction in progress was never a candidate: it finishes.
  REQUIRE(SmtpClient::code(busy.cmd("RCPT TO:<b@example.org>")) == 250);
  REQUIRE(SmtpClient::code(busy.cmd("DATA")) == 354);
  busy.send("Subject: busy\r\n\r\nbusy body\r\n.\r\n");
  CHECK(SmtpClient::code(busy.reply()) == 250);
  CHECK(occurrences(read_file(capture), "busy body") == 1);
}
