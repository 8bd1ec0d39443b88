#include "proxy/cli/probe_report.hpp"

#include "tls/attempt_record.hpp"

#include <cstdio>
#include <iomanip>

#include "common/text.hpp"
#include "tls/openssl_names.hpp"

namespace tlsrelay::proxy {

using namespace tls;

namespace {

std::string ms(const std::optional<double>& v) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", *v);
  return buf;
}

struct Style {
  bool on;
  std::string bold(const std::string& s) const { return on ? "\033[1m" + s + "\033[0m" : s; }
  std::string red(const std::string& s) const { return on ? "\033[1;31m" + s + "\033[0m" : s; }
  std::string green(const std::string& s) const { return on ? "\033[1;32m" + s + "\033[0m" : s; }
};

void phase_line(std::ostream& out, const char* name, const std::optional<double>& t,
                const std::string& what) {
  out << "  " << std::left << std::setw(15) << name << std::setw(11) << ms(t) << what << "\n";
}

}  // namespace

// Long on purpose: the report is read top to bottom, and so is this function; each section
// (phases, SMTP, TLS, chain, verdict) is a few lines of output in the order printed.
void print_probe_report(std::ostream& out, const AttemptFacts& f, const Verdict& v, bool colour) {
  const Style s{colour};
  const auto& u = f.upstream;
  out << s.bold("tlsrelay probe " + u.host + ":" + std::to_string(u.port)) << "  ("
      << to_string(u.tls_mode) << (f.ca_file.empty() ? ", system CA store" : ", CA " + f.ca_file)
      << ")\n\n";

  out << s.bold("Phases") << "\n";
  std::string dns_what = !u.connect_address.empty()
                             ? "skipped (--connect " + u.connect_address + ")"
                         : f.timings.dns ? join(f.network.addresses, " ")
                                         : "-";
  phase_line(out, "dns", f.timings.dns, dns_what);
  phase_line(
      out, "connect", f.timings.connect,
      f.network.address.empty() ? "-" : f.network.address + " port " + std::to_string(u.port));
  phase_line(out, "banner", f.timings.banner,
             f.smtp.banner ? printable(f.smtp.banner->first_line(), 70) : "-");
  phase_line(
      out, "ehlo", f.timings.ehlo,
      f.smtp.extensions.empty() ? "-" : std::to_string(f.smtp.extensions.size()) + " extensions");
  phase_line(out, "starttls", f.timings.starttls, "");
  phase_line(out, "tls-handshake", f.timings.tls_handshake,
             f.tls.version.empty() ? "" : f.tls.version + " " + f.tls.cipher);
  phase_line(out, "auth", f.timings.auth, f.smtp.auth_mechanism);
  phase_line(out, "total", f.timings.total, "");

  if (!f.smtp.transcript.empty()) {
    out << "\n" << s.bold("SMTP dialogue") << "\n";
    for (const auto& l : f.smtp.transcript) out << "  " << l << "\n";
  }
  if (!f.smtp.unparsed.empty()) {
    out << "  (not SMTP) " << printable(f.smtp.unparsed, 120) << "\n";
  }

  if (f.tls.attempted) {
    out << "\n" << s.bold("TLS") << "\n";
    out << "  version        " << (f.tls.version.empty() ? "-" : f.tls.version) << "\n";
    out << "  cipher         " << (f.tls.cipher.empty() ? "-" : f.tls.cipher) << "\n";
    out << "  SNI            " << (f.tls.sni.empty() ? "(none)" : f.tls.sni) << "\n";
    out << "  alerts         received: "
        << (f.tls.alerts_received.empty() ? "-" : join(f.tls.alerts_received, ", "))
        << "; sent: " << (f.tls.alerts_sent.empty() ? "-" : join(f.tls.alerts_sent, ", ")) << "\n";
    std::vector<std::string> hs;
    for (int t : f.tls.handshake_messages_received) hs.push_back(handshake_type_name(t));
    out << "  from server    " << (hs.empty() ? "-" : join(hs, ", ")) << " ("
        << f.tls.bytes_received << " bytes)\n";
    if (!f.tls.first_bytes.empty() && !looks_like_tls_record(f.tls.first_bytes)) {
      out << "  first bytes    \"" << printable(f.tls.first_bytes, 60) << "\"\n";
    }
  }

  if (!f.certificate.chain.empty()) {
    out << "\n" << s.bold("Certificate chain as sent") << "\n";
    for (std::size_t i = 0; i < f.certificate.chain.size(); ++i) {
      const CertFacts& c = f.certificate.chain[i];
      out << "  [" << i << "] " << printable(c.subject, 100)
          << (c.self_signed ? "  (self-signed)" : "") << "\n";
      out << "      issuer   " << printable(c.issuer, 100) << "\n";
      out << "      valid    " << c.not_before << " .. " << c.not_after << "\n";
      if (!c.san.empty()) out << "      names    " << printable(join(c.san, ", "), 200) << "\n";
      out << "      key      " << c.key << ", " << c.signature << "\n";
    }
    if (f.certificate.verified) {
      out << "  verified       ok for " << f.certificate.verify_name << "\n";
    }
    for (const auto& e : f.certificate.verify_errors) {
      out << "  verify error   " << e.error << " (" << verify_error_text(e.error) << ") at depth "
          << e.depth << "\n";
    }
  }
  if (!f.tls.openssl_errors.empty()) {
    out << "\n" << s.bold("OpenSSL errors") << "\n";
    for (const auto& e : f.tls.openssl_errors) out << "  " << e << "\n";
  }

  out << "\n";
  const ClassInfo& ci = info(v.cls);
  if (v.cls == FailureClass::Ok) {
    out << s.green("Verdict: ok") << "  " << v.detail << "\n";
    return;
  }
  out << s.red("Verdict: " + std::string(ci.name)) << "  (group " << to_string(ci.group)
      << ", phase " << to_string(v.phase) << ", fault " << to_string(ci.fault) << ", "
      << (v.transient ? "transient" : "permanent") << ")\n";
  out << "  detail: " << v.detail << "\n";
  out << "  hint:   " << v.hint << "\n";
  out << "  runbook: " << tls::runbook_anchor(v.cls) << "\n";
}

}  // namespace tlsrelay::proxy
