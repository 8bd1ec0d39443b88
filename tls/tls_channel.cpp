#include "tls/tls_channel.hpp"

#include <openssl/err.h>

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "tls/awaitable.hpp"
#include "tls/capture.hpp"
#include "tls/errors.hpp"

namespace tlsrelay::tls {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {
constexpr std::size_t kChunk = 16 * 1024;
}  // namespace

TlsChannel::TlsChannel(asio::ip::tcp::socket& socket, SslPtr ssl, Role role)
    : socket_(socket), ssl_(std::move(ssl)) {
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  // An empty input BIO must mean "no data yet" (retry), not end of stream.
  BIO_set_mem_eof_return(in_, -1);
  SSL_set_bio(ssl_.get(), in_, out_);
  if (role == Role::Server) {
    SSL_set_accept_state(ssl_.get());
  } else {
    SSL_set_connect_state(ssl_.get());
  }
  io_buffer_.resize(kChunk);
}

asio::awaitable<error_code> TlsChannel::flush() {
  // Everything OpenSSL has produced goes out in one write, straight from the BIO's memory: a
  // block of message data is full 16 KiB records and one short one, in one system call
  // (issue 22; it was a write per 16 KiB). Nothing else uses the BIO while we wait: one read
  // or write outstanding per channel. What went out is then read off the BIO: BIO_reset
  // would zero the BIO's whole allocation, however little was pending.
  for (;;) {
    char* data = nullptr;
    const long pending = BIO_get_mem_data(out_, &data);
    if (pending <= 0 || data == nullptr) break;
    const auto n = static_cast<std::size_t>(pending);
    auto [ec, written] = co_await asio::async_write(socket_, asio::buffer(data, n), kUse);
    if (ec) co_return ec;
    for (std::size_t left = n; left > 0;) {
      const int r =
          BIO_read(out_, io_buffer_.data(), static_cast<int>(std::min(left, io_buffer_.size())));
      if (r <= 0) break;
      left -= static_cast<std::size_t>(r);
    }
  }
  co_return error_code{};
}

asio::awaitable<error_code> TlsChannel::fill() {
  auto [ec, n] = co_await socket_.async_read_some(asio::buffer(io_buffer_), kUse);
  if (ec) co_return ec;
  bytes_received_ += n;
  if (first_bytes_.size() < kFirstBytesKept) {
    first_bytes_.append(io_buffer_.data(), std::min(n, kFirstBytesKept - first_bytes_.size()));
  }
  BIO_write(in_, io_buffer_.data(), static_cast<int>(n));
  co_return error_code{};
}

asio::awaitable<error_code> TlsChannel::handshake() {
  for (;;) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_.get());
    int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_.get(), r);
    if (err == SSL_ERROR_SSL || err == SSL_ERROR_SYSCALL) {
      drain_openssl_errors(error_codes_, error_text_);
    }
    // Whatever OpenSSL produced (ClientHello, Finished, or the alert it sends when it gives
    // up) goes out before we look at the result, so the server sees our alert.
    if (auto ec = co_await flush(); ec && err != SSL_ERROR_SSL) co_return ec;
    if (err == SSL_ERROR_NONE) co_return error_code{};
    if (err == SSL_ERROR_WANT_READ) {
      if (auto ec = co_await fill()) co_return ec;
      continue;
    }
    // A close_notify in the middle of the handshake is a clean close, not a TLS failure.
    if (err == SSL_ERROR_ZERO_RETURN) co_return make_error_code(Errc::TlsClosed);
    co_return make_error_code(Errc::TlsFailure);
  }
}

asio::awaitable<error_code> TlsChannel::read_some(std::string& out) {
  char buf[kChunk];
  for (;;) {
    ERR_clear_error();
    std::size_t n = 0;
    int r = SSL_read_ex(ssl_.get(), buf, sizeof buf, &n);
    int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_.get(), r);
    if (err == SSL_ERROR_SSL || err == SSL_ERROR_SYSCALL) {
      drain_openssl_errors(error_codes_, error_text_);
    }
    // TLS 1.3 session tickets, key updates and our alerts may need to go out.
    if (auto ec = co_await flush(); ec && err != SSL_ERROR_SSL) co_return ec;
    if (err == SSL_ERROR_NONE) {
      out.append(buf, n);
      co_return error_code{};
    }
    if (err == SSL_ERROR_WANT_READ) {
      if (auto ec = co_await fill()) co_return ec;
      continue;
    }
    if (err == SSL_ERROR_ZERO_RETURN) co_return make_error_code(Errc::TlsClosed);
    co_return make_error_code(Errc::TlsFailure);
  }
}

asio::awaitable<error_code> TlsChannel::write(std::string_view data) {
  while (!data.empty()) {
    ERR_clear_error();
    std::size_t n = 0;
    int r = SSL_write_ex(ssl_.get(), data.data(), data.size(), &n);
    if (r != 1) {
      // Memory BIOs never block on write; anything else is a real failure.
      drain_openssl_errors(error_codes_, error_text_);
      (void)co_await flush();
      co_return make_error_code(Errc::TlsFailure);
    }
    data.remove_prefix(n);
    if (auto ec = co_await flush()) co_return ec;
  }
  co_return error_code{};
}

asio::awaitable<void> TlsChannel::shutdown() {
  ERR_clear_error();
  SSL_shutdown(ssl_.get());
  (void)co_await flush();
  ERR_clear_error();
}

}  // namespace tlsrelay::tls
