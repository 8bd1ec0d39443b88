#include "proxy/explain/mta_shapes.hpp"

#include <algorithm>

#include "proxy/explain/openssl_reasons.hpp"

namespace tlsrelay::explain {

namespace {

using FC = FailureClass;
using EK = EventKind;
constexpr auto Out = Direction::Outbound;
constexpr auto In = Direction::Inbound;
constexpr std::uint8_t kPfAny = kPostfixClient | kPostfixServer;

// "Cannot start TLS: handshake failure" and its kin: what the log leaves open (docs/failures.md,
// "From the MTA's log line to the class").
#define TLSRELAY_HANDSHAKE_CLASSES                                                               \
  FC::TlsProtocolMismatch, FC::TlsNoSharedCipher, FC::TlsWeakParameters, FC::TlsSniRequired,     \
      FC::TlsClientCertificateRequired, FC::TlsAlert, FC::ConnectionClosed, FC::ConnectionReset, \
      FC::Timeout
#define TLSRELAY_CERTIFICATE_CLASSES                                                   \
  FC::CertificateChainIncomplete, FC::CertificateUntrusted, FC::CertificateSelfSigned, \
      FC::CertificateHostMismatch, FC::CertificateExpired, FC::CertificateNotYetValid, \
      FC::ClientClockSkew, FC::CertificateWeak, FC::CertificateRevoked, FC::CertificateInvalid

// Postfix 3.7: src/tls/tls_client.c (SSL_connect error, "%s TLS connection %s %s ..."),
// src/tls/tls_server.c (SSL_accept error), src/tls/tls_misc.c tls_print_errors() ("TLS
// library problem: %s:%s:%d:%s:"), src/tls/tls_verify.c tls_log_verify_error(),
// src/smtp/smtp_proto.c ("Cannot start TLS: handshake failure", "Server certificate not
// verified", "TLS is required, but ..."), src/smtp/smtp_trouble.c ("lost connection with %s
// while %s", "conversation with %s timed out while %s"), src/smtp/smtp_connect.c ("connect
// to %s[%s]:%d: %m"), src/dns/dns_lookup.c via smtp_addr.c ("Host or domain name not
// found. Name service error for name=%s type=%s: %s"), src/global/log_adhoc.c (the status
// lines), src/smtpd/smtpd.c ("%s after %s from %s").
// Exim 4.96: src/tls-openssl.c tls_error() "(%s): %s", src/transports/smtp.c write_logs()
// "H=%s [%s]:%d" + ": %s", "TLS session: %s", "Remote host closed connection in response to
// %s", src/deliver.c post_process_one() "== %s ... defer (%d): %s H=%s [%s]: %s"; Exim 4.8x's
// "TLS error on connection to %s [%s] (%s): %s".
// Sendmail 8.17: sendmail/deliver.c starttls() "STARTTLS=client, error: connect failed=%d,
// reason=%s, SSL_error=%d, errno=%d, retry=%d, relay=%.100s", sendmail/tls.c tls_get_info()
// "STARTTLS=%s, relay=%.100s, version=%.16s, verify=%.16s, cipher=%.64s, bits=%.6s/%.6s",
// tlslogerr() "STARTTLS=%s: %s", rscheck() "ruleset=%s, arg1=%s, relay=%s, reject=%s".
const Shape kShapes[] = {
    // --- Postfix, smtp(8)/lmtp(8) client --------------------------------------------------
    {"postfix-ssl-connect-error",
     Mta::Postfix,
     kPostfixClient,
     "SSL_connect error to {peer}: {detail}",
     EK::TlsFailure,
     Out,
     Reading::Reason,
     {FC::TlsError},
     "TLS handshake",
     Correlate::Opens},
    {"postfix-tls-library-problem",
     Mta::Postfix,
     kPfAny,
     "warning: TLS library problem: {detail}",
     EK::TlsFailure,
     Out,
     Reading::Reason,
     {FC::TlsError},
     "TLS handshake",
     Correlate::Continues},
    {"postfix-verify-failed",
     Mta::Postfix,
     kPostfixClient,
     "server certificate verification failed for {peer}: {detail}",
     EK::CertificateIssue,
     Out,
     Reading::Reason,
     {TLSRELAY_CERTIFICATE_CLASSES},
     "certificate"},
    {"postfix-verify-failed-untrusted",
     Mta::Postfix,
     kPostfixClient,
     "certificate verification failed for {peer}: {detail}",
     EK::CertificateIssue,
     Out,
     Reading::Reason,
     {TLSRELAY_CERTIFICATE_CLASSES},
     "certificate"},
    {"postfix-tls-established-to",
     Mta::Postfix,
     kPostfixClient,
     "{_} TLS connection established to {peer}: {detail}",
     EK::TlsEstablished,
     Out,
     Reading::None,
     {},
     "TLS handshake"},
    {"postfix-tls-established-from",
     Mta::Postfix,
     kPostfixServer,
     "{_} TLS connection established from {peer}: {detail}",
     EK::TlsEstablished,
     In,
     Reading::None,
     {},
     "TLS handshake"},
    {"postfix-cannot-start-tls",
     Mta::Postfix,
     kPostfixClient,
     "Cannot start TLS: handshake failure",
     EK::TlsFailure,
     Out,
     Reading::Fixed,
     {TLSRELAY_HANDSHAKE_CLASSES},
     "TLS handshake",
     Correlate::None,
     false,
     true},
    {"postfix-cert-not-verified",
     Mta::Postfix,
     kPostfixClient,
     "Server certificate not verified",
     EK::CertificateIssue,
     Out,
     Reading::Fixed,
     {TLSRELAY_CERTIFICATE_CLASSES},
     "certificate",
     Correlate::None,
     false,
     true},
    {"postfix-tls-not-offered",
     Mta::Postfix,
     kPostfixClient,
     "TLS is required, but was not offered by host {peer}",
     EK::NoStarttls,
     Out,
     Reading::Fixed,
     {FC::StarttlsNotOffered, FC::StarttlsStripped},
     "EHLO",
     Correlate::None,
     false,
     true},
    {"postfix-tls-refused",
     Mta::Postfix,
     kPostfixClient,
     "TLS is required, but host {peer} refused to start TLS: {detail}",
     EK::NoStarttls,
     Out,
     Reading::Fixed,
     {FC::StarttlsRejected},
     "STARTTLS",
     Correlate::None,
     false,
     true},
    {"postfix-lost-connection",
     Mta::Postfix,
     kPostfixClient,
     "lost connection with {peer} while {stage}",
     EK::LostConnection,
     Out,
     Reading::LostStage,
     {},
     "",
     Correlate::None,
     false,
     true},
    {"postfix-conversation-timeout",
     Mta::Postfix,
     kPostfixClient,
     "conversation with {peer} timed out while {stage}",
     EK::LostConnection,
     Out,
     Reading::TimeoutStage,
     {},
     "",
     Correlate::None,
     false,
     true},
    {"postfix-connect",
     Mta::Postfix,
     kPostfixClient,
     "connect to {peer}: {detail}",
     EK::ConnectFailure,
     Out,
     Reading::ConnectErrno,
     {},
     "connect",
     Correlate::None,
     false,
     true},
    {"postfix-host-not-found",
     Mta::Postfix,
     kPostfixClient,
     "Host or domain name not found. Name service error for name={host} type={_}: {detail}",
     EK::DnsFailure,
     Out,
     Reading::Dns,
     {},
     "dns",
     Correlate::None,
     false,
     true},
    {"postfix-name-service",
     Mta::Postfix,
     kPostfixClient,
     "Name service error for name={host} type={_}: {detail}",
     EK::DnsFailure,
     Out,
     Reading::Dns,
     {},
     "dns",
     Correlate::None,
     false,
     true},
    // src/smtp/smtp_addr.c with smtp_host_lookup = native: getaddrinfo()'s words (real, rig
    // dns-nxdomain-native).
    {"postfix-unable-to-look-up",
     Mta::Postfix,
     kPostfixClient,
     "unable to look up host {host}: {detail}",
     EK::DnsFailure,
     Out,
     Reading::Dns,
     {},
     "dns",
     Correlate::None,
     false,
     true},
    {"postfix-reply",
     Mta::Postfix,
     kPostfixClient,
     "host {peer} said: {detail}",
     EK::Deferred,
     Out,
     Reading::SmtpReply,
     {},
     "",
     Correlate::None,
     true,
     true},
    {"postfix-refused-to-talk",
     Mta::Postfix,
     kPostfixClient,
     "host {peer} refused to talk to me: {detail}",
     EK::Deferred,
     Out,
     Reading::RefusedToTalk,
     {},
     "banner",
     Correlate::None,
     true,
     true},
    {"postfix-sasl-failed",
     Mta::Postfix,
     kPostfixClient,
     "SASL authentication failed; server {peer} said: {detail}",
     EK::Deferred,
     Out,
     Reading::Fixed,
     {FC::AuthFailed},
     "auth",
     Correlate::None,
     true,
     true},
    {"postfix-sasl-no-mechanism",
     Mta::Postfix,
     kPostfixClient,
     "SASL authentication failed; cannot authenticate to server {peer}: {detail}",
     EK::Deferred,
     Out,
     Reading::Fixed,
     {FC::AuthUnavailable},
     "auth",
     Correlate::None,
     true,
     true},
    {"postfix-status",
     Mta::Postfix,
     kPostfixClient,
     "to=<{_}",
     EK::Deferred,
     Out,
     Reading::PostfixStatus,
     {},
     ""},

    // --- Postfix, smtpd(8) server: the peer failed against us -----------------------------
    {"postfix-ssl-accept-error",
     Mta::Postfix,
     kPostfixServer,
     "SSL_accept error from {peer}: {detail}",
     EK::TlsFailure,
     In,
     Reading::Reason,
     {FC::TlsError},
     "TLS handshake",
     Correlate::Opens},
    {"postfix-lost-after-starttls",
     Mta::Postfix,
     kPostfixServer,
     "lost connection after STARTTLS from {peer}",
     EK::LostConnection,
     In,
     Reading::Fixed,
     {FC::ConnectionClosed, FC::TlsAlert},
     "STARTTLS",
     Correlate::None,
     false,
     false,
     true},
    {"postfix-timeout-after-starttls",
     Mta::Postfix,
     kPostfixServer,
     "timeout after STARTTLS from {peer}",
     EK::LostConnection,
     In,
     Reading::Fixed,
     {FC::Timeout},
     "STARTTLS",
     Correlate::None,
     false,
     false,
     true},
    // src/smtpd/smtpd.c: "improper command pipelining after %s from %s: %s" with the bytes
    // that came too early. A client that speaks implicit TLS to a STARTTLS/plain port sends
    // its ClientHello first: a TLS handshake record, "\026\003" as Postfix escapes it (real,
    // rig inbound-implicit-tls-client). Any other early bytes are no TLS matter.
    {"postfix-improper-pipelining",
     Mta::Postfix,
     kPostfixServer,
     "improper command pipelining after {stage} from {peer}: {detail}",
     EK::TlsFailure,
     In,
     Reading::Pipelining,
     {FC::TlsModeMismatch},
     ""},

    // --- Exim 4 ---------------------------------------------------------------------------
    {"exim-tls-error-to",
     Mta::Exim,
     kExim,
     "TLS error on connection to {epeer} {detail}",
     EK::TlsFailure,
     Out,
     Reading::Reason,
     {FC::TlsError},
     "TLS handshake"},
    {"exim-tls-error-from",
     Mta::Exim,
     kExim,
     "TLS error on connection from {epeer} {detail}",
     EK::TlsFailure,
     In,
     Reading::Reason,
     {FC::TlsError},
     "TLS handshake"},
    // src/tls-gnu.c verify_certificate(): a failed host-name check (tls_verify_cert_hostnames)
    // goes to badcert with no error text, so tls_error() logs the bare prefix; every chain
    // failure says "certificate invalid" or "certificate revoked" after it (real, exim-4.96
    // wronghost.log).
    {"exim-tls-session-name",
     Mta::Exim,
     kExim,
     "H={epeer}: TLS session: (certificate verification failed)",
     EK::CertificateIssue,
     Out,
     Reading::Fixed,
     {FC::CertificateHostMismatch, FC::CertificateInvalid},
     "certificate"},
    // src/transports/smtp.c smtp_setup_conn(): hosts_require_tls and no STARTTLS in the EHLO
    // reply (ERRNO_TLSREQUIRED); 4.7x wrote "required for HOST [ADDR], but" (real, exim-4.96
    // starttls-not-offered.log, starttls-masked.log).
    {"exim-tls-required",
     Mta::Exim,
     kExim,
     "H={epeer}: a TLS session is required{_}, but the server did not offer TLS support",
     EK::NoStarttls,
     Out,
     Reading::Fixed,
     {FC::StarttlsNotOffered, FC::StarttlsStripped},
     "EHLO"},
    {"exim-tls-session",
     Mta::Exim,
     kExim,
     "H={epeer}: TLS session: {detail}",
     EK::TlsFailure,
     Out,
     Reading::Reason,
     {FC::TlsError},
     "TLS handshake"},
    {"exim-remote-closed",
     Mta::Exim,
     kExim,
     "H={epeer}: Remote host closed connection in response to {stage}",
     EK::LostConnection,
     Out,
     Reading::LostStage,
     {},
     ""},
    {"exim-smtp-timeout",
     Mta::Exim,
     kExim,
     "H={epeer}: SMTP timeout after {stage}",
     EK::LostConnection,
     Out,
     Reading::TimeoutStage,
     {},
     ""},
    {"exim-connect",
     Mta::Exim,
     kExim,
     "H={epeer} {detail}",
     EK::ConnectFailure,
     Out,
     Reading::ConnectErrno,
     {},
     "connect"},
    {"exim-reason-tls-session-name",
     Mta::Exim,
     kExim,
     "TLS session: (certificate verification failed)",
     EK::CertificateIssue,
     Out,
     Reading::Fixed,
     {FC::CertificateHostMismatch, FC::CertificateInvalid},
     "certificate",
     Correlate::None,
     true,
     true},
    {"exim-reason-tls-required",
     Mta::Exim,
     kExim,
     "a TLS session is required{_}, but the server did not offer TLS support",
     EK::NoStarttls,
     Out,
     Reading::Fixed,
     {FC::StarttlsNotOffered, FC::StarttlsStripped},
     "EHLO",
     Correlate::None,
     true,
     true},
    {"exim-reason-tls-session",
     Mta::Exim,
     kExim,
     "TLS session: {detail}",
     EK::TlsFailure,
     Out,
     Reading::Reason,
     {FC::TlsError},
     "TLS handshake",
     Correlate::None,
     true,
     true},
    {"exim-reason-remote-closed",
     Mta::Exim,
     kExim,
     "Remote host closed connection in response to {stage}",
     EK::LostConnection,
     Out,
     Reading::LostStage,
     {},
     "",
     Correlate::None,
     true,
     true},
    {"exim-reason-smtp-timeout",
     Mta::Exim,
     kExim,
     "SMTP timeout after {stage}",
     EK::LostConnection,
     Out,
     Reading::TimeoutStage,
     {},
     "",
     Correlate::None,
     true,
     true},
    {"exim-reason-lookup-failed",
     Mta::Exim,
     kExim,
     "all host address lookups failed permanently{_}",
     EK::DnsFailure,
     Out,
     Reading::Fixed,
     {FC::DnsNxdomain},
     "dns",
     Correlate::None,
     true,
     true},
    {"exim-reason-lookup-incomplete",
     Mta::Exim,
     kExim,
     "host lookup did not complete{_}",
     EK::DnsFailure,
     Out,
     Reading::Fixed,
     {FC::DnsFailure},
     "dns",
     Correlate::None,
     true,
     true},
    {"exim-reason-retry-time",
     Mta::Exim,
     kExim,
     "retry time not reached{_}",
     EK::Deferred,
     Out,
     Reading::None,
     {},
     "",
     Correlate::None,
     true,
     true},
    {"exim-reason-connect",
     Mta::Exim,
     kExim,
     "{detail}",
     EK::ConnectFailure,
     Out,
     Reading::ConnectErrno,
     {},
     "connect",
     Correlate::None,
     true,
     true},
    {"exim-delivery", Mta::Exim, kExim, "{_}", EK::Deferred, Out, Reading::EximDelivery, {}, ""},

    // --- Sendmail 8 -------------------------------------------------------------------------
    {"sendmail-connect-failed",
     Mta::Sendmail,
     kSendmail,
     "STARTTLS=client, error: connect failed={_}, reason={detail}, SSL_error={_}, relay={speer}",
     EK::TlsFailure,
     Out,
     Reading::Reason,
     {FC::TlsError},
     "TLS handshake",
     Correlate::Opens},
    {"sendmail-connect-failed-norelay",
     Mta::Sendmail,
     kSendmail,
     "STARTTLS=client, error: connect failed={_}, reason={detail}, SSL_error={_}",
     EK::TlsFailure,
     Out,
     Reading::Reason,
     {FC::TlsError},
     "TLS handshake",
     Correlate::Opens},
    {"sendmail-library-client",
     Mta::Sendmail,
     kSendmail,
     "STARTTLS=client: {detail}",
     EK::TlsFailure,
     Out,
     Reading::Reason,
     {FC::TlsError},
     "TLS handshake",
     Correlate::Continues},
    {"sendmail-accept-failed",
     Mta::Sendmail,
     kSendmail,
     "STARTTLS=server, error: accept failed={_}, reason={detail}, SSL_error={_}, relay={speer}",
     EK::TlsFailure,
     In,
     Reading::Reason,
     {FC::TlsError},
     "TLS handshake",
     Correlate::Opens},
    {"sendmail-accept-failed-norelay",
     Mta::Sendmail,
     kSendmail,
     "STARTTLS=server, error: accept failed={_}, reason={detail}, SSL_error={_}",
     EK::TlsFailure,
     In,
     Reading::Reason,
     {FC::TlsError},
     "TLS handshake",
     Correlate::Opens},
    {"sendmail-library-server",
     Mta::Sendmail,
     kSendmail,
     "STARTTLS=server: {detail}",
     EK::TlsFailure,
     In,
     Reading::Reason,
     {FC::TlsError},
     "TLS handshake",
     Correlate::Continues},
    {"sendmail-verify",
     Mta::Sendmail,
     kSendmail,
     "STARTTLS=client, relay={speer}, version={_}, verify={detail}, cipher={_}",
     EK::TlsEstablished,
     Out,
     Reading::SendmailVerify,
     {},
     "certificate"},
    {"sendmail-verifymsg",
     Mta::Sendmail,
     kSendmail,
     "STARTTLS=client, cert-subject={_}, verifymsg={detail}",
     EK::CertificateIssue,
     Out,
     Reading::Reason,
     {TLSRELAY_CERTIFICATE_CLASSES},
     "certificate"},
    {"sendmail-tls-server",
     Mta::Sendmail,
     kSendmail,
     "ruleset=tls_server, arg1={detail}, relay={speer}, reject={_}",
     EK::TlsFailure,
     Out,
     Reading::SendmailArg1,
     {},
     "TLS handshake"},
    {"sendmail-reason-handshake",
     Mta::Sendmail,
     kSendmail,
     "{_}TLS handshake failed{_}",
     EK::TlsFailure,
     Out,
     Reading::Fixed,
     {TLSRELAY_HANDSHAKE_CLASSES},
     "TLS handshake",
     Correlate::None,
     true,
     true},
    {"sendmail-reason-dns-timeout",
     Mta::Sendmail,
     kSendmail,
     "Name server timeout{_}",
     EK::DnsFailure,
     Out,
     Reading::Fixed,
     {FC::DnsFailure},
     "dns",
     Correlate::None,
     true,
     true},
    {"sendmail-reason-host-unknown",
     Mta::Sendmail,
     kSendmail,
     "Host unknown{_}",
     EK::DnsFailure,
     Out,
     Reading::Fixed,
     {FC::DnsNxdomain},
     "dns",
     Correlate::None,
     true,
     true},
    {"sendmail-reason-connect",
     Mta::Sendmail,
     kSendmail,
     "{detail}",
     EK::ConnectFailure,
     Out,
     Reading::ConnectErrno,
     {},
     "connect",
     Correlate::None,
     true,
     true},
    {"sendmail-status",
     Mta::Sendmail,
     kSendmail,
     "to={_}",
     EK::Deferred,
     Out,
     Reading::SendmailStatus,
     {},
     ""},
};

#undef TLSRELAY_HANDSHAKE_CLASSES
#undef TLSRELAY_CERTIFICATE_CLASSES

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}
bool contains(std::string_view s, std::string_view p) {
  return s.find(p) != std::string_view::npos;
}

bool is_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool parse_port(std::string_view digits, std::uint16_t& port) {
  if (digits.empty() || digits.size() > 5) return false;
  unsigned v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535) return false;
  port = static_cast<std::uint16_t>(v);
  return true;
}

// "name[addr]" / "name [addr]" (space says which), then ":port" if digits follow. Returns
// how much of `s` it took, 0 when `s` does not start with one.
std::size_t take_bracket_peer(std::string_view s, bool spaced, Recognised& r) {
  const auto open = s.find('[');
  if (open == std::string_view::npos || open == 0 || open > 260) return 0;
  std::string_view name = s.substr(0, open);
  if (spaced) {
    if (name.back() != ' ') return 0;
    name.remove_suffix(1);
    // Exim's sender_fullhost: "name (helo) [addr]"; the name is the first word.
    name = name.substr(0, name.find(' '));
  }
  if (name.empty() || contains(name, "]") || (!spaced && contains(name, " "))) return 0;
  const auto close = s.find(']', open);
  if (close == std::string_view::npos || close - open > 64 || close == open + 1) return 0;
  const std::string_view addr = s.substr(open + 1, close - open - 1);
  for (char c : addr) {
    if (!(is_alnum(c) || c == '.' || c == ':' || c == '%' || c == '-' || c == '_')) return 0;
  }
  std::size_t end = close + 1;
  std::uint16_t port = 0;
  if (end < s.size() && s[end] == ':') {
    std::size_t d = end + 1;
    while (d < s.size() && d - end <= 6 && s[d] >= '0' && s[d] <= '9') ++d;
    if (d > end + 1 && parse_port(s.substr(end + 1, d - end - 1), port)) end = d;
  }
  r.host = name;
  r.address = addr;
  r.port = port;
  return end;
}

// Sendmail's relay: "name", "name. [addr]", "[addr]", "name [addr] (may be forged)".
bool parse_sendmail_relay(std::string_view v, Recognised& r) {
  if (v.empty() || v.size() > 300) return false;
  const auto open = v.find('[');
  std::string_view name = v;
  if (open != std::string_view::npos) {
    const auto close = v.find(']', open);
    if (close == std::string_view::npos) return false;
    r.address = v.substr(open + 1, close - open - 1);
    name = v.substr(0, open);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
  }
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  r.host = name.empty() ? r.address : name;
  return !r.host.empty() && !contains(r.host, " ");
}

bool match_pattern(std::string_view pat, std::string_view text, Recognised& r) {
  std::size_t p = 0;
  std::size_t t = 0;
  while (p < pat.size()) {
    if (pat[p] != '{') {
      std::size_t lit_end = pat.find('{', p);
      if (lit_end == std::string_view::npos) lit_end = pat.size();
      const std::string_view lit = pat.substr(p, lit_end - p);
      if (text.substr(t, lit.size()) != lit) return false;
      t += lit.size();
      p = lit_end;
      continue;
    }
    const std::size_t close = pat.find('}', p);
    const std::string_view name = pat.substr(p + 1, close - p - 1);
    p = close + 1;
    if (name == "peer" || name == "epeer") {
      const std::size_t n = take_bracket_peer(text.substr(t), name == "epeer", r);
      if (n == 0) return false;
      t += n;
      continue;
    }
    std::size_t lit_end = pat.find('{', p);
    if (lit_end == std::string_view::npos) lit_end = pat.size();
    const std::string_view next = pat.substr(p, lit_end - p);
    std::size_t end = text.size();
    if (!next.empty()) {
      end = text.find(next, t);
      if (end == std::string_view::npos) return false;
    } else if (p < pat.size()) {
      return false;  // two placeholders in a row: not a pattern we write
    }
    const std::string_view value = text.substr(t, end - t);
    t = end;
    if (name == "detail") {
      r.detail = value;
    } else if (name == "stage") {
      r.stage = value;
    } else if (name == "host") {
      if (value.empty() || contains(value, " ")) return false;
      r.host = value;
    } else if (name == "speer") {
      if (!parse_sendmail_relay(value, r)) return false;
    }
  }
  return t == text.size();
}

void append(std::vector<FailureClass>& out, std::initializer_list<FailureClass> l) {
  out.insert(out.end(), l.begin(), l.end());
}

std::vector<FailureClass> connect_errno(std::string_view d) {
  if (contains(d, "Connection refused")) return {FC::ConnectRefused};
  if (contains(d, "timed out")) return {FC::ConnectTimeout};
  if (contains(d, "Network is unreachable") || contains(d, "No route to host") ||
      contains(d, "Permission denied") || contains(d, "Host is unreachable")) {
    return {FC::NetworkUnreachable};
  }
  return {};
}

// Postfix's stage words (src/smtp/smtp_proto.c xfer_states) and Exim's commands.
std::string_view short_stage(std::string_view s) {
  for (std::string_view p : {"performing the ", "receiving the ", "sending the ", "sending "}) {
    if (starts_with(s, p)) return s.substr(p.size());
  }
  return s;
}

std::vector<FailureClass> stage_classes(std::string_view stage, bool timeout) {
  // Exim names the greeting "initial connection" (src/transports/smtp.c).
  if (contains(stage, "greeting") || contains(stage, "banner") ||
      contains(stage, "initial connection")) {
    // No complete reply came, so nothing was rejected. Silence is a silent server, or one
    // that waits for our ClientHello (implicit TLS); Postfix and Exim skip a line that is
    // not an SMTP reply (an SSH banner) and time out the same way.
    return timeout ? std::vector<FailureClass>{FC::Timeout, FC::TlsModeMismatch, FC::NotSmtp}
                   : std::vector<FailureClass>{FC::TlsModeMismatch, FC::ConnectionClosed,
                                               FC::BannerRejected};
  }
  if (contains(stage, "EHLO") || contains(stage, "HELO") || contains(stage, "LHLO")) {
    return timeout ? std::vector<FailureClass>{FC::Timeout}
                   : std::vector<FailureClass>{FC::TlsClientCertificateRequired,
                                               FC::ConnectionClosed, FC::EhloRejected};
  }
  if (contains(stage, "STARTTLS")) {
    return timeout ? std::vector<FailureClass>{FC::Timeout}
                   : std::vector<FailureClass>{FC::ConnectionClosed, FC::StarttlsRejected};
  }
  return {timeout ? FC::Timeout : FC::ConnectionClosed};
}

std::vector<FailureClass> smtp_reply_classes(std::string_view d) {
  if (contains(d, "in reply to STARTTLS")) return {FC::StarttlsRejected};
  if (contains(d, "in reply to EHLO") || contains(d, "in reply to HELO") ||
      contains(d, "in reply to LHLO")) {
    return {FC::EhloRejected};
  }
  return {};  // a reply to MAIL, RCPT or DATA: not the route's fault
}

// Postfix 3.7 src/smtp/smtp_proto.c smtp_helo() writes "refused to talk to me" for a
// non-2xx greeting, a 421 to EHLO (any other EHLO refusal falls back to HELO) and a non-2xx
// to HELO: the words do not say which. A 5xx can only be the greeting when
// smtp_skip_5xx_greeting = no (its default, yes, turns the DSN into 4.X.X, which
// postfix_status() reads); the 4xx may be either.
std::vector<FailureClass> refused_to_talk_classes(std::string_view reply) {
  if (starts_with(reply, "5")) return {FC::EhloRejected, FC::BannerRejected};
  return {FC::BannerRejected, FC::EhloRejected};
}

bool in_reason(std::uint8_t programs, std::string_view reason, Recognised& r);

// Postfix 3.7 src/global/log_adhoc.c: "QUEUEID: to=<%s>, orig_to=<%s>, relay=%s, ...,
// dsn=%s, status=%s (%s)". The recipient is attacker-chosen: it is read as Postfix quotes it
// (quote_822_local: a '>' only inside "..."), so a forged ", relay=" inside it is skipped.
bool postfix_status(std::string_view m, Recognised& r) {
  auto skip_address = [](std::string_view s, std::size_t at) -> std::size_t {
    bool quoted = false;
    for (std::size_t i = at; i < s.size(); ++i) {
      if (quoted && s[i] == '\\') {
        ++i;
      } else if (s[i] == '"') {
        quoted = !quoted;
      } else if (!quoted && s[i] == '>') {
        return i + 1;
      }
    }
    return std::string_view::npos;
  };
  std::size_t at = skip_address(m, 4);  // after "to=<"
  if (at == std::string_view::npos) return false;
  if (starts_with(m.substr(at), ", orig_to=<")) {
    at = skip_address(m, at + 11);
    if (at == std::string_view::npos) return false;
  }
  if (!starts_with(m.substr(at), ", relay=")) return false;
  at += 8;
  const std::size_t relay_end = m.find(", ", at);
  if (relay_end == std::string_view::npos) return false;
  const std::string_view relay = m.substr(at, relay_end - at);
  if (relay != "none" && take_bracket_peer(relay, false, r) != relay.size()) {
    // "relay=local", "relay=private/dovecot-lmtp": not a TCP route.
    r.host = relay;
  }
  const std::size_t st = m.find(", status=", relay_end);
  if (st == std::string_view::npos) return false;
  std::string_view rest = m.substr(st + 9);
  const std::size_t sp = rest.find(' ');
  const std::string_view status = rest.substr(0, sp);
  if (status == "deferred") {
    r.kind = EK::Deferred;
  } else if (status == "bounced") {
    r.kind = EK::Bounced;
  } else if (status == "sent") {
    r.kind = EK::Sent;
  } else {
    return false;
  }
  std::string_view reason = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
  if (starts_with(reason, "(") && reason.back() == ')')
    reason = reason.substr(1, reason.size() - 2);
  r.detail = reason;
  if (r.kind == EK::Sent) return true;
  while (starts_with(reason, "delivery temporarily suspended: ")) reason.remove_prefix(32);
  Recognised inner;
  if (in_reason(kPostfixClient, reason, inner)) {
    r.candidates = std::move(inner.candidates);
    r.stage = inner.stage;
    if (inner.shape->reading == Reading::RefusedToTalk) {
      // A 5xx reply logged with a 4.X.X DSN: smtp_skip_5xx_greeting rewrote it, which
      // smtp_helo() does for the greeting only (real, rig banner-554: "dsn=4.7.1 ...
      // refused to talk to me: 554 5.7.1").
      if (starts_with(inner.detail, "5") && contains(m.substr(0, st), ", dsn=4.")) {
        r.candidates = {FC::BannerRejected};
        r.stage = "banner";
      }
    }
    if (relay == "none" && !inner.host.empty()) {
      r.host = inner.host;
      r.address = inner.address;
      r.port = inner.port;
    }
  }
  return true;
}

// Exim 4.96 src/deliver.c: "== addr R=r T=t defer (errno)[: strerror][ H=host [addr][:port]]
// [: message]", "** addr ...: message", "=> addr ... H=host [addr] X=... C=...".
bool exim_delivery(std::string_view m, Recognised& r) {
  EventKind kind;
  if (starts_with(m, "== ")) {
    kind = EK::Deferred;
  } else if (starts_with(m, "** ")) {
    kind = EK::Bounced;
  } else if (starts_with(m, "=> ") || starts_with(m, "-> ")) {
    kind = EK::Sent;
  } else {
    return false;
  }
  r.kind = kind;
  std::string_view reason;
  const std::size_t h = m.find(" H=");
  const std::string_view head = m.substr(0, h);
  if (h != std::string_view::npos) {
    const std::size_t n = take_bracket_peer(m.substr(h + 3), true, r);
    if (n == 0) return false;
    const std::string_view after = m.substr(h + 3 + n);
    if (starts_with(after, ": ")) reason = after.substr(2);
  }
  if (kind == EK::Sent) return h != std::string_view::npos;
  // The errno's words come before H=: "defer (111): Connection refused".
  std::string_view errno_text;
  if (kind == EK::Deferred) {
    const std::size_t d = head.find(" defer (");
    if (d == std::string_view::npos) return false;
    if (const std::size_t c = head.find("): ", d); c != std::string_view::npos) {
      errno_text = head.substr(c + 3);
    }
  } else if (const std::size_t c = head.find(": "); c != std::string_view::npos) {
    errno_text = head.substr(c + 2);
  }
  r.detail = reason.empty() ? errno_text : reason;
  Recognised inner;
  if ((!reason.empty() && in_reason(kExim, reason, inner)) ||
      (!errno_text.empty() && in_reason(kExim, errno_text, inner))) {
    r.candidates = std::move(inner.candidates);
    r.stage = inner.stage;
  }
  return true;
}

// Sendmail 8.17 sendmail/deliver.c logdelivery(): "to=%s, ..., relay=%s, dsn=%s, stat=%s".
bool sendmail_status(std::string_view m, Recognised& r) {
  const std::size_t st = m.find(", stat=");
  if (st == std::string_view::npos) return false;
  const std::string_view head = m.substr(0, st);
  const std::string_view stat = m.substr(st + 7);
  const std::size_t rel = head.rfind(", relay=");
  if (rel != std::string_view::npos) {
    std::string_view relay = head.substr(rel + 8);
    relay = relay.substr(0, relay.find(", "));
    if (!parse_sendmail_relay(relay, r)) return false;
  }
  r.detail = stat;
  if (starts_with(stat, "Sent")) {
    r.kind = EK::Sent;
    return true;
  }
  std::string_view reason = stat;
  if (starts_with(stat, "Deferred")) {
    r.kind = EK::Deferred;
    reason.remove_prefix(8);
    if (starts_with(reason, ": ")) reason.remove_prefix(2);
  } else if (contains(head, ", dsn=5.")) {
    r.kind = EK::Bounced;
  } else {
    return false;
  }
  Recognised inner;
  if (in_reason(kSendmail, reason, inner)) {
    r.candidates = std::move(inner.candidates);
    r.stage = inner.stage;
  }
  return true;
}

// Reads a matched row's classes; false when the row's reading refuses the line.
bool read_classes(const Shape& s, std::string_view message, Recognised& r) {
  r.kind = s.kind;
  r.direction = s.direction;
  if (r.stage.empty()) {
    r.stage = s.stage;
  } else {
    r.stage = short_stage(r.stage);
  }
  switch (s.reading) {
    case Reading::Fixed:
      append(r.candidates, s.candidates);
      return true;
    case Reading::None:
      return true;
    case Reading::Reason: {
      r.candidates = reason_candidates(r.detail);
      if (r.candidates.empty()) append(r.candidates, s.candidates);
      return true;
    }
    case Reading::ConnectErrno:
      r.candidates = connect_errno(r.detail);
      return !r.candidates.empty();
    case Reading::Dns:
      if (contains(r.detail, "try again") || contains(r.detail, "Malformed")) {
        r.candidates = {FC::DnsFailure};
      } else if (contains(r.detail, "Host not found") ||
                 contains(r.detail, "Name or service not known")) {
        r.candidates = {FC::DnsNxdomain};
      } else {
        r.candidates = {FC::DnsFailure, FC::DnsNxdomain};
      }
      return true;
    case Reading::LostStage:
      r.candidates = stage_classes(r.stage, false);
      return true;
    case Reading::TimeoutStage:
      r.candidates = stage_classes(r.stage, true);
      return true;
    case Reading::SmtpReply:
      r.candidates = smtp_reply_classes(r.detail);
      return true;
    case Reading::RefusedToTalk:
      r.candidates = refused_to_talk_classes(r.detail);
      r.stage = r.candidates.front() == FC::EhloRejected ? "EHLO" : "banner";
      return true;
    case Reading::Pipelining:
      if (!starts_with(r.detail, "\\026\\003")) return false;
      append(r.candidates, s.candidates);
      return true;
    case Reading::SendmailVerify: {
      const std::string_view v = r.detail;
      if (v == "FAIL") {
        r.kind = EK::CertificateIssue;
        append(r.candidates,
               {FC::CertificateChainIncomplete, FC::CertificateUntrusted, FC::CertificateSelfSigned,
                FC::CertificateHostMismatch, FC::CertificateExpired, FC::CertificateNotYetValid,
                FC::ClientClockSkew, FC::CertificateWeak, FC::CertificateRevoked,
                FC::CertificateInvalid});
      }
      return v == "OK" || v == "FAIL" || v == "NO" || v == "NONE" || v == "NOT" || v == "TRUSTED" ||
             v == "DANE_PASS" || v == "DANE_FAIL";
    }
    case Reading::SendmailArg1: {
      const std::string_view a = r.detail;
      if (a == "FAIL") {
        r.kind = EK::CertificateIssue;
        r.stage = "certificate";
        append(r.candidates,
               {FC::CertificateChainIncomplete, FC::CertificateUntrusted, FC::CertificateSelfSigned,
                FC::CertificateExpired, FC::CertificateNotYetValid, FC::ClientClockSkew,
                FC::CertificateHostMismatch, FC::CertificateWeak, FC::CertificateRevoked,
                FC::CertificateInvalid});
      } else if (a == "NO" || a == "NONE") {
        r.kind = EK::NoStarttls;
        r.stage = "EHLO";
        append(r.candidates, {FC::StarttlsNotOffered, FC::StarttlsStripped});
      } else if (a == "SOFTWARE" || a == "PROTOCOL" || a == "TEMP") {
        append(r.candidates, {FC::TlsProtocolMismatch, FC::TlsNoSharedCipher, FC::TlsWeakParameters,
                              FC::TlsSniRequired, FC::TlsClientCertificateRequired, FC::TlsAlert,
                              FC::ConnectionClosed, FC::ConnectionReset, FC::Timeout});
      } else {
        return false;
      }
      return true;
    }
    case Reading::PostfixStatus:
      return postfix_status(message, r);
    case Reading::EximDelivery:
      return exim_delivery(message, r);
    case Reading::SendmailStatus:
      return sendmail_status(message, r);
  }
  return false;
}

bool try_rows(std::uint8_t programs, std::string_view message, bool reason, Recognised& out) {
  for (const Shape* s = shapes_begin(); s != shapes_end(); ++s) {
    if ((s->programs & programs) == 0) continue;
    if (reason ? !s->in_reason : s->reason_only) continue;
    Recognised r;
    if (!match_pattern(s->pattern, message, r)) continue;
    r.shape = s;
    if (!read_classes(*s, message, r)) continue;
    out = std::move(r);
    return true;
  }
  return false;
}

bool in_reason(std::uint8_t programs, std::string_view reason, Recognised& r) {
  return try_rows(programs, reason, true, r);
}

// Postfix: "3F1A2B4C5D: " (hex) or a long queue id (no vowels, src/global/mail_queue.h);
// Sendmail: "4B7Hn3J1012345: "; "NOQUEUE: " for neither. Exim: "1tJabc-000Abc-Xy " (4.96)
// or "1tJabc-00000000Ab-XyZw " (4.97).
std::string_view take_queue_id(std::uint8_t programs, std::string_view& m) {
  if (programs & kExim) {
    std::size_t sp = m.find(' ');
    if (sp != 16 && sp != 23) return {};
    const std::string_view id = m.substr(0, sp);
    if (id[6] != '-' || id[sp - (sp == 16 ? 3 : 5)] != '-') return {};
    m.remove_prefix(sp + 1);
    return id;
  }
  std::size_t n = 0;
  bool vowel = false;
  bool hex = true;
  while (n < m.size() && n <= 20 && is_alnum(m[n])) {
    const char c = m[n];
    if (std::string_view("aeiouAEIOU").find(c) != std::string_view::npos) vowel = true;
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) hex = false;
    ++n;
  }
  if (n < 6 || n > 20 || n + 1 >= m.size() || m[n] != ':' || m[n + 1] != ' ') return {};
  const std::string_view id = m.substr(0, n);
  if (id == "NOQUEUE") {
    m.remove_prefix(n + 2);
    return {};
  }
  if ((programs & kSendmail) == 0 && vowel && !hex) return {};  // "warning: ", "fatal: "
  if ((programs & kSendmail) && n < 8) return {};
  m.remove_prefix(n + 2);
  return id;
}

}  // namespace

const Shape* shapes_begin() {
  return kShapes;
}
const Shape* shapes_end() {
  return kShapes + sizeof(kShapes) / sizeof(kShapes[0]);
}

std::uint8_t classify_program(std::string_view p) {
  const std::size_t slash = p.rfind('/');
  if (slash != std::string_view::npos) {
    if (!contains(p.substr(0, slash), "postfix")) return kNotMta;
    const std::string_view daemon = p.substr(slash + 1);
    if (daemon == "smtp" || daemon == "lmtp") return kPostfixClient;
    if (daemon == "smtpd") return kPostfixServer;
    if (daemon == "tlsproxy") return kPostfixClient | kPostfixServer;
    return kNotMta;
  }
  if (starts_with(p, "exim")) return kExim;
  if (p == "sm-mta" || p == "sendmail" || p == "sm-msp-queue") return kSendmail;
  return kNotMta;
}

std::vector<FailureClass> reason_candidates(std::string_view detail) {
  std::vector<FailureClass> out;
  if (const ReasonRow* row = match_reason(detail)) append(out, row->candidates);
  return out;
}

bool recognise(std::uint8_t programs, std::string_view message, Recognised& out) {
  if (programs == kNotMta || message.empty()) return false;
  // One cheap look at the first byte before any row: most MTA lines are "connect from",
  // "disconnect from", "QUEUEID: client=", which no row wants.
  std::string_view m = message;
  const std::string_view qid = take_queue_id(programs, m);
  if (m.empty()) return false;
  if (!try_rows(programs, m, false, out)) return false;
  out.queue_id = qid;
  // Port 465 is implicit TLS (RFC 8314 section 3.3): where the log leaves the mode mismatch
  // among other causes (a greeting that never came), it is the likely one there.
  constexpr std::uint16_t kSubmissions = 465;
  if (out.port == kSubmissions) {
    auto it = std::find(out.candidates.begin(), out.candidates.end(), FC::TlsModeMismatch);
    if (it != out.candidates.end()) std::rotate(out.candidates.begin(), it, it + 1);
  }
  return true;
}

}  // namespace tlsrelay::explain
