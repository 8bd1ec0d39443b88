#include "proxy/cli/audit_report.hpp"

#include <cctype>
#include <cstdio>

#include "common/text.hpp"

namespace tlsrelay::proxy {

namespace {

std::string upper(std::string_view s) {
  std::string u(s);
  for (auto& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return u;
}

std::string mode_text(TlsMode m) {
  return m == TlsMode::Implicit ? "implicit TLS" : "STARTTLS";
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f s", s);
  return buf;
}

}  // namespace

std::vector<std::pair<std::string, const tls::ScanOutcome*>> audit_scans(const AuditEvidence& e) {
  std::vector<std::pair<std::string, const tls::ScanOutcome*>> out;
  auto add = [&](std::string label, const tls::ScanOutcome& o) {
    if (o.tried) out.emplace_back(std::move(label), &o);
  };
  add("default offer", e.base);
  add("default offer again (resumption)", e.resumed);
  add("default offer without SNI", e.without_sni);
  for (const auto& [v, o] : e.versions) add("TLS " + v + " only", o);
  for (const auto& [id, o] : e.families) add("TLS 1.2, suites " + id, o);
  add("TLS 1.2, " + e.order_first_choice + " offered last", e.order_reversed);
  add("TLS 1.2, without " + e.order_first_choice, e.order_without_first);
  for (const auto& [g, o] : e.groups) add("group " + g + " only", o);
  return out;
}

void print_findings(std::ostream& out, const std::vector<Finding>& findings) {
  for (const auto& f : findings) {
    char label[16];
    std::snprintf(label, sizeof label, "%-9s", upper(to_string(f.severity)).c_str());
    out << label << " " << f.id << ": " << printable(f.title, kAuditMaxShown) << "\n";
    if (f.severity == Severity::Ok) continue;
    if (!f.evidence.empty())
      out << "          seen: " << printable(f.evidence, kAuditMaxShown) << "\n";
    if (!f.fix.empty()) out << "          fix:  " << printable(f.fix, kAuditMaxShown) << "\n";
  }
}

nlohmann::ordered_json findings_json(const std::vector<Finding>& findings) {
  auto fs = nlohmann::ordered_json::array();
  for (const auto& f : findings) {
    fs.push_back({{"id", f.id},
                  {"severity", to_string(f.severity)},
                  {"title", printable(f.title, kAuditMaxShown)},
                  {"evidence", printable(f.evidence, kAuditMaxShown)},
                  {"fix", f.fix}});
  }
  return fs;
}

void print_audit_report(std::ostream& out, const AuditEvidence& e,
                        const std::vector<Finding>& findings, double seconds) {
  out << "tlsrelay audit " << e.host << ":" << e.port << " (" << mode_text(e.mode)
      << "): " << e.handshakes << (e.handshakes == 1 ? " handshake in " : " handshakes in ")
      << seconds_text(seconds) << "\n"
      << "graded against RFC 9325 (BCP 195) and Mozilla's intermediate configuration "
         "(docs/audit.md)\n\n";
  print_findings(out, findings);
  out << "\nHandshakes (none sent AUTH or MAIL)\n";
  for (const auto& [label, o] : audit_scans(e)) {
    out << "  " << label << ": "
        << (o->handshake_done
                ? o->version + " " + o->cipher + (o->group.empty() ? "" : " " + o->group)
                : "no handshake: " + printable(o->failure, kAuditMaxShown))
        << "\n";
  }
  const Severity w = worst(findings);
  out << "\nworst: " << to_string(w) << " (exit status " << audit_exit_status(findings) << ")\n";
}

nlohmann::ordered_json audit_json(const AuditEvidence& e, const std::vector<Finding>& findings,
                                  double seconds) {
  nlohmann::ordered_json j;
  j["host"] = e.host;
  j["port"] = e.port;
  j["tls"] = e.mode == TlsMode::Implicit ? "implicit" : "starttls";
  j["profile"] = {"RFC 9325", "Mozilla intermediate"};
  j["handshakes"] = e.handshakes;
  j["max_handshakes"] = e.max_handshakes;
  j["complete"] = !e.deadline_hit;
  j["duration_s"] = seconds;
  j["worst"] = to_string(worst(findings));
  j["exit_status"] = audit_exit_status(findings);
  j["findings"] = findings_json(findings);
  auto& ss = j["scans"] = nlohmann::ordered_json::array();
  for (const auto& [label, o] : audit_scans(e)) {
    nlohmann::ordered_json s = {{"offer", label}, {"handshake", o->handshake_done}};
    if (o->handshake_done) {
      s["version"] = o->version;
      s["cipher"] = o->cipher;
      s["group"] = o->group;
    } else {
      s["failure"] = printable(o->failure, kAuditMaxShown);
    }
    ss.push_back(std::move(s));
  }
  return j;
}

}  // namespace tlsrelay::proxy
