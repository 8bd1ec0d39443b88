// `tlsrelay report` over a fleet (issue 22, docs/scaling.md "The fleet view"): the event logs
// a directory holds, and several instances' logs (plain, rotated, gzip) read as one, on real
// files in a temporary directory. A route that each instance saw fail once is recurring for
// the fleet.
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "proxy/cli/explain_input.hpp"
#include "proxy/cli/report_command.hpp"
#include "proxy/status/report.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;
namespace fs = std::filesystem;

namespace {

struct LogDir {
  fs::path path;
  LogDir() {
    char tmpl[] = "/tmp/tlsrelay-report-fleet.XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~LogDir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(path / name, std::ios::binary) << content;
    return (path / name).string();
  }
  std::string write_gz(const std::string& name, const std::string& content) const {
    const std::string p = (path / name).string();
    gzFile gz = ::gzopen(p.c_str(), "wb");
    ::gzwrite(gz, content.data(), static_cast<unsigned>(content.size()));
    ::gzclose(gz);
    return p;
  }
};

// One instance's hiccup on the shared route: a fatal alert in the handshake (a TLS failure,
// so TLS-RPT counts it), then a success a second later.
std::string hiccup(const std::string& hour) {
  std::string out;
  for (const auto& [sec, cls] : {std::pair{"00", "tls-alert"}, std::pair{"01", "ok"}}) {
    nlohmann::json r;
    r["time"] = "2026-11-29T" + hour + ":00:" + sec + ".000Z";
    r["class"] = cls;
    r["rfc8460"] =
        std::string(cls) == "ok" ? nlohmann::json(nullptr) : nlohmann::json("validation-failure");
    r["upstream"] = {{"name", "primary"}, {"host", "mx.example.net"}, {"address", "198.51.100.7"}};
    r["tls"] = {{"version", "TLSv1.3"}};
    out += r.dump() + "\n";
  }
  return out;
}

std::vector<std::string> lines_of(const std::vector<std::string>& paths) {
  std::vector<std::string> lines;
  for (const std::string& p : paths) {
    const auto in = open_log(p);
    for (std::string line; in->next(line);) lines.push_back(line);
  }
  return lines;
}

const ReportWindow kDay{parse_rfc3339("2026-11-29T00:00:00Z"),
                        parse_rfc3339("2026-11-30T00:00:00Z")};

}  // namespace

TEST_CASE("report: a directory stands for its event logs and their rotations", "[report][fleet]") {
  LogDir d;
  const std::string relay1 = d.write("relay1.jsonl", hiccup("09"));
  const std::string relay2_1 = d.write("relay2.jsonl.1", hiccup("01"));
  const std::string relay2_2 = d.write_gz("relay2.jsonl.2.gz", hiccup("05"));
  const std::string dated = d.write("relay3.jsonl-20261129", "");
  d.write("notes.txt", "not a log");
  d.write("relay1.jsonl.bak", "an editor's copy");
  d.write(".jsonl", "no name");
  fs::create_directory(d.path / "old.jsonl");  // a directory is not a log, whatever its name
  fs::create_directory(d.path / "sub");
  d.write("sub/relay4.jsonl", hiccup("10"));
  CHECK(event_logs_in(d.path.string()) ==
        std::vector<std::string>{relay1, relay2_1, relay2_2, dated});
  CHECK_THROWS_AS(event_logs_in((d.path / "missing").string()), InputError);
}

TEST_CASE("report: several instances' logs are one story; a hiccup on each is recurring",
          "[report][fleet][recurrence]") {
  LogDir d;
  const std::string relay1 = d.write("relay1.jsonl", hiccup("09"));
  const std::string relay2 = d.write("relay2.jsonl", hiccup("05"));
  const std::string relay2_rotated = d.write_gz("relay2.jsonl.1.gz", hiccup("01"));
  // Each instance alone: one or two incidents, one-off by the default rule (3 in 24 h).
  for (const auto& alone : {std::vector{relay1}, std::vector{relay2, relay2_rotated}}) {
    const LogSummary s = summarize(lines_of(alone), kDay);
    REQUIRE(s.routes.size() == 1);
    CHECK(s.routes[0].recurrence == Recurrence::OneOff);
  }
  // The fleet: three incidents in the day, in time order whatever file they came from.
  const LogSummary fleet = summarize(lines_of(event_logs_in(d.path.string())), kDay);
  CHECK(fleet.records == 6);
  REQUIRE(fleet.upstreams.size() == 1);
  CHECK(fleet.upstreams[0].attempts == 6);
  CHECK(fleet.upstreams[0].ok == 3);
  REQUIRE(fleet.routes.size() == 1);
  CHECK(fleet.routes[0].count == 3);
  CHECK(fleet.routes[0].recurrence == Recurrence::Recurring);
  REQUIRE(fleet.routes[0].latest.size() == 3);
  CHECK(fleet.routes[0].latest[0].first == parse_rfc3339("2026-11-29T01:00:00Z"));
  CHECK(fleet.routes[0].latest[2].first == parse_rfc3339("2026-11-29T09:00:00Z"));
  const auto rpt = tlsrpt_report(fleet, TlsRptOptions{"org", "c", "id"});
  CHECK(rpt["policies"][0]["summary"]["total-successful-session-count"] == 3);
  CHECK(rpt["policies"][0]["summary"]["total-failure-session-count"] == 3);
  const auto& detail = rpt["policies"][0]["failure-details"][0];
  CHECK(detail["failed-session-count"] == 3);
  CHECK(detail["x-tlsrelay-incidents"] == 3);
  CHECK(detail["x-tlsrelay-recurrence"] == "recurring");
}
