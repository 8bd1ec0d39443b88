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
    ClassInfo{Ok, "ok", FailureGroup::None, "", kNever, Fault::None,
              "the attempt reached the state it was asked for"},
    ClassInfo{DnsNxdomain, "dns-nxdomain", FailureGroup::Dns, "", kNever, Fault::Local,
              "the host name does not exist"},
    ClassInfo{DnsFailure, "dns-failure", FailureGroup::Dns, "", kAlways, Fault::Network,
              "resolver error, SERVFAIL, time-out, or no A/AAAA records"},
    ClassInfo{ConnectRefused, "connect-refused", FailureGroup::Network, "", kAlways, Fault::Remote,
              "TCP RST to our SYN: nothing listens, or a firewall rejects with reset"},
    ClassInfo{ConnectTimeout, "connect-timeout", FailureGroup::Network, "", kAlways, Fault::Network,
              "no answer to SYN in time: a firewall drops, or a black hole"},
    ClassInfo{NetworkUnreachable, "network-unreachable", FailureGroup::Network, "", kAlways,
              Fault::Network, "no route, or an ICMP unreachable/prohibited"},
    ClassInfo{ConnectionReset, "connection-reset", FailureGroup::Network, "", kAlways,
              Fault::Network, "the peer reset the connection after it was established"},
    ClassInfo{ConnectionClosed, "connection-closed", FailureGroup::Network, "", kAlways,
              Fault::Network, "the peer closed the connection unexpectedly (EOF, no alert)"},
    ClassInfo{Timeout, "timeout", FailureGroup::Network, "", kAlways, Fault::Network,
              "connected, but the peer sent nothing (or not enough) within the phase's time-out"},
    ClassInfo{NotSmtp, "not-smtp", FailureGroup::Smtp, "", kNever, Fault::Local,
              "the greeting is not an SMTP reply (HTTP, SSH, garbage)"},
    ClassInfo{BannerRejected, "banner-rejected", FailureGroup::Smtp, "", kByReply, Fault::Remote,
              "the greeting was 4xx/5xx (busy, blocked)"},
    ClassInfo{EhloRejected, "ehlo-rejected", FailureGroup::Smtp, "", kByReply, Fault::Remote,
              "EHLO (and the HELO fallback) was refused"},
    ClassInfo{StarttlsNotOffered, "starttls-not-offered", FailureGroup::Starttls,
              "starttls-not-supported", kNever, Fault::Remote, "EHLO did not list STARTTLS"},
    ClassInfo{StarttlsStripped, "starttls-stripped", FailureGroup::Starttls,
              "starttls-not-supported", kNever, Fault::Network,
              "EHLO lists a masked extension: a middlebox removed STARTTLS"},
    ClassInfo{StarttlsRejected, "starttls-rejected", FailureGroup::Starttls,
              "starttls-not-supported", kByReply, Fault::Remote, "STARTTLS was answered 4xx/5xx"},
    ClassInfo{StarttlsInjection, "starttls-injection", FailureGroup::Starttls, "validation-failure",
              kNever, Fault::Network,
              "bytes arrived after the 220 to STARTTLS and before TLS began (RFC 3207 violation)"},
    ClassInfo{TlsModeMismatch, "tls-mode-mismatch", FailureGroup::Starttls, "", kNever,
              Fault::Local,
              "implicit TLS spoken to a plaintext SMTP port, or STARTTLS to an implicit-TLS port"},
    ClassInfo{TlsProtocolMismatch, "tls-protocol-mismatch", FailureGroup::Tls, "validation-failure",
              kNever, Fault::Remote, "no TLS version in common"},
    ClassInfo{TlsNoSharedCipher, "tls-no-shared-cipher", FailureGroup::Tls, "validation-failure",
              kNever, Fault::Remote, "no cipher, group or signature algorithm in common"},
    ClassInfo{TlsWeakParameters, "tls-weak-parameters", FailureGroup::Tls, "validation-failure",
              kNever, Fault::Remote,
              "we refused what the server chose (DH too small, no RFC 5746, ...)"},
    ClassInfo{TlsSniRequired, "tls-sni-required", FailureGroup::Tls, "validation-failure", kNever,
              Fault::Local, "the server wants a (different) server name"},
    ClassInfo{TlsClientCertificateRequired, "tls-client-certificate-required", FailureGroup::Tls,
              "validation-failure", kNever, Fault::Local,
              "the server demands a client certificate and we sent none"},
    ClassInfo{TlsAlert, "tls-alert", FailureGroup::Tls, "validation-failure", kNever, Fault::Remote,
              "any other fatal alert from the server"},
    ClassInfo{TlsError, "tls-error", FailureGroup::Tls, "validation-failure", kNever, Fault::Local,
              "any other TLS failure"},
    ClassInfo{CertificateExpired, "certificate-expired", FailureGroup::Certificate,
              "certificate-expired", kNever, Fault::Remote,
              "a certificate in the server's chain is past its notAfter"},
    ClassInfo{CertificateNotYetValid, "certificate-not-yet-valid", FailureGroup::Certificate,
              "validation-failure", kNever, Fault::Remote,
              "a certificate's notBefore is in the future"},
    ClassInfo{ClientClockSkew, "client-clock-skew", FailureGroup::Certificate, "validation-failure",
              kNever, Fault::Local, "validity failed because our clock is wrong"},
    ClassInfo{CertificateHostMismatch, "certificate-host-mismatch", FailureGroup::Certificate,
              "certificate-host-mismatch", kNever, Fault::Remote,
              "no name in the certificate matches the name we connected to"},
    ClassInfo{CertificateChainIncomplete, "certificate-chain-incomplete", FailureGroup::Certificate,
              "certificate-not-trusted", kNever, Fault::Remote,
              "the server did not send its intermediate certificate(s)"},
    ClassInfo{CertificateUntrusted, "certificate-untrusted", FailureGroup::Certificate,
              "certificate-not-trusted", kNever, Fault::Local,
              "the chain ends at a root that is not in our trust store"},
    ClassInfo{CertificateSelfSigned, "certificate-self-signed", FailureGroup::Certificate,
              "certificate-not-trusted", kNever, Fault::Remote,
              "the server's own certificate is self-signed"},
    ClassInfo{CertificateWeak, "certificate-weak", FailureGroup::Certificate, "validation-failure",
              kNever, Fault::Remote,
              "key too small or signature digest too weak for our security level"},
    ClassInfo{CertificateRevoked, "certificate-revoked", FailureGroup::Certificate,
              "validation-failure", kNever, Fault::Remote, "a stapled OCSP response says revoked"},
    ClassInfo{CertificateInvalid, "certificate-invalid", FailureGroup::Certificate,
              "validation-failure", kNever, Fault::Remote, "any other verification failure"},
    ClassInfo{AuthFailed, "auth-failed", FailureGroup::Auth, "", kNever, Fault::Local,
              "the smarthost refused our credentials"},
    ClassInfo{AuthUnavailable, "auth-unavailable", FailureGroup::Auth, "", kNever, Fault::Remote,
              "credentials are configured but the server offers no usable AUTH mechanism"},
    ClassInfo{LocalConfig, "local-config", FailureGroup::Local, "", kNever, Fault::Local,
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

std::string_view to_string(FailureGroup g) {
  switch (g) {
    case FailureGroup::None:
      return "";
    case FailureGroup::Dns:
      return "dns";
    case FailureGroup::Network:
      return "network";
    case FailureGroup::Smtp:
      return "smtp";
    case FailureGroup::Starttls:
      return "starttls";
    case FailureGroup::Tls:
      return "tls";
    case FailureGroup::Certificate:
      return "certificate";
    case FailureGroup::Auth:
      return "auth";
    case FailureGroup::Local:
      return "local";
  }
  return "";
}

std::optional<FailureGroup> group_from_string(std::string_view name) {
  for (auto g :
       {FailureGroup::Dns, FailureGroup::Network, FailureGroup::Smtp, FailureGroup::Starttls,
        FailureGroup::Tls, FailureGroup::Certificate, FailureGroup::Auth, FailureGroup::Local}) {
    if (to_string(g) == name) return g;
  }
  return std::nullopt;
}

bool is_group_name(std::string_view name) {
  return group_from_string(name).has_value();
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
