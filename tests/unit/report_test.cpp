// `tlsrelay report`: the summary and the RFC 8460 aggregate report from a recorded log,
// checked field by field against RFC 8460 section 4.4.
#include <catch2/catch.hpp>

#include "proxy/status/report.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;

namespace {

std::string record(const std::string& time, const std::string& cls, const std::string& rfc8460,
                   const std::string& upstream, const std::string& address,
                   bool reached_tls = true) {
  nlohmann::json r;
  r["time"] = time;
  r["class"] = cls;
  r["group"] = cls == "ok" ? "" : "certificate";
  r["rfc8460"] = rfc8460.empty() ? nlohmann::json(nullptr) : nlohmann::json(rfc8460);
  r["hint"] = cls == "ok" ? nlohmann::json(nullptr) : nlohmann::json("renew " + cls);
  r["upstream"] = {{"name", upstream}, {"host", upstream + ".example.net"}, {"address", address}};
  r["tls"] = {{"version", reached_tls ? nlohmann::json("TLSv1.3") : nlohmann::json(nullptr)}};
  r["network"] = {{"local_address", "192.0.2.1"}};
  return r.dump();
}

const std::vector<std::string> kLog = {
    record("2026-11-28T23:59:59.999Z", "certificate-expired", "certificate-expired", "primary",
           "198.51.100.7"),  // before the window
    record("2026-11-29T00:00:00.000Z", "certificate-expired", "certificate-expired", "primary",
           "198.51.100.7"),
    record("2026-11-29T01:00:00.500Z", "certificate-expired", "certificate-expired", "primary",
           "198.51.100.7"),
    record("2026-11-29T02:00:00.000Z", "ok", "", "backup", "203.0.113.5"),
    record("2026-11-29T03:00:00.000Z", "connect-timeout", "", "backup", "203.0.113.5", false),
    record("2026-11-29T04:00:00.000Z", "starttls-stripped", "starttls-not-supported", "backup",
           "203.0.113.5", false),
    "this is not JSON",
    record("2026-11-30T00:00:00.000Z", "ok", "", "backup", "203.0.113.5"),  // after the window
};

const ReportWindow kDay{parse_rfc3339("2026-11-29T00:00:00Z"),
                        parse_rfc3339("2026-11-30T00:00:00Z")};

}  // namespace

TEST_CASE("report: RFC 3339 times, with and without fractions", "[report]") {
  CHECK(parse_rfc3339("2026-11-29T00:00:00Z") == 1795910400);
  CHECK(parse_rfc3339("2026-11-29T00:00:01.250Z") == 1795910401);
  CHECK(parse_rfc3339("2026-11-29 00:00:00") == -1);
  CHECK(parse_rfc3339("yesterday") == -1);
}

TEST_CASE("report: the summary counts the window only, top class first, with its hint",
          "[report]") {
  const LogSummary s = summarize(kLog, kDay);
  CHECK(s.records == 5);
  CHECK(s.unreadable == 1);
  REQUIRE(s.upstreams.size() == 2);
  CHECK(s.upstreams[0].name == "primary");
  CHECK(s.upstreams[0].attempts == 2);
  REQUIRE(s.upstreams[0].failures.size() == 1);
  CHECK(s.upstreams[0].failures[0].count == 2);
  CHECK(s.upstreams[0].failures[0].last_time == "2026-11-29T01:00:00.500Z");
  CHECK(s.upstreams[1].ok == 1);
  const std::string text = summary_text(s);
  INFO(text);
  CHECK(text.find("5 attempts (1 unreadable lines skipped)") != std::string::npos);
  CHECK(text.find("primary (primary.example.net): 2 attempts, 0 ok (0%)") != std::string::npos);
  CHECK(text.find("renew certificate-expired") != std::string::npos);
  CHECK(text.find("backup (backup.example.net): 3 attempts, 1 ok (33%)") != std::string::npos);
}

TEST_CASE("report --tlsrpt: every RFC 8460 4.4 field, counted right", "[report]") {
  TlsRptOptions o{"Example Org", "mailto:tlsrpt@example.org", "2026-11-29@relay", "https://x/r"};
  const auto r = tlsrpt_report(summarize(kLog, kDay), o);
  INFO(r.dump(2));
  CHECK(r["organization-name"] == "Example Org");
  CHECK(r["date-range"]["start-datetime"] == "2026-11-29T00:00:00Z");
  CHECK(r["date-range"]["end-datetime"] == "2026-11-29T23:59:59Z");
  CHECK(r["contact-info"] == "mailto:tlsrpt@example.org");
  CHECK(r["report-id"] == "2026-11-29@relay");
  REQUIRE(r["policies"].size() == 2);
  // Sorted by host: backup.example.net, primary.example.net.
  const auto& backup = r["policies"][0];
  CHECK(backup["policy"]["policy-type"] == "no-policy-found");
  CHECK(backup["policy"]["policy-domain"] == "backup.example.net");
  // connect-timeout never reached TLS and has no result type: not a TLS session.
  CHECK(backup["summary"]["total-successful-session-count"] == 1);
  CHECK(backup["summary"]["total-failure-session-count"] == 1);
  REQUIRE(backup["failure-details"].size() == 1);
  CHECK(backup["failure-details"][0]["result-type"] == "starttls-not-supported");
  const auto& primary = r["policies"][1];
  CHECK(primary["summary"]["total-successful-session-count"] == 0);
  CHECK(primary["summary"]["total-failure-session-count"] == 2);
  REQUIRE(primary["failure-details"].size() == 1);
  const auto& d = primary["failure-details"][0];
  CHECK(d["result-type"] == "certificate-expired");
  CHECK(d["sending-mta-ip"] == "192.0.2.1");
  CHECK(d["receiving-mx-hostname"] == "primary.example.net");
  CHECK(d["receiving-ip"] == "198.51.100.7");
  CHECK(d["failed-session-count"] == 2);
  CHECK(d["additional-information"] == "https://x/r#certificate-expired");
  CHECK(d["failure-reason-code"] == "certificate-expired");
  // Only the RFC's names at the top level.
  for (const auto& [key, value] : r.items()) {
    CHECK((key == "organization-name" || key == "date-range" || key == "contact-info" ||
           key == "report-id" || key == "policies"));
  }
}
