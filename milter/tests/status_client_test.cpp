// The /status HTTP client against a real local socket: good answers in both framings,
// and every way a server can fail within the deadline.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <functional>
#include <thread>

#include "milter/route_status.hpp"
#include "milter/status_cache.hpp"
#include "milter/status_client.hpp"

using namespace tlsrelay;
using namespace tlsrelay::milter;
using namespace std::chrono_literals;

namespace {

// Accepts one connection on 127.0.0.1:0 and hands it to `serve` on its own thread.
class OneShotServer {
 public:
  explicit OneShotServer(std::function<void(int)> serve) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 4) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this, serve] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      // Read the request head before answering, as a real server does.
      std::string req;
      char buf[1024];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<std::size_t>(n));
      }
      request_ = req;
      serve(c);
      ::close(c);
    });
  }
  ~OneShotServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }
  const std::string& request() const { return request_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::string request_;
};

void send_all(int fd, const std::string& s) {
  (void)::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
}

HttpTarget local(std::uint16_t port) {
  return HttpTarget{"127.0.0.1", port, "/status"};
}

}  // namespace

TEST_CASE("a 200 answer with Content-Length", "[milter][http]") {
  OneShotServer s([](int c) {
    send_all(c,
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
             "{\"a\":\"bc\"}\n");
  });
  const auto r = http_get(local(s.port()), 2s);
  CHECK(r.ok);
  CHECK(r.body == "{\"a\":\"bc\"}\n");
  CHECK_THAT(s.request(), Catch::StartsWith("GET /status HTTP/1.1\r\nHost: 127.0.0.1:"));
}

TEST_CASE("a chunked 200 answer, sent in pieces", "[milter][http]") {
  OneShotServer s([](int c) {
    send_all(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":");
    std::this_thread::sleep_for(20ms);
    send_all(c, "\r\n2\r\n1}\r\n0\r\n\r\n");
  });
  const auto r = http_get(local(s.port()), 2s);
  CHECK(r.ok);
  CHECK(r.body == "{\"a\":1}");
}

TEST_CASE("a body ended by closing the connection", "[milter][http]") {
  OneShotServer s([](int c) { send_all(c, "HTTP/1.0 200 OK\r\n\r\n{}"); });
  const auto r = http_get(local(s.port()), 2s);
  CHECK(r.ok);
  CHECK(r.body == "{}");
}

TEST_CASE("the ways a status request fails", "[milter][http]") {
  SECTION("an HTTP error status") {
    OneShotServer s([](int c) {
      send_all(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    });
    const auto r = http_get(local(s.port()), 2s);
    CHECK_FALSE(r.ok);
    CHECK(r.problem == "HTTP status 503");
  }
  SECTION("a server that never answers: the deadline holds") {
    OneShotServer s([](int c) {
      char b[1];
      (void)::recv(c, b, 1, 0);  // until the client gives up and closes
    });
    const auto start = std::chrono::steady_clock::now();
    const auto r = http_get(local(s.port()), 200ms);
    CHECK_FALSE(r.ok);
    CHECK(r.problem == "read: timed out");
    CHECK(std::chrono::steady_clock::now() - start < 2s);
  }
  SECTION("not HTTP at all") {
    OneShotServer s([](int c) { send_all(c, "SSH-2.0-OpenSSH_9.2\r\n"); });
    const auto r = http_get(local(s.port()), 2s);
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.problem, Catch::StartsWith("bad HTTP answer"));
  }
  SECTION("a body cut short") {
    OneShotServer s([](int c) { send_all(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"); });
    const auto r = http_get(local(s.port()), 2s);
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.problem, Catch::StartsWith("read: connection closed early"));
  }
  SECTION("a body over the limit") {
    OneShotServer s([](int c) {
      send_all(c, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kMaxStatusBody + 1) +
                      "\r\n\r\n");
    });
    const auto r = http_get(local(s.port()), 2s);
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.problem, Catch::StartsWith("bad HTTP answer"));
  }
  SECTION("nothing listening") {
    std::uint16_t port = 0;
    {
      OneShotServer s([](int) {});
      port = s.port();
      // Connect once so the server thread ends; then the port is closed.
      (void)http_get(local(port), 200ms);
    }
    const auto r = http_get(local(port), 1s);
    CHECK_FALSE(r.ok);
    CHECK(r.problem == "connect 127.0.0.1:" + std::to_string(port) + ": Connection refused");
  }
}

TEST_CASE("fetch_status: fetch, then parse", "[milter][http]") {
  OneShotServer s([](int c) {
    const std::string body = R"({"route":{"state":"failing","upstream":"p","class":"timeout"}})";
    send_all(
        c, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  });
  const auto r = fetch_status("127.0.0.1", s.port(), "/status", 2s);
  REQUIRE(r.route);
  CHECK(r.route->state == RouteState::Failing);
  CHECK(r.route->failure_class == "timeout");
}
