#include "raw_tls.hpp"

#include "ossl.hpp"

#include <charconv>
#include <utility>

namespace tlsrelay::testpeer {

namespace {

struct AlertName {
  std::string_view name;
  int code;
};

// RFC 8446 section 6 (and RFC 5246 7.2 for the older ones).
constexpr AlertName kAlerts[] = {
    {"close_notify", 0},
    {"unexpected_message", 10},
    {"bad_record_mac", 20},
    {"record_overflow", 22},
    {"decompression_failure", 30},
    {"handshake_failure", 40},
    {"bad_certificate", 42},
    {"unsupported_certificate", 43},
    {"certificate_revoked", 44},
    {"certificate_expired", 45},
    {"certificate_unknown", 46},
    {"illegal_parameter", 47},
    {"unknown_ca", 48},
    {"access_denied", 49},
    {"decode_error", 50},
    {"decrypt_error", 51},
    {"protocol_version", 70},
    {"insufficient_security", 71},
    {"internal_error", 80},
    {"inappropriate_fallback", 86},
    {"user_canceled", 90},
    {"missing_extension", 109},
    {"unsupported_extension", 110},
    {"unrecognized_name", 112},
    {"bad_certificate_status_response", 113},
    {"unknown_psk_identity", 115},
    {"certificate_required", 116},
    {"no_application_protocol", 120},
};

// How many extra client records first_server_flight() reads before giving up on a flight.
constexpr int kMaxExtraRecords = 4;

}  // namespace

RecordRead read_record(int fd) {
  RecordRead read;
  read.status = recv_exact(fd, kRecordHeaderSize, read.bytes);
  if (read.status != IoStatus::Ok) return read;
  const auto* h = reinterpret_cast<const unsigned char*>(read.bytes.data());
  const std::size_t length = (std::size_t{h[3]} << 8) | h[4];
  // Content types 20..23 and major version 3: anything else is not TLS talking (a client
  // speaking SMTP to an implicit-TLS port, say) and its "length" means nothing.
  if (h[0] < 20 || h[0] > 23 || h[1] != 3 || length > kMaxRecordBody) {
    read.looks_tls = false;
    return read;
  }
  read.status = recv_exact(fd, length, read.bytes);
  return read;
}

std::optional<int> parse_alert(std::string_view text) {
  for (const auto& alert : kAlerts)
    if (alert.name == text) return alert.code;
  int code = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), code);
  if (ec != std::errc() || end != text.data() + text.size() || code < 0 || code > 255)
    return std::nullopt;
  return code;
}

std::string alert_name(int description) {
  for (const auto& alert : kAlerts)
    if (alert.code == description) return std::string(alert.name);
  return std::to_string(description);
}

std::string fatal_alert_record(int description) {
  // Record version 3.3: what TLS 1.2 servers send and what RFC 8446 5.1 fixes for 1.3.
  const char record[] = {21, 3, 3, 0, 2, 2, static_cast<char>(description)};
  return std::string(record, sizeof record);
}

Flight first_server_flight(SSL_CTX* ctx, int fd, std::string client_hello) {
  Flight flight;
  SslPtr ssl(SSL_new(ctx));
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (!ssl || in == nullptr || out == nullptr) {
    BIO_free(in);
    BIO_free(out);
    flight.error = "cannot create the memory-BIO server: " + drain_errors();
    return flight;
  }
  SSL_set_bio(ssl.get(), in, out);  // ssl owns both from here
  SSL_set_accept_state(ssl.get());

  std::string pending = std::move(client_hello);
  for (int extra = 0;; ++extra) {
    BIO_write(in, pending.data(), static_cast<int>(pending.size()));
    const int rc = SSL_do_handshake(ssl.get());
    const int err = SSL_get_error(ssl.get(), rc);
    if (BIO_ctrl_pending(out) > 0 || (rc <= 0 && err != SSL_ERROR_WANT_READ)) {
      if (rc <= 0 && err != SSL_ERROR_WANT_READ) flight.error = drain_errors();
      break;
    }
    // The engine wrote nothing and wants more: the ClientHello spans another record.
    if (extra == kMaxExtraRecords) {
      flight.error = "no server flight after " + std::to_string(extra + 1) + " client records";
      break;
    }
    RecordRead next = read_record(fd);
    if (next.status != IoStatus::Ok) {
      flight.io = next.status;
      break;
    }
    pending = std::move(next.bytes);
  }
  char buf[4096];
  for (int n; (n = BIO_read(out, buf, sizeof buf)) > 0;) flight.bytes.append(buf, n);
  return flight;
}

}  // namespace tlsrelay::testpeer
