#include "tests/e2e/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace tlsrelay::e2e {

namespace {

using Clock = std::chrono::steady_clock;

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
  std::vector<char*> v;
  for (const auto& a : argv) v.push_back(const_cast<char*>(a.c_str()));
  v.push_back(nullptr);
  return v;
}

std::string describe(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

void stop(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 200; ++i) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return;
    // Bounded reaping: poll() as a 10 ms pause keeps this free of sleep-based sync.
    poll(nullptr, 0, 10);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

}  // namespace

RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds limit) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  pid_t pid = -1;
  auto args = c_argv(argv);
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(out[0]);
    close(err[0]);
    throw std::runtime_error("cannot start " + describe(argv) + ": " + std::strerror(rc));
  }
  RunResult r;
  const auto end = Clock::now() + limit;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  bool killed = false;
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      killed = true;
      break;
    }
    if (poll(fds, 2, static_cast<int>(left.count())) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[8192];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  for (auto& p : fds) {
    if (p.fd >= 0) close(p.fd);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = (!killed && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  return r;
}

Server::Server(const std::vector<std::string>& argv, std::chrono::milliseconds limit) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  char tmpl[] = "/tmp/tlsrelay-e2e-stderr-XXXXXX";
  int errfd = mkstemp(tmpl);
  err_path_ = tmpl;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, errfd, 2);
  auto args = c_argv(argv);
  int rc = posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  close(errfd);
  stdin_fd_ = in[1];
  if (rc != 0) {
    close(out[0]);
    throw std::runtime_error("cannot start " + describe(argv) + ": " + std::strerror(rc));
  }
  std::string got;
  const auto end = Clock::now() + limit;
  pollfd p{out[0], POLLIN, 0};
  while (got.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[256];
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  // "ready PORT" (tlsrelay-testpeer) or "listening ADDR:PORT" (tlsrelay serve), or
  // "ACCEPT" (openssl s_server, listening on the port its argv names: port() is 0). s_server
  // goes on writing to stdout, so that pipe stays open (a closed one would kill it with
  // SIGPIPE at its next line); the others' is closed.
  const bool ready = got.rfind("ready ", 0) == 0;
  const bool listening = got.rfind("listening ", 0) == 0;
  const bool accept = got.rfind("ACCEPT\n", 0) == 0;
  if (accept) {
    stdout_fd_ = out[0];
    return;
  }
  close(out[0]);
  if (!ready && !listening) {
    std::string err = stderr_text();
    stop(pid_);
    close(stdin_fd_);
    throw std::runtime_error("server did not get ready: " + describe(argv) + "\nstdout: " + got +
                             "\nstderr: " + err);
  }
  const std::string first = got.substr(0, got.find('\n'));
  port_ =
      static_cast<unsigned short>(std::atoi(first.c_str() + first.rfind(ready ? ' ' : ':') + 1));
}

Server::~Server() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stop(pid_);
  if (stdout_fd_ >= 0) close(stdout_fd_);
  std::remove(err_path_.c_str());
}

std::string Server::stderr_text() const {
  std::ifstream in(err_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/tlsrelay-test-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace tlsrelay::e2e
