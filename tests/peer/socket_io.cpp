#include "socket_io.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>

namespace tlsrelay::testpeer {

namespace {
// How long close_gracefully() waits for the client's FIN after sending ours.
constexpr int kLingerSeconds = 2;

void set_receive_timeout(int fd, std::chrono::seconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count());
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}
}  // namespace

std::string_view to_string(IoStatus status) {
  switch (status) {
    case IoStatus::Ok:
      return "ok";
    case IoStatus::Closed:
      return "closed";
    case IoStatus::Timeout:
      return "timeout";
    case IoStatus::Error:
      return "error";
  }
  return "?";
}

void set_deadlines(int fd, std::chrono::seconds timeout) {
  set_receive_timeout(fd, timeout);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count());
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

IoStatus send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? IoStatus::Timeout : IoStatus::Error;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return IoStatus::Ok;
}

IoStatus recv_exact(int fd, std::size_t n, std::string& out) {
  char buf[4096];
  while (n > 0) {
    const ssize_t got = ::recv(fd, buf, n < sizeof buf ? n : sizeof buf, 0);
    if (got == 0) return IoStatus::Closed;
    if (got < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? IoStatus::Timeout : IoStatus::Error;
    }
    out.append(buf, static_cast<std::size_t>(got));
    n -= static_cast<std::size_t>(got);
  }
  return IoStatus::Ok;
}

std::size_t drain_until_closed(int fd) {
  std::size_t total = 0;
  char buf[4096];
  for (;;) {
    const ssize_t got = ::recv(fd, buf, sizeof buf, 0);
    if (got > 0) {
      total += static_cast<std::size_t>(got);
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    return total;
  }
}

void close_gracefully(int fd) {
  ::shutdown(fd, SHUT_WR);
  set_receive_timeout(fd, std::chrono::seconds(kLingerSeconds));
  drain_until_closed(fd);
  ::close(fd);
}

void reset_connection(int fd) {
  linger lg{};
  lg.l_onoff = 1;
  lg.l_linger = 0;
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  ::close(fd);
}

}  // namespace tlsrelay::testpeer
