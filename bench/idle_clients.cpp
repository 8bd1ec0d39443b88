// tlsrelay-bench-idle: opens N SMTP client connections to one server, reads each greeting
// and then holds every connection open without sending a byte, for the memory benchmark
// (bench/README.md: RSS per idle session).
//
//   tlsrelay-bench-idle --connect ADDR:PORT --count N [--parallel P]
//
// Prints `open N refused R failed F` on stdout once every connection has its greeting (a
// greeting that is not 220 counts as refused), then holds them until stdin reaches EOF or
// SIGTERM arrives. At most P connects are in flight at once (default 200) so the server's
// accept backlog is not the thing measured. Raises its own descriptor limit to the hard
// limit. Single-threaded.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

struct Tally {
  std::size_t open = 0;
  std::size_t refused = 0;
  std::size_t failed = 0;
  std::size_t done() const { return open + refused + failed; }
};

asio::awaitable<void> one_client(tcp::endpoint target, std::vector<tcp::socket>& held,
                                 Tally& tally) {
  tcp::socket socket(co_await asio::this_coro::executor);
  auto [ec] = co_await socket.async_connect(target, asio::as_tuple(asio::use_awaitable));
  if (ec) {
    ++tally.failed;
    co_return;
  }
  std::string greeting;
  auto [rec, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(greeting), "\r\n",
                                                  asio::as_tuple(asio::use_awaitable));
  if (rec) {
    ++tally.failed;
  } else if (greeting.rfind("220", 0) != 0) {
    ++tally.refused;
  } else {
    ++tally.open;
    held.push_back(std::move(socket));
  }
}

asio::awaitable<void> open_all(tcp::endpoint target, std::size_t count, std::size_t parallel,
                               std::vector<tcp::socket>& held, Tally& tally) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer tick(ex);
  std::size_t started = 0;
  while (tally.done() < count) {
    while (started < count && started - tally.done() < parallel) {
      asio::co_spawn(ex, one_client(target, held, tally), asio::detached);
      ++started;
    }
    tick.expires_after(std::chrono::milliseconds(1));
    co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  std::cout << "open " << tally.open << " refused " << tally.refused << " failed " << tally.failed
            << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  std::string connect;
  std::size_t count = 0, parallel = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i], value = argv[i + 1];
    if (arg == "--connect") {
      connect = value;
    } else if (arg == "--count") {
      count = std::stoul(value);
    } else if (arg == "--parallel") {
      parallel = std::max<std::size_t>(1, std::stoul(value));
    } else {
      std::cerr << "tlsrelay-bench-idle: unknown option " << arg << "\n";
      return 2;
    }
  }
  const auto colon = connect.rfind(':');
  if (connect.empty() || colon == std::string::npos || count == 0) {
    std::cerr << "usage: tlsrelay-bench-idle --connect ADDR:PORT --count N [--parallel P]\n";
    return 2;
  }
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  try {
    asio::io_context io(1);
    const tcp::endpoint target(asio::ip::make_address(connect.substr(0, colon)),
                               static_cast<unsigned short>(std::stoul(connect.substr(colon + 1))));
    std::vector<tcp::socket> held;
    held.reserve(count);
    Tally tally;
    asio::co_spawn(io, open_all(target, count, parallel, held, tally), asio::detached);
    asio::signal_set signals(io, SIGTERM, SIGINT);
    signals.async_wait([&io](const boost::system::error_code&, int) { io.stop(); });
    // EOF on stdin (the benchmark closing its end of a pipe) also ends the hold.
    asio::posix::stream_descriptor in(io, ::dup(STDIN_FILENO));
    char byte;
    in.async_read_some(asio::buffer(&byte, 1),
                       [&io](const boost::system::error_code&, std::size_t) { io.stop(); });
    io.run();
    return tally.open == count ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "tlsrelay-bench-idle: " << e.what() << "\n";
    return 1;
  }
}
