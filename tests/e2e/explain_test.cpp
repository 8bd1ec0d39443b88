// `tlsrelay explain` end to end, from the log alone (--no-probe), on REAL MTA logs: every
// log under tests/data/explain/<mta>/ was written by a real Postfix 3.7 or Exim 4.96 relaying
// to the test peer in one failure mode (gen-postfix-logs.sh, gen-exim-logs.sh). Each
// directory's README.md table says what explain must name for each file; this test reads
// that table and runs the binary on each file, so a new log with its row is a new case.
//
// A row's expectation, from its last column: "none" (the log shows no failure: no outbound
// route may be reported), a class id in backquotes (the log decides: the route's class), or
// "candidates `a`, `b`" (the log cannot decide: the route offers every one of them).
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/failure_class.hpp"
#include "tests/e2e/fixture.hpp"
#include "tests/e2e/process.hpp"

using namespace tlsrelay;
using namespace tlsrelay::e2e;
using nlohmann::json;

namespace {

struct Row {
  std::string file;
  bool none = false;
  bool candidates = false;
  std::vector<std::string> classes;  // in the row's order; the first is the truth
};

// The class ids in backquotes of an expectation, outside parentheses, skipping the stage of
// "`timeout` in `banner`".
std::vector<std::string> classes_in(const std::string& text) {
  std::vector<std::string> ids;
  int depth = 0;
  bool after_in = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '(') ++depth;
    if (c == ')') depth = std::max(0, depth - 1);
    if (c != '`' || depth > 0) continue;
    const std::size_t end = text.find('`', i + 1);
    if (end == std::string::npos) break;
    const std::string word = text.substr(i + 1, end - i - 1);
    const std::string before = text.substr(0, i);
    after_in = before.size() >= 4 && before.compare(before.size() - 4, 4, " in ") == 0;
    if (!after_in && class_from_string(word)) ids.push_back(word);
    i = end;
  }
  return ids;
}

std::vector<Row> rows_of(const std::string& readme) {
  std::ifstream in(readme);
  std::vector<Row> rows;
  static const std::regex row(R"(^\| `([^`]+\.log)` \|.*\| ([^|]+) \|\s*$)");
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (!std::regex_match(line, m, row)) continue;
    Row r;
    r.file = m[1];
    const std::string expected = m[2];
    r.none = expected.rfind("none", 0) == 0;
    r.candidates = expected.rfind("candidates", 0) == 0;
    r.classes = classes_in(expected);
    // `ok`: the route worked, which is nothing to explain either.
    if (!r.classes.empty() && r.classes.front() == "ok") r.none = true;
    if (!r.none && r.classes.empty()) continue;  // a row this test cannot read
    rows.push_back(r);
  }
  return rows;
}

std::vector<json> routes_of(const std::string& out) {
  std::vector<json> routes;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    const json j = json::parse(line);
    if (j.at("type") == "route") routes.push_back(j);
  }
  return routes;
}

std::set<std::string> offered(const json& route) {
  std::set<std::string> ids;
  for (const auto& c : route.at("candidates")) ids.insert(c.at("class").get<std::string>());
  return ids;
}

void check_directory(const std::string& mta) {
  const std::string dir = std::string(TLSRELAY_SOURCE_DIR) + "/tests/data/explain/" + mta;
  const auto rows = rows_of(dir + "/README.md");
  REQUIRE(rows.size() >= 10);
  // The logs' Postfix is not this host's: an empty configuration directory, so that explain
  // reads no settings here (and the test does not pay postconf for every log).
  TempDir no_postfix;
  for (const auto& row : rows) {
    const std::string path = dir + "/" + row.file;
    if (!std::filesystem::exists(path)) continue;  // listed, not generated on this run
    const RunResult r = run({tlsrelay_bin(), "explain", "--no-probe", "--json", "--mta-config",
                             no_postfix.path(), path});
    INFO(row.file << "\nstdout:\n" << r.out << "\nstderr:\n" << r.err);
    REQUIRE((r.exit_code == 0 || r.exit_code == 1));
    std::vector<json> outbound;
    for (const auto& route : routes_of(r.out)) {
      if (route.at("direction") == "outbound" || row.file.rfind("inbound-", 0) == 0) {
        outbound.push_back(route);
      }
    }
    if (row.none) {
      CHECK(outbound.empty());
      continue;
    }
    CHECK(r.exit_code == 1);
    if (outbound.empty()) {
      FAIL_CHECK("no route reported");
      continue;
    }
    const json& worst = outbound.front();
    const std::set<std::string> ids = offered(worst);
    if (row.candidates) {
      for (const auto& id : row.classes) {
        INFO("candidate " << id);
        CHECK(ids.count(id) == 1);
      }
    } else {
      const std::string named = worst.at("class").is_string()
                                    ? worst.at("class").get<std::string>()
                                    : worst.at("candidates").at(0).at("class").get<std::string>();
      CHECK(named == row.classes.front());
    }
  }
}

}  // namespace

TEST_CASE("explain names the class of every real Postfix 3.7 log, from the log alone",
          "[explain]") {
  check_directory("postfix-3.7");
}

TEST_CASE("explain names the class of every real Exim 4.96 log, from the log alone", "[explain]") {
  check_directory("exim-4.96");
}

TEST_CASE("explain: bad input is a clear message and exit 2; hostile input no crash", "[explain]") {
  TempDir dir;
  const RunResult missing = run({tlsrelay_bin(), "explain", "--no-probe", dir.path() + "/none"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("none: No such file or directory") != std::string::npos);
  const RunResult usage = run({tlsrelay_bin(), "explain", "--since", "soon", "x"});
  CHECK(usage.exit_code == 2);
  CHECK(usage.err.find("--since soon: not a time") != std::string::npos);

  // Binary garbage, a 1 MB line, invalid UTF-8, a truncated .gz: read, nothing to explain.
  const std::string garbage = dir.path() + "/garbage.log";
  {
    std::ofstream f(garbage, std::ios::binary);
    for (int i = 0; i < 4096; ++i) f.put(static_cast<char>((i * 7919) & 0xff));
    f << "\n" << std::string(1 << 20, 'A') << "\n";
    f << "Dec  7 03:35:47 mta postfix/smtp[1]: SSL_connect error to \xff\xfe[1.2.3.4]:25: -1\n";
  }
  const RunResult g = run({tlsrelay_bin(), "explain", "--no-probe", garbage});
  CHECK((g.exit_code == 0 || g.exit_code == 1));
  const std::string cut = dir.path() + "/cut.log.gz";
  {
    std::ofstream f(cut, std::ios::binary);
    f << "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03";  // a gzip header and nothing more
  }
  const RunResult c = run({tlsrelay_bin(), "explain", "--no-probe", cut});
  CHECK(c.exit_code == 0);
  CHECK(c.err.find("cut.log.gz: unexpected end of file") != std::string::npos);
}

TEST_CASE("explain reads the journal through journalctl -o json, standard input and .gz files",
          "[explain]") {
  TempDir dir;
  // Two lines as journald keeps them: smtp(8)'s SSL_connect error and the library's reason.
  const std::string entries =
      R"({"__REALTIME_TIMESTAMP":"1796614800000000","_HOSTNAME":"mx1","SYSLOG_IDENTIFIER":"postfix/smtp","_PID":"4242","MESSAGE":"SSL_connect error to smtp.example.net[192.0.2.25]:587: -1"})"
      "\n"
      R"({"__REALTIME_TIMESTAMP":"1796614800000100","_HOSTNAME":"mx1","SYSLOG_IDENTIFIER":"postfix/smtp","_PID":"4242","MESSAGE":"warning: TLS library problem: error:0A00010B:SSL routines::wrong version number:../ssl/record/ssl3_record.c:354:"})"
      "\n";
  const std::string bin = dir.path() + "/bin";
  std::filesystem::create_directory(bin);
  {
    std::ofstream(dir.path() + "/entries.json") << entries;
    std::ofstream fake(bin + "/journalctl");
    fake << "#!/bin/sh\necho \"$@\" >" << dir.path() << "/argv\ncat " << dir.path()
         << "/entries.json\n";
  }
  std::filesystem::permissions(bin + "/journalctl", std::filesystem::perms::owner_all);
  const auto class_of = [](const RunResult& r) {
    const auto routes = routes_of(r.out);
    return routes.empty() ? std::string("(none)")
                          : routes.front().at("candidates").at(0).at("class").get<std::string>();
  };

  const RunResult journal =
      run({"env", "PATH=" + bin + ":/usr/bin:/bin", tlsrelay_bin(), "explain", "--no-probe",
           "--json", "--journal=postfix@-", "--since", "2026-12-01", "--until", "2026-12-08"});
  INFO("journal:\n" << journal.out << journal.err);
  CHECK(journal.exit_code == 1);
  CHECK(class_of(journal) == "tls-mode-mismatch");
  std::ifstream argv_file(dir.path() + "/argv");
  const std::string argv((std::istreambuf_iterator<char>(argv_file)), {});
  CHECK(argv.find("-o json") != std::string::npos);
  CHECK(argv.find("-u postfix@-") != std::string::npos);
  CHECK(argv.find("--since 2026-12-01 --until 2026-12-08") != std::string::npos);

  // The same two lines as rsyslog writes them, through standard input and gzip.
  const std::string text =
      "2026-12-07T03:40:00.000000+00:00 mx1 postfix/smtp[4242]: SSL_connect error to "
      "smtp.example.net[192.0.2.25]:587: -1\n"
      "2026-12-07T03:40:00.000100+00:00 mx1 postfix/smtp[4242]: warning: TLS library problem: "
      "error:0A00010B:SSL routines::wrong version number:../ssl/record/ssl3_record.c:354:\n";
  std::ofstream(dir.path() + "/mail.log") << text;
  const RunResult piped = run(
      {"sh", "-c", tlsrelay_bin() + " explain --no-probe --json - < " + dir.path() + "/mail.log"});
  INFO("stdin:\n" << piped.out << piped.err);
  CHECK(piped.exit_code == 1);
  CHECK(class_of(piped) == "tls-mode-mismatch");
  REQUIRE(run({"gzip", "-k", dir.path() + "/mail.log"}).exit_code == 0);
  const RunResult gz =
      run({tlsrelay_bin(), "explain", "--no-probe", "--json", dir.path() + "/mail.log.gz"});
  CHECK(gz.exit_code == 1);
  CHECK(class_of(gz) == "tls-mode-mismatch");
}
