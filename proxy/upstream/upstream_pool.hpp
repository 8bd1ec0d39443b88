// Idle upstream connections kept for the next transaction, whichever client session it
// comes from: a pool per upstream with an idle time-out ([proxy] idle_upstream_s), a cap
// ([proxy] pool_size_per_upstream) and a limit on a connection's age ([proxy]
// reuse_time_limit_s, like Postfix's smtp_connection_reuse_time_limit: the upstream's
// certificate was verified when the connection opened, never since). Only connections opened with
// the upstream's normal profile (verified TLS, or tls = "none" by config) are kept: a compat or
// plaintext fallback is a per-message decision of the policy and is never reused behind its back.
//
// A connection comes back only after RSET was answered 250, so it is clean and was alive a
// moment ago; if it died since, the session reconnects transparently
// (server_session_upstream.cpp).
// One pool per relay thread ([proxy] threads), used only on that thread's io_context: a
// connection's socket belongs to one event loop, so the sessions of a thread reuse that
// thread's connections. size() alone may be read from any thread.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include "proxy/upstream/routes.hpp"
#include "proxy/upstream/upstream_session.hpp"

namespace tlsrelay::proxy {

class UpstreamPool {
 public:
  explicit UpstreamPool(boost::asio::io_context& io);

  // An idle connection to `upstream` opened under this very config (a reload empties the
  // pool's use), or null.
  std::unique_ptr<UpstreamSession> take(const std::string& upstream, const Routes* routes);
  // Keeps a clean, reusable connection, or closes it (QUIT) when reuse is off or the
  // upstream's pool is full.
  void give(std::unique_ptr<UpstreamSession> session, std::shared_ptr<const Routes> routes);
  // Closes a connection no one may use again (QUIT, then the TLS close), in the background:
  // the session that lets it go does not wait for a slow upstream.
  void retire(std::unique_ptr<UpstreamSession> session) { close(std::move(session)); }
  // Closes every idle connection (reload); shutdown() also stops keeping new ones.
  void clear();
  void shutdown() {
    closed_ = true;
    clear();
  }
  // Idle connections kept (any thread may ask; it is a moment's count).
  std::size_t size() const { return kept_.load(std::memory_order_relaxed); }

 private:
  using Clock = std::chrono::steady_clock;
  struct Idle {
    std::unique_ptr<UpstreamSession> session;
    std::shared_ptr<const Routes> config;
    Clock::time_point since;
  };
  static bool still_usable(const Idle& idle, Clock::time_point now);
  void close(std::unique_ptr<UpstreamSession> session);
  void sweep();
  void arm();
  void recount();  // after each change to idle_

  boost::asio::io_context& io_;
  std::map<std::string, std::deque<Idle>> idle_;  // newest at the back
  boost::asio::steady_timer sweeper_;
  bool armed_ = false;
  bool closed_ = false;
  std::atomic<std::size_t> kept_{0};
};

}  // namespace tlsrelay::proxy
