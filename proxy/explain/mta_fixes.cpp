#include "proxy/explain/mta_fixes.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "common/text.hpp"

namespace tlsrelay::explain {

namespace {

using FC = FailureClass;

constexpr unsigned kTls12 = 4;
constexpr unsigned kTls13 = 8;
constexpr unsigned kAllTls = 15;

std::string param(const MtaFacts& f, std::string_view name, std::string_view fallback = "") {
  if (auto it = f.postfix.find(name); it != f.postfix.end()) {
    return std::string(trim_wsp(it->second));
  }
  return std::string(fallback);
}

bool yes(std::string_view v) {
  return iequals(v, "yes") || iequals(v, "true") || v == "1";
}

// The level smtp(8) runs at; before Postfix 2.3 it was said with smtp_use_tls and
// smtp_enforce_tls, which still count when smtp_tls_security_level is empty.
std::string security_level(const MtaFacts& f) {
  std::string level = param(f, "smtp_tls_security_level");
  if (!level.empty()) return level;
  if (yes(param(f, "smtp_enforce_tls"))) return "encrypt";
  if (yes(param(f, "smtp_use_tls"))) return "may";
  return "none";
}

// Mandatory TLS: the levels at which Postfix never falls back to plaintext and reads
// smtp_tls_mandatory_protocols (postconf(5), smtp_tls_security_level).
bool mandatory(std::string_view level) {
  return level == "encrypt" || level == "verify" || level == "secure" || level == "dane-only" ||
         level == "fingerprint";
}

// What the log or the probe says the route's class can be.
bool named(const RouteSummary& r, const LiveCheck* live, std::initializer_list<FC> classes) {
  for (FC c : classes) {
    if (live && live->probed && !live->ok && live->cls == c) return true;
    for (const ClassCount& cc : r.classes) {
      if (cc.cls == c) return true;
    }
  }
  return false;
}

bool live_says(const LiveCheck* live, FC c) {
  return live && live->probed && !live->ok && live->cls == c;
}

bool live_knows(const LiveCheck* live) {
  return live && live->probed;
}

// The failures a missing trust anchor gives: "untrusted issuer", "unable to get local issuer
// certificate" (read as these candidates), or a CA file Postfix could not load.
bool trust_trouble(const RouteSummary& r, const LiveCheck* live) {
  return named(r, live,
               {FC::CertificateUntrusted, FC::CertificateChainIncomplete, FC::CertificateSelfSigned,
                FC::LocalConfig});
}

struct Relayhost {
  std::string host;
  std::uint16_t port = 25;
};

// relayhost = [smtp.example.net]:587 (a list since Postfix 3.5; "[...]" skips the MX lookup).
std::vector<Relayhost> relayhosts(const MtaFacts& f) {
  std::vector<Relayhost> out;
  const std::string value = param(f, "relayhost");
  std::size_t at = 0;
  while (at < value.size()) {
    const std::size_t end = value.find_first_of(" ,\t", at);
    std::string_view item =
        std::string_view(value).substr(at, end == std::string::npos ? std::string::npos : end - at);
    at = end == std::string::npos ? value.size() : end + 1;
    if (item.empty()) continue;
    Relayhost r;
    std::string_view host = item;
    std::string_view port;
    if (item.front() == '[') {
      const std::size_t close = item.find(']');
      if (close == std::string_view::npos) continue;
      host = item.substr(1, close - 1);
      if (close + 1 < item.size() && item[close + 1] == ':') port = item.substr(close + 2);
    } else if (const std::size_t colon = item.rfind(':'); colon != std::string_view::npos) {
      host = item.substr(0, colon);
      port = item.substr(colon + 1);
    }
    std::uint64_t n = 0;
    if (!port.empty()) {
      if (port == "submission") {
        n = 587;
      } else if (port == "submissions" || port == "smtps") {
        n = 465;
      } else if (!parse_u64(port, n) || n == 0 || n > 65535) {
        continue;
      }
      r.port = static_cast<std::uint16_t>(n);
    }
    r.host = std::string(host);
    out.push_back(std::move(r));
  }
  return out;
}

bool is_relayhost(const RouteSummary& r, const MtaFacts& f) {
  for (const Relayhost& rh : relayhosts(f)) {
    if (rh.port == r.key.port && (iequals(rh.host, r.key.host) || rh.host == r.key.address)) {
      return true;
    }
  }
  return false;
}

// Postfix before 3.6 knows no ">=" bounds (postconf(5), smtp_tls_mandatory_protocols).
bool knows_bounds(const MtaFacts& f) {
  const std::string v = param(f, "mail_version");
  if (v.empty()) return true;  // Debian 12 ships 3.7
  unsigned major = 0, minor = 0;
  std::size_t i = 0;
  while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i])))
    major = major * 10 + (v[i++] - '0');
  if (i < v.size() && v[i] == '.') ++i;
  while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i])))
    minor = minor * 10 + (v[i++] - '0');
  return major > 3 || (major == 3 && minor >= 6);
}

std::string versions_text(unsigned bits) {
  static constexpr std::array<std::string_view, 4> kNames = {"TLSv1", "TLSv1.1", "TLSv1.2",
                                                             "TLSv1.3"};
  std::vector<std::string> names;
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (bits & (1u << i)) names.emplace_back(kNames[i]);
  }
  return names.empty() ? "no TLS version" : join(names, ", ");
}

bool is_system_bundle(std::string_view path) {
  return path == kSystemCaBundle || path == "/etc/ssl/cert.pem" ||
         path == "/etc/pki/tls/certs/ca-bundle.crt" ||
         path == "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem";
}

MtaFix postconf_fix(std::string_view name, std::string_view value, std::string reason,
                    std::string condition = {}) {
  return MtaFix{FixKind::Postconf, postconf_line(name, value), std::move(reason),
                std::move(condition)};
}

void mode_fixes(const RouteSummary& r, const MtaFacts& f, const LiveCheck* live,
                const std::string& where, std::vector<MtaFix>& out) {
  if (!named(r, live, {FC::TlsModeMismatch})) return;
  const bool wrapper = yes(param(f, "smtp_tls_wrappermode", "no"));
  const std::string level = security_level(f);
  if (r.key.port == 465 && !wrapper) {
    std::string condition;
    if (!is_relayhost(r, f)) {
      condition = "if all mail goes through " + where +
                  "; else set it with -o smtp_tls_wrappermode=yes on a master.cf transport for it";
    }
    out.push_back(postconf_fix("smtp_tls_wrappermode", "yes",
                               where + " speaks implicit TLS (RFC 8314) and waits for a TLS "
                                       "handshake, while Postfix waits for an SMTP greeting",
                               condition));
    if (!mandatory(level)) {
      out.push_back(postconf_fix(
          "smtp_tls_security_level", "encrypt",
          "smtp_tls_wrappermode requires smtp_tls_security_level = encrypt or stronger "
          "(postconf(5)); it is " +
              level + " now",
          condition));
    }
  } else if ((r.key.port == 587 || r.key.port == 25) && wrapper) {
    out.push_back(postconf_fix("smtp_tls_wrappermode", "no",
                               where +
                                   " speaks plain SMTP and then STARTTLS; smtp_tls_wrappermode "
                                   "= yes opens with a TLS handshake it cannot answer (OpenSSL: "
                                   "wrong version number)"));
  }
}

void ca_fixes(const RouteSummary& r, const MtaFacts& f, const LiveCheck* live,
              const std::string& where, std::vector<MtaFix>& out) {
  // The settings alone prove the first three wrong; the probe (made with our own CA store)
  // cannot clear them.
  if (!trust_trouble(r, live)) return;
  const std::string cafile = param(f, "smtp_tls_CAfile");
  const std::string capath = param(f, "smtp_tls_CApath");
  const bool append_default = yes(param(f, "tls_append_default_CA", "no"));
  const std::string bundle(kSystemCaBundle);

  if (!cafile.empty() && f.cafile_exists == false) {
    out.push_back(postconf_fix("smtp_tls_CAfile", bundle,
                               "smtp_tls_CAfile = " + cafile +
                                   " does not exist, so Postfix can verify no server "
                                   "certificate (it reads this file before entering the chroot: "
                                   "the host's path is the one that counts)"));
    return;
  }
  if (cafile.empty() && !capath.empty() && f.smtp_chrooted == true && f.capath_in_chroot == false) {
    const std::string queue = param(f, "queue_directory", "/var/spool/postfix");
    out.push_back(postconf_fix("smtp_tls_CAfile", bundle,
                               "smtp(8) runs chrooted in " + queue +
                                   " and opens smtp_tls_CApath = " + capath +
                                   " after the chroot, where it does not exist; a CAfile is read "
                                   "before the chroot"));
    return;
  }
  if (cafile.empty() && capath.empty() && !append_default) {
    out.push_back(postconf_fix("smtp_tls_CAfile", bundle,
                               "neither smtp_tls_CAfile nor smtp_tls_CApath is set and "
                               "tls_append_default_CA = no: Postfix trusts no CA at all"));
    return;
  }
  if (!cafile.empty() && !is_system_bundle(cafile) && !append_default &&
      named(r, live, {FC::CertificateUntrusted})) {
    const bool certain = live_says(live, FC::CertificateUntrusted) ||
                         (!live_knows(live) && r.decided() == FC::CertificateUntrusted);
    if (live_knows(live) && !certain) return;  // the probe works, or names another cause
    std::string condition;
    if (!certain) {
      condition = "if " + where + "'s certificate comes from a public CA (tlsrelay probe " +
                  route_text(RouteKey{Direction::Outbound, r.key.host, "", r.key.port}) +
                  " names the root)";
    }
    out.push_back(postconf_fix(
        "smtp_tls_CAfile", bundle,
        "smtp_tls_CAfile = " + cafile +
            " is not the system bundle and tls_append_default_CA = no, so Postfix trusts only "
            "the roots in it; if it holds a private CA that other routes need, add that CA to "
            "/usr/local/share/ca-certificates and run update-ca-certificates instead",
        condition));
  }
}

void protocol_fixes(const RouteSummary& r, const MtaFacts& f, const LiveCheck* live,
                    const std::string& where, std::vector<MtaFix>& out) {
  const unsigned speaks = live_knows(live) && live->ok && tls_version_bit(live->tls)
                              ? tls_version_bit(live->tls)
                              : (kTls12 | kTls13);
  if (!named(r, live, {FC::TlsProtocolMismatch})) return;
  const std::string level = security_level(f);
  const char* name = mandatory(level) ? "smtp_tls_mandatory_protocols" : "smtp_tls_protocols";
  const std::string value = param(f, name, ">=TLSv1");
  const unsigned allowed = postfix_tls_versions(value);
  if (allowed & speaks) return;  // Postfix allows what the server speaks: the server is old
  const std::string fix = knows_bounds(f) ? ">=TLSv1.2" : "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1";
  const std::string server = live_knows(live) && live->ok && tls_version_bit(live->tls)
                                 ? where + " speaks " + versions_text(speaks) + " (probed now)"
                                 : where + " (as servers do today) speaks TLSv1.2 or TLSv1.3";
  out.push_back(postconf_fix(
      name, fix,
      std::string(name) + " = " + value + " allows " + versions_text(allowed) + "; " + server));
}

void starttls_notes(const RouteSummary& r, const MtaFacts& f, const LiveCheck* live,
                    const std::string& where, std::vector<MtaFix>& out) {
  if (live_knows(live) && live->ok) return;
  if (!named(r, live, {FC::StarttlsNotOffered, FC::StarttlsStripped})) return;
  const std::string level = security_level(f);
  if (!mandatory(level)) return;
  const std::string no_downgrade =
      "Do not lower smtp_tls_security_level (" + level +
      "): that would send the mail, and any SASL password, in clear over this very path";
  std::string whose;
  if (live_says(live, FC::StarttlsStripped)) {
    whose = "a middlebox between here and " + where +
            " removes STARTTLS from the EHLO reply (it shows XXXXXXXA): have its SMTP inspection "
            "switched off for this traffic. ";
  } else if (live_says(live, FC::StarttlsNotOffered)) {
    whose = where + " offers no STARTTLS: its operator must enable TLS. ";
  } else {
    whose = "Either " + where +
            " offers no STARTTLS (its operator must enable TLS) or a middlebox removes it "
            "(a firewall's SMTP inspection); tlsrelay probe tells which. ";
  }
  out.push_back(MtaFix{FixKind::Note, "", whose + no_downgrade + ".", ""});
  if (r.key.port == 465 || !is_relayhost(r, f)) return;
  // Implicit TLS starts with the handshake: there is no EHLO line for a middlebox to strip.
  const std::string target = "[" + r.key.host + "]:465";
  const std::string condition = "if " + r.key.host +
                                " offers implicit TLS on 465 (tlsrelay probe " + r.key.host +
                                ":465) and smtp_sasl_password_maps has an entry for " + target;
  out.push_back(postconf_fix("relayhost", target,
                             "implicit TLS on 465 begins with the handshake, so nothing can "
                             "remove it from the dialogue",
                             condition));
  out.push_back(postconf_fix("smtp_tls_wrappermode", "yes", "465 speaks implicit TLS", condition));
}

void tlsrelay_advice(const RouteSummary& r, const MtaFacts& f, const LiveCheck* live,
                     std::vector<MtaFix>& out) {
  if (r.verdict == RoutePattern::OneOff || (live_knows(live) && live->ok)) return;
  const bool smarthost =
      f.postfix.empty() ? (r.key.port == 587 || r.key.port == 465) : is_relayhost(r, f);
  if (!smarthost) return;
  const std::string user = f.sasl_user && !f.sasl_user->empty() ? *f.sasl_user : "ACCOUNT";
  std::string cmd = "tlsrelay setup --smarthost " +
                    shell_word(r.key.host + ":" + std::to_string(r.key.port)) + " --user " +
                    shell_word(user);
  out.push_back(MtaFix{FixKind::Tlsrelay, std::move(cmd),
                       std::string(r.verdict == RoutePattern::Recurring ? "the failures recur"
                                                                        : "the failure goes on") +
                           ": with tlsrelay in the path each attempt is named and retried by "
                           "policy, and each message carries a TLS-Relay header saying how it "
                           "went",
                       ""});
}

}  // namespace

std::string_view to_string(FixKind k) {
  switch (k) {
    case FixKind::Postconf:
      return "postconf";
    case FixKind::Tlsrelay:
      return "tlsrelay";
    case FixKind::Note:
      return "note";
  }
  return "?";
}

std::string shell_word(std::string_view text) {
  const bool plain = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("@%+=:,./_-[]").find(c) != std::string_view::npos;
  });
  if (plain) return std::string(text);
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string postconf_line(std::string_view name, std::string_view value) {
  std::string assignment(name);
  assignment += " = ";
  assignment += value;
  std::string quoted = shell_word(assignment);
  if (quoted.front() != '\'') quoted = "'" + quoted + "'";  // "a = b" always has spaces
  return "postconf -e " + quoted;
}

unsigned tls_version_bit(std::string_view text) {
  text = trim_wsp(text);
  const std::string_view word = text.substr(0, text.find(' '));
  if (word == "TLSv1.3") return kTls13;
  if (word == "TLSv1.2") return kTls12;
  if (word == "TLSv1.1") return 2;
  if (word == "TLSv1") return 1;
  return 0;
}

namespace {

// TLSv1 = 0 ... TLSv1.3 = 3; SSL versions below, a future TLS 1.4 (0x0305) above.
std::optional<int> version_index(std::string_view name) {
  if (name == "SSLv2") return -2;
  if (name == "SSLv3") return -1;
  if (name == "TLSv1") return 0;
  if (name == "TLSv1.1") return 1;
  if (name == "TLSv1.2") return 2;
  if (name == "TLSv1.3") return 3;
  if (name.size() > 2 && name[0] == '0' && (name[1] == 'x' || name[1] == 'X'))
    name.remove_prefix(2);
  if (name.empty() || name.size() > 4) return std::nullopt;
  unsigned v = 0;
  for (char c : name) {
    const int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                  : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
                  : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                              : -1;
    if (d < 0) return std::nullopt;
    v = v * 16 + static_cast<unsigned>(d);
  }
  if (v < 0x0300) return std::nullopt;
  return static_cast<int>(v) - 0x0301;
}

}  // namespace

// Postfix's tls_protocol_mask() and tls_proto_mask_lims() (src/tls/tls_misc.c): names
// listed include (and then exclude every other), "!name" excludes, ">=" and "<=" bound.
unsigned postfix_tls_versions(std::string_view list) {
  unsigned include = 0;
  unsigned exclude = 0;
  int low = -10;
  int high = 10;
  std::size_t at = 0;
  while (at < list.size()) {
    const std::size_t end = list.find_first_of(" ,:\t", at);
    std::string_view item =
        list.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
    at = end == std::string_view::npos ? list.size() : end + 1;
    if (item.empty()) continue;
    enum { Include, Exclude, Low, High } op = Include;
    if (item.starts_with(">=")) {
      op = Low;
      item.remove_prefix(2);
    } else if (item.starts_with("<=")) {
      op = High;
      item.remove_prefix(2);
    } else if (item.starts_with("!")) {
      op = Exclude;
      item.remove_prefix(1);
    }
    const std::optional<int> v = version_index(item);
    if (!v) continue;
    const unsigned bit = *v >= 0 && *v <= 3 ? 1u << *v : 0u;
    switch (op) {
      case Include:
        include |= bit;
        break;
      case Exclude:
        exclude |= bit;
        break;
      case Low:
        low = *v;
        break;
      case High:
        high = *v;
        break;
    }
  }
  unsigned allowed = include ? include : kAllTls;
  allowed &= ~exclude;
  for (int i = 0; i < 4; ++i) {
    if (i < low || i > high) allowed &= ~(1u << i);
  }
  return allowed;
}

std::vector<MtaFix> mta_fixes(const RouteSummary& route, const MtaFacts& facts,
                              const LiveCheck* live) {
  std::vector<MtaFix> out;
  if (route.mta != Mta::Postfix || route.key.direction != Direction::Outbound) return out;
  const std::string where = route_text(route.key);
  if (!facts.postfix.empty()) {
    mode_fixes(route, facts, live, where, out);
    ca_fixes(route, facts, live, where, out);
    protocol_fixes(route, facts, live, where, out);
    starttls_notes(route, facts, live, where, out);
  }
  tlsrelay_advice(route, facts, live, out);
  return out;
}

}  // namespace tlsrelay::explain
