// `tlsrelay explain`'s fixes on the MTA's side (issue 20): where a route's failure comes from
// Postfix's own setting, the `postconf -e` line that changes it and why. Shown, never
// applied. From the route's summary (what the log says), Postfix's parameters (what
// `postconf` prints) and, when known, the live probe (what is true now).
//
// Covered (docs/explain.md "Fixes on Postfix's side"):
//   - port 465 spoken to without smtp_tls_wrappermode = yes (and the security level of
//     encrypt that wrappermode requires), and wrappermode towards 25/587;
//   - no trust anchors: a smtp_tls_CAfile that does not exist (Postfix reads it before it
//     enters the chroot, postconf(5), so the host's path counts), a smtp_tls_CApath missing
//     inside the chroot of a chrooted smtp(8) (it is opened after), none of CAfile, CApath
//     and tls_append_default_CA; a CAfile that is not the system bundle with a
//     certificate-untrusted failure;
//   - smtp_tls_mandatory_protocols (levels encrypt and up) or smtp_tls_protocols (may) that
//     allow no version the server speaks;
//   - a security level of encrypt or stronger against a server that offers no STARTTLS: no
//     downgrade line, ever (it would send the mail, and the SASL password, in clear over the
//     path that removed STARTTLS); a note on whose fault it is and, for the relayhost, the
//     conditional move to implicit TLS on 465, which a middlebox cannot strip;
//   - `tlsrelay setup` in one line for a relayhost whose failures recur or go on.
// Evidence: a fix needs the log (or the probe) to name the class it cures, and the setting
// to be wrong. Where the setting alone proves it (465 without wrappermode, a missing CA
// file, no CA at all) a successful probe does not clear it: tlsrelay probe speaks with its
// own mode and CA store, not Postfix's. The advice and the STARTTLS note go when it is ok.
// Postfix only: Exim and Sendmail routes get no fixes. Inbound routes get none either.
// Nothing is given without Postfix's parameters (MtaFacts::postfix empty) but the
// tlsrelay line, for a failing route on 587 or 465.
//
// Pure; thread-safe.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/failure_class.hpp"
#include "proxy/explain/route_book.hpp"

namespace tlsrelay::explain {

// What `tlsrelay probe` said about the route now (the CLI fills it from the probe's verdict).
struct LiveCheck {
  bool probed = false;  // false: --no-probe, an inbound route, or beyond the probe limit
  bool ok = false;      // the attempt ended `ok`
  FailureClass cls = FailureClass::Ok;
  std::string hint;   // the verdict's hint
  std::string tls;    // "TLSv1.3 TLS_AES_256_GCM_SHA384" when TLS came up, else ""
  std::string error;  // why there is no verdict ("probe limit of 10 routes reached"), or ""
};

// Postfix's parameters, name -> value, as `postconf` prints them (effective values; a
// parameter missing from the map takes Postfix 3.7's default). Empty: not read.
using PostfixParams = std::map<std::string, std::string, std::less<>>;

// What the command line found out about the MTA; unset optionals are unknown, and a fix
// that needs them is not given.
struct MtaFacts {
  PostfixParams postfix;
  std::optional<bool> cafile_exists;     // smtp_tls_CAfile exists (on the host: read before chroot)
  std::optional<bool> smtp_chrooted;     // master.cf's smtp service runs chrooted
  std::optional<bool> capath_in_chroot;  // smtp_tls_CApath exists under $queue_directory
  std::optional<std::string> sasl_user;  // with --with-credentials: the relayhost's account
};

enum class FixKind {
  Postconf,  // a `postconf -e '...'` line
  Tlsrelay,  // a `tlsrelay setup ...` line
  Note,      // no command: whose fault it is and why nothing here changes it
};
std::string_view to_string(FixKind k);  // "postconf", "tlsrelay", "note"

struct MtaFix {
  FixKind kind = FixKind::Postconf;
  std::string command;    // ready to paste, shell-quoted; "" for a note
  std::string reason;     // one sentence: what is wrong and why this changes it
  std::string condition;  // "" when it applies as is; else when it does ("if ...")
  friend bool operator==(const MtaFix&, const MtaFix&) = default;
};

inline constexpr std::string_view kSystemCaBundle = "/etc/ssl/certs/ca-certificates.crt";

std::vector<MtaFix> mta_fixes(const RouteSummary& route, const MtaFacts& facts,
                              const LiveCheck* live);

// `postconf -e 'name = value'`, quoted for a POSIX shell.
std::string postconf_line(std::string_view name, std::string_view value);
// `text` as one word for a POSIX shell: as is when plain, else single-quoted.
std::string shell_word(std::string_view text);

// The TLS versions a Postfix protocol list allows (">=TLSv1.2", "!SSLv2, !SSLv3",
// "TLSv1.2:TLSv1.3", "<=0x0302"), as a bit set: 1 TLSv1, 2 TLSv1.1, 4 TLSv1.2, 8 TLSv1.3.
// An empty list allows all.
unsigned postfix_tls_versions(std::string_view list);
// "TLSv1.2" -> 4, "TLSv1.3 TLS_AES_256_GCM_SHA384" -> 8; 0 when none.
unsigned tls_version_bit(std::string_view text);

}  // namespace tlsrelay::explain
