#include "smtp_peer.hpp"

#include "capture.hpp"
#include "log.hpp"
#include "shutdown_watch.hpp"
#include "smtp_session.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

namespace tlsrelay::testpeer {

namespace {

// A test opens a handful of connections; hundreds means a runaway loop in the test.
constexpr std::size_t kMaxConnections = 256;
// How long shutdown waits for sessions to notice their sockets were shut down.
constexpr auto kShutdownGrace = std::chrono::seconds(5);
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);

// The live connections, so that shutdown can wake every blocked session thread.
class ConnectionRegistry {
 public:
  bool add(unsigned long id, int fd) {
    std::lock_guard lock(mutex_);
    if (fds_.size() >= kMaxConnections) return false;
    fds_.emplace(id, fd);
    return true;
  }
  // Called before the fd is closed, so shutdown_all() never touches a reused descriptor.
  void remove(unsigned long id) {
    std::lock_guard lock(mutex_);
    fds_.erase(id);
  }
  void finished() {
    std::lock_guard lock(mutex_);
    ++finished_;
    changed_.notify_all();
  }
  void shutdown_all() {
    std::lock_guard lock(mutex_);
    for (const auto& [id, fd] : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  // True when all started threads finished within the grace period.
  bool wait_all(unsigned long started) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kShutdownGrace, [&] { return finished_ == started; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<unsigned long, int> fds_;
  unsigned long finished_ = 0;
};

void close_as(int fd, CloseMode mode) {
  switch (mode) {
    case CloseMode::Graceful:
      close_gracefully(fd);
      break;
    case CloseMode::Reset:
      reset_connection(fd);
      break;
    case CloseMode::Now:
      ::close(fd);
      break;
  }
}

std::string_view to_string(TlsMode mode) {
  switch (mode) {
    case TlsMode::StartTls:
      return "starttls";
    case TlsMode::Implicit:
      return "implicit";
    case TlsMode::None:
      return "none";
  }
  return "?";
}

}  // namespace

int run_smtp_peer(const SmtpPeerOptions& options) {
  // First, before any thread exists: the signal mask is inherited by every thread.
  ShutdownWatch watch(options.watch_stdin);

  std::unique_ptr<TlsServer> tls;
  if (options.dialogue.tls_mode != TlsMode::None) tls = std::make_unique<TlsServer>(options.tls);
  std::unique_ptr<Capture> capture;
  if (options.capture_path) capture = std::make_unique<Capture>(*options.capture_path);

  const int listener = open_bound_socket(options.listen, SocketKind::Tcp);
  const int port = local_port(listener);

  SessionConfig session_config;
  session_config.dialogue = options.dialogue;
  session_config.tls = tls ? tls->context() : nullptr;
  session_config.capture = capture.get();
  session_config.idle_timeout = options.idle_timeout;

  log_event("event=listening address=" + options.listen_text + " port=" + std::to_string(port) +
            " behaviour=" + to_string(options.dialogue.behaviour) + " tls=" +
            std::string(to_string(options.dialogue.tls_mode)) + (tls ? " " + tls->describe() : ""));
  std::printf("ready %d\n", port);
  std::fflush(stdout);

  ConnectionRegistry registry;
  unsigned long started = 0;
  while (watch.wait_readable(listener) == ShutdownWatch::Wake::Readable) {
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    const int fd = ::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN)
        log_event(std::string("event=accept-failed error=") + std::strerror(errno));
      // Out of descriptors the listener stays readable; pause instead of spinning.
      if (errno == EMFILE || errno == ENFILE) std::this_thread::sleep_for(kAcceptBackoff);
      continue;
    }
    // Replies are written line by line; without this, Nagle plus the client's delayed ACK
    // adds ~40 ms to every multi-line reply and skews the client's phase timings.
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const unsigned long id = started + 1;
    const std::string peer_text = to_string(peer);
    if (!registry.add(id, fd)) {
      log_event("event=refused peer=" + peer_text + " reason=too-many-connections");
      ::close(fd);
      continue;
    }
    ++started;
    log_event("conn=" + std::to_string(id) + " event=accepted peer=" + peer_text);
    if (capture) capture->begin_connection(id, peer_text);
    SessionConfig config_for_this = session_config;
    if (options.misbehave_first && id > options.misbehave_first) {
      config_for_this.dialogue.behaviour = BehaviourSpec{};
    }
    std::thread([fd, id, &registry, config_for_this] {
      SmtpSession session(fd, id, config_for_this);
      const Ending ending = session.run();
      registry.remove(id);
      close_as(fd, ending.mode);
      log_event("conn=" + std::to_string(id) + " event=closed reason=" + ending.reason);
      registry.finished();
    }).detach();
  }

  log_event("event=stopping reason=" + watch.reason());
  ::close(listener);
  registry.shutdown_all();
  if (!registry.wait_all(started)) {
    // Sessions still hold references to this frame; leaving now is the only safe exit.
    log_event("event=stopped sessions_abandoned=yes");
    std::fflush(stdout);
    std::_Exit(0);
  }
  log_event("event=stopped");
  return 0;
}

}  // namespace tlsrelay::testpeer
