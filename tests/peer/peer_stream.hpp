// One client connection's byte stream as the SMTP session sees it: plaintext on the socket
// until start_tls(), then TLS on the same socket; line reading with a length limit, and the
// --capture hook for every plaintext byte received.
// Limits: blocking I/O under the socket's deadlines (socket_io.hpp); does not own the fd.
// Thread-safety: one thread per stream.
#pragma once

#include "capture.hpp"
#include "ossl.hpp"
#include "socket_io.hpp"

#include <string>
#include <string_view>

namespace tlsrelay::testpeer {

class PeerStream {
 public:
  PeerStream(int fd, Capture* capture) : fd_(fd), capture_(capture) {}

  int fd() const { return fd_; }
  bool in_tls() const { return ssl_ != nullptr; }
  SSL* ssl() const { return ssl_.get(); }
  // OpenSSL's or the system's reason for the last failed read, write or handshake.
  const std::string& last_error() const { return last_error_; }

  IoStatus send(std::string_view bytes);

  enum class LineStatus { Line, TooLong, Closed, Timeout, Error };
  // One line without its CRLF (a bare LF also ends a line). A line longer than max_octets
  // (CRLF included, RFC 5321 4.5.3.1.4) is skipped up to its LF and reported as TooLong.
  LineStatus read_line(std::string& line, std::size_t max_octets);

  // Drops bytes received but not yet consumed; returns how many there were.
  std::size_t discard_buffered();

  // Runs the server handshake on the socket; false (with last_error()) on failure.
  bool start_tls(SSL_CTX* ctx);

  // Sends close_notify when TLS is up (RFC 8446 6.1), so the client sees an orderly end.
  void shutdown_tls();

 private:
  IoStatus fill();
  IoStatus tls_status(int rc);

  int fd_;
  Capture* capture_;
  SslPtr ssl_;
  std::string buffer_;
  std::string last_error_;
};

}  // namespace tlsrelay::testpeer
