#include "proxy/cli/report_command.hpp"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>

#include "config/config_error.hpp"
#include "config/loader.hpp"
#include "proxy/cli/cli_args.hpp"
#include "proxy/status/report.hpp"

namespace tlsrelay::proxy {

const char* report_usage() {
  return "usage: tlsrelay report [options] EVENTS.jsonl...\n"
         "  --hours N              the window: the last N hours (default 24)\n"
         "  --from TIME --to TIME  or an explicit window, RFC 3339 UTC (2026-11-29T00:00:00Z)\n"
         "  --tlsrpt               print an RFC 8460 aggregate report (JSON)\n"
         "  --organization NAME    its organization-name (default: this host's name)\n"
         "  --contact ADDRESS      its contact-info (default: postmaster@HOST)\n"
         "  --report-id ID         its report-id (default: from the window and host)\n"
         "  --config FILE          take [health.recurrence] (one-off or recurring) from FILE\n"
         "Without --tlsrpt: attempts and the top failure classes per upstream, with hints.\n";
}

// Long on purpose: the options, then the files in order, then the one output chosen; as
// the usage text reads.
int report_command(const std::vector<std::string>& args) {
  std::vector<std::string> files;
  double hours = 24;
  std::string from, to;
  bool tlsrpt = false;
  TlsRptOptions o;
  std::string config_path;
  try {
    ArgCursor c(args);
    while (!c.done()) {
      if (!c.is_option()) {
        files.push_back(c.take_positional());
        continue;
      }
      const std::string name = c.option_name();
      if (name == "help") {
        std::cout << report_usage();
        return 0;
      } else if (name == "hours") {
        hours = parse_number("--hours", c.take_value(), 0.001, 24 * 366);
      } else if (name == "from") {
        from = c.take_value();
      } else if (name == "to") {
        to = c.take_value();
      } else if (name == "tlsrpt") {
        c.skip_flag();
        tlsrpt = true;
      } else if (name == "organization") {
        o.organization = c.take_value();
      } else if (name == "contact") {
        o.contact = c.take_value();
      } else if (name == "report-id") {
        o.report_id = c.take_value();
      } else if (name == "config") {
        config_path = c.take_value();
      } else {
        throw UsageError("unknown option --" + name);
      }
    }
    if (files.empty()) throw UsageError("no event log given");
    if (from.empty() != to.empty()) throw UsageError("--from and --to go together");
  } catch (const UsageError& e) {
    std::cerr << "tlsrelay report: " << e.what() << "\n";
    return 2;
  }
  RecurrenceRule rule;
  if (!config_path.empty()) {
    try {
      rule = config::load_settings(config_path).health_recurrence;
    } catch (const config::ConfigError& e) {
      std::cerr << e.what() << "\n";
      return 1;
    }
  }
  ReportWindow w;
  if (!from.empty()) {
    w.from = parse_rfc3339(from);
    w.to = parse_rfc3339(to);
    if (w.from < 0 || w.to < 0 || w.to <= w.from) {
      std::cerr << "tlsrelay report: --from/--to must be RFC 3339 UTC times, from before to\n";
      return 2;
    }
  } else {
    w.to = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count() +
           1;
    w.from = w.to - static_cast<std::int64_t>(hours * 3600);
  }
  std::vector<std::string> lines;
  for (const std::string& f : files) {
    std::ifstream in(f);
    if (!in) {
      std::cerr << "tlsrelay report: cannot read " << f << "\n";
      return 1;
    }
    for (std::string line; std::getline(in, line);) lines.push_back(std::move(line));
  }
  const LogSummary s = summarize(lines, w, rule);
  if (!tlsrpt) {
    std::cout << summary_text(s);
    return 0;
  }
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  if (o.organization.empty()) o.organization = host;
  if (o.contact.empty()) o.contact = std::string("postmaster@") + host;
  if (o.report_id.empty()) {
    o.report_id = std::to_string(w.from) + "-" + std::to_string(w.to) + "@" + host;
  }
  std::cout << tlsrpt_report(s, o).dump(2) << "\n";
  return 0;
}

}  // namespace tlsrelay::proxy
