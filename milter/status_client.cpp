#include "milter/status_client.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cerrno>
#include <cstring>
#include <memory>

#include "common/unique_fd.hpp"
#include "milter/route_status.hpp"

namespace tlsrelay::milter {

namespace {

using Clock = std::chrono::steady_clock;
namespace http = boost::beast::http;

int ms_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Waits for `events` on fd until the deadline; false on time-out or poll error.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, ms_left(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

std::string where(const HttpTarget& t) {
  const bool v6 = t.host.find(':') != std::string::npos;
  return (v6 ? "[" + t.host + "]" : t.host) + ":" + std::to_string(t.port);
}

HttpResult failure(std::string problem) {
  HttpResult r;
  r.problem = std::move(problem);
  return r;
}

// A connected non-blocking socket to the first address of t.host that answers by the
// deadline; an invalid one and `problem` otherwise.
UniqueFd connect_to(const HttpTarget& t, Clock::time_point deadline, std::string& problem) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(t.port);
  if (int rc = ::getaddrinfo(t.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    problem = "resolve " + t.host + ": " + gai_strerror(rc);
    return UniqueFd();
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, ::freeaddrinfo);

  UniqueFd sock;
  std::string connect_problem = "no address";
  for (addrinfo* a = addresses.get(); a && !sock.valid(); a = a->ai_next) {
    UniqueFd s(
        ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
    if (!s.valid()) {
      connect_problem = std::strerror(errno);
      continue;
    }
    if (::connect(s.get(), a->ai_addr, a->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        connect_problem = std::strerror(errno);
        continue;
      }
      if (!wait_for(s.get(), POLLOUT, deadline)) {
        connect_problem = "timed out";
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        connect_problem = std::strerror(err);
        continue;
      }
    }
    sock = std::move(s);
  }
  if (!sock.valid()) problem = "connect " + where(t) + ": " + connect_problem;
  return sock;
}

}  // namespace

HttpResult http_get(const HttpTarget& t, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string problem;
  UniqueFd sock = connect_to(t, deadline, problem);
  if (!sock.valid()) return failure(problem);

  const std::string request = "GET " + t.target + " HTTP/1.1\r\nHost: " + where(t) +
                              "\r\nAccept: application/json\r\nUser-Agent: tlsrelay-milter\r\n"
                              "Connection: close\r\n\r\n";
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n =
        ::send(sock.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(sock.get(), POLLOUT, deadline)) return failure("send: timed out");
    } else {
      return failure(std::string("send: ") + std::strerror(errno));
    }
  }

  http::response_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(kMaxStatusBody);
  parser.eager(true);
  boost::beast::flat_buffer buffer;
  while (!parser.is_done()) {
    auto space = buffer.prepare(16 * 1024);
    const ssize_t n = ::recv(sock.get(), space.data(), space.size(), 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) {
        if (!wait_for(sock.get(), POLLIN, deadline)) return failure("read: timed out");
        continue;
      }
      return failure(std::string("read: ") + std::strerror(errno));
    }
    boost::system::error_code ec;
    if (n == 0) {
      parser.put_eof(ec);
      if (ec) return failure("read: connection closed early (" + ec.message() + ")");
      break;
    }
    buffer.commit(static_cast<std::size_t>(n));
    while (buffer.size() > 0 && !parser.is_done()) {
      const std::size_t used = parser.put(buffer.data(), ec);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec) return failure("bad HTTP answer: " + ec.message());
      buffer.consume(used);
      if (used == 0) break;
    }
  }
  auto response = parser.release();
  if (response.result_int() != 200) {
    return failure("HTTP status " + std::to_string(response.result_int()));
  }
  HttpResult r;
  r.ok = true;
  r.body = std::move(response.body());
  return r;
}

}  // namespace tlsrelay::milter
