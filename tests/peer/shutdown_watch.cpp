#include "shutdown_watch.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace tlsrelay::testpeer {

ShutdownWatch::ShutdownWatch(bool watch_stdin) : watch_stdin_(watch_stdin) {
  // A client that vanishes mid-write must cost us one connection, not the process.
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0)
    throw std::runtime_error("pthread_sigmask failed");
  signal_fd_ = ::signalfd(-1, &set, SFD_CLOEXEC);
  if (signal_fd_ < 0) throw std::runtime_error(std::string("signalfd: ") + std::strerror(errno));
}

ShutdownWatch::~ShutdownWatch() {
  if (signal_fd_ >= 0) ::close(signal_fd_);
}

ShutdownWatch::Wake ShutdownWatch::wait_readable(int fd) {
  while (reason_.empty()) {
    pollfd fds[3] = {{signal_fd_, POLLIN, 0}, {fd, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    const nfds_t count = watch_stdin_ ? 3 : 2;
    if (::poll(fds, count, -1) < 0) {
      if (errno == EINTR) continue;
      reason_ = std::string("poll-failed:") + std::strerror(errno);
      break;
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info{};
      if (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info))
        reason_ = info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM";
      break;
    }
    if (watch_stdin_ && fds[2].revents != 0) {
      char buf[512];
      const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
      // Whatever the harness writes is ignored; only its going away matters.
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
        reason_ = "stdin-eof";
        break;
      }
    }
    if (fds[1].revents != 0) return Wake::Readable;
  }
  return Wake::Shutdown;
}

}  // namespace tlsrelay::testpeer
