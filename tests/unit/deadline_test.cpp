// DeadlineGuard: the deadline is armed for exactly the guard's scope. No network: an
// unconnected socket and the io_context run to completion (no sleeps); a disarmed deadline
// leaves nothing to run, an armed one fires.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>
#include <chrono>

#include "tls/deadline.hpp"

using namespace tlsrelay;
using namespace std::chrono_literals;

TEST_CASE("a deadline guard disarms when its scope ends", "[deadline]") {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  tls::Deadline deadline(io.get_executor(), socket);
  { const tls::DeadlineGuard armed(deadline, 1ms); }
  io.run();  // only the cancelled wait is left, and it completes at once
  CHECK_FALSE(deadline.expired());
}

TEST_CASE("a deadline guard's deadline fires while the guard stands", "[deadline]") {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  tls::Deadline deadline(io.get_executor(), socket);
  {
    const tls::DeadlineGuard armed(deadline, 1ms);
    io.run();  // the timer fires and cancels the (idle) socket
    CHECK(deadline.expired());
  }
  // Disarming afterwards does not forget that it fired: the session tells a time-out so.
  CHECK(deadline.expired());
  // The next guard starts afresh.
  io.restart();
  { const tls::DeadlineGuard again(deadline, 1ms); }
  io.run();
  CHECK_FALSE(deadline.expired());
}
