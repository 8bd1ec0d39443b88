// Decides when a test peer stops: SIGTERM/SIGINT, or (with --watch-stdin) end of standard
// input, so a test harness that dies without cleaning up leaves no orphan server behind.
// Limits: Linux only (signalfd). Must be constructed in main() before any thread starts,
// because the signals are blocked in the constructing thread and threads inherit that mask.
// Thread-safety: used only by the thread that runs the accept/receive loop.
#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace tlsrelay::testpeer {

class ShutdownWatch {
 public:
  explicit ShutdownWatch(bool watch_stdin);
  ~ShutdownWatch();
  ShutdownWatch(const ShutdownWatch&) = delete;
  ShutdownWatch& operator=(const ShutdownWatch&) = delete;

  enum class Wake { Readable, Shutdown };

  // Blocks until fd is readable or a stop was requested; a stop wins over readability.
  Wake wait_readable(int fd);
  // The same for several fds; on Readable, ready is the index of the first readable one.
  Wake wait_readable(std::span<const int> fds, std::size_t& ready);

  // Why we stopped: "SIGTERM", "SIGINT", "stdin-eof"; empty while running.
  const std::string& reason() const { return reason_; }

 private:
  int signal_fd_ = -1;
  bool watch_stdin_ = false;
  std::string reason_;
};

}  // namespace tlsrelay::testpeer
