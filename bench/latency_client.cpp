// tlsrelay-bench-latency: one SMTP client that sends messages one after another over one
// connection and times each transaction, from the first byte of MAIL FROM to the reply to
// the final dot, for the latency benchmark (bench/README.md). MAIL, RCPT and DATA go in
// one write (RFC 2920 pipelining, as Postfix sends them), the message in a second.
//
//   tlsrelay-bench-latency --connect ADDR:PORT --count N --size BYTES [--warmup W]
//                          [--starttls] [--lockstep]
//
// --lockstep sends MAIL, RCPT and DATA one at a time, each after the previous reply (a
// client without PIPELINING, like smtp-source). --starttls upgrades the connection first (the
// certificate is not verified: this times the dialogue, it does not test trust). Prints one line on
// stdout: `n=N p50_us=.. p90_us=.. p99_us=.. max_us=.. mean_us=..`; exits 1 if any transaction was
// not answered 250. Single-threaded, blocking.
#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;

class Client {
 public:
  Client(asio::io_context& io, const tcp::endpoint& target) : socket_(io) {
    socket_.connect(target);
    socket_.set_option(tcp::no_delay(true));
  }

  void start_tls(ssl::context& ctx) {
    tls_.emplace(socket_, ctx);
    tls_->handshake(ssl::stream_base::client);
  }

  void send(const std::string& text) {
    if (tls_) {
      asio::write(*tls_, asio::buffer(text));
    } else {
      asio::write(socket_, asio::buffer(text));
    }
  }

  // One reply, possibly multi-line; returns its code.
  int reply() {
    for (;;) {
      std::size_t n = tls_ ? asio::read_until(*tls_, asio::dynamic_buffer(in_), "\r\n")
                           : asio::read_until(socket_, asio::dynamic_buffer(in_), "\r\n");
      std::string line = in_.substr(0, n);
      in_.erase(0, n);
      if (line.size() < 4) throw std::runtime_error("short reply line");
      if (line[3] != '-') return std::stoi(line.substr(0, 3));
    }
  }

 private:
  tcp::socket socket_;
  std::optional<ssl::stream<tcp::socket&>> tls_;
  std::string in_;
};

std::string make_message(std::size_t size) {
  std::string m = "From: bench@test\r\nTo: sink@test\r\nSubject: latency\r\n\r\n";
  const std::string line(76, 'x');
  while (m.size() < size) m += line + "\r\n";
  return m + ".\r\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::string connect;
  std::size_t count = 1000, size = 1024, warmup = 50;
  bool starttls = false;
  bool lockstep = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--starttls" || arg == "--lockstep") {
      (arg == "--starttls" ? starttls : lockstep) = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::cerr << "tlsrelay-bench-latency: missing value for " << arg << "\n";
      return 2;
    }
    const std::string value = argv[++i];
    if (arg == "--connect") {
      connect = value;
    } else if (arg == "--count") {
      count = std::stoul(value);
    } else if (arg == "--size") {
      size = std::stoul(value);
    } else if (arg == "--warmup") {
      warmup = std::stoul(value);
    } else {
      std::cerr << "tlsrelay-bench-latency: unknown option " << arg << "\n";
      return 2;
    }
  }
  const auto colon = connect.rfind(':');
  if (colon == std::string::npos || count == 0) {
    std::cerr << "usage: tlsrelay-bench-latency --connect ADDR:PORT --count N --size BYTES"
                 " [--warmup W] [--starttls] [--lockstep]\n";
    return 2;
  }
  try {
    asio::io_context io;
    const tcp::endpoint target(asio::ip::make_address(connect.substr(0, colon)),
                               static_cast<unsigned short>(std::stoul(connect.substr(colon + 1))));
    Client c(io, target);
    if (c.reply() != 220) throw std::runtime_error("no 220 greeting");
    c.send("EHLO latency.bench\r\n");
    if (c.reply() != 250) throw std::runtime_error("EHLO refused");
    ssl::context ctx(ssl::context::tls_client);
    if (starttls) {
      c.send("STARTTLS\r\n");
      if (c.reply() != 220) throw std::runtime_error("STARTTLS refused");
      c.start_tls(ctx);
      c.send("EHLO latency.bench\r\n");
      if (c.reply() != 250) throw std::runtime_error("EHLO after TLS refused");
    }
    const std::vector<std::string> commands = {"MAIL FROM:<bench@test>\r\n",
                                               "RCPT TO:<sink@test>\r\n", "DATA\r\n"};
    const std::string envelope = commands[0] + commands[1] + commands[2];
    const std::string message = make_message(size);
    std::vector<double> us;
    us.reserve(count);
    int failed = 0;
    for (std::size_t i = 0; i < warmup + count; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      int mail = 0, rcpt = 0, data = 0;
      if (lockstep) {
        c.send(commands[0]);
        mail = c.reply();
        c.send(commands[1]);
        rcpt = c.reply();
        c.send(commands[2]);
        data = c.reply();
      } else {
        c.send(envelope);
        mail = c.reply();
        rcpt = c.reply();
        data = c.reply();
      }
      int done = 0;
      if (data == 354) {
        c.send(message);
        done = c.reply();
      }
      const auto t1 = std::chrono::steady_clock::now();
      if (mail != 250 || rcpt != 250 || done != 250) ++failed;
      if (i >= warmup) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    c.send("QUIT\r\n");
    std::sort(us.begin(), us.end());
    const auto at = [&us](double q) {
      return us[std::min(us.size() - 1, static_cast<std::size_t>(q * us.size()))];
    };
    double sum = 0;
    for (double v : us) sum += v;
    std::printf("n=%zu p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f mean_us=%.0f failed=%d\n",
                us.size(), at(0.50), at(0.90), at(0.99), us.back(), sum / us.size(), failed);
    return failed == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "tlsrelay-bench-latency: " << e.what() << "\n";
    return 1;
  }
}
