#include "tls/smtp_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cassert>

#include "tls/awaitable.hpp"
#include "tls/errors.hpp"

namespace tlsrelay::tls {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// Plaintext reads: small while reading commands (a buffer per idle session), large for
// message data (issue 22: a quarter of the system calls per MiB of 16 KiB reads).
constexpr std::size_t kLineRead = 4096;
constexpr std::size_t kDataRead = 64 * 1024;

// Whether these bytes can still become "NNN " / "NNN-" / "NNN\r\n".
bool could_start_reply(std::string_view b) {
  for (std::size_t i = 0; i < b.size() && i < 4; ++i) {
    const char c = b[i];
    if (i == 0 && (c < '1' || c > '5')) return false;
    if ((i == 1 || i == 2) && (c < '0' || c > '9')) return false;
    if (i == 3 && c != ' ' && c != '-' && c != '\r' && c != '\n') return false;
  }
  return true;
}

}  // namespace

asio::awaitable<error_code> SmtpStream::fill(std::size_t max) {
  if (tls_) co_return co_await tls_->read_some(buffer_);
  // Into a read buffer of our own, allocated once and not zeroed (growing buffer_ instead
  // would zero all of `max` for every read, 64 KiB for a 1 KiB message), then appended.
  if (read_size_ < max) {
    read_buffer_ = std::make_unique_for_overwrite<char[]>(max);
    read_size_ = max;
  }
  auto [ec, n] = co_await socket_.async_read_some(asio::buffer(read_buffer_.get(), max), kUse);
  if (ec) co_return ec;
  plain_bytes_ += n;
  buffer_.append(read_buffer_.get(), n);
  co_return error_code{};
}

asio::awaitable<error_code> SmtpStream::read_line(std::string& line, std::size_t max,
                                                  bool smtp_check) {
  for (;;) {
    auto nl = buffer_.find('\n');
    std::size_t scanned = nl == std::string::npos ? buffer_.size() : nl;
    if (smtp_check && !could_start_reply(std::string_view(buffer_).substr(0, scanned))) {
      co_return make_error_code(Errc::NotSmtp);
    }
    if (nl != std::string::npos) {
      std::size_t end = nl;
      if (end > 0 && buffer_[end - 1] == '\r') --end;
      if (end > max) co_return make_error_code(Errc::LineTooLong);
      line.assign(buffer_, 0, end);
      buffer_.erase(0, nl + 1);
      co_return error_code{};
    }
    // Enforce the limit before buffering more (the line's end may never come).
    if (buffer_.size() > max + 1) co_return make_error_code(Errc::LineTooLong);
    if (auto ec = co_await fill(kLineRead)) co_return ec;
  }
}

asio::awaitable<error_code> SmtpStream::write(std::string_view data) {
  if (tls_) co_return co_await tls_->write(data);
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(data), kUse);
  co_return ec;
}

asio::awaitable<error_code> SmtpStream::read_more() {
  if (!buffer_.empty()) co_return error_code{};
  co_return co_await fill(kDataRead);
}

void SmtpStream::trim() {
  // After a message: an idle session keeps command-sized buffers, not data-sized ones.
  if (read_size_ > kLineRead) {
    read_buffer_.reset();
    read_size_ = 0;
  }
  if (buffer_.capacity() > 2 * kLineRead && buffer_.size() <= kLineRead) buffer_.shrink_to_fit();
}

void SmtpStream::start_tls(SslPtr ssl, TlsChannel::Role role) {
  assert(buffer_.empty() && "plaintext buffered across STARTTLS");
  buffer_.clear();
  read_buffer_.reset();  // TLS reads go through the channel's own buffer
  read_size_ = 0;
  tls_ = std::make_unique<TlsChannel>(socket_, std::move(ssl), role);
}

void SmtpStream::close_now() {
  error_code ignored;
  socket_.close(ignored);
}

asio::awaitable<void> SmtpStream::close() {
  if (tls_ && socket_.is_open()) co_await tls_->shutdown();
  error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace tlsrelay::tls
