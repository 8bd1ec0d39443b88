#include "proxy/explain/explain_report.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <sstream>

#include "common/text.hpp"
#include "common/time_format.hpp"

namespace tlsrelay::explain {

namespace {

using FC = FailureClass;
using json = nlohmann::ordered_json;

constexpr std::size_t kWidth = 100;
constexpr std::size_t kShownClasses = 6;

// The first step of each class's runbook section (docs/failures.md), for an admin whose MTA
// makes the hop itself. {host}, {port} and {hostport} are the route's.
struct Step {
  FC cls;
  std::string_view text;
};
constexpr std::array kSteps = {
    Step{FC::Ok, "nothing to do"},
    Step{FC::DnsNxdomain,
         "check the name for a typo (host {host}): in relayhost or the transport map"},
    Step{FC::DnsFailure, "check the resolver: host {host}; cat /etc/resolv.conf"},
    Step{FC::ConnectRefused,
         "check the port: nothing listens on {hostport}, or a firewall rejects (nc -vz {host} "
         "{port})"},
    Step{FC::ConnectTimeout,
         "check whether your provider or firewall blocks outbound port {port}: nc -vz -w 10 "
         "{host} {port}"},
    Step{FC::NetworkUnreachable,
         "check the route to {host} (ip route get ADDRESS); no IPv6 route while the name has "
         "AAAA records is the usual cause"},
    Step{FC::ConnectionReset,
         "look for an IPS or TLS-inspecting firewall on the path; tlsrelay probe {hostport} "
         "shows in which phase the reset comes"},
    Step{FC::ConnectionClosed,
         "tlsrelay probe {hostport} shows when the server closes; ask its operator about "
         "connection limits"},
    Step{FC::Timeout,
         "check the path MTU (ping -M do -s 1472 {host}): a TLS handshake that stalls is the "
         "black-hole signature"},
    Step{FC::NotSmtp, "check the port: {hostport} does not answer SMTP"},
    Step{FC::BannerRejected,
         "read the greeting (tlsrelay probe {hostport}) and check whether your address is on a "
         "blocklist"},
    Step{FC::EhloRejected, "set a fully qualified smtp_helo_name; {host} refused EHLO"},
    Step{FC::StarttlsNotOffered,
         "ask the operator of {host} to enable STARTTLS, or use its implicit-TLS port 465"},
    Step{FC::StarttlsStripped,
         "find the firewall with SMTP inspection between here and {host} and switch that "
         "inspection off"},
    Step{FC::StarttlsRejected,
         "{host} answers STARTTLS with an error: its operator must fix its certificate or key"},
    Step{FC::StarttlsInjection,
         "treat it as an attack on the path: compare with tlsrelay probe {hostport} from "
         "another network"},
    Step{FC::TlsModeMismatch,
         "pair port and mode: 465 with implicit TLS (smtp_tls_wrappermode = yes), 587 and 25 "
         "with STARTTLS"},
    Step{FC::TlsProtocolMismatch, "ask the operator of {host} to enable TLS 1.2 and 1.3"},
    Step{FC::TlsNoSharedCipher,
         "ask the operator of {host} for modern cipher suites (ECDHE with AES-GCM or "
         "ChaCha20-Poly1305)"},
    Step{FC::TlsWeakParameters,
         "ask the operator of {host} for ECDHE or 2048-bit DH and RFC 5746 renegotiation"},
    Step{FC::TlsSniRequired, "name the server by its host name, not an IP address, in relayhost"},
    Step{FC::TlsClientCertificateRequired,
         "{host} wants a client certificate: set smtp_tls_chain_files, or ask for password "
         "authentication"},
    Step{FC::TlsAlert, "the alert is named in the line; ask the operator of {host} about it"},
    Step{FC::TlsError, "tlsrelay probe {hostport} shows OpenSSL's error queue"},
    Step{FC::CertificateExpired, "ask the operator of {host} to renew and install the certificate"},
    Step{FC::CertificateNotYetValid,
         "check this host's clock (date -u); else {host}'s certificate starts in the future"},
    Step{FC::ClientClockSkew,
         "set this host's clock: timedatectl; systemctl enable --now systemd-timesyncd"},
    Step{FC::CertificateHostMismatch,
         "connect by a name the certificate carries (tlsrelay probe {hostport} lists them), or "
         "ask for a certificate with this name"},
    Step{FC::CertificateChainIncomplete,
         "ask the operator of {host} to install the intermediate certificate (fullchain.pem)"},
    Step{FC::CertificateUntrusted,
         "refresh the CA bundle (apt install --reinstall ca-certificates), or add the private "
         "CA's root"},
    Step{FC::CertificateSelfSigned, "ask the operator of {host} for a certificate from a CA"},
    Step{FC::CertificateWeak,
         "ask the operator of {host} for a 2048-bit RSA or an ECDSA key and a SHA-256 signature"},
    Step{FC::CertificateRevoked, "ask the operator of {host} to install its new certificate"},
    Step{FC::CertificateInvalid,
         "tlsrelay probe {hostport} shows the verification error; ask the operator of {host}"},
    Step{FC::AuthFailed,
         "check the account in smtp_sasl_password_maps (Gmail wants an app password), then "
         "postmap the table"},
    Step{FC::AuthUnavailable,
         "use the submission port (587, or 465), where AUTH is offered after TLS"},
    Step{FC::LocalConfig,
         "check the files Postfix's TLS settings name: postconf -n | grep tls; postfix check"},
};

constexpr bool steps_in_enum_order() {
  for (std::size_t i = 0; i < kSteps.size(); ++i) {
    if (static_cast<std::size_t>(kSteps[i].cls) != i) return false;
  }
  return kSteps.size() == static_cast<std::size_t>(FC::LocalConfig) + 1;
}
static_assert(steps_in_enum_order(), "kSteps must list every FailureClass in enum order");

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

std::string time_text(const LogTime& t) {
  return utc_readable(t.unix_s);
}

json time_json(const LogTime& t) {
  return iso8601_seconds(t.unix_s);
}

json str_or_null(std::string_view s) {
  if (s.empty()) return nullptr;
  return std::string(s);
}

// Words onto lines of at most kWidth columns, each opened by `indent` (the first by
// `first`); a word longer than a line is cut.
void wrap(std::ostream& out, std::string_view first, std::string_view indent,
          std::string_view text) {
  std::string line(first);
  bool empty = true;
  std::size_t at = 0;
  while (at < text.size()) {
    while (at < text.size() && text[at] == ' ') ++at;
    if (at >= text.size()) break;
    std::size_t end = text.find(' ', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(at, end - at);
    at = end;
    const std::size_t room = kWidth - indent.size();
    while (word.size() > room) {  // only a pathological word
      if (!empty) {
        out << line << '\n';
        line = indent;
      }
      out << line << word.substr(0, kWidth - line.size()) << '\n';
      word.remove_prefix(kWidth - line.size());
      line = indent;
      empty = true;
    }
    if (!empty && line.size() + 1 + word.size() > kWidth) {
      out << line << '\n';
      line = indent;
      empty = true;
    }
    if (!empty) line += ' ';
    line += word;
    empty = false;
  }
  if (!empty) out << line << '\n';
}

std::string plural(std::uint64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

bool probe_failed(const RouteReport& r) {
  return r.live && r.live->probed && !r.live->ok;
}

bool probe_ok(const RouteReport& r) {
  return r.live && r.live->probed && r.live->ok;
}

bool has_postconf_fix(const RouteReport& r) {
  for (const MtaFix& f : r.fixes) {
    if (f.kind == FixKind::Postconf) return true;
  }
  return false;
}

// The class the report stands on: what the probe found now, else what the log decided.
std::optional<FC> leading_class(const RouteReport& r) {
  if (probe_failed(r)) return r.live->cls;
  return r.route.decided();
}

// "30 min", "2 h", "90 s".
std::string gap_text(std::int64_t s) {
  if (s % 3600 == 0) return std::to_string(s / 3600) + " h";
  if (s % 60 == 0) return std::to_string(s / 60) + " min";
  return std::to_string(s) + " s";
}

std::string verdict_meaning(const RouteSummary& s, const Report& report) {
  switch (s.verdict) {
    case RoutePattern::Ongoing:
      if (s.queue_ids.waiting > 0) {
        return "ongoing: no success since the last failure, and " +
               plural(s.queue_ids.waiting, "message is", "messages are") + " waiting for it now";
      }
      return "ongoing: no success since the last failure, within " +
             gap_text(report.limits.incident_gap_s) + " of the end of the log";
    case RoutePattern::Recurring:
      return "recurring: " + std::to_string(s.incidents) +
             " separate incidents; a failure that comes back points at the peer's TLS "
             "configuration, which its operator should bring up to current practice (tlsrelay "
             "probe shows what it offers)";
    case RoutePattern::OneOff:
      return "one-off: a single incident, over since; most often a network hiccup";
  }
  return "";
}

std::string class_list(const RouteSummary& s) {
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < s.classes.size() && i < kShownClasses; ++i) {
    parts.push_back(std::string(to_string(s.classes[i].cls)) + " (" +
                    std::to_string(s.classes[i].lines) + ")");
  }
  if (s.classes.size() > kShownClasses) {
    parts.push_back("and " + std::to_string(s.classes.size() - kShownClasses) + " more");
  }
  return join(parts, ", ");
}

std::string now_text(const RouteReport& r, const Report& report) {
  const RouteSummary& s = r.route;
  if (!r.live || !r.live->probed) {
    if (r.live && !r.live->error.empty()) return "not probed: " + r.live->error;
    if (report.no_probe) return "not probed (--no-probe)";
    if (s.key.direction == Direction::Inbound)
      return "not probed (inbound: the peer connects to us)";
    return "not probed";
  }
  const LiveCheck& l = *r.live;
  if (l.ok) {
    const std::string tls = l.tls.empty() ? "" : " (" + l.tls + ")";
    if (has_postconf_fix(r)) {
      return "the probe succeeds now" + tls +
             ", but Postfix's own settings still differ: see what to do";
    }
    return "fixed since " + time_text(s.last_failure) + ": the probe succeeds now" + tls;
  }
  std::string text = "still failing: " + std::string(to_string(l.cls));
  if (!l.hint.empty()) text += ": " + l.hint;
  return text;
}

std::string step_for(const RouteReport& r) {
  const RouteSummary& s = r.route;
  if (s.key.direction == Direction::Inbound) {
    return "a client failed TLS against this host's smtpd: check that its certificate and key "
           "(smtpd_tls_chain_files or smtpd_tls_cert_file) are current and that "
           "smtpd_tls_protocols allows TLSv1.2 and TLSv1.3; the client's own log says more";
  }
  if (probe_ok(r)) return "";
  if (std::optional<FC> c = leading_class(r)) return first_step(*c, s.key);
  // A route logged without a port (Exim's default log, Postfix's relay=none) is probed on 25.
  const std::string hostport = s.key.host + ":" + std::to_string(s.key.port ? s.key.port : 25);
  if (s.classes.empty()) return "tlsrelay probe " + hostport + " names the cause";
  return "tlsrelay probe " + hostport + " tells which of the candidates it is";
}

void text_route(std::ostream& out, std::size_t n, const RouteReport& r, const Report& report) {
  const RouteSummary& s = r.route;
  std::string verdict(to_string(s.verdict));
  for (char& c : verdict) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  wrap(out, "", "   ",
       std::to_string(n) + ". " + route_text(s.key) + "  " +
           std::string(to_string(s.key.direction)) + ", " + std::string(to_string(s.mta)) + "  " +
           verdict);

  out << "   What the log says\n";
  std::string when = plural(s.failures, "failed attempt", "failed attempts");
  if (s.failure_lines != s.failures) when += " (" + plural(s.failure_lines, "line", "lines") + ")";
  when += " in " + plural(s.incidents, "incident", "incidents") + ", first " +
          time_text(s.first_failure) + ", last " + time_text(s.last_failure) + "; last success " +
          (s.last_success ? time_text(*s.last_success) : std::string("none in the log"));
  wrap(out, "     ", "     ", when);
  const QueueIdStats& q = s.queue_ids;
  if (q.count + q.untracked > 0) {
    std::string msgs = "messages: " + std::to_string(q.count) + " deferred or bounced";
    if (q.untracked) msgs += " (and " + std::to_string(q.untracked) + " lines beyond the cap)";
    if (!q.first.empty()) {
      msgs += " (" + join(q.first, ", ") + (q.count > q.first.size() ? ", ..." : "") + ")";
    }
    msgs += "; " + std::to_string(q.delivered_later) + " delivered later, " +
            std::to_string(q.bounced) + " bounced, " + std::to_string(q.waiting) + " waiting";
    wrap(out, "     ", "     ", msgs);
  } else if (s.key.direction == Direction::Outbound) {
    wrap(out, "     ", "     ", "messages: no queue id on these lines");
  }
  std::string line = "line " + std::to_string(s.line_no) + " (" + std::string(to_string(s.kind));
  if (!s.stage.empty()) line += ", " + s.stage;
  line += "): " + (s.detail.empty() ? std::string("(no detail)") : printable(s.detail, 300));
  wrap(out, "     ", "       ", line);
  wrap(out, "     ", "     ", verdict_meaning(s, report));

  out << "   What it means\n";
  if (std::optional<FC> c = leading_class(r)) {
    const ClassInfo& ci = info(*c);
    const std::string by = probe_failed(r) ? "the probe names it" : "the log names it";
    wrap(out, "     ", "       ",
         std::string(ci.name) + " (" + by + "; fault: " + std::string(to_string(ci.fault)) +
             "): " + std::string(ci.meaning));
    wrap(out, "     ", "     ", "runbook: " + runbook_anchor(*c));
  } else if (!s.classes.empty()) {
    wrap(out, "     ", "       ",
         "the log cannot decide; candidates, most likely first: " + class_list(s));
    wrap(out, "     ", "     ",
         "runbook: " + runbook_anchor(s.classes.front().cls) + " and the sections of the others");
  } else {
    wrap(out, "     ", "     ", "the log names no class");
  }

  out << "   What is true now\n";
  wrap(out, "     ", "       ", now_text(r, report));

  out << "   What to do\n";
  bool any = false;
  auto show = [&](const MtaFix& f) {
    any = true;
    if (f.kind == FixKind::Note) {
      wrap(out, "     - ", "       ", f.reason);
      return;
    }
    if (!f.condition.empty()) wrap(out, "     - ", "       ", f.condition + ":");
    wrap(out, f.condition.empty() ? "     - " : "       ", "         ", f.command);
    wrap(out, "       why: ", "         ", f.reason);
  };
  for (const MtaFix& f : r.fixes) {
    if (f.kind != FixKind::Tlsrelay) show(f);
  }
  const std::string step = step_for(r);
  if (!step.empty()) {
    wrap(out, "     - ", "       ", "first step (runbook): " + step);
    any = true;
  }
  for (const MtaFix& f : r.fixes) {
    if (f.kind == FixKind::Tlsrelay) show(f);
  }
  if (!any) wrap(out, "     - ", "       ", "nothing: the route works now");
  if (!report.settings_read && s.key.direction == Direction::Outbound && s.mta == Mta::Postfix) {
    wrap(out, "     ", "     ",
         "(Postfix's settings were not read: run on the mail host, or give --mta-config DIR, "
         "for fixes to main.cf)");
  }
}

struct Totals {
  std::uint64_t ongoing = 0, recurring = 0, one_off = 0;
  std::uint64_t failures = 0, messages = 0, delivered = 0, waiting = 0, bounced = 0;
};

Totals totals(const Report& report) {
  Totals t;
  for (const RouteReport& r : report.routes) {
    const RouteSummary& s = r.route;
    (s.verdict == RoutePattern::Ongoing     ? t.ongoing
     : s.verdict == RoutePattern::Recurring ? t.recurring
                                            : t.one_off)++;
    t.failures += s.failures;
    t.messages += s.queue_ids.count + s.queue_ids.untracked;
    t.delivered += s.queue_ids.delivered_later;
    t.waiting += s.queue_ids.waiting;
    t.bounced += s.queue_ids.bounced;
  }
  return t;
}

json live_json(const RouteReport& r) {
  if (!r.live) return nullptr;
  const LiveCheck& l = *r.live;
  return {{"probed", l.probed},
          {"ok", l.probed && l.ok},
          {"class", l.probed ? json(std::string(to_string(l.cls))) : json(nullptr)},
          {"hint", str_or_null(l.hint)},
          {"tls", str_or_null(l.tls)},
          {"error", str_or_null(l.error)}};
}

json route_json(std::size_t rank, const RouteReport& r) {
  const RouteSummary& s = r.route;
  json classes = json::array();
  for (const ClassCount& c : s.classes) {
    const ClassInfo& ci = info(c.cls);
    classes.push_back({{"class", std::string(ci.name)},
                       {"lines", c.lines},
                       {"confirmed", c.confirmed},
                       {"group", std::string(to_string(ci.group))},
                       {"fault", std::string(to_string(ci.fault))},
                       {"runbook", runbook_anchor(c.cls)}});
  }
  json incidents = json::array();
  for (const Incident& i : s.last_incidents) {
    incidents.push_back(
        {{"start", time_json(i.start)}, {"end", time_json(i.end)}, {"failures", i.failures}});
  }
  json fixes = json::array();
  for (const MtaFix& f : r.fixes) {
    fixes.push_back({{"kind", std::string(to_string(f.kind))},
                     {"command", str_or_null(f.command)},
                     {"reason", f.reason},
                     {"condition", str_or_null(f.condition)}});
  }
  const std::optional<FC> decided = s.decided();
  const std::string step = step_for(r);
  return {{"type", "route"},
          {"rank", rank},
          {"route", route_text(s.key)},
          {"direction", std::string(to_string(s.key.direction))},
          {"host", str_or_null(s.key.host)},
          {"address", str_or_null(s.key.address)},
          {"port", s.key.port == 0 ? json(nullptr) : json(s.key.port)},
          {"mta", std::string(to_string(s.mta))},
          {"verdict", std::string(to_string(s.verdict))},
          {"failures", s.failures},
          {"failure_lines", s.failure_lines},
          {"first_failure", time_json(s.first_failure)},
          {"last_failure", time_json(s.last_failure)},
          {"last_success", s.last_success ? time_json(*s.last_success) : json(nullptr)},
          {"incidents", s.incidents},
          {"last_incidents", incidents},
          {"class", decided ? json(std::string(to_string(*decided))) : json(nullptr)},
          {"candidates", classes},
          {"line",
           {{"number", s.line_no},
            {"kind", std::string(to_string(s.kind))},
            {"stage", str_or_null(s.stage)},
            {"detail", printable(s.detail, 300)}}},
          {"queue_ids",
           {{"count", s.queue_ids.count},
            {"untracked", s.queue_ids.untracked},
            {"delivered_later", s.queue_ids.delivered_later},
            {"bounced", s.queue_ids.bounced},
            {"waiting", s.queue_ids.waiting},
            {"first", s.queue_ids.first}}},
          {"live", live_json(r)},
          {"fixes", fixes},
          {"first_step", str_or_null(step)}};
}

}  // namespace

std::string runbook_anchor(FailureClass c) {
  return "docs/failures.md#" + std::string(to_string(c));
}

std::string first_step(FailureClass c, const RouteKey& route) {
  std::string s(kSteps[static_cast<std::size_t>(c)].text);
  const std::string port = route.port ? std::to_string(route.port) : std::string("25");
  replace_all(s, "{hostport}", route.host + ":" + port);
  replace_all(s, "{host}", route.host);
  replace_all(s, "{port}", port);
  return s;
}

int exit_status(const Report& report) {
  return report.routes.empty() && report.book.other_failure_lines == 0 ? 0 : 1;
}

void write_text(std::ostream& out, const Report& report) {
  std::string head = "tlsrelay explain: read " + std::to_string(report.reader.lines) +
                     " lines, recognised " + std::to_string(report.reader.recognised) +
                     ", skipped " + std::to_string(report.reader.skipped);
  if (report.first_line && report.last_line) {
    head +=
        "; the log covers " + time_text(*report.first_line) + " to " + time_text(*report.last_line);
    if (report.first_line->year_guessed || report.last_line->year_guessed) {
      head += " (the year guessed: RFC 3164 lines carry none)";
    }
  }
  wrap(out, "", "  ", head);
  wrap(out, "", "  ",
       "Incidents: failures of a route more than " + gap_text(report.limits.incident_gap_s) +
           " apart with no message waiting, or with a success between them, are separate "
           "incidents (docs/explain.md).");
  if (report.book.routes_capped()) {
    wrap(out, "", "  ",
         "Only the first " + std::to_string(report.limits.max_routes) + " routes are told apart; " +
             std::to_string(report.book.other_failure_lines) +
             " failure lines on further routes are counted, not grouped.");
  }
  if (report.book.untracked_queue_ids > 0) {
    wrap(out, "", "  ",
         std::to_string(report.book.untracked_queue_ids) +
             " deferral lines came after the queue-id cap (" +
             std::to_string(report.limits.max_queue_ids_per_route) + " a route, " +
             std::to_string(report.limits.max_queue_ids) +
             " in all): counted, not followed to delivery.");
  }
  if (report.book.out_of_order > 0) {
    wrap(out, "", "  ",
         std::to_string(report.book.out_of_order) +
             " failures were older than their route's last: give the logs oldest first.");
  }
  out << '\n';
  if (report.routes.empty()) {
    out << (report.book.other_failure_lines ? "No route to show.\n"
                                            : "No TLS failure in this log: nothing to explain.\n");
  }
  std::size_t n = 0;
  for (const RouteReport& r : report.routes) {
    text_route(out, ++n, r, report);
    out << '\n';
  }
  const Totals t = totals(report);
  if (!report.routes.empty()) {
    wrap(out, "", "  ",
         "Summary: " + plural(report.routes.size(), "route", "routes") + " with failures (" +
             std::to_string(t.ongoing) + " ongoing, " + std::to_string(t.recurring) +
             " recurring, " + std::to_string(t.one_off) + " one-off); " +
             plural(t.failures, "failed attempt", "failed attempts") + "; " +
             plural(t.messages, "message", "messages") + " affected, " +
             std::to_string(t.delivered) + " delivered later, " + std::to_string(t.bounced) +
             " bounced, " + std::to_string(t.waiting) + " waiting.");
  }
}

void write_json_lines(std::ostream& out, const Report& report) {
  std::size_t rank = 0;
  for (const RouteReport& r : report.routes) out << route_json(++rank, r).dump() << '\n';
  const Totals t = totals(report);
  const bool guessed = (report.first_line && report.first_line->year_guessed) ||
                       (report.last_line && report.last_line->year_guessed);
  json summary = {{"type", "summary"},
                  {"routes", report.routes.size()},
                  {"ongoing", t.ongoing},
                  {"recurring", t.recurring},
                  {"one_off", t.one_off},
                  {"failures", t.failures},
                  {"messages", t.messages},
                  {"delivered_later", t.delivered},
                  {"bounced", t.bounced},
                  {"waiting", t.waiting},
                  {"lines", report.reader.lines},
                  {"recognised", report.reader.recognised},
                  {"skipped", report.reader.skipped},
                  {"events", report.reader.events},
                  {"first_line", report.first_line ? time_json(*report.first_line) : json(nullptr)},
                  {"last_line", report.last_line ? time_json(*report.last_line) : json(nullptr)},
                  {"year_guessed", guessed},
                  {"incident_gap_s", report.limits.incident_gap_s},
                  {"max_routes", report.limits.max_routes},
                  {"other_failure_lines", report.book.other_failure_lines},
                  {"untracked_queue_ids", report.book.untracked_queue_ids},
                  {"out_of_order", report.book.out_of_order},
                  {"probed", !report.no_probe},
                  {"settings_read", report.settings_read},
                  {"exit", exit_status(report)}};
  out << summary.dump() << '\n';
}

void write_report(std::ostream& out, const Report& report, const ReportOptions& options) {
  if (options.json) {
    write_json_lines(out, report);
  } else {
    write_text(out, report);
  }
}

}  // namespace tlsrelay::explain
