// tlsrelay's own error codes for the data path, as a boost::system error category, so that
// socket errors and our TLS/protocol errors travel in one error_code.
//
// Thread-safe (the category is a constant singleton).
#pragma once

#include <boost/system/error_code.hpp>

namespace tlsrelay::tls {

enum class Errc {
  TlsFailure = 1,  // OpenSSL returned SSL_ERROR_SSL; its error queue says why
  TlsClosed,       // the peer sent close_notify
  LineTooLong,     // a line exceeded its limit before its end arrived
  NotSmtp,         // bytes that cannot start an SMTP reply
};

const boost::system::error_category& error_category();
boost::system::error_code make_error_code(Errc e);

}  // namespace tlsrelay::tls

template <>
struct boost::system::is_error_code_enum<tlsrelay::tls::Errc> : std::true_type {};
