#include "tls/attempt.hpp"

namespace tlsrelay::tls {

std::string_view to_string(Ending e) {
  switch (e) {
    case Ending::Ok:
      return "ok";
    case Ending::DnsNxdomain:
      return "dns-nxdomain";
    case Ending::DnsNoAddress:
      return "dns-no-address";
    case Ending::DnsError:
      return "dns-error";
    case Ending::SocketError:
      return "socket-error";
    case Ending::TimedOut:
      return "timed-out";
    case Ending::PeerClosed:
      return "peer-closed";
    case Ending::BadReply:
      return "bad-reply";
    case Ending::NotSmtp:
      return "not-smtp";
    case Ending::NoStarttls:
      return "no-starttls";
    case Ending::BytesAfterStarttls:
      return "bytes-after-starttls";
    case Ending::TlsFailed:
      return "tls-failed";
    case Ending::VerifyFailed:
      return "verify-failed";
    case Ending::NoAuthMechanism:
      return "no-auth-mechanism";
    case Ending::LocalSetup:
      return "local-setup";
  }
  return "";
}

}  // namespace tlsrelay::tls
