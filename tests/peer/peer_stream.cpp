#include "peer_stream.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace tlsrelay::testpeer {

IoStatus PeerStream::tls_status(int rc) {
  const int err = SSL_get_error(ssl_.get(), rc);
  const int saved_errno = errno;
  std::string errors = drain_errors();
  if (err == SSL_ERROR_ZERO_RETURN) {
    last_error_ = "close_notify";
    return IoStatus::Closed;
  }
  if (err == SSL_ERROR_SYSCALL && errors.empty()) {
    if (rc == 0 || saved_errno == 0) {
      last_error_ = "eof";
      return IoStatus::Closed;
    }
    last_error_ = std::strerror(saved_errno);
    return saved_errno == EAGAIN || saved_errno == EWOULDBLOCK ? IoStatus::Timeout
                                                               : IoStatus::Error;
  }
  // A blocking socket with SO_RCVTIMEO surfaces a deadline as WANT_READ/WANT_WRITE.
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    last_error_ = "timeout";
    return IoStatus::Timeout;
  }
  last_error_ = "ssl_error=" + std::to_string(err) + (errors.empty() ? "" : " " + errors);
  return IoStatus::Error;
}

IoStatus PeerStream::send(std::string_view bytes) {
  if (!ssl_) {
    const IoStatus status = send_all(fd_, bytes);
    if (status != IoStatus::Ok) last_error_ = std::strerror(errno);
    return status;
  }
  while (!bytes.empty()) {
    const int n = SSL_write(ssl_.get(), bytes.data(), static_cast<int>(bytes.size()));
    if (n <= 0) return tls_status(n);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return IoStatus::Ok;
}

IoStatus PeerStream::fill() {
  char buf[4096];
  int n;
  if (ssl_) {
    n = SSL_read(ssl_.get(), buf, sizeof buf);
    if (n <= 0) return tls_status(n);
  } else {
    ssize_t got;
    do {
      got = ::recv(fd_, buf, sizeof buf, 0);
    } while (got < 0 && errno == EINTR);
    if (got == 0) {
      last_error_ = "eof";
      return IoStatus::Closed;
    }
    if (got < 0) {
      last_error_ = std::strerror(errno);
      return errno == EAGAIN || errno == EWOULDBLOCK ? IoStatus::Timeout : IoStatus::Error;
    }
    n = static_cast<int>(got);
  }
  if (capture_ != nullptr) capture_->append(std::string_view(buf, static_cast<std::size_t>(n)));
  buffer_.append(buf, static_cast<std::size_t>(n));
  return IoStatus::Ok;
}

PeerStream::LineStatus PeerStream::read_line(std::string& line, std::size_t max_octets) {
  bool too_long = false;
  for (;;) {
    const auto lf = buffer_.find('\n');
    if (lf != std::string::npos) {
      if (!too_long && lf + 1 <= max_octets) {
        line.assign(buffer_, 0, lf);
        if (!line.empty() && line.back() == '\r') line.pop_back();
      }
      too_long = too_long || lf + 1 > max_octets;
      buffer_.erase(0, lf + 1);
      return too_long ? LineStatus::TooLong : LineStatus::Line;
    }
    // Enforce the limit before buffering more (a client must not make us hold megabytes).
    if (buffer_.size() >= max_octets) {
      too_long = true;
      buffer_.clear();
    }
    switch (fill()) {
      case IoStatus::Ok:
        break;
      case IoStatus::Closed:
        return LineStatus::Closed;
      case IoStatus::Timeout:
        return LineStatus::Timeout;
      case IoStatus::Error:
        return LineStatus::Error;
    }
  }
}

std::size_t PeerStream::discard_buffered() {
  const std::size_t n = buffer_.size();
  buffer_.clear();
  return n;
}

bool PeerStream::start_tls(SSL_CTX* ctx) {
  ssl_.reset(SSL_new(ctx));
  if (!ssl_ || SSL_set_fd(ssl_.get(), fd_) != 1) {
    last_error_ = "cannot create SSL: " + drain_errors();
    ssl_.reset();
    return false;
  }
  const int rc = SSL_accept(ssl_.get());
  if (rc == 1) return true;
  tls_status(rc);
  // The connection is unusable either way; forget the half-made session so that
  // shutdown_tls() does not try to speak TLS on it.
  ssl_.reset();
  return false;
}

void PeerStream::shutdown_tls() {
  if (ssl_) SSL_shutdown(ssl_.get());
}

}  // namespace tlsrelay::testpeer
