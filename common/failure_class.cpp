#include "common/failure_class.hpp"

#include <array>

namespace tlsrelay {
namespace {

using enum FailureClass;
constexpr auto kNever = Transience::Never;
constexpr auto kAlways = Transience::Always;
constexpr auto kByReply = Transience::ByReply;

// Kept in the order of failure-classes.md so the two can be compared line by line.
constexpr std::array kClasses = {
    ClassInfo{Ok, "ok", "", "", kNever, Fault::None,
              "the attempt reached the state it was asked for"},
    ClassInfo{DnsNxdomain, "dns-nxdomain", "dns", "", kNever, Fault::Local,
              "the host name does not exist"},
    ClassInfo{DnsFailure, "dns-failure", "dns", "", kAlways, Fault::Network,
              "resolver error, SERVFAIL, time-out, or no A/AAAA records"},
    ClassInfo{ConnectRefused, "connect-refused", "network", "", kAlways, Fault::Remote,
              "TCP RST to our SYN: nothing listens, or a firewall rejects with reset"},
    ClassInfo{ConnectTimeout, "connect-timeout", "network", "", kAlways, Fault::Network,
              "no answer to SYN in time: a firewall drops, or a black hole"},
    ClassInfo{NetworkUnreachable, "network-unreachable", "network", "", kAlways, Fault::Network,
              "no route, or an ICMP unreachable/prohibited"},
    ClassInfo{ConnectionReset, "connection-reset", "network", "", kAlways, Fault::Network,
              "the peer reset the connection after it was established"},
    ClassInfo{ConnectionClosed, "connection-closed", "network", "", kAlways, Fault::Network,
              "the peer closed the connection unexpectedly (EOF, no alert)"},
    ClassInfo{Timeout, "timeout", "network", "", kAlways, Fault::Network,
              "connected, but the peer sent nothing (or not enough) within the phase's time-out"},
    ClassInfo{NotSmtp, "not-smtp", "smtp", "", kNever, Fault::Local,
              "the greeting is not an SMTP reply (HTTP, SSH, garbage)"},
    ClassInfo{BannerRejected, "banner-rejected", "smtp", "", kByReply, Fault::Remote,
              "the greeting was 4xx/5xx (busy, blocked)"},
    ClassInfo{EhloRejected, "ehlo-rejected", "smtp", "", kByReply, Fault::Remote,
              "EHLO (and the HELO fallback) was refused"},
    ClassInfo{StarttlsNotOffered, "starttls-not-offered", "starttls", "starttls-not-supported",
              kNever, Fault::Remote, "EHLO did not list STARTTLS"},
    ClassInfo{StarttlsStripped, "starttls-stripped", "starttls", "starttls-not-supported", kNever,
              Fault::Network, "EHLO lists a masked extension: a middlebox removed STARTTLS"},
    ClassInfo{StarttlsRejected, "starttls-rejected", "starttls", "starttls-not-supported", kByReply,
              Fault::Remote, "STARTTLS was answered 4xx/5xx"},
    ClassInfo{StarttlsInjection, "starttls-injection", "starttls", "validation-failure", kNever,
              Fault::Network,
              "bytes arrived after the 220 to STARTTLS and before TLS began (RFC 3207 violation)"},
    ClassInfo{TlsModeMismatch, "tls-mode-mismatch", "starttls", "", kNever, Fault::Local,
              "implicit TLS spoken to a plaintext SMTP port, or STARTTLS to an implicit-TLS port"},
    ClassInfo{TlsProtocolMismatch, "tls-protocol-mismatch", "tls", "validation-failure", kNever,
              Fault::Remote, "no TLS version in common"},
    ClassInfo{TlsNoSharedCipher, "tls-no-shared-cipher", "tls", "validation-failure", kNever,
              Fault::Remote, "no cipher, group or signature algorithm in common"},
    ClassInfo{TlsWeakParameters, "tls-weak-parameters", "tls", "validation-failure", kNever,
              Fault::Remote, "we refused what the server chose (DH too small, no RFC 5746, ...)"},
    ClassInfo{TlsSniRequired, "tls-sni-required", "tls", "validation-failure", kNever, Fault::Local,
              "the server wants a (different) server name"},
    ClassInfo{TlsClientCertificateRequired, "tls-client-certificate-required", "tls",
              "validation-failure", kNever, Fault::Local,
              "the server demands a client certificate and we sent none"},
    ClassInfo{TlsAlert, "tls-alert", "tls", "validation-failure", kNever, Fault::Remote,
              "any other fatal alert from the server"},
    ClassInfo{TlsError, "tls-error", "tls", "validation-failure", kNever, Fault::Local,
              "any other TLS failure"},
    ClassInfo{CertificateExpired, "certificate-expired", "certificate", "certificate-expired",
              kNever, Fault::Remote, "a certificate in the server's chain is past its notAfter"},
    ClassInfo{CertificateNotYetValid, "certificate-not-yet-valid", "certificate",
              "validation-failure", kNever, Fault::Remote,
              "a certificate's notBefore is in the future"},
    ClassInfo{ClientClockSkew, "client-clock-skew", "certificate", "validation-failure", kNever,
              Fault::Local, "validity failed because our clock is wrong"},
    ClassInfo{CertificateHostMismatch, "certificate-host-mismatch", "certificate",
              "certificate-host-mismatch", kNever, Fault::Remote,
              "no name in the certificate matches the name we connected to"},
    ClassInfo{CertificateChainIncomplete, "certificate-chain-incomplete", "certificate",
              "certificate-not-trusted", kNever, Fault::Remote,
              "the server did not send its intermediate certificate(s)"},
    ClassInfo{CertificateUntrusted, "certificate-untrusted", "certificate",
              "certificate-not-trusted", kNever, Fault::Local,
              "the chain ends at a root that is not in our trust store"},
    ClassInfo{CertificateSelfSigned, "certificate-self-signed", "certificate",
              "certificate-not-trusted", kNever, Fault::Remote,
              "the server's own certificate is self-signed"},
    ClassInfo{CertificateWeak, "certificate-weak", "certificate", "validation-failure", kNever,
              Fault::Remote, "key too small or signature digest too weak for our security level"},
    ClassInfo{CertificateRevoked, "certificate-revoked", "certificate", "validation-failure",
              kNever, Fault::Remote, "a stapled OCSP response says revoked"},
    ClassInfo{CertificateInvalid, "certificate-invalid", "certificate", "validation-failure",
              kNever, Fault::Remote, "any other verification failure"},
    ClassInfo{AuthFailed, "auth-failed", "auth", "", kNever, Fault::Local,
              "the smarthost refused our credentials"},
    ClassInfo{AuthUnavailable, "auth-unavailable", "auth", "", kNever, Fault::Remote,
              "credentials are configured but the server offers no usable AUTH mechanism"},
    ClassInfo{LocalConfig, "local-config", "local", "", kNever, Fault::Local,
              "our own setup is broken (CA file unreadable, bad client key)"},
};

static_assert(static_cast<std::size_t>(LocalConfig) + 1 == kClasses.size(),
              "kClasses must list every FailureClass in enum order");

constexpr bool table_in_enum_order() {
  for (std::size_t i = 0; i < kClasses.size(); ++i) {
    if (static_cast<std::size_t>(kClasses[i].id) != i) return false;
  }
  return true;
}
static_assert(table_in_enum_order(), "kClasses order must match the enum");

}  // namespace

const ClassInfo* all_classes_begin() {
  return kClasses.data();
}
const ClassInfo* all_classes_end() {
  return kClasses.data() + kClasses.size();
}

const ClassInfo& info(FailureClass c) {
  return kClasses[static_cast<std::size_t>(c)];
}

std::string_view to_string(FailureClass c) {
  return info(c).name;
}

std::string_view to_string(Fault f) {
  switch (f) {
    case Fault::None:
      return "";
    case Fault::Local:
      return "local";
    case Fault::Network:
      return "network";
    case Fault::Remote:
      return "remote";
  }
  return "";
}

std::optional<FailureClass> class_from_string(std::string_view name) {
  for (const auto& c : kClasses) {
    if (c.name == name) return c.id;
  }
  return std::nullopt;
}

bool is_group_name(std::string_view name) {
  if (name.empty()) return false;
  for (const auto& c : kClasses) {
    if (c.group == name) return true;
  }
  return false;
}

std::string_view to_string(Phase p) {
  switch (p) {
    case Phase::None:
      return "";
    case Phase::Dns:
      return "dns";
    case Phase::Connect:
      return "connect";
    case Phase::Banner:
      return "banner";
    case Phase::Ehlo:
      return "ehlo";
    case Phase::Starttls:
      return "starttls";
    case Phase::TlsHandshake:
      return "tls-handshake";
    case Phase::Certificate:
      return "certificate";
    case Phase::Auth:
      return "auth";
    case Phase::Transaction:
      return "transaction";
  }
  return "";
}

}  // namespace tlsrelay
