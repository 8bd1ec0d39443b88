#include "proxy/explain/log_event.hpp"

namespace tlsrelay::explain {

std::string_view to_string(Mta m) {
  switch (m) {
    case Mta::Postfix:
      return "postfix";
    case Mta::Exim:
      return "exim";
    case Mta::Sendmail:
      return "sendmail";
  }
  return "?";
}

std::string_view to_string(Direction d) {
  return d == Direction::Outbound ? "outbound" : "inbound";
}

std::string_view to_string(EventKind k) {
  switch (k) {
    case EventKind::TlsFailure:
      return "tls-failure";
    case EventKind::CertificateIssue:
      return "certificate-issue";
    case EventKind::NoStarttls:
      return "no-starttls";
    case EventKind::ConnectFailure:
      return "connect-failure";
    case EventKind::DnsFailure:
      return "dns-failure";
    case EventKind::LostConnection:
      return "lost-connection";
    case EventKind::Deferred:
      return "deferred";
    case EventKind::Bounced:
      return "bounced";
    case EventKind::Sent:
      return "sent";
    case EventKind::TlsEstablished:
      return "tls-established";
  }
  return "?";
}

bool is_failure(EventKind k) {
  return k != EventKind::Sent && k != EventKind::TlsEstablished;
}

}  // namespace tlsrelay::explain
