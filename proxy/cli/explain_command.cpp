#include "proxy/cli/explain_command.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>

#include "proxy/cli/cli_args.hpp"
#include "proxy/cli/explain_input.hpp"
#include "proxy/cli/explain_probe.hpp"
#include "proxy/cli/postfix_settings.hpp"
#include "proxy/cli/subprocess.hpp"
#include "proxy/explain/explain_report.hpp"
#include "proxy/explain/log_reader.hpp"
#include "proxy/explain/mta_fixes.hpp"
#include "proxy/explain/route_book.hpp"

namespace tlsrelay::proxy {

const char* explain_usage() {
  return R"(usage: tlsrelay explain [FILE...|-] [options]
Reads the MTA's own log (Postfix, Exim, Sendmail) and says, for each route whose TLS failed,
why, whether it still fails, and what to change. Without FILE: /var/log/mail.log and its
rotations, else the journal. FILE may be gzip-compressed; - is standard input.
  --journal[=UNIT]      read the journal (journalctl -o json), all of it or UNIT's
  --since TIME          only what was logged from TIME on ("2026-12-01", "2026-12-01 10:00",
  --until TIME          "yesterday", "-2h", "-7d"; local time, or UTC with a final Z)
  --json                one JSON object per route, worst first, then a summary (docs/explain.md)
  --no-probe            from the log alone: do not connect to the routes
  --mta-config DIR      Postfix's configuration directory (default: postconf's own)
  --with-credentials    probe with AUTH, the account from smtp_sasl_password_maps
  --max-probes N        probe at most N routes, the worst first (default 10)
  --timeout SECONDS     per-phase time-out of a probe (default 10)
Exit status: 0 nothing to explain, 1 failures found, 2 bad usage or unreadable input.
)";
}

namespace {

struct ExplainOptions {
  std::vector<std::string> files;
  bool journal = false;
  std::optional<std::string> unit;
  std::optional<std::string> since, until;
  std::optional<std::int64_t> since_s, until_s;
  bool json = false;
  bool no_probe = false;
  std::string mta_config;
  bool with_credentials = false;
  int max_probes = 10;
  std::chrono::milliseconds timeout{10000};
};

std::int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ExplainOptions parse_explain_args(const std::vector<std::string>& args) {
  ExplainOptions o;
  ArgCursor c(args);
  while (!c.done()) {
    if (!c.is_option()) {
      o.files.push_back(c.take_positional());
      continue;
    }
    const std::string name = c.option_name();
    if (name == "journal") {
      // --journal alone reads all of it: a following word is a FILE, not a unit.
      if (c.peek().find('=') != std::string::npos) {
        o.unit = c.take_value();
        if (o.unit->empty()) throw UsageError("--journal=: the unit name is missing");
      } else {
        c.skip_flag();
      }
      o.journal = true;
    } else if (name == "since" || name == "until") {
      const std::string v = c.take_value();
      const auto t = parse_time_arg(v, now_unix());
      if (!t) {
        throw UsageError("--" + name + " " + v +
                         ": not a time (2026-12-01, \"2026-12-01 10:00\", yesterday, -2h)");
      }
      (name == "since" ? o.since : o.until) = v;
      (name == "since" ? o.since_s : o.until_s) = *t;
    } else if (name == "json") {
      c.skip_flag();
      o.json = true;
    } else if (name == "no-probe") {
      c.skip_flag();
      o.no_probe = true;
    } else if (name == "mta-config") {
      o.mta_config = c.take_value();
    } else if (name == "with-credentials") {
      c.skip_flag();
      o.with_credentials = true;
    } else if (name == "max-probes") {
      o.max_probes = static_cast<int>(parse_number("--max-probes", c.take_value(), 0, 100));
    } else if (name == "timeout") {
      o.timeout = std::chrono::milliseconds(
          static_cast<long>(parse_number("--timeout", c.take_value(), 1, 300) * 1000));
    } else {
      throw UsageError("unknown option --" + name + " (tlsrelay explain --help)");
    }
  }
  if (o.journal && !o.files.empty()) throw UsageError("--journal and FILE: choose one");
  if (o.since_s && o.until_s && *o.until_s < *o.since_s) {
    throw UsageError("--until is before --since");
  }
  return o;
}

// Everything the inputs hold, through the reader into the book; the times the log covers.
struct ReadResult {
  explain::ReaderCounts counts;
  std::optional<explain::LogTime> first, last;
  std::vector<std::string> warnings;
};

void read_input(LineSource& in, const ExplainOptions& o, explain::LogReader& reader,
                explain::RouteBook& book, ReadResult& result) {
  std::vector<explain::LogEvent> events;
  const auto take = [&] {
    for (const auto& e : events) {
      // --since/--until for files (journalctl applies them itself).
      if (!o.journal && ((o.since_s && e.time.unix_s < *o.since_s) ||
                         (o.until_s && e.time.unix_s > *o.until_s))) {
        continue;
      }
      if (!result.first || e.time < *result.first) result.first = e.time;
      if (!result.last || *result.last < e.time) result.last = e.time;
      book.add(e);
      ++result.counts.events;
    }
    events.clear();
  };
  for (std::string line; in.next(line);) {
    reader.feed(line, events);
    if (!events.empty()) take();
  }
  reader.finish(events);
  take();
  if (!in.warning().empty()) result.warnings.push_back(in.warning());
}

// Postfix's effective settings (postconf -x: $references expanded), and what explain can
// see of its files. Unset when Postfix is not installed here.
std::optional<explain::MtaFacts> read_postfix(const ExplainOptions& o, std::ostream& err) {
  // Without a main.cf postconf has nothing to say, and says it after a second's pause (its
  // fatal errors sleep): look first.
  const std::string dir = o.mta_config.empty() ? std::string("/etc/postfix") : o.mta_config;
  std::error_code ec;
  if (!std::filesystem::exists(dir + "/main.cf", ec)) {
    if (!o.mta_config.empty()) {
      err << "tlsrelay explain: cannot read Postfix's settings: no main.cf in " << dir
          << " (no fixes on Postfix's side)\n";
    }
    return std::nullopt;
  }
  std::vector<std::string> argv = {"postconf", "-x"};
  if (!o.mta_config.empty()) argv.insert(argv.end(), {"-c", o.mta_config});
  const ProgramResult r = run_program(argv);
  if (!r.ok()) {
    if (!o.mta_config.empty() || find_program("postconf")) {
      err << "tlsrelay explain: cannot read Postfix's settings: " << r.first_line()
          << " (no fixes on Postfix's side)\n";
    }
    return std::nullopt;
  }
  explain::MtaFacts facts;
  for (auto& [name, value] : parse_postconf(r.out)) facts.postfix.emplace(name, value);
  const auto value = [&](const std::string& name) {
    const auto it = facts.postfix.find(name);
    return it == facts.postfix.end() ? std::string() : it->second;
  };
  if (const std::string ca = value("smtp_tls_CAfile"); !ca.empty()) {
    facts.cafile_exists = std::filesystem::is_regular_file(ca, ec);
  }
  // master.cf's smtp/unix service: its fifth field says whether it runs chrooted.
  std::vector<std::string> services = {"postconf", "-M", "smtp/unix"};
  if (!o.mta_config.empty()) services.insert(services.begin() + 1, {"-c", o.mta_config});
  if (const ProgramResult m = run_program(services); m.ok()) {
    std::istringstream fields(m.out);
    std::string field;
    for (int i = 0; i < 5 && fields >> field; ++i) {
    }
    // "-" is the default, n since Postfix 3.0; Debian's master.cf says y for smtp.
    if (field == "y" || field == "n" || field == "-") facts.smtp_chrooted = field == "y";
  }
  if (const std::string capath = value("smtp_tls_CApath"); !capath.empty()) {
    const std::string queue = value("queue_directory");
    facts.capath_in_chroot = std::filesystem::is_directory(queue + "/" + capath, ec);
  }
  return facts;
}

// The live check for each outbound route, worst first, at most max_probes of them.
void probe(explain::Report& report, const ExplainOptions& o,
           const std::optional<explain::MtaFacts>& facts) {
  std::vector<ProbeJob> jobs;
  std::vector<std::size_t> which;
  const PostfixParameters empty;
  const PostfixParameters& postfix = facts ? facts->postfix : empty;
  for (std::size_t i = 0; i < report.routes.size(); ++i) {
    const auto& key = report.routes[i].route.key;
    if (key.direction != explain::Direction::Outbound) continue;
    // A route logged without a port (relay=none: its name did not resolve) is the relayhost's
    // or an MX at 25.
    std::uint16_t port = key.port;
    if (port == 0) port = relayhost_port(key.host, postfix).value_or(25);
    if (key.host.empty() && key.address.empty()) {
      explain::LiveCheck skipped;
      skipped.error = "the log names no host to probe";
      report.routes[i].live = skipped;
      continue;
    }
    if (static_cast<int>(jobs.size()) >= o.max_probes) {
      explain::LiveCheck skipped;
      skipped.error = "probe limit of " + std::to_string(o.max_probes) + " routes reached";
      report.routes[i].live = skipped;
      continue;
    }
    RouteTarget target{key.host, key.address, port};
    ProbeJob job{target, mta_probe_plan(target, postfix, o.timeout)};
    if (o.with_credentials && facts) {
      job.plan.attempt.credentials = sasl_credentials(target, postfix, o.mta_config);
    }
    jobs.push_back(std::move(job));
    which.push_back(i);
  }
  const std::vector<RouteProbe> results = probe_routes(jobs, 4);
  for (std::size_t j = 0; j < results.size(); ++j) {
    const RouteProbe& r = results[j];
    explain::LiveCheck live;
    live.probed = true;
    live.ok = r.verdict.cls == FailureClass::Ok;
    live.cls = r.verdict.cls;
    live.hint = r.verdict.hint;
    if (!r.facts.tls.version.empty()) live.tls = r.facts.tls.version + " " + r.facts.tls.cipher;
    report.routes[which[j]].live = live;
  }
}

}  // namespace

int explain_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  ExplainOptions o;
  try {
    o = parse_explain_args(args);
  } catch (const UsageError& e) {
    err << "tlsrelay explain: " << e.what() << "\n";
    return 2;
  }
  if (!o.journal && o.files.empty()) {
    o.files = default_mail_logs();
    if (o.files.empty()) o.journal = true;  // no mail.log: a journald-only host
  }

  explain::LogReader reader(explain::ReaderOptions{now_unix()});
  explain::RouteBook book;
  ReadResult read;
  try {
    if (o.journal) {
      const auto in = open_journal(o.unit, o.since, o.until);
      read_input(*in, o, reader, book, read);
    } else {
      for (const auto& file : o.files) {
        const auto in = open_log(file);
        read_input(*in, o, reader, book, read);
      }
    }
  } catch (const InputError& e) {
    err << "tlsrelay explain: " << e.what() << "\n";
    return 2;
  }
  for (const auto& w : read.warnings) err << "tlsrelay explain: " << w << "\n";

  explain::Report report;
  report.reader = read.counts;
  report.reader.lines = reader.stats().lines;
  report.reader.recognised = reader.stats().recognised;
  report.reader.skipped = reader.stats().skipped;
  report.book = book.stats();
  report.limits = book.limits();
  report.first_line = read.first;
  report.last_line = read.last;
  report.no_probe = o.no_probe;
  explain::LogTime end = read.last.value_or(explain::LogTime{now_unix()});
  if (o.until_s && end.unix_s < *o.until_s) end = explain::LogTime{*o.until_s};
  for (auto& summary : book.summarize(end)) {
    report.routes.push_back(explain::RouteReport{std::move(summary), std::nullopt, {}});
  }

  std::optional<explain::MtaFacts> facts;
  if (!report.routes.empty()) facts = read_postfix(o, err);
  report.settings_read = facts.has_value();
  if (!o.no_probe && !report.routes.empty()) probe(report, o, facts);
  const explain::MtaFacts no_facts;
  for (auto& r : report.routes) {
    r.fixes = explain::mta_fixes(r.route, facts ? *facts : no_facts,
                                 r.live && r.live->probed ? &*r.live : nullptr);
  }
  explain::write_report(out, report, explain::ReportOptions{o.json});
  return explain::exit_status(report);
}

}  // namespace tlsrelay::proxy
