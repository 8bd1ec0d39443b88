// The relay daemon's front door: listening sockets, the allow_clients check (never an open
// relay), connection limits, one ServerSession per client, reload and graceful shutdown.
//
// Single-threaded: everything runs on the io_context passed in.
#pragma once

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
  std::shared_ptr<const RelayConfig> config() const { return config_; }

 private:
  boost::asio::awaitable<void> accept_loop(boost::asio::ip::tcp::acceptor& acceptor);
  boost::asio::awaitable<void> run_session(std::shared_ptr<ServerSession> session,
                                           std::string client);
  bool allowed(const boost::asio::ip::address& a) const;
  bool evict_one();
  bool within_rate(const std::string& client);
  void wait_signals();
  // Our own certificate's expiry, from the config in force (at start and each reload).
  void note_own_certificate();

  boost::asio::io_context& io_;
  std::shared_ptr<const RelayConfig> config_;
  std::string config_path_;
  std::unique_ptr<Telemetry> telemetry_;
  std::unique_ptr<HttpServer> http_;       // /metrics, /status, / when [http] listen is set
  UpstreamPool pool_;                      // idle upstream connections for reuse
  std::unique_ptr<RouteChecker> checker_;  // [health]: routes checked without mail
  std::list<boost::asio::ip::tcp::acceptor> acceptors_;
  std::map<ServerSession*, std::weak_ptr<ServerSession>> sessions_;
  std::map<std::string, std::size_t> per_client_;
  // max_connection_rate_per_client: each client's connection times in the last minute.
  static constexpr std::size_t kMaxRateClients = 10000;
  std::map<std::string, std::deque<std::chrono::steady_clock::time_point>> recent_connects_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer shutdown_timer_;
  unsigned long next_id_ = 0;
  bool stopping_ = false;
};

}  // namespace tlsrelay::proxy
