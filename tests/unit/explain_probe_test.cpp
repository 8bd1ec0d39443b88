// explain's probe plan from Postfix's settings, without sockets: the TLS mode Postfix would
// speak, the lowest version its protocol list allows, the CA file, the EHLO name, and the
// keys smtp(8) looks up in smtp_sasl_password_maps.
#include <catch2/catch.hpp>
#include <string>

#include "proxy/cli/explain_probe.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;

TEST_CASE("the lowest TLS version a Postfix protocol list allows", "[explain][probe]") {
  CHECK(lowest_tls_version("") == "1.2");
  CHECK(lowest_tls_version(">=TLSv1.2") == "1.2");
  CHECK(lowest_tls_version(">=TLSv1.3") == "1.3");
  CHECK(lowest_tls_version("TLSv1.3") == "1.3");
  CHECK(lowest_tls_version("TLSv1.2:TLSv1.3") == "1.2");
  CHECK(lowest_tls_version("!SSLv2, !SSLv3, !TLSv1, !TLSv1.1, !TLSv1.2") == "1.3");
  CHECK(lowest_tls_version("!SSLv2, !SSLv3") == "1.2");  // TLS 1.0 allowed, OpenSSL refuses
  CHECK(lowest_tls_version(">=TLSv1") == "1.2");
}

TEST_CASE("the probe speaks as Postfix would: wrappermode, CA file, EHLO name",
          "[explain][probe]") {
  const RouteTarget gmail{"smtp.gmail.com", "142.250.102.108", 465};
  PostfixParameters p = {{"myhostname", "mta.example.net"},
                         {"smtp_tls_CAfile", "/etc/ssl/certs/ca-certificates.crt"},
                         {"smtp_tls_mandatory_protocols", ">=TLSv1.3"}};
  ProbePlan plain = mta_probe_plan(gmail, p, std::chrono::seconds(10));
  // 465 without wrappermode: Postfix speaks plain SMTP there, and so does the probe.
  CHECK(plain.attempt.target.tls_mode == TlsMode::Starttls);
  CHECK(plain.attempt.target.host == "smtp.gmail.com");
  CHECK(plain.attempt.target.connect_address.empty());  // resolved afresh
  CHECK(plain.attempt.target.port == 465);
  CHECK(plain.attempt.ehlo_name == "mta.example.net");
  CHECK(plain.attempt.phase_timeout == std::chrono::seconds(10));
  CHECK(plain.profile.ca_file == "/etc/ssl/certs/ca-certificates.crt");
  CHECK(plain.profile.min_version == "1.3");
  CHECK(plain.notes.empty());

  p["smtp_tls_wrappermode"] = "yes";
  p["smtp_helo_name"] = "relay.example.net";
  p.erase("smtp_tls_CAfile");
  const ProbePlan wrapped = mta_probe_plan(gmail, p, std::chrono::seconds(10));
  CHECK(wrapped.attempt.target.tls_mode == TlsMode::Implicit);
  CHECK(wrapped.attempt.ehlo_name == "relay.example.net");
  CHECK(wrapped.profile.ca_file.empty());
  REQUIRE(wrapped.notes.size() == 1);
  CHECK(wrapped.notes[0].find("tls_append_default_CA") != std::string::npos);
}

TEST_CASE("a route logged by address connects to that address", "[explain][probe]") {
  const ProbePlan p = mta_probe_plan({"unknown", "192.0.2.7", 25}, {}, std::chrono::seconds(5));
  CHECK(p.attempt.target.host == "192.0.2.7");
  CHECK(p.attempt.target.connect_address == "192.0.2.7");
  CHECK(p.attempt.ehlo_name == "localhost");
}

TEST_CASE("the keys smtp(8) looks up for a route's password", "[explain][probe]") {
  CHECK(sasl_lookup_keys({"smtp.gmail.com", "", 587}) ==
        std::vector<std::string>{"[smtp.gmail.com]:587", "smtp.gmail.com:587", "[smtp.gmail.com]",
                                 "smtp.gmail.com"});
}

TEST_CASE("SNI as smtp_tls_servername says: none by default, as Postfix sends",
          "[explain][probe]") {
  const RouteTarget mx{"mx.test", "127.0.0.1", 25};
  CHECK(mta_probe_plan(mx, {}, std::chrono::seconds(5)).attempt.target.sni == "");
  CHECK_FALSE(mta_probe_plan(mx, {{"smtp_tls_servername", "hostname"}}, std::chrono::seconds(5))
                  .attempt.target.sni);
  CHECK(mta_probe_plan(mx, {{"smtp_tls_servername", "relay.example"}}, std::chrono::seconds(5))
            .attempt.target.sni == "relay.example");
}

TEST_CASE("a route without a port takes the relayhost's", "[explain][probe]") {
  const auto port = [](const std::string& relayhost, const std::string& host) {
    return relayhost_port(host, {{"relayhost", relayhost}});
  };
  CHECK(port("[nx.test]:2525", "nx.test") == 2525);
  CHECK(port("[nx.test]", "nx.test") == 25);
  CHECK(port("nx.test:587", "nx.test") == 587);
  CHECK(port("nx.test", "nx.test") == 25);
  CHECK_FALSE(port("[other.test]:587", "nx.test"));
  CHECK_FALSE(port("[nx.test]:x", "nx.test"));
  CHECK_FALSE(port("", "nx.test"));
}
