// tlsrelay-bench-sink: a fast SMTP sink with STARTTLS that stands for the smarthost in the
// benchmarks (bench/README.md). It accepts everything and keeps nothing: any AUTH succeeds,
// every MAIL/RCPT/DATA is answered 250/354/250 and the message data is discarded while it
// is scanned for the final dot. It counts connections, TLS handshakes (and how many resumed
// a session), messages and bytes, and writes the counters to --stats-file whenever they
// changed (at most every 20 ms), on SIGUSR1 and at exit.
//
//   tlsrelay-bench-sink --listen ADDR:PORT --cert PEM --key PEM [--stats-file PATH]
//                       [--threads N] [--idle-timeout S]
//
// Port 0 lets the kernel choose; the bound port is printed on stdout as `listening PORT`.
// Replies are batched while pipelined commands are buffered (RFC 2920 3.1), so a PIPELINING
// client gets one write per command group. Limits: a command line longer than 4 KiB closes
// the session (this is a benchmark peer, not a hardened server). Sessions run on strands of
// one io_context shared by --threads threads; the counters are atomics.
#include <openssl/ssl.h>
#include <signal.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using boost::system::error_code;

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kMaxCommandLine = 4096;
constexpr std::string_view kEndOfData = "\r\n.\r\n";

struct Counters {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> active{0};
  std::atomic<std::uint64_t> handshakes{0};
  std::atomic<std::uint64_t> resumed{0};
  std::atomic<std::uint64_t> handshake_failures{0};
  std::atomic<std::uint64_t> messages{0};
  std::atomic<std::uint64_t> bytes{0};
  // Wall clock (Unix ms) of the last final dot: the end of a run, whenever it is read.
  std::atomic<std::int64_t> last_message_ms{0};
};

Counters counters;

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string stats_line() {
  return "messages=" + std::to_string(counters.messages.load()) +
         " connections=" + std::to_string(counters.connections.load()) +
         " active=" + std::to_string(counters.active.load()) +
         " handshakes=" + std::to_string(counters.handshakes.load()) +
         " resumed=" + std::to_string(counters.resumed.load()) +
         " handshake_failures=" + std::to_string(counters.handshake_failures.load()) +
         " bytes=" + std::to_string(counters.bytes.load()) +
         " last_message_unix_ms=" + std::to_string(counters.last_message_ms.load()) + "\n";
}

// Written to a temporary file and renamed, so a reader never sees half a line.
void write_stats(const std::string& path) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return;
  const std::string line = stats_line();
  std::fwrite(line.data(), 1, line.size(), f);
  std::fclose(f);
  std::rename(tmp.c_str(), path.c_str());
}

bool starts_with_nocase(std::string_view line, std::string_view word) {
  if (line.size() < word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    char c = line[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != word[i]) return false;
  }
  return true;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, ssl::context& tls, std::chrono::seconds idle_timeout)
      : stream_(std::move(socket), tls),
        watchdog_(stream_.get_executor()),
        idle_timeout_(idle_timeout) {}

  asio::awaitable<void> run() {
    ++counters.connections;
    ++counters.active;
    touch();
    // Moved from a named local: g++ 12 mis-copies prvalues passed into a coroutine.
    auto self = shared_from_this();
    asio::co_spawn(stream_.get_executor(), watch(std::move(self)), asio::detached);
    out_ = "220 sink.bench ESMTP tlsrelay-bench-sink\r\n";
    if (co_await flush()) co_await dialogue();
    --counters.active;
    closed_ = true;
    watchdog_.cancel();
    error_code ignored;
    stream_.next_layer().close(ignored);
  }

 private:
  enum class Auth { None, PlainResponse, LoginUser, LoginPassword };

  void touch() { deadline_ = std::chrono::steady_clock::now() + idle_timeout_; }

  // A client that stops talking must not hold a session for ever.
  static asio::awaitable<void> watch(std::shared_ptr<Session> self) {
    while (!self->closed_) {
      self->watchdog_.expires_at(self->deadline_);
      auto [ec] = co_await self->watchdog_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (self->closed_) break;
      if (!ec && std::chrono::steady_clock::now() >= self->deadline_) {
        error_code ignored;
        self->stream_.next_layer().close(ignored);
        break;
      }
    }
  }

  asio::awaitable<bool> read_more() {
    const std::size_t old = in_.size();
    in_.resize(old + kReadChunk);
    auto buf = asio::buffer(in_.data() + old, kReadChunk);
    auto [ec, n] = tls_ ? co_await stream_.async_read_some(buf, asio::as_tuple(asio::use_awaitable))
                        : co_await stream_.next_layer().async_read_some(
                              buf, asio::as_tuple(asio::use_awaitable));
    in_.resize(old + n);
    counters.bytes += n;
    touch();
    co_return !ec;
  }

  asio::awaitable<bool> flush() {
    if (out_.empty()) co_return true;
    auto buf = asio::buffer(out_);
    auto [ec, n] =
        tls_ ? co_await asio::async_write(stream_, buf, asio::as_tuple(asio::use_awaitable))
             : co_await asio::async_write(stream_.next_layer(), buf,
                                          asio::as_tuple(asio::use_awaitable));
    out_.clear();
    touch();
    co_return !ec;
  }

  // Takes the next command line out of in_, reading when none is complete.
  asio::awaitable<bool> next_line(std::string& line) {
    for (;;) {
      const auto eol = in_.find("\r\n", scanned_);
      if (eol != std::string::npos) {
        line.assign(in_, 0, eol);
        in_.erase(0, eol + 2);
        scanned_ = 0;
        co_return true;
      }
      if (in_.size() > kMaxCommandLine) co_return false;
      scanned_ = in_.empty() ? 0 : in_.size() - 1;
      // Nothing more is buffered: the client waits for our replies before it sends more.
      if (!co_await flush()) co_return false;
      if (!co_await read_more()) co_return false;
    }
  }

  // Message data up to the final dot, discarded. The DATA line's CRLF counts as the CRLF
  // before a leading ".\r\n" (an empty message).
  asio::awaitable<bool> swallow_data() {
    in_.insert(0, "\r\n");
    std::size_t from = 0;
    for (;;) {
      const auto end = in_.find(kEndOfData, from);
      if (end != std::string::npos) {
        in_.erase(0, end + kEndOfData.size());
        co_return true;
      }
      // Keep only what could be the start of a terminator split across reads.
      const std::size_t keep = std::min(in_.size(), kEndOfData.size() - 1);
      in_.erase(0, in_.size() - keep);
      from = 0;
      if (!co_await read_more()) co_return false;
    }
  }

  asio::awaitable<bool> start_tls() {
    out_ += "220 2.0.0 Ready to start TLS\r\n";
    if (!co_await flush()) co_return false;
    in_.clear();  // RFC 3207 4.2: nothing sent before the handshake is used after it
    auto [ec] = co_await stream_.async_handshake(ssl::stream_base::server,
                                                 asio::as_tuple(asio::use_awaitable));
    if (ec) {
      ++counters.handshake_failures;
      co_return false;
    }
    ++counters.handshakes;
    if (SSL_session_reused(stream_.native_handle())) ++counters.resumed;
    tls_ = true;
    co_return true;
  }

  void ehlo() {
    out_ += "250-sink.bench\r\n250-PIPELINING\r\n250-SIZE 104857600\r\n";
    if (!tls_) out_ += "250-STARTTLS\r\n";
    out_ += "250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n";
  }

  void auth(std::string_view line) {
    std::string_view rest = line.substr(std::min<std::size_t>(line.size(), 5));
    if (starts_with_nocase(rest, "PLAIN")) {
      if (rest.size() > 6) {
        out_ += "235 2.7.0 Authentication successful\r\n";
      } else {
        auth_ = Auth::PlainResponse;
        out_ += "334 \r\n";
      }
    } else if (starts_with_nocase(rest, "LOGIN")) {
      auth_ = Auth::LoginUser;
      out_ += "334 VXNlcm5hbWU6\r\n";
    } else {
      out_ += "504 5.5.4 Unrecognized authentication type\r\n";
    }
  }

  void auth_continue() {
    if (auth_ == Auth::LoginUser) {
      auth_ = Auth::LoginPassword;
      out_ += "334 UGFzc3dvcmQ6\r\n";
      return;
    }
    auth_ = Auth::None;
    out_ += "235 2.7.0 Authentication successful\r\n";
  }

  asio::awaitable<void> dialogue() {
    std::string line;
    while (co_await next_line(line)) {
      if (auth_ != Auth::None) {
        auth_continue();
      } else if (starts_with_nocase(line, "EHLO")) {
        ehlo();
      } else if (starts_with_nocase(line, "HELO")) {
        out_ += "250 sink.bench\r\n";
      } else if (starts_with_nocase(line, "STARTTLS")) {
        if (tls_ || !co_await start_tls()) break;
      } else if (starts_with_nocase(line, "AUTH")) {
        auth(line);
      } else if (starts_with_nocase(line, "MAIL") || starts_with_nocase(line, "RCPT")) {
        out_ += "250 2.1.0 Ok\r\n";
      } else if (starts_with_nocase(line, "DATA")) {
        out_ += "354 End data with <CR><LF>.<CR><LF>\r\n";
        if (!co_await flush() || !co_await swallow_data()) break;
        ++counters.messages;
        counters.last_message_ms = unix_ms();
        out_ += "250 2.0.0 Ok: queued\r\n";
      } else if (starts_with_nocase(line, "RSET") || starts_with_nocase(line, "NOOP")) {
        out_ += "250 2.0.0 Ok\r\n";
      } else if (starts_with_nocase(line, "QUIT")) {
        out_ += "221 2.0.0 Bye\r\n";
        break;
      } else {
        out_ += "502 5.5.2 Error: command not recognized\r\n";
      }
    }
    co_await flush();
    if (tls_) {
      // close_notify (RFC 8446 6.1), so a client does not see a truncation; it completes
      // when the client answers or closes, and the watchdog bounds it otherwise.
      co_await stream_.async_shutdown(asio::as_tuple(asio::use_awaitable));
    }
  }

  ssl::stream<tcp::socket> stream_;
  asio::steady_timer watchdog_;
  std::chrono::seconds idle_timeout_;
  std::chrono::steady_clock::time_point deadline_;
  std::string in_;
  std::string out_;
  std::size_t scanned_ = 0;
  bool tls_ = false;
  bool closed_ = false;
  Auth auth_ = Auth::None;
};

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, ssl::context& tls,
                                  std::chrono::seconds idle_timeout) {
  for (;;) {
    // Each session on its own strand: the io_context is run by several threads.
    auto strand = asio::make_strand(acceptor.get_executor());
    auto [ec, socket] = co_await acceptor.async_accept(strand, asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors the listener stays readable: pause instead of spinning.
      asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(50));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    socket.set_option(tcp::no_delay(true));
    auto session = std::make_shared<Session>(std::move(socket), tls, idle_timeout);
    asio::co_spawn(
        strand, [session]() { return session->run(); }, asio::detached);
  }
}

// Periodically writes the counters when they changed, so a benchmark can poll the file.
asio::awaitable<void> stats_loop(std::string path) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::string last;
  for (;;) {
    timer.expires_after(std::chrono::milliseconds(20));
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    std::string now = stats_line();
    if (now != last) {
      write_stats(path);
      last = std::move(now);
    }
  }
}

tcp::endpoint parse_endpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("expected ADDR:PORT");
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return tcp::endpoint(asio::ip::make_address(host),
                       static_cast<unsigned short>(std::stoul(text.substr(colon + 1))));
}

int usage(const char* why) {
  std::cerr << "tlsrelay-bench-sink: " << why << "\n"
            << "usage: tlsrelay-bench-sink --listen ADDR:PORT --cert PEM --key PEM"
               " [--stats-file PATH] [--threads N] [--idle-timeout S]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen, cert, key, stats_file;
  unsigned threads = 1;
  long idle_timeout = 300;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return usage("a TLS SMTP sink for benchmarks"), 0;
    if (i + 1 >= argc) return usage(("missing value for " + arg).c_str());
    const std::string value = argv[++i];
    if (arg == "--listen") {
      listen = value;
    } else if (arg == "--cert") {
      cert = value;
    } else if (arg == "--key") {
      key = value;
    } else if (arg == "--stats-file") {
      stats_file = value;
    } else if (arg == "--threads") {
      threads = static_cast<unsigned>(std::max(1L, std::atol(value.c_str())));
    } else if (arg == "--idle-timeout") {
      idle_timeout = std::max(1L, std::atol(value.c_str()));
    } else {
      return usage(("unknown option " + arg).c_str());
    }
  }
  if (listen.empty() || cert.empty() || key.empty()) {
    return usage("--listen, --cert and --key are required");
  }
  signal(SIGPIPE, SIG_IGN);
  try {
    ssl::context tls(ssl::context::tls_server);
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    tls.use_certificate_chain_file(cert);
    tls.use_private_key_file(key, ssl::context::pem);
    // Session resumption for TLS 1.2 session ids and TLS 1.3 tickets (OpenSSL's defaults,
    // made explicit); the id context is what OpenSSL requires to resume at all.
    static const unsigned char kSidContext[] = "tlsrelay-bench-sink";
    SSL_CTX_set_session_id_context(tls.native_handle(), kSidContext, sizeof kSidContext - 1);
    SSL_CTX_set_session_cache_mode(tls.native_handle(), SSL_SESS_CACHE_SERVER);

    asio::io_context io(static_cast<int>(threads));
    tcp::acceptor acceptor(io);
    const tcp::endpoint ep = parse_endpoint(listen);
    acceptor.open(ep.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen(asio::socket_base::max_listen_connections);
    std::cout << "listening " << acceptor.local_endpoint().port() << std::endl;

    asio::co_spawn(io, accept_loop(acceptor, tls, std::chrono::seconds(idle_timeout)),
                   asio::detached);
    if (!stats_file.empty()) asio::co_spawn(io, stats_loop(stats_file), asio::detached);

    asio::signal_set signals(io, SIGTERM, SIGINT, SIGUSR1);
    std::function<void(const error_code&, int)> on_signal = [&](const error_code& ec, int sig) {
      if (ec) return;
      write_stats(stats_file);
      if (sig == SIGUSR1) {
        std::cerr << stats_line();
        signals.async_wait(on_signal);
        return;
      }
      io.stop();
    };
    signals.async_wait(on_signal);

    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& t : pool) t.join();
    write_stats(stats_file);
    std::cerr << stats_line();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "tlsrelay-bench-sink: " << e.what() << "\n";
    return 1;
  }
}
