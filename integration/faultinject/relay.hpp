// The fault injector's network side: a TCP relay LISTEN -> TARGET on Boost.Asio that gives
// each accepted connection the rule of the plan for its number and carries it out
// (integration/README.md), plus the line-based control channel ("plan SPEC", "off",
// "stats") and one log line per event ("faultinject ts=... conn=N event=fired ...").
//
// One io_context, one thread: connections share the plan and counters without locks.
#pragma once

#include <boost/asio.hpp>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>

#include "integration/faultinject/plan.hpp"

namespace tlsrelay::faultinject {

struct Settings {
  boost::asio::ip::tcp::endpoint listen;
  boost::asio::ip::tcp::endpoint target;
  boost::asio::ip::tcp::endpoint control;  // port 0 with address unspecified: no control channel
  bool has_control = false;
  Plan plan;
  std::string plan_text = "*:pass";
  std::uint64_t seed = 1;
  std::string log_path;
  double stall_max_s = 300;
  double connect_timeout_s = 5;
};

// What the connections share: the plan in effect, counters, the log.
class Injector {
 public:
  explicit Injector(const Settings& s);
  void log(const std::string& line);
  // The next connection's number (from 1 since the plan was loaded) and its rule.
  std::pair<std::uint64_t, Rule> next_rule();
  void load(const Plan& plan, const std::string& text);
  std::string stats() const;
  void count_fired(Action a);
  const Settings& settings() const { return settings_; }

 private:
  Settings settings_;
  Plan plan_;
  std::string plan_text_;
  std::uint64_t number_ = 0;  // since the plan was loaded
  std::uint64_t total_ = 0;
  std::uint64_t fired_ = 0;
  std::uint64_t fired_by_[8] = {};
  std::uint64_t generation_ = 1;
  std::ofstream file_;
};

boost::asio::awaitable<void> accept_loop(boost::asio::ip::tcp::acceptor& acceptor,
                                         std::shared_ptr<Injector> injector);
boost::asio::awaitable<void> control_loop(boost::asio::ip::tcp::acceptor& acceptor,
                                          std::shared_ptr<Injector> injector);

}  // namespace tlsrelay::faultinject
