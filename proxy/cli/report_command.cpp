#include "proxy/cli/report_command.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>

#include "config/config_error.hpp"
#include "config/loader.hpp"
#include "proxy/cli/cli_args.hpp"
#include "proxy/cli/explain_input.hpp"
#include "proxy/status/report.hpp"

namespace tlsrelay::proxy {

const char* report_usage() {
  return "usage: tlsrelay report [options] EVENTS.jsonl|DIR|-...\n"
         "  several logs (instances, rotations; .gz too) are read as one; a DIR stands for\n"
         "  its *.jsonl files and their rotations, - for standard input\n"
         "  --hours N              the window: the last N hours (default 24)\n"
         "  --from TIME --to TIME  or an explicit window, RFC 3339 UTC (2026-11-29T00:00:00Z)\n"
         "  --tlsrpt               print an RFC 8460 aggregate report (JSON)\n"
         "  --organization NAME    its organization-name (default: this host's name)\n"
         "  --contact ADDRESS      its contact-info (default: postmaster@HOST)\n"
         "  --report-id ID         its report-id (default: from the window and host)\n"
         "  --config FILE          take [health.recurrence] (one-off or recurring) from FILE\n"
         "Without --tlsrpt: attempts and the top failure classes per upstream, with hints.\n";
}

namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// What follows ".jsonl" in an event log's name: nothing, or logrotate's ".N" / "-DATE", then
// maybe ".gz".
bool is_event_log_suffix(std::string_view rest) {
  if (rest.ends_with(".gz")) rest.remove_suffix(3);
  return rest.empty() || ((rest[0] == '.' || rest[0] == '-') && all_digits(rest.substr(1)));
}

}  // namespace

std::vector<std::string> event_logs_in(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) throw InputError(dir + ": " + ec.message());
  std::vector<std::string> files;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const auto at = name.find(".jsonl");
    if (at == 0 || at == std::string::npos) continue;
    if (!is_event_log_suffix(std::string_view(name).substr(at + 6))) continue;
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;
    files.push_back(it->path().string());
  }
  if (ec) throw InputError(dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  return files;
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
  try {
    std::vector<std::string> paths;
    for (const std::string& f : files) {
      std::error_code ec;
      if (f == "-" || !std::filesystem::is_directory(f, ec)) {
        paths.push_back(f);
        continue;
      }
      const auto in_dir = event_logs_in(f);
      if (in_dir.empty()) throw InputError(f + ": no event log (*.jsonl) in this directory");
      paths.insert(paths.end(), in_dir.begin(), in_dir.end());
    }
    for (const std::string& p : paths) {
      const auto source = open_log(p);
      for (std::string line; source->next(line);) lines.push_back(std::move(line));
      if (!source->warning().empty()) {
        std::cerr << "tlsrelay report: " << source->name() << ": " << source->warning() << "\n";
      }
    }
  } catch (const InputError& e) {
    std::cerr << "tlsrelay report: cannot read " << e.what() << "\n";
    return 1;
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
