// The relay daemon's front door: listening sockets, the allow_clients check (never an open
// relay), connection limits, one ServerSession per client, reload and graceful shutdown.
//
// Threads ([proxy] threads): the io_context passed in is the home thread's. It keeps the
// listeners, signals, the status server, route checks and the client accounting
// (sessions, per-client counts, connection rates), so none of those needs a lock. Each
// accepted connection goes to one thread's event loop, round robin (home included), and its
// session lives there to the end, with that thread's pool of upstream connections; the
// session's end is reported back home. Shared by all: Telemetry (one mutex), the config
// slot (one mutex), the TLS contexts and their session caches (OpenSSL's locks and ours).
// With threads = 1 all of it runs on the one io_context, as it did before threads existed.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "proxy/server/relay_config.hpp"
#include "proxy/server/server_session.hpp"
#include "proxy/status/http_server.hpp"
#include "proxy/status/telemetry.hpp"
#include "proxy/upstream/route_checker.hpp"
#include "proxy/upstream/upstream_pool.hpp"

namespace tlsrelay::proxy {

class RelayServer {
 public:
  RelayServer(boost::asio::io_context& io, std::shared_ptr<const RelayConfig> config,
              std::string config_path);
  // Joins the other threads: after a graceful stop they finish closing pooled connections
  // first (bounded by those connections' deadlines); otherwise they are stopped.
  ~RelayServer();
  RelayServer(const RelayServer&) = delete;
  RelayServer& operator=(const RelayServer&) = delete;

  // [proxy] threads as it applies: the setting, or one per CPU this process may use.
  static std::size_t thread_count(const config::ProxySettings& proxy);

  // Binds every listen address (throws std::system_error when one cannot be bound) and
  // starts accepting; prints "listening ADDRESS" per socket on stdout, and "http ADDRESS"
  // for the status server.
  void start();
  // SIGHUP: reads the config again; a broken one keeps the old config and says why.
  void reload();
  // SIGUSR1 reopens the event log (for logrotate).
  // SIGTERM: stop accepting, let transactions in flight finish (bounded), 421 to the idle.
  void stop();

  Telemetry& telemetry() { return *telemetry_; }

 private:
  // One thread's event loop and its pool. workers_[0] is home: the io_context passed in;
  // the others own theirs (declared first, so that it outlives the pool's sockets).
  struct Worker {
    explicit Worker(boost::asio::io_context& home) : io(home), pool(io) {}
    Worker() : owned(std::make_unique<boost::asio::io_context>()), io(*owned), pool(io) {}
    std::unique_ptr<boost::asio::io_context> owned;  // none for home
    boost::asio::io_context& io;
    UpstreamPool pool;   // used only on this thread
    std::thread thread;  // none for home
  };
  using SessionId = unsigned long;
  // A session as home keeps track of it. Home never owns one: what it tells a session is
  // posted to the session's loop, where the weak pointer is locked (a session is destroyed
  // on its own thread).
  struct Tracked {
    std::weak_ptr<ServerSession> session;
    std::shared_ptr<SessionMark> mark;
    boost::asio::any_io_executor executor;
  };

  boost::asio::awaitable<void> accept_loop(boost::asio::ip::tcp::acceptor& acceptor);
  // On the session's thread; its end is then counted at home (session_ended).
  boost::asio::awaitable<void> run_session(std::shared_ptr<ServerSession> session, SessionId id,
                                           std::string client);
  void session_ended(SessionId id, const std::string& client);
  // Calls f(pool) for each thread's pool, on that thread.
  template <class F>
  void each_pool(F f);
  // Stops every thread's event loop now (the shutdown's grace is over, or an error).
  void cut_off();
  std::size_t pooled_connections() const;  // all threads' pools, for /metrics
  bool allowed(const config::ProxySettings& proxy, const boost::asio::ip::address& a) const;
  bool evict_one();
  bool within_rate(const config::ProxySettings& proxy, const std::string& client);
  void wait_signals();
  // Our own certificate's expiry, from the config in force (at start and each reload).
  void note_own_certificate();

  boost::asio::io_context& io_;  // home
  ConfigSlot config_;
  std::string config_path_;
  std::unique_ptr<Telemetry> telemetry_;
  std::unique_ptr<HttpServer> http_;       // /metrics, /status, / when [http] listen is set
  std::unique_ptr<RouteChecker> checker_;  // [health]: routes checked without mail
  // Every thread, home first; declared after telemetry_ and config_, which the sessions on
  // them use, so that they go first.
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> busy_;
  std::size_t next_worker_ = 0;
  std::list<boost::asio::ip::tcp::acceptor> acceptors_;
  std::map<SessionId, Tracked> sessions_;
  std::map<std::string, std::size_t> per_client_;
  // max_connection_rate_per_client: each client's connection times in the last minute.
  static constexpr std::size_t kMaxRateClients = 10000;
  std::map<std::string, std::deque<std::chrono::steady_clock::time_point>> recent_connects_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer shutdown_timer_;
  SessionId next_id_ = 0;
  bool stopping_ = false;
};

}  // namespace tlsrelay::proxy
