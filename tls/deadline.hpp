// A per-phase deadline for one connection: when it fires, it cancels the socket's pending
// operations, which then complete with operation_aborted; expired() tells a time-out from
// other aborts.
//
// The timer handler holds only a shared state, so it is safe when the deadline or the
// socket is gone before it runs. Not thread-safe: use on the connection's executor.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>

namespace tlsrelay::tls {

class Deadline {
 public:
  Deadline(boost::asio::any_io_executor ex, boost::asio::ip::tcp::socket& socket)
      : timer_(ex), state_(std::make_shared<State>()) {
    state_->socket = &socket;
  }
  ~Deadline() {
    state_->socket = nullptr;
    timer_.cancel();
  }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  void arm(std::chrono::steady_clock::duration d) {
    state_->expired = false;
    const auto generation = ++state_->generation;
    timer_.expires_after(d);
    timer_.async_wait([state = state_, generation](const boost::system::error_code& ec) {
      if (ec || generation != state->generation || !state->socket) return;
      state->expired = true;
      boost::system::error_code ignored;
      // Cancel what is pending, and shut the receiving side so a read started in the same
      // reactor pass (after a completion raced the timer) ends at once instead of waiting
      // with no deadline. Writing stays possible: a client still gets its 421.
      state->socket->cancel(ignored);
      state->socket->shutdown(boost::asio::ip::tcp::socket::shutdown_receive, ignored);
    });
  }
  void disarm() {
    ++state_->generation;
    timer_.cancel();
  }
  bool expired() const { return state_->expired; }

 private:
  struct State {
    boost::asio::ip::tcp::socket* socket = nullptr;
    unsigned long generation = 0;
    bool expired = false;
  };
  boost::asio::steady_timer timer_;
  std::shared_ptr<State> state_;
};

}  // namespace tlsrelay::tls
