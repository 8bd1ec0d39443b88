#include "tls/classifier.hpp"

#include "common/time_format.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <optional>

#include "tls/client_context.hpp"
#include "tls/openssl_names.hpp"
#include "common/text.hpp"

namespace tlsrelay::tls {
namespace {

using enum FailureClass;

// ---- small fact readers -------------------------------------------------------------------

std::string where(const AttemptFacts& f) {
  std::string s = f.upstream.host;
  if (!f.network.address.empty() && f.network.address != f.upstream.host) {
    s += "[" + f.network.address + "]";
  }
  return s + ":" + std::to_string(f.upstream.port);
}


bool contains(const std::vector<int>& v, int x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::optional<int> first_alert_received(const AttemptFacts& f) {
  for (int a : f.tls.alert_codes_received) {
    if (a != alert::kCloseNotify) return a;
  }
  // Fall back on OpenSSL's record of it: reason = SSL_AD_REASON_OFFSET + description.
  for (unsigned long e : f.tls.openssl_error_codes) {
    int reason = ERR_GET_REASON(e);
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && reason > SSL_AD_REASON_OFFSET &&
        reason < SSL_AD_REASON_OFFSET + 256) {
      return reason - SSL_AD_REASON_OFFSET;
    }
  }
  return std::nullopt;
}

bool ssl_reason(const AttemptFacts& f, int reason) {
  for (unsigned long e : f.tls.openssl_error_codes) {
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == reason) return true;
  }
  return false;
}

std::string openssl_detail(const AttemptFacts& f) {
  if (f.tls.openssl_errors.empty()) return "no OpenSSL error queued";
  return join(f.tls.openssl_errors, "; ");
}

bool reply_is_transient(const AttemptFacts& f) {
  return f.smtp.last_reply && f.smtp.last_reply->transient_failure();
}

std::string quoted_reply(const AttemptFacts& f) {
  if (!f.smtp.last_reply) return "(no reply)";
  return "\"" + printable(f.smtp.last_reply->joined(), 200) + "\"";
}

// Detail and hint go on into our replies, JSON records, /status and log lines, so every piece
// of peer text in them (a reply, a certificate's name, an EHLO keyword) is quoted through
// printable() where it is put in, once; fuzz/classifier_fuzz.cpp checks that none is raw (it
// found certificate names that were).
Verdict make(FailureClass c, Phase p, std::string detail, std::string hint) {
  Verdict v;
  v.cls = c;
  v.phase = p;
  v.detail = std::move(detail);
  v.hint = std::move(hint);
  v.transient = info(c).transience == Transience::Always;
  return v;
}

// ---- network ------------------------------------------------------------------------------

std::string flight_detail(const AttemptFacts& f) {
  if (f.phase != Phase::TlsHandshake) {
    return std::to_string(f.network.bytes_received_in_phase) + " bytes received in " +
           std::string(to_string(f.phase));
  }
  if (f.tls.bytes_received == 0) return "0 bytes of the server's reply after our ClientHello";
  return std::to_string(f.tls.bytes_received) +
         " bytes of the server's handshake arrived, then nothing";
}

Verdict classify_network(const AttemptFacts& f) {
  const int e = f.network.errno_value;
  const std::string at = where(f);
  const std::string phase(to_string(f.phase));
  if (f.phase == Phase::Connect) {
    if (f.ending == Ending::TimedOut || e == ETIMEDOUT) {
      return make(ConnectTimeout, Phase::Connect,
                  "no answer to SYN from " + at + " within " + format_seconds(f.phase_timeout_s),
                  "nothing answered " + at +
                      ": a firewall silently drops the traffic (many networks block outbound "
                      "port 25; try 587 or 465), or the host is down; check with `nc -vz " +
                      f.network.address + " " + std::to_string(f.upstream.port) + "`");
    }
    if (e == ECONNREFUSED) {
      return make(ConnectRefused, Phase::Connect, "TCP reset to our SYN from " + at,
                  "nothing listens on " + at +
                      ", or a firewall rejects with a reset; check the port (587 for "
                      "STARTTLS, 465 for implicit TLS, 25) and that the server runs");
    }
    if (e == ECONNRESET || e == ECONNABORTED || e == EPIPE) {
      // The handshake completed and the reset came before we saw it complete: the listener
      // took the connection and dropped it at once (not a routing problem).
      return make(ConnectionReset, Phase::Connect,
                  errno_name(e) + " right after connecting to " + at,
                  at + " accepted the connection and reset it at once: the server may limit "
                       "connections (per client or in total) or be shutting down, or a "
                       "firewall resets it");
    }
    return make(NetworkUnreachable, Phase::Connect, errno_name(e) + " connecting to " + at,
                "no route to " + f.network.address + " (" + errno_name(e) +
                    "): check routing and IPv6 connectivity (`ip route get " + f.network.address +
                    "`), or a firewall answering with ICMP unreachable");
  }
  if (f.ending == Ending::TimedOut || e == ETIMEDOUT) {
    std::string hint;
    if (f.phase == Phase::TlsHandshake && f.tls.bytes_received > 0) {
      hint = "the server's handshake stopped after " + std::to_string(f.tls.bytes_received) +
             " bytes: the signature of a path-MTU black hole (large packets dropped, ICMP "
             "'fragmentation needed' filtered); check the MTU/MSS on the path (`ip link`, "
             "`tracepath " +
             f.network.address + "`, MSS clamping)";
    } else if (f.phase == Phase::TlsHandshake) {
      hint =
          "the server sent nothing after our ClientHello: a middlebox that stalls TLS, "
          "or a server that does not speak TLS on this port; try `openssl s_client "
          "-starttls smtp -connect " +
          f.network.address + ":" + std::to_string(f.upstream.port) + " -servername " +
          f.upstream.host + "`";
    } else if (f.phase == Phase::Banner) {
      hint = "connected, but " + at +
             " sent no SMTP greeting: an overloaded server, a "
             "tarpit, or a port that expects implicit TLS or another protocol";
    } else {
      hint = "the server stopped answering during " + phase +
             "; it may be overloaded, or a middlebox interferes";
    }
    return make(Timeout, f.phase,
                "no answer within " + format_seconds(f.phase_timeout_s) + " during " + phase +
                    "; " + flight_detail(f),
                hint);
  }
  if (e == ECONNRESET || e == EPIPE || e == ECONNABORTED || e != 0) {
    std::string hint = f.phase == Phase::TlsHandshake
                           ? "the connection was reset during the TLS handshake: a firewall or "
                             "IPS that inspects TLS, or a server that refuses our TLS offer"
                           : "the server or a middlebox reset the connection during " + phase;
    return make(
        ConnectionReset, f.phase,
        (e ? errno_name(e) : std::string("reset")) + " during " + phase + "; " + flight_detail(f),
        hint);
  }
  std::string hint = f.phase == Phase::TlsHandshake
                         ? "the server closed the connection during the TLS handshake without "
                           "an alert: it may not like our ClientHello (versions, SNI), or a "
                           "middlebox cut it"
                         : "the server closed the connection during " + phase +
                               " without a reply; it may be overloaded or limit connections";
  return make(ConnectionClosed, f.phase, "EOF during " + phase + "; " + flight_detail(f), hint);
}

// Gmail and Microsoft 365 say precisely why a login failed; the enhanced code carries it.
std::string auth_failed_hint(const Reply& r) {
  const std::string said = "\"" + printable(r.joined(), 160) + "\"";
  if (r.enhanced == "5.7.9" || r.enhanced == "5.7.14") {
    return "the server wants an app password or a browser sign-in (" + said +
           "): for Gmail create an app password (2-step verification) or use XOAUTH2";
  }
  if (r.code == 454 || r.enhanced == "4.7.0") {
    return "the server refuses logins for now (" + said +
           "): too many attempts or a temporary block; back off and check the credentials";
  }
  if (r.code == 530 || r.code == 538) {
    return "the server refuses AUTH on this connection (" + said + ")";
  }
  return "the server rejected our user name or password (" + said +
         "): check auth_user and the password file; for Gmail use an app password";
}

// ---- SMTP ---------------------------------------------------------------------------------

// A middlebox that "inspects" ESMTP (Cisco PIX/ASA fixup) overwrites STARTTLS with X's
// (XXXXXXXA) and may mask the greeting with asterisks.
std::optional<std::string> masked_starttls(const AttemptFacts& f) {
  for (const auto& ext : f.smtp.extensions) {
    std::string kw = ext.substr(0, ext.find(' '));
    if (kw.size() != 8) continue;
    auto xs = std::count(kw.begin(), kw.end(), 'X') + std::count(kw.begin(), kw.end(), 'x');
    if (xs >= 6 && !iequals(kw, "STARTTLS")) return kw;
  }
  return std::nullopt;
}

bool banner_masked(const AttemptFacts& f) {
  if (!f.smtp.banner || f.smtp.banner->lines.empty()) return false;
  const std::string& t = f.smtp.banner->lines.front();
  auto stars = std::count(t.begin(), t.end(), '*');
  return stars >= 8 && stars * 2 >= static_cast<long>(t.size());
}

Verdict with_reply_transience(Verdict v, const AttemptFacts& f) {
  v.transient = reply_is_transient(f);
  return v;
}

Verdict classify_smtp(const AttemptFacts& f) {
  const std::string at = where(f);
  switch (f.ending) {
    case Ending::NotSmtp:
      if (f.phase == Phase::Banner && looks_like_tls_record(f.smtp.unparsed)) {
        return make(TlsModeMismatch, Phase::Banner, "the greeting is a TLS record, not SMTP",
                    at + " speaks implicit TLS (as on port 465); set tls = implicit");
      }
      if (!f.smtp.limit_exceeded.empty()) {
        // Bounded memory against a hostile or broken server: we stop reading, not it.
        return make(NotSmtp, f.phase,
                    f.smtp.limit_exceeded + " (then \"" + printable(f.smtp.unparsed, 60) + "\")",
                    at + " sent " + f.smtp.limit_exceeded +
                        ", beyond what any SMTP server sends: a broken or hostile server, or "
                        "not a mail service; check the host and port");
      }
      return make(NotSmtp, f.phase, "the server sent \"" + printable(f.smtp.unparsed, 80) + "\"",
                  at + " does not speak SMTP (" + describe_protocol(f.smtp.unparsed) +
                      "); check the host and port");
    case Ending::BadReply:
      if (f.phase == Phase::Banner) {
        return with_reply_transience(
            make(BannerRejected, Phase::Banner, "greeting " + quoted_reply(f),
                 reply_is_transient(f)
                     ? "the server is busy or limits connections (" + quoted_reply(f) +
                           "); it may accept us later"
                     : "the server refuses us at the greeting (" + quoted_reply(f) +
                           "); our address may be blocked or not allowed to relay there; "
                           "check its policy and blocklists"),
            f);
      }
      if (f.phase == Phase::Ehlo) {
        return with_reply_transience(
            make(EhloRejected, Phase::Ehlo,
                 std::string(f.smtp.helo_fallback ? "EHLO and HELO" : "EHLO") +
                     " refused: " + quoted_reply(f),
                 "the server refused our EHLO name (" + quoted_reply(f) +
                     "); set [proxy] hostname to a fully qualified name that resolves"),
            f);
      }
      if (f.phase == Phase::Starttls) {
        return with_reply_transience(
            make(StarttlsRejected, Phase::Starttls, "STARTTLS answered " + quoted_reply(f),
                 "the server offers STARTTLS but refused it (" + quoted_reply(f) +
                     "): its TLS setup is broken (certificate or key missing on the server); "
                     "tell its operator"),
            f);
      }
      if (f.phase == Phase::Auth) {
        return make(AuthFailed, Phase::Auth,
                    "AUTH " + f.smtp.auth_mechanism + " answered " + quoted_reply(f),
                    auth_failed_hint(f.smtp.last_reply ? *f.smtp.last_reply : Reply{}));
      }
      return with_reply_transience(
          make(EhloRejected, f.phase, "unexpected reply " + quoted_reply(f),
               "the server refused the dialogue: " + quoted_reply(f)),
          f);
    case Ending::NoStarttls: {
      if (auto kw = masked_starttls(f)) {
        return make(StarttlsStripped, Phase::Ehlo, "EHLO lists " + *kw + " instead of STARTTLS",
                    "a middlebox rewrote STARTTLS to " + *kw +
                        " (e.g. Cisco ASA 'inspect esmtp'); turn off that SMTP inspection on "
                        "the firewall between us and " +
                        f.upstream.host + ", or use port 465 with tls = implicit");
      }
      if (banner_masked(f)) {
        return make(StarttlsStripped, Phase::Ehlo,
                    "greeting masked with asterisks and no STARTTLS in EHLO",
                    "a firewall's SMTP inspection masks the greeting and removes STARTTLS; turn "
                    "it off, or use port 465 with tls = implicit");
      }
      std::string ext = f.smtp.extensions.empty() ? std::string("no extensions")
                                                  : printable(join(f.smtp.extensions, " "), 300);
      return make(StarttlsNotOffered, Phase::Ehlo,
                  std::string(f.smtp.helo_fallback ? "HELO only (EHLO refused)" : "EHLO lists: ") +
                      (f.smtp.helo_fallback ? "" : ext),
                  f.upstream.host + " does not offer STARTTLS on port " +
                      std::to_string(f.upstream.port) +
                      "; if it speaks implicit TLS use port 465 with tls = implicit, otherwise "
                      "its operator must enable STARTTLS");
    }
    case Ending::BytesAfterStarttls:
      return make(StarttlsInjection, Phase::Starttls,
                  std::to_string(f.smtp.bytes_after_starttls) +
                      " bytes arrived after the 220 to STARTTLS and before TLS: \"" +
                      printable(f.smtp.unparsed, 80) + "\"",
                  "something between us and " + f.upstream.host +
                      " injected plaintext after 'Ready to start TLS' (RFC 3207 5): a man in "
                      "the middle or a broken server; the connection was abandoned");
    case Ending::NoAuthMechanism: {
      std::string offered;
      for (const auto& e : f.smtp.extensions) {
        if (istarts_with(e, "AUTH ") || istarts_with(e, "AUTH=")) offered = printable(e, 120);
      }
      // auth_mechanism set here means the config forced that one (there is no fallback).
      const std::string& forced = f.smtp.auth_mechanism;
      if (!offered.empty() && !forced.empty()) {
        return make(AuthUnavailable, Phase::Auth,
                    "offered " + offered + "; auth_mechanism requires " + forced,
                    f.upstream.host + " offers " + offered + " but not " + forced +
                        ", which auth_mechanism requires: enable it on the server or change "
                        "auth_mechanism");
      }
      return make(AuthUnavailable, Phase::Auth,
                  offered.empty() ? "no AUTH in the EHLO reply after TLS"
                                  : "offered " + offered + "; we speak PLAIN and LOGIN",
                  offered.empty()
                      ? f.upstream.host +
                            " offers no AUTH after TLS: this port may not be its submission "
                            "port (try 587), or it relays by IP address instead of a login"
                      : f.upstream.host + " offers only " + offered +
                            "; enable PLAIN or LOGIN over TLS on the server");
    }
    default:
      break;
  }
  return make(TlsError, f.phase, "unexpected ending " + std::string(to_string(f.ending)), "");
}

// ---- TLS handshake ------------------------------------------------------------------------

std::string plaintext_seen(const AttemptFacts& f) {
  return printable(f.tls.first_bytes, 60);
}

std::optional<Verdict> classify_plaintext_in_tls(const AttemptFacts& f) {
  if (f.tls.first_bytes.empty() || looks_like_tls_record(f.tls.first_bytes)) return std::nullopt;
  const std::string at = where(f);
  if (f.upstream.tls_mode == TlsMode::Starttls) {
    // A 4xx/5xx reply where the ServerHello should be: the server said 220 but then took
    // our ClientHello for an SMTP command (a broken STARTTLS implementation or an SMTP
    // proxy), which is a refusal of STARTTLS, not someone injecting on the path.
    if (auto r = parse_reply_text(f.tls.first_bytes.substr(0, f.tls.first_bytes.find('\n') + 1));
        r && r->code >= 400) {
      Verdict v = make(
          StarttlsRejected, Phase::Starttls,
          "the server answered our ClientHello as an SMTP command: \"" + plaintext_seen(f) + "\"",
          "the server said 220 to STARTTLS but does not start TLS (" +
              printable(r->first_line(), 160) +
              "); its STARTTLS support is broken, tell its "
              "operator, or use port 465 with tls = implicit");
      v.transient = r->transient_failure();
      return v;
    }
    return make(StarttlsInjection, Phase::Starttls,
                "plaintext arrived after the 220 to STARTTLS where the TLS handshake should be: "
                "\"" +
                    plaintext_seen(f) + "\"",
                "something between us and " + f.upstream.host +
                    " injected plaintext after 'Ready to start TLS' (RFC 3207 5): a man in the "
                    "middle or a broken server; the connection was abandoned");
  }
  if (looks_like_smtp_reply(f.tls.first_bytes)) {
    return make(TlsModeMismatch, Phase::TlsHandshake,
                "answered our ClientHello with plaintext SMTP: \"" + plaintext_seen(f) + "\"",
                at + " speaks plaintext SMTP, not implicit TLS; use tls = starttls (ports 587 "
                     "and 25 speak STARTTLS, 465 implicit TLS)");
  }
  return make(NotSmtp, Phase::TlsHandshake,
              "answered our ClientHello with \"" + plaintext_seen(f) + "\"",
              at + " speaks neither TLS nor SMTP (" + describe_protocol(f.tls.first_bytes) +
                  "); check the host and port");
}

std::string alert_hint(int a, const AttemptFacts& f) {
  switch (a) {
    case alert::kInternalError:
      return "the server failed internally during the handshake (alert internal_error); its "
             "TLS setup is broken, tell its operator";
    case alert::kAccessDenied:
      return "the server denies us at the TLS layer (alert access_denied): our address or "
             "name is not allowed there";
    case alert::kDecodeError:
    case alert::kIllegalParameter:
      return "the server could not parse our ClientHello (alert " + alert_name(a) +
             "): an old or broken TLS stack; a compat profile for " + f.upstream.host + " may help";
    case alert::kInappropriateFallback:
      // RFC 7507: only a retry that announced itself as a fallback gets this alert.
      return "the server refused our retry with the compat profile as a downgrade (alert "
             "inappropriate_fallback, RFC 7507): it speaks a newer TLS version than that "
             "profile offers, so the first attempt failed for another reason. Something on the "
             "path interferes with the newer version (a middlebox that breaks TLS 1.3, or an "
             "attacker forcing a downgrade); compat cannot help here: see the first attempt's "
             "class and check the path to " +
             f.upstream.host;
    default:
      return "the server ended the handshake with alert " + alert_name(a) +
             "; check its TLS configuration with `openssl s_client`";
  }
}

bool cert_request_seen(const AttemptFacts& f) {
  return contains(f.tls.handshake_messages_received, handshake::kCertificateRequest);
}

std::optional<Verdict> classify_by_reason(const AttemptFacts& f) {
  const std::string at = where(f);
  if (ssl_reason(f, SSL_R_EE_KEY_TOO_SMALL) || ssl_reason(f, SSL_R_CA_KEY_TOO_SMALL) ||
      ssl_reason(f, SSL_R_CA_MD_TOO_WEAK)) {
    return make(CertificateWeak, Phase::Certificate, openssl_detail(f),
                "the server's certificate uses a key or digest too weak for security level 2 "
                "(RSA < 2048 bits or SHA-1); it needs a new certificate");
  }
  if (ssl_reason(f, SSL_R_DH_KEY_TOO_SMALL)) {
    return make(TlsWeakParameters, Phase::TlsHandshake, "dh key too small: " + openssl_detail(f),
                "the server chose a finite-field Diffie-Hellman group under 2048 bits; it should "
                "use 2048-bit DH parameters or ECDHE (Postfix: smtpd_tls_dh1024_param_file)");
  }
  if (ssl_reason(f, SSL_R_UNSAFE_LEGACY_RENEGOTIATION_DISABLED)) {
    return make(TlsWeakParameters, Phase::TlsHandshake, openssl_detail(f),
                "the server does not support RFC 5746 secure renegotiation; its TLS stack is "
                "outdated and must be upgraded");
  }
  if (ssl_reason(f, SSL_R_LEGACY_SIGALG_DISALLOWED_OR_UNSUPPORTED) ||
      ssl_reason(f, SSL_R_WRONG_SIGNATURE_TYPE) ||
      ssl_reason(f, SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM)) {
    return make(TlsWeakParameters, Phase::TlsHandshake, openssl_detail(f),
                "the server signed its handshake with a signature algorithm our security "
                "level refuses (SHA-1 era); the server's TLS stack must be upgraded");
  }
  if (ssl_reason(f, SSL_R_UNSUPPORTED_PROTOCOL) || ssl_reason(f, SSL_R_VERSION_TOO_LOW) ||
      ssl_reason(f, SSL_R_WRONG_SSL_VERSION)) {
    return make(TlsProtocolMismatch, Phase::TlsHandshake,
                "the server chose a TLS version below our minimum " + f.min_version + ": " +
                    openssl_detail(f),
                at + " only speaks TLS versions older than " + f.min_version +
                    "; the server must be upgraded, or give this upstream a compat profile "
                    "with a lower min_version if you accept the risk");
  }
  if (ssl_reason(f, SSL_R_WRONG_CIPHER_RETURNED) || ssl_reason(f, SSL_R_NO_CIPHERS_AVAILABLE) ||
      ssl_reason(f, SSL_R_NO_SHARED_CIPHER)) {
    return make(TlsNoSharedCipher, Phase::TlsHandshake, openssl_detail(f),
                "no cipher suite in common with " + at + "; check its cipher configuration");
  }
  if (ssl_reason(f, SSL_R_EXCESSIVE_MESSAGE_SIZE)) {
    return make(TlsError, Phase::TlsHandshake, openssl_detail(f),
                at + " sent a TLS handshake message larger than we accept: in practice a "
                     "certificate chain over 100 KiB (thousands of names, or many "
                     "certificates); the server's operator must send a smaller chain");
  }
  if (ssl_reason(f, SSL_R_WRONG_VERSION_NUMBER) || ssl_reason(f, SSL_R_PACKET_LENGTH_TOO_LONG) ||
      ssl_reason(f, SSL_R_RECORD_LENGTH_MISMATCH) || ssl_reason(f, SSL_R_HTTPS_PROXY_REQUEST) ||
      ssl_reason(f, SSL_R_HTTP_REQUEST)) {
    // failure-classes.md names OpenSSL's "wrong version number" as tls-mode-mismatch: the
    // server answered our ClientHello with something that is not TLS.
    return make(TlsModeMismatch, Phase::TlsHandshake, openssl_detail(f),
                "the server's reply to our ClientHello is not TLS: implicit TLS spoken to a "
                "plaintext port? Check the port and tls mode (465 = implicit, 587/25 = "
                "starttls)");
  }
  return std::nullopt;
}

Verdict classify_tls(const AttemptFacts& f) {
  const std::string at = where(f);
  if (auto v = classify_plaintext_in_tls(f)) return *v;

  if (auto a = first_alert_received(f)) {
    const std::string name = alert_name(*a);
    const std::string when = f.tls.failed_after_handshake ? " right after the handshake" : "";
    const std::string detail = "alert " + name + " received" + when;
    if (*a == alert::kCertificateRequired ||
        (cert_request_seen(f) && (*a == alert::kHandshakeFailure || *a == alert::kBadCertificate ||
                                  *a == alert::kNoCertificate || *a == alert::kCertificateUnknown ||
                                  *a == alert::kUnknownCa || *a == alert::kAccessDenied ||
                                  *a == alert::kUnsupportedCertificate))) {
      return make(TlsClientCertificateRequired, Phase::TlsHandshake,
                  detail + (cert_request_seen(f) ? " after a CertificateRequest" : ""),
                  at + " demands a client certificate and we have none: it is not meant for "
                       "relaying from us without one; use the provider's submission port "
                       "(587 with AUTH) or configure a client certificate");
    }
    if (*a == alert::kProtocolVersion) {
      return make(TlsProtocolMismatch, Phase::TlsHandshake, detail,
                  at + " accepts none of the TLS versions we offer (" + f.min_version +
                      " to 1.3); the server is outdated or requires a newer version");
    }
    if (*a == alert::kUnrecognizedName) {
      if (f.tls.sni.empty()) {
        return make(TlsSniRequired, Phase::TlsHandshake, detail + "; no SNI was sent",
                    "the server needs a server name (SNI), and none was sent because the "
                    "upstream is given as the address " +
                        f.upstream.host + "; set host to the server's name and connect = \"" +
                        f.upstream.host + "\" if the address must be fixed");
      }
      return make(TlsSniRequired, Phase::TlsHandshake, detail + "; SNI was " + f.tls.sni,
                  "the server does not serve the name " + f.tls.sni +
                      "; use the host name the provider documents for this server");
    }
    if (*a == alert::kHandshakeFailure || *a == alert::kInsufficientSecurity) {
      return make(TlsNoSharedCipher, Phase::TlsHandshake, detail + " in reply to our ClientHello",
                  at +
                      " found no cipher suite, key-exchange group or signature algorithm in "
                      "common with our offer (TLS " +
                      f.min_version + "+, " + printable(f.cipher_list, 100) +
                      " at security level " + std::to_string(f.security_level) +
                      "); the server's TLS configuration is outdated, or a compat profile for "
                      "it is needed (never one with anonymous suites: they prove nothing)");
    }
    if (*a == alert::kCloseNotify) {
      // Handled as a clean close below.
    } else {
      auto v = make(TlsAlert, Phase::TlsHandshake, detail, alert_hint(*a, f));
      return v;
    }
  }

  if (auto v = classify_by_reason(f)) return *v;

  if (f.ending == Ending::TimedOut || f.ending == Ending::PeerClosed ||
      f.ending == Ending::SocketError) {
    AttemptFacts g = f;
    g.phase = Phase::TlsHandshake;
    return classify_network(g);
  }
  return make(TlsError, Phase::TlsHandshake, openssl_detail(f),
              "the TLS handshake with " + at + " failed: " + openssl_detail(f));
}

// ---- certificate --------------------------------------------------------------------------

struct ChosenError {
  VerifyError err;
  FailureClass cls;
};

bool is_time_error(int e) {
  return e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID;
}

// The rank decides which of several verification errors names the failure: a chain we
// cannot trust makes every other statement about it moot; then validity; then the name;
// then strength.
int rank(FailureClass c) {
  switch (c) {
    case CertificateSelfSigned:
      return 0;
    case CertificateChainIncomplete:
      return 1;
    case CertificateUntrusted:
      return 2;
    case CertificateRevoked:
      return 3;
    case CertificateExpired:
    case CertificateNotYetValid:
      return 4;
    case CertificateHostMismatch:
      return 5;
    case CertificateWeak:
      return 6;
    default:
      return 7;
  }
}

const CertFacts* cert_at(const AttemptFacts& f, int depth) {
  if (depth < 0 || static_cast<std::size_t>(depth) >= f.certificate.chain.size()) return nullptr;
  return &f.certificate.chain[static_cast<std::size_t>(depth)];
}

FailureClass class_of(const AttemptFacts& f, const VerifyError& v) {
  switch (v.error) {
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      return CertificateSelfSigned;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE: {
      // The chain as sent stops at the leaf when the failing certificate is the leaf itself:
      // the server did not send the issuer. Past the leaf, a CA certificate was sent and its
      // root is not one of ours.
      if (v.depth == 0) {
        const CertFacts* leaf = cert_at(f, 0);
        if (leaf && leaf->self_signed) return CertificateSelfSigned;
        return CertificateChainIncomplete;
      }
      return CertificateUntrusted;
    }
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_REJECTED:
      return CertificateUntrusted;
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return CertificateExpired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return CertificateNotYetValid;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
    case X509_V_ERR_EMAIL_MISMATCH:
      return CertificateHostMismatch;
    case X509_V_ERR_EE_KEY_TOO_SMALL:
    case X509_V_ERR_CA_KEY_TOO_SMALL:
    case X509_V_ERR_CA_MD_TOO_WEAK:
      return CertificateWeak;
    case X509_V_ERR_CERT_REVOKED:
      return CertificateRevoked;
    default:
      return CertificateInvalid;
  }
}

// The CN of a distinguished name (or the whole name), escaped: the peer chose it.
std::string cn_of(const std::string& dn) {
  auto pos = dn.find("CN=");
  if (pos == std::string::npos) return printable(dn, 200);
  auto end = dn.find(',', pos);
  return printable(dn.substr(pos + 3, end == std::string::npos ? std::string::npos : end - pos - 3),
                   200);
}

// The certificate a verification error is about: as OpenSSL saw it when it reported the
// error (depth indexes the chain OpenSSL built, not the chain as sent), else the chain as
// sent at that depth.
const CertFacts* cert_of(const AttemptFacts& f, const VerifyError& e, CertFacts& storage) {
  if (e.subject.empty()) return cert_at(f, e.depth);
  storage.subject = e.subject;
  storage.issuer = e.issuer;
  storage.not_before_epoch = e.not_before_epoch;
  storage.not_after_epoch = e.not_after_epoch;
  storage.not_before = utc_readable(e.not_before_epoch);
  storage.not_after = utc_readable(e.not_after_epoch);
  storage.self_signed = e.self_signed;
  storage.key = e.key;
  storage.signature = e.signature;
  return &storage;
}

std::string name_at(const CertFacts* c, int depth) {
  std::string what = depth == 0 ? "the server's certificate"
                                : "the CA certificate at depth " + std::to_string(depth);
  if (c) what += " (" + cn_of(c->subject) + ")";
  return what;
}

// A wall clock earlier than our own build is provably wrong; so is one that puts every
// certificate of a verified chain, the trust anchor included, outside its validity.
std::optional<std::string> clock_is_wrong(const AttemptFacts& f, int error) {
  if (f.clock_now > 0 && f.build_epoch > 0 && f.clock_now < f.build_epoch) {
    return "our clock reads " + utc_readable(f.clock_now) + ", before this program was built (" +
           utc_readable(f.build_epoch) + ")";
  }
  if (f.certificate.verified_chain_length >= 2) {
    std::vector<bool> bad(static_cast<std::size_t>(f.certificate.verified_chain_length), false);
    for (const auto& v : f.certificate.verify_errors) {
      if (v.error == error && v.depth >= 0 && v.depth < f.certificate.verified_chain_length) {
        bad[static_cast<std::size_t>(v.depth)] = true;
      }
    }
    if (std::all_of(bad.begin(), bad.end(), [](bool b) { return b; })) {
      return "every certificate of the chain, the trust anchor included, is " +
             std::string(error == X509_V_ERR_CERT_HAS_EXPIRED ? "expired" : "not yet valid") +
             " by our clock (" + utc_readable(f.clock_now) + ")";
    }
  }
  return std::nullopt;
}

Verdict classify_certificate(const AttemptFacts& f) {
  const auto& errs = f.certificate.verify_errors;
  const std::string at = where(f);
  if (errs.empty() && !f.certificate.peer_certificate) {
    // An anonymous suite (aNULL): OpenSSL verifies nothing, so no error was ever reported.
    const std::string suite = f.tls.cipher.empty() ? std::string("an anonymous cipher suite")
                                                   : "the anonymous suite " + f.tls.cipher;
    return make(CertificateInvalid, Phase::Certificate,
                "the server sent no certificate (" + suite + ")",
                at + " sent no certificate, so nothing proves who it is: it chose " + suite +
                    ". Either a man in the middle is on the path or the server is badly "
                    "misconfigured; nothing (no AUTH, no mail) was sent. Check the path and "
                    "the server with `openssl s_client`");
  }
  if (errs.empty()) {
    return make(CertificateInvalid, Phase::Certificate,
                "the certificate did not prove the server's identity (" +
                    f.certificate.verify_name + "), though no verify error was reported",
                "certificate verification of " + at + " failed");
  }
  // OpenSSL stops building a chain that is too deep, and then also reports the issuer of the
  // last certificate it kept as missing: the depth is the finding, not trust.
  for (const auto& e : errs) {
    if (e.error != X509_V_ERR_CERT_CHAIN_TOO_LONG) continue;
    const std::string sent = f.certificate.chain_sent > 0
                                 ? std::to_string(f.certificate.chain_sent) + " certificates"
                                 : std::string("a chain");
    return make(CertificateInvalid, Phase::Certificate,
                "verify error " + std::to_string(e.error) + " (" + verify_error_text(e.error) +
                    ") at depth " + std::to_string(e.depth) + "; the server sent " + sent,
                at + " sends " + sent + ", deeper than the " + std::to_string(kMaxVerifyDepth) +
                    " CA certificates we follow (as Postfix); a server sends its own "
                    "certificate and one to three intermediates: its chain file must be fixed");
  }
  ChosenError best{errs.front(), class_of(f, errs.front())};
  for (const auto& e : errs) {
    FailureClass c = class_of(f, e);
    if (rank(c) < rank(best.cls) || (rank(c) == rank(best.cls) && e.depth < best.err.depth)) {
      best = {e, c};
    }
  }
  const VerifyError& e = best.err;
  std::string detail = "verify error " + std::to_string(e.error) + " (" +
                       verify_error_text(e.error) + ") at depth " + std::to_string(e.depth);
  CertFacts storage;
  const CertFacts* c = cert_of(f, e, storage);

  if (is_time_error(e.error)) {
    if (auto why = clock_is_wrong(f, e.error)) {
      return make(ClientClockSkew, Phase::Certificate, detail + "; " + *why,
                  *why +
                      ": fix this host's time (`timedatectl`, NTP/chrony); the "
                      "certificates are probably fine");
    }
  }

  switch (best.cls) {
    case CertificateSelfSigned:
      return make(CertificateSelfSigned, Phase::Certificate, detail,
                  "the certificate of " + at + " is self-signed" +
                      (c ? " (" + printable(c->subject, 200) + ")" : std::string()) +
                      "; the server needs a certificate from a public CA, or, for a private "
                      "server you trust, add that certificate to ca_file");
    case CertificateChainIncomplete: {
      std::string issuer = c ? cn_of(c->issuer) : "unknown";
      return make(CertificateChainIncomplete, Phase::Certificate,
                  detail + "; the server sent " + std::to_string(f.certificate.chain.size()) +
                      " certificate(s), none of them the leaf's issuer",
                  "the server sent only its own certificate; install the intermediate "
                  "certificate on " +
                      f.upstream.host + " (issuer: " + issuer +
                      "), or, if that issuer is a private CA, add it to ca_file");
    }
    case CertificateUntrusted: {
      // The certificate the error is about is the last one OpenSSL could place: a root
      // (self-signed, not ours) or a CA whose issuer we lack.
      const CertFacts* top = c                             ? c
                             : f.certificate.chain.empty() ? nullptr
                                                           : &f.certificate.chain.back();
      std::string root = top ? (top->self_signed ? cn_of(top->subject) : cn_of(top->issuer))
                             : std::string("unknown");
      std::string store = f.ca_file.empty() ? std::string("the system CA store") : f.ca_file;
      return make(CertificateUntrusted, Phase::Certificate, detail + "; chain ends at " + root,
                  "the chain ends at '" + root + "', which is not in " + store +
                      ": for a private CA add its root to ca_file; otherwise the CA bundle "
                      "may be stale (`apt install --reinstall ca-certificates`)");
    }
    case CertificateExpired:
      return make(CertificateExpired, Phase::Certificate,
                  detail + (c ? "; notAfter " + c->not_after : std::string()),
                  (e.depth == 0 ? "the certificate for " + f.upstream.host + " expired " +
                                      (c ? utc_readable(c->not_after_epoch) : std::string("")) +
                                      "; the server's operator must renew it"
                                : name_at(c, e.depth) + " expired " +
                                      (c ? utc_readable(c->not_after_epoch) : std::string("")) +
                                      "; the server must send a current intermediate"));
    case CertificateNotYetValid:
      return make(CertificateNotYetValid, Phase::Certificate,
                  detail + (c ? "; notBefore " + c->not_before : std::string()) + "; our clock " +
                      utc_readable(f.clock_now),
                  name_at(c, e.depth) + " is valid only from " +
                      (c ? utc_readable(c->not_before_epoch) : std::string("later")) +
                      " and our clock (" + utc_readable(f.clock_now) +
                      ") looks right: the server installed it too early");
    case CertificateHostMismatch: {
      const CertFacts* leaf = cert_at(f, 0);
      std::string names = leaf && !leaf->san.empty() ? printable(join(leaf->san, ", "), 300)
                          : leaf                     ? "CN " + cn_of(leaf->subject)
                                                     : std::string("none");
      return make(
          CertificateHostMismatch, Phase::Certificate,
          detail + "; checked " + f.certificate.verify_name + ", certificate names: " + names,
          "the certificate is for " + names + ", not " + f.certificate.verify_name +
              "; use one of those names as host (connect = the address, if needed), or "
              "the server needs a certificate that names " +
              f.certificate.verify_name);
    }
    case CertificateWeak:
      return make(CertificateWeak, Phase::Certificate,
                  detail + (c ? "; " + c->key + ", " + c->signature : std::string()),
                  name_at(c, e.depth) + " is too weak for security level 2" +
                      (c ? " (" + c->key + ", " + c->signature + ")" : std::string()) +
                      "; the server needs a certificate with RSA >= 2048 or ECDSA, signed with "
                      "SHA-256 or better");
    case CertificateRevoked:
      return make(CertificateRevoked, Phase::Certificate, detail,
                  name_at(c, e.depth) + " is revoked; the server's operator must replace it");
    default:
      return make(CertificateInvalid, Phase::Certificate, detail,
                  name_at(c, e.depth) + " failed verification (" + verify_error_text(e.error) +
                      "); check it with `openssl s_client -showcerts`");
  }
}

}  // namespace

Verdict classify(const AttemptFacts& f) {
  switch (f.ending) {
    case Ending::Ok: {
      Verdict v;
      v.cls = Ok;
      v.detail = f.certificate.verified ? "TLS " + f.tls.version + " " + f.tls.cipher + ", verified"
                 : f.tls.handshake_done ? "TLS " + f.tls.version + " " + f.tls.cipher
                                        : "plaintext";
      return v;
    }
    case Ending::LocalSetup:
      return make(LocalConfig, f.phase == Phase::None ? Phase::TlsHandshake : f.phase,
                  printable(f.local_detail, 300),
                  "fix our own setup: " + printable(f.local_detail, 300));
    case Ending::DnsNxdomain:
      return make(DnsNxdomain, Phase::Dns, "NXDOMAIN for " + f.upstream.host,
                  "the name " + f.upstream.host +
                      " does not exist in DNS; check the upstream's host name for a typo "
                      "(`dig " +
                      f.upstream.host + "`)");
    case Ending::DnsNoAddress:
      return make(DnsFailure, Phase::Dns, "no A/AAAA records for " + f.upstream.host,
                  f.upstream.host +
                      " exists but has no address records; check the host name "
                      "(an MX target is needed, not the mail domain)");
    case Ending::DnsError: {
      const std::string why = f.network.resolver_detail.empty() ? std::string("resolver failure")
                                                                : f.network.resolver_detail;
      return make(DnsFailure, Phase::Dns, why,
                  "the resolver could not answer for " + f.upstream.host + " (" + why +
                      "); check /etc/resolv.conf and that its DNS server answers (`dig " +
                      f.upstream.host + "`)");
    }
    case Ending::SocketError:
    case Ending::TimedOut:
    case Ending::PeerClosed:
      if (f.phase == Phase::Banner && f.ending == Ending::TimedOut &&
          f.smtp.implicit_tls_detected) {
        return make(TlsModeMismatch, Phase::Banner,
                    "no greeting within " + format_seconds(f.phase_timeout_s) +
                        ", but the port answers a TLS ClientHello",
                    where(f) +
                        " speaks implicit TLS (as on port 465) and waits for a TLS "
                        "handshake; set tls = implicit for this upstream");
      }
      if (f.phase == Phase::TlsHandshake) return classify_tls(f);
      return classify_network(f);
    case Ending::TlsFailed:
      return classify_tls(f);
    case Ending::VerifyFailed:
      return classify_certificate(f);
    case Ending::BadReply:
    case Ending::NotSmtp:
    case Ending::NoStarttls:
    case Ending::BytesAfterStarttls:
    case Ending::NoAuthMechanism:
      return classify_smtp(f);
  }
  return make(TlsError, f.phase, "unclassified", "");
}

}  // namespace tlsrelay::tls
