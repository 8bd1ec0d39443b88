// A per-phase deadline for one connection: when it fires, it cancels the socket's pending
// operations, which then complete with operation_aborted; expired() tells a time-out from
// other aborts.
//
// The timer handler holds only a shared state, so it is safe when the deadline or the
// socket is gone before it runs. DeadlineGuard arms one for the scope of an operation.
// Not thread-safe: use on the connection's executor.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
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
    timer_.async_wait([state = state_, generation,
                       ex = timer_.get_executor()](const boost::system::error_code& ec) {
      if (ec || generation != state->generation || !state->socket) return;
      state->expired = true;
      boost::system::error_code ignored;
      state->socket->cancel(ignored);
      // An operation may have completed in the same reactor pass, its handler queued behind
      // this one: its owner then either disarms (it finished in time, and nothing must be
      // shut: after a final dot the upstream's reply is still to be read) or starts another
      // read under this same, spent deadline. Only that second case is left when the handlers
      // queued now have run: the receiving side is shut so the read ends at once instead of
      // waiting with no deadline. Writing stays possible: a client still gets its 421.
      boost::asio::post(ex, [state, generation] {
        if (generation != state->generation || !state->socket) return;
        boost::system::error_code ignored_too;
        state->socket->cancel(ignored_too);
        state->socket->shutdown(boost::asio::ip::tcp::socket::shutdown_receive, ignored_too);
      });
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

// Arms `deadline` for `d` when constructed and disarms it when the scope ends, however it
// ends: no path out of an operation leaves its timer to cancel a later one. expired() still
// tells afterwards whether it fired.
class [[nodiscard]] DeadlineGuard {
 public:
  DeadlineGuard(Deadline& deadline, std::chrono::steady_clock::duration d) : deadline_(deadline) {
    deadline_.arm(d);
  }
  ~DeadlineGuard() { deadline_.disarm(); }
  DeadlineGuard(const DeadlineGuard&) = delete;
  DeadlineGuard& operator=(const DeadlineGuard&) = delete;

 private:
  Deadline& deadline_;
};

}  // namespace tlsrelay::tls
