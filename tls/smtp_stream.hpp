// A line-oriented SMTP byte stream over a TCP socket that can switch to TLS in place.
//
// Reading is bounded: a line longer than its limit is an error before it is buffered
// whole. start_tls() refuses to run while plaintext is still buffered, because nothing read
// before TLS may be used after it (RFC 3207 5, CVE-2011-0411). Not thread-safe; one per
// connection, used from its executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <utility>

#include "tls/tls_channel.hpp"

namespace tlsrelay::tls {

class SmtpStream {
 public:
  explicit SmtpStream(boost::asio::any_io_executor ex) : socket_(std::move(ex)) {}

  boost::asio::ip::tcp::socket& socket() { return socket_; }
  TlsChannel* tls() { return tls_.get(); }

  // One line without its CRLF (a bare LF also ends it). With smtp_check, bytes that cannot
  // begin an SMTP reply fail at once with Errc::NotSmtp instead of waiting for a line end
  // that a TLS server or an SSH banner may never send.
  boost::asio::awaitable<boost::system::error_code> read_line(std::string& line, std::size_t max,
                                                              bool smtp_check);
  boost::asio::awaitable<boost::system::error_code> write(std::string_view data);
  // Waits until at least one byte is buffered (reading up to 64 KiB if nothing is), for raw
  // consumers such as the DATA reader, which take() what they need and put_back() the rest.
  boost::asio::awaitable<boost::system::error_code> read_more();
  std::string take() { return std::exchange(buffer_, {}); }
  void put_back(std::string_view rest) { buffer_.insert(0, rest); }
  // Drops the first n buffered bytes, which a raw consumer read in place from buffered();
  // the buffer keeps its capacity for the next read.
  void consume(std::size_t n) { buffer_.erase(0, n); }
  // Gives back the large buffers read_more() grew, once the raw consumer is done.
  void trim();

  // Switches to TLS (as the server with Role::Server). Precondition: buffered().empty().
  void start_tls(SslPtr ssl, TlsChannel::Role role = TlsChannel::Role::Client);
  // Sends close_notify (under TLS) and closes the socket.
  boost::asio::awaitable<void> close();
  // Closes at once, without a word: after a failure the record stream may be broken and a
  // peer that stopped reading would make a polite close wait forever.
  void close_now();

  const std::string& buffered() const { return buffer_; }
  // Raw bytes from the network so far (TLS records counted as received).
  std::uint64_t raw_bytes_received() const {
    return plain_bytes_ + (tls_ ? tls_->bytes_received() : 0);
  }

 private:
  boost::asio::awaitable<boost::system::error_code> fill(std::size_t max);

  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<TlsChannel> tls_;
  std::string buffer_;
  std::unique_ptr<char[]> read_buffer_;  // plaintext reads land here first (fill())
  std::size_t read_size_ = 0;
  std::uint64_t plain_bytes_ = 0;
};

}  // namespace tlsrelay::tls
