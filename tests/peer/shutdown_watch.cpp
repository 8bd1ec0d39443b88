#include "shutdown_watch.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

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
  std::size_t ready = 0;
  return wait_readable(std::span<const int>(&fd, 1), ready);
}

ShutdownWatch::Wake ShutdownWatch::wait_readable(std::span<const int> fds, std::size_t& ready) {
  // The stop sources come first, so a stop wins; poll() skips the negative fd that stands for
  // stdin when it is not watched.
  std::vector<pollfd> polled{{signal_fd_, POLLIN, 0},
                             {watch_stdin_ ? STDIN_FILENO : -1, POLLIN, 0}};
  for (const int fd : fds) polled.push_back({fd, POLLIN, 0});
  while (reason_.empty()) {
    if (::poll(polled.data(), polled.size(), -1) < 0) {
      if (errno == EINTR) continue;
      reason_ = std::string("poll-failed:") + std::strerror(errno);
      break;
    }
    if (polled[0].revents & POLLIN) {
      signalfd_siginfo info{};
      if (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info))
        reason_ = info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM";
      break;
    }
    if (watch_stdin_ && polled[1].revents != 0) {
      char buf[512];
      const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
      // Whatever the harness writes is ignored; only its going away matters.
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
        reason_ = "stdin-eof";
        break;
      }
    }
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (polled[i + 2].revents != 0) {
        ready = i;
        return Wake::Readable;
      }
    }
  }
  return Wake::Shutdown;
}

}  // namespace tlsrelay::testpeer
