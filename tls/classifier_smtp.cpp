// SMTP failures: not SMTP at all, refused greeting, EHLO, STARTTLS or AUTH, STARTTLS
// missing, stripped by a middlebox or followed by injected bytes.
// Part of the classifier (classifier.hpp): a pure function of the facts, no I/O.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <optional>

#include "common/text.hpp"
#include "common/time_format.hpp"
#include "tls/classifier_parts.hpp"
#include "tls/client_context.hpp"
#include "tls/openssl_names.hpp"

namespace tlsrelay::tls::detail {

using enum FailureClass;

// ---- SMTP ---------------------------------------------------------------------------------

namespace {

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

// The greeting or a reply was not SMTP: TLS spoken first (465), beyond our bounds, or
// another protocol altogether.
Verdict not_smtp(const AttemptFacts& f, const std::string& at) {
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
}

// A reply we cannot go on with, by the phase it refused.
Verdict bad_reply(const AttemptFacts& f) {
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
  return with_reply_transience(make(EhloRejected, f.phase, "unexpected reply " + quoted_reply(f),
                                    "the server refused the dialogue: " + quoted_reply(f)),
                               f);
}

// EHLO without STARTTLS: a middlebox that masked it, or a server that does not offer it.
Verdict no_starttls(const AttemptFacts& f) {
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

// Credentials are configured and the server offers no AUTH mechanism we may use.
Verdict no_auth_mechanism(const AttemptFacts& f) {
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

}  // namespace

Verdict classify_smtp(const AttemptFacts& f) {
  switch (f.ending) {
    case Ending::NotSmtp:
      return not_smtp(f, where(f));
    case Ending::BadReply:
      return bad_reply(f);
    case Ending::NoStarttls:
      return no_starttls(f);
    case Ending::BytesAfterStarttls:
      return make(StarttlsInjection, Phase::Starttls,
                  std::to_string(f.smtp.bytes_after_starttls) +
                      " bytes arrived after the 220 to STARTTLS and before TLS: \"" +
                      printable(f.smtp.unparsed, 80) + "\"",
                  "something between us and " + f.upstream.host +
                      " injected plaintext after 'Ready to start TLS' (RFC 3207 5): a man in "
                      "the middle or a broken server; the connection was abandoned");
    case Ending::NoAuthMechanism:
      return no_auth_mechanism(f);
    default:
      break;
  }
  return make(TlsError, f.phase, "unexpected ending " + std::string(to_string(f.ending)), "");
}

}  // namespace tlsrelay::tls::detail
