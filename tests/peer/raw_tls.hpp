// Record-level TLS tricks for the misbehaving handshakes: read the client's first record
// (its ClientHello) off the socket, build a raw alert record, and compute the server's real
// first flight on memory BIOs so that only a prefix of it can be sent.
// Limits: a ClientHello is assumed to fit one record (true for OpenSSL and every mainstream
// client without post-quantum key shares); more records are read only when the server
// engine asks for them. Thread-safety: per connection; the SSL_CTX is shared read-only.
#pragma once

#include "socket_io.hpp"

#include <openssl/ssl.h>

#include <optional>
#include <string>
#include <string_view>

namespace tlsrelay::testpeer {

// RFC 8446 5.1 / RFC 5246 6.2.1: the 5-byte header, content type 22 = handshake.
constexpr std::size_t kRecordHeaderSize = 5;
// RFC 8446 5.2 allows 2^14 + 256 bytes of ciphertext; plaintext ClientHellos are below 2^14.
constexpr std::size_t kMaxRecordBody = (1u << 14) + 256;

struct RecordRead {
  IoStatus status = IoStatus::Ok;
  std::string bytes;      // header and body, as far as they arrived
  bool looks_tls = true;  // false when the header is not a TLS record (e.g. "EHLO ")
};

// Reads one record: the header, then as many body bytes as the header announces. When the
// header is not TLS, returns after the header with looks_tls = false.
RecordRead read_record(int fd);

// "access_denied", "internal_error", ..., or a decimal code 0..255 -> alert description.
std::optional<int> parse_alert(std::string_view text);
std::string alert_name(int description);

// One plaintext fatal alert record (RFC 8446 6 / RFC 5246 7.2): 21, 3.3, length 2, 2, code.
std::string fatal_alert_record(int description);

struct Flight {
  std::string bytes;  // everything the server engine wrote before it wanted the next message
  std::string error;  // OpenSSL's reason when the engine failed instead (the alert is in bytes)
  IoStatus io = IoStatus::Ok;  // how reading any further client records went
};

// Feeds client_hello (and further records read from fd while the engine needs them) to a
// server-side SSL on memory BIOs and returns its first flight.
Flight first_server_flight(SSL_CTX* ctx, int fd, std::string client_hello);

}  // namespace tlsrelay::testpeer
