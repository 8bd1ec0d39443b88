// Active route checks ([health], docs/monitoring.md): each upstream address that no attempt
// (mail or check) has used for [health] interval_s (jittered, check_schedule.hpp) is
// checked in the background, and every route once soon after the start, so that route
// health, /status and the policy's hold-down know every route within one interval.
//
// A check is one attempt by the same engine as the mail's (tls::run_attempt with the
// upstream's profile, phase time-outs and byte limits): connect, banner, EHLO, STARTTLS or
// implicit TLS, the verified handshake, AUTH only with [health] auth = true and
// credentials, then QUIT. Never MAIL. Each is reported to the AttemptSink's check() (route
// health, the event log with "check": true, its own metric series).
//
// At most [health] concurrency checks run at once. reload() takes a new configuration
// (upstreams, interval) at once; stop() cancels the checks in flight (their results are
// dropped, nothing is recorded) and starts no new one. Runs on the relay's home io_context;
// not thread-safe (the AttemptSink it reports to is).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "proxy/upstream/attempt_sink.hpp"
#include "proxy/upstream/check_schedule.hpp"
#include "proxy/upstream/routes.hpp"

namespace tlsrelay::proxy {

class RouteChecker {
 public:
  RouteChecker(boost::asio::io_context& io, AttemptSink& sink, std::uint64_t seed);
  ~RouteChecker();
  RouteChecker(const RouteChecker&) = delete;
  RouteChecker& operator=(const RouteChecker&) = delete;

  void start(std::shared_ptr<const Routes> routes);
  void reload(std::shared_ptr<const Routes> routes);
  void stop();

  std::size_t in_flight() const { return running_.size(); }

 private:
  // One route to check: an upstream (index in routes) and an address; "" resolves the
  // host name afresh (the connector then takes the first address of the answer).
  struct Target {
    std::size_t upstream = 0;
    std::string address;
    std::string key;  // "NAME ADDRESS"
  };

  boost::asio::awaitable<void> loop();
  boost::asio::awaitable<void> check(std::shared_ptr<const Routes> routes, Target target);
  std::vector<Target> targets(const Routes& routes, SysClock::time_point now) const;
  std::optional<SysClock::time_point> last_activity(const Routes& routes, const Target& t,
                                                    SysClock::time_point now) const;
  void launch(const std::shared_ptr<const Routes>& routes, Target target);
  void wake();

  boost::asio::io_context& io_;
  AttemptSink& sink_;
  CheckSchedule schedule_;
  std::shared_ptr<const Routes> routes_;
  boost::asio::steady_timer wake_;
  SysClock::time_point started_ = SysClock::now();
  // When each route was last checked by us, and the address a resolving check reached.
  std::map<std::string, SysClock::time_point> last_checked_;
  std::map<std::string, std::string> resolved_to_;
  // The checks in flight, by route key, each with the signal that cancels it.
  std::map<std::string, std::unique_ptr<boost::asio::cancellation_signal>> running_;
  bool started_loop_ = false;
  bool stopping_ = false;
};

}  // namespace tlsrelay::proxy
