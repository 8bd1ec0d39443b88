// TLS over a connected TCP socket, driven by C++20 coroutines through memory BIOs.
//
// Owning the record bytes (rather than handing the socket to OpenSSL) lets the engine count
// and keep the first bytes of the server's flight, which is what tells an MTU black hole
// (flight cut after ~1,400 bytes) from a server that never answered, and plaintext SMTP
// from a TLS reply. One channel per connection; not thread-safe; all calls on the
// connection's executor, one read and one write outstanding at most.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace tlsrelay::tls {

struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
};
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

class TlsChannel {
 public:
  enum class Role { Client, Server };

  // Takes a fresh SSL and makes it the client side (SNI, verification and callbacks already set on
  // it), or with Role::Server the accepting side (the relay's STARTTLS towards its clients).
  TlsChannel(boost::asio::ip::tcp::socket& socket, SslPtr ssl, Role role = Role::Client);

  // Errors: socket errors (eof, reset, operation_aborted on time-out), or Errc::TlsFailure
  // with OpenSSL's error queue left for the caller to read.
  boost::asio::awaitable<boost::system::error_code> handshake();
  // Reads decrypted bytes into out (appends). Errc::TlsClosed on close_notify.
  boost::asio::awaitable<boost::system::error_code> read_some(std::string& out);
  boost::asio::awaitable<boost::system::error_code> write(std::string_view data);
  // Sends close_notify; does not wait for the peer's.
  boost::asio::awaitable<void> shutdown();

  SSL* ssl() const { return ssl_.get(); }
  // OpenSSL's error queue at the last failure, taken before any suspension: the queue is
  // per thread, and another connection's I/O may run (and clear it) while we wait.
  const std::vector<unsigned long>& error_codes() const { return error_codes_; }
  const std::vector<std::string>& error_text() const { return error_text_; }
  std::uint64_t bytes_received() const { return bytes_received_; }
  const std::string& first_bytes() const { return first_bytes_; }

  static constexpr std::size_t kFirstBytesKept = 64;

 private:
  boost::asio::awaitable<boost::system::error_code> flush();
  boost::asio::awaitable<boost::system::error_code> fill();

  boost::asio::ip::tcp::socket& socket_;
  SslPtr ssl_;
  BIO* in_ = nullptr;   // network -> OpenSSL (owned by ssl_)
  BIO* out_ = nullptr;  // OpenSSL -> network (owned by ssl_)
  std::uint64_t bytes_received_ = 0;
  std::string first_bytes_;
  std::string io_buffer_;
  std::vector<unsigned long> error_codes_;
  std::vector<std::string> error_text_;
};

}  // namespace tlsrelay::tls
