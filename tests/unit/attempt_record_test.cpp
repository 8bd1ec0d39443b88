// The attempt record: every required key present for every kind of ending, nulls for
// absent facts, peer bytes escaped, secrets absent.
#include <catch2/catch.hpp>

#include "common/time_format.hpp"
#include "tls/attempt_record.hpp"

using namespace tlsrelay;
using namespace tlsrelay::tls;

TEST_CASE("an early failure still has every key, with nulls", "[record]") {
  AttemptFacts f;
  f.upstream = {"gmail", "smtp.gmail.com", 587, TlsMode::Starttls, "", std::nullopt};
  f.phase = Phase::Dns;
  f.ending = Ending::DnsNxdomain;
  auto rec = attempt_record(f, classify(f));
  CHECK(rec["class"] == "dns-nxdomain");
  CHECK(rec["tls"]["version"].is_null());
  CHECK(rec["tls"]["alerts_received"].is_array());
  CHECK(rec["certificate"]["verify_result"].is_null());
  CHECK(rec["smtp"]["banner"].is_null());
  CHECK(rec["network"]["errno"].is_null());
  CHECK(rec["timings_ms"]["connect"].is_null());
  CHECK(rec["upstream"]["address"].is_null());
  CHECK(rec["rfc8460"].is_null());
  CHECK(rec["transient"] == false);
}

TEST_CASE("hostile peer bytes are escaped in the record", "[record]") {
  AttemptFacts f;
  f.upstream = {"x", "mx.example.net", 25, TlsMode::Starttls, "", std::nullopt};
  f.phase = Phase::Banner;
  f.ending = Ending::NotSmtp;
  f.smtp.unparsed = std::string("\xff\xfe\r\n{\"class\":\"ok\"}\x00", 20);
  auto text = attempt_record(f, classify(f)).dump();
  CHECK(text.find("\\\\xff") != std::string::npos);
  CHECK(text.find('\n') == std::string::npos);
  CHECK(nlohmann::json::parse(text)["class"] == "not-smtp");
}

TEST_CASE("the time is ISO 8601 UTC with milliseconds", "[record]") {
  auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795000000123));
  CHECK(iso8601_millis(t) == "2026-11-18T11:06:40.123Z");
}
