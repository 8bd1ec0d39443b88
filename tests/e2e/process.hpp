// Child processes for end-to-end tests: run a command to completion and capture its
// output, or start a long-running server and wait for its "ready PORT" line.
//
// Synchronisation is by the child's own readiness line, never by sleeping. Children are
// terminated (SIGTERM, then SIGKILL) and reaped when their owner goes out of scope.
// Not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace tlsrelay::e2e {

struct RunResult {
  int exit_code = -1;  // -1 when killed by a signal or the time-out
  std::string out;
  std::string err;
};

// Runs argv[0] (looked up in PATH) to completion; kills it after `limit`.
RunResult run(const std::vector<std::string>& argv,
              std::chrono::milliseconds limit = std::chrono::seconds(60));

class Server {
 public:
  // Starts argv and waits (up to `limit`) for its first stdout line, "ready PORT" or
  // "listening ADDR:PORT"; port() is that port. "ACCEPT" (openssl s_server) is ready
  // too, with port() 0: the caller named the port.
  explicit Server(const std::vector<std::string>& argv,
                  std::chrono::milliseconds limit = std::chrono::seconds(20));
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  unsigned short port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string stderr_text() const;

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;  // kept open only for openssl s_server
  unsigned short port_ = 0;
  std::string err_path_;
};

// A fresh temporary directory, removed with its contents at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace tlsrelay::e2e
