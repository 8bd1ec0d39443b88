// End to end, as root: `tlsrelay audit --mx DOMAIN` in a network namespace of its own.
// Everything a sender would ask is served there by real servers: our DNS peer on
// 127.0.0.1:53 (MX, TXT, TLSA, A; the AD bit for the "signed" names), openssl s_server
// serving the MTA-STS policy over HTTPS on port 443, and test peers as MX hosts on port
// 25. Nothing leaves the namespace.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>

#include "tests/e2e/fixture.hpp"
#include "tests/e2e/netns.hpp"

using namespace tlsrelay;
using namespace tlsrelay::e2e;

namespace {

struct MxAudit {
  int exit_code = -1;
  nlohmann::json doc;
  std::multimap<std::string, nlohmann::json> findings;  // id -> finding
  std::string raw;
  std::string severity(const std::string& id, const std::string& about = {}) const {
    for (auto [it, end] = findings.equal_range(id); it != end; ++it) {
      if (about.empty() || it->second["title"].get<std::string>().find(about) != std::string::npos)
        return it->second["severity"];
    }
    return "absent";
  }
};

MxAudit audit_mx(const Netns& ns, const std::string& domain) {
  std::vector<std::string> argv = ns.exec();
  for (const std::string& a :
       {tlsrelay_bin(), std::string("audit"), std::string("--json"), std::string("--ca-file"),
        cert("ca.pem"), std::string("--ehlo"), std::string("relay.test"), std::string("--timeout"),
        std::string("30"), std::string("--mx"), domain})
    argv.push_back(a);
  RunResult r = run(argv, std::chrono::seconds(60));
  INFO("audit stdout: " << r.out << "\naudit stderr: " << r.err);
  MxAudit a;
  a.exit_code = r.exit_code;
  a.raw = r.out;
  REQUIRE(!r.out.empty());
  REQUIRE(r.out.find('\n') == r.out.size() - 1);  // exactly one JSON document
  a.doc = nlohmann::json::parse(r.out);
  for (const auto& f : a.doc["findings"]) a.findings.emplace(f["id"], f);
  REQUIRE(a.doc["exit_status"] == r.exit_code);
  return a;
}

// The TLSA 3 1 1 association data of a certificate file's first certificate: the SHA-256
// of its SubjectPublicKeyInfo, as `openssl` computes it (not our own code).
std::string spki_sha256(const std::string& pem) {
  RunResult r = run({"sh", "-c",
                     "openssl x509 -in '" + pem +
                         "' -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst "
                         "-sha256 -r | cut -d' ' -f1"});
  REQUIRE(r.exit_code == 0);
  std::string hex = r.out.substr(0, r.out.find('\n'));
  REQUIRE(hex.size() == 64);
  return hex;
}

// A certificate for mta-sts.DOMAIN under the test intermediate, made with openssl, and
// the policy file under DIR/www/.well-known/.
void make_policy_site(const std::string& dir, const std::string& domain,
                      const std::string& policy) {
  const std::string host = "mta-sts." + domain;
  RunResult r =
      run({"sh", "-c",
           "cd '" + dir +
               "' && openssl req -new -newkey rsa:2048 -nodes -keyout sts.key -subj /CN=" + host +
               " -addext subjectAltName=DNS:" + host +
               " -out sts.csr && openssl x509 -req -in sts.csr -CA '" + cert("inter.pem") +
               "' -CAkey '" + cert("inter.key") +
               "' -CAcreateserial -CAserial sts.srl -days 30 -copy_extensions copy -out sts.pem"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::filesystem::create_directories(dir + "/www/.well-known");
  std::ofstream(dir + "/www/.well-known/mta-sts.txt") << policy;
}

std::vector<std::string> policy_server(const Netns& ns, const std::string& dir,
                                       const std::string& address) {
  std::vector<std::string> argv = ns.exec();
  argv.insert(argv.end(), {"sh", "-c",
                           "cd '" + dir + "/www' && exec openssl s_server -WWW -no_dhe -accept " +
                               address + ":443 -cert ../sts.pem -cert_chain '" + cert("inter.pem") +
                               "' -key ../sts.key"});
  return argv;
}

}  // namespace

TEST_CASE("audit --mx: a domain with MTA-STS enforced, TLS-RPT and a matching DANE record",
          "[mx]") {
  Netns ns;
  ns.trust_ad();
  TempDir dir;
  make_policy_site(dir.path(), "good.test",
                   "version: STSv1\r\nmode: enforce\r\nmx: mx.test\r\nmax_age: 604800\r\n");
  Server dns({"ip",
              "netns",
              "exec",
              ns.name(),
              testpeer_bin(),
              "dns",
              "--listen",
              "127.0.0.1:53",
              "--watch-stdin",
              "--mx",
              "good.test=10:mx.test",
              "--txt",
              "_mta-sts.good.test=v=STSv1; id=20261207T1",
              "--txt",
              "_smtp._tls.good.test=v=TLSRPTv1; rua=mailto:tlsrpt@good.test",
              "--tlsa",
              "_25._tcp.mx.test=3:1:1:" + spki_sha256(cert("good.chain.pem")),
              "--a",
              "mx.test=127.0.0.2",
              "--a",
              "mta-sts.good.test=127.0.0.4",
              "--ad",
              "test"});
  Server mx(peer_argv({"--listen", "127.0.0.2:25", "--tls-min", "1.2", "--ciphers",
                       "ECDHE+AESGCM:ECDHE+CHACHA20", "--ocsp", "good"},
                      ns.exec()));
  Server https(policy_server(ns, dir.path(), "127.0.0.4"));

  MxAudit a = audit_mx(ns, "good.test");
  INFO(a.doc.dump(2));
  CHECK(a.severity("mx-records") == "ok");
  CHECK(a.severity("mta-sts-record") == "ok");
  CHECK(a.severity("mta-sts-policy") == "ok");
  CHECK(a.severity("mta-sts-mx") == "ok");
  CHECK(a.severity("tls-rpt") == "ok");
  CHECK(a.severity("mx-starttls") == "ok");
  CHECK(a.severity("mx-cert") == "ok");
  CHECK(a.severity("dane") == "ok");
  CHECK(a.doc["mta_sts"]["mode"] == "enforce");
  CHECK(a.doc["mx"][0]["dane"] == "matched");
  CHECK(a.doc["mx"][0]["tlsa_dnssec"] == true);
  // The primary MX's own TLS audit ran, and the modern peer passes it.
  REQUIRE(a.doc["primary"].is_object());
  CHECK(a.doc["primary"]["host"] == "mx.test");
  CHECK(a.doc["primary"]["worst"] != "critical");
  CHECK(a.exit_code == 0);
}

TEST_CASE(
    "audit --mx: an MX outside the policy, one without STARTTLS, a wrong certificate, "
    "a stale TLSA record, no TLS-RPT",
    "[mx]") {
  Netns ns;
  ns.trust_ad();
  TempDir dir;
  make_policy_site(dir.path(), "bad.test",
                   "version: STSv1\nmode: enforce\nmx: mx.test\nmx: wrong.bad.test\nmax_age: "
                   "3600\n");
  Server dns({"ip",
              "netns",
              "exec",
              ns.name(),
              testpeer_bin(),
              "dns",
              "--listen",
              "127.0.0.1:53",
              "--watch-stdin",
              "--mx",
              "bad.test=10:mx.test",
              "--mx",
              "bad.test=20:plain.bad.test",
              "--mx",
              "bad.test=30:wrong.bad.test",
              "--txt",
              "_mta-sts.bad.test=v=STSv1; id=1",
              "--tlsa",
              "_25._tcp.mx.test=3:1:1:" + std::string(64, 'a'),
              "--a",
              "mx.test=127.0.0.2",
              "--a",
              "plain.bad.test=127.0.0.3",
              "--a",
              "wrong.bad.test=127.0.0.5",
              "--a",
              "mta-sts.bad.test=127.0.0.4",
              "--ad",
              "test"});
  Server mx(peer_argv({"--listen", "127.0.0.2:25"}, ns.exec()));
  Server plain(peer_argv({"--listen", "127.0.0.3:25", "--tls", "none"}, ns.exec()));
  Server wrong(peer_argv({"--listen", "127.0.0.5:25"}, ns.exec()));
  Server https(policy_server(ns, dir.path(), "127.0.0.4"));

  MxAudit a = audit_mx(ns, "bad.test");
  INFO(a.doc.dump(2));
  CHECK(a.severity("mx-records") == "ok");
  CHECK(a.severity("mta-sts-policy") == "ok");
  CHECK(a.severity("mta-sts-max-age") == "info");
  CHECK(a.severity("mta-sts-mx") == "critical");
  CHECK(a.findings.find("mta-sts-mx")->second["title"].get<std::string>().find("plain.bad.test") !=
        std::string::npos);
  CHECK(a.severity("tls-rpt") == "info");
  CHECK(a.severity("mx-starttls", "plain.bad.test") == "critical");
  CHECK(a.severity("mx-cert", "wrong.bad.test") == "critical");  // enforce: no delivery
  CHECK(a.severity("mx-cert", "mx.test") == "ok");
  CHECK(a.severity("dane", "mx.test") == "critical");
  CHECK(a.doc["mx"].size() == 3);
  CHECK(a.doc["mx"][0]["dane"] == "not-matched");
  CHECK(a.exit_code == 3);
  // The findings come worst first.
  CHECK(a.doc["findings"][0]["severity"] == "critical");
}

TEST_CASE("audit --mx: no MX, a Null MX, no such domain; DANE unchecked without trust-ad", "[mx]") {
  Netns ns;
  Server dns({"ip", "netns", "exec", ns.name(), testpeer_bin(), "dns", "--listen", "127.0.0.1:53",
              "--watch-stdin", "--mx", "null.test=0:.", "--nxdomain", "nx.test", "--a",
              "plain.test=127.0.0.2", "--tlsa", "_25._tcp.plain.test=3:1:1:" + std::string(64, 'b'),
              "--ad", "test"});
  Server mx(peer_argv({"--listen", "127.0.0.2:25"}, ns.exec()));

  SECTION("NXDOMAIN: critical, nothing else asked") {
    MxAudit a = audit_mx(ns, "nx.test");
    INFO(a.doc.dump(2));
    CHECK(a.severity("mx-records") == "critical");
    CHECK(a.doc["mx"].empty());
    CHECK(a.exit_code == 3);
  }
  SECTION("Null MX: the domain accepts no mail, and that is not a fault") {
    MxAudit a = audit_mx(ns, "null.test");
    INFO(a.doc.dump(2));
    CHECK(a.severity("mx-records") == "info");
    CHECK(a.findings.size() == 1);
    CHECK(a.exit_code == 0);
  }
  SECTION("no MX: the implicit MX; without trust-ad the TLSA records are not judged") {
    MxAudit a = audit_mx(ns, "plain.test");
    INFO(a.doc.dump(2));
    CHECK(a.doc["implicit_mx"] == true);
    CHECK(a.severity("mx-records") == "info");
    CHECK(a.severity("mta-sts-record") == "info");
    CHECK(a.severity("mx-starttls") == "ok");
    // The certificate names mx.test, not plain.test: without MTA-STS only a warning.
    CHECK(a.severity("mx-cert") == "warning");
    CHECK(a.severity("dane") == "info");
    CHECK(a.findings.find("dane")->second["evidence"].get<std::string>().find("trust-ad") !=
          std::string::npos);
  }
}

TEST_CASE(
    "audit --mx: TLSA records where the host's address is unsigned do not apply; an MX "
    "that names an address is not contacted",
    "[mx]") {
  Netns ns;
  ns.trust_ad();
  // Only the TLSA name is "signed": the MX host's A record is not (RFC 7672 2.2.2).
  Server dns({"ip", "netns", "exec", ns.name(), testpeer_bin(), "dns", "--listen", "127.0.0.1:53",
              "--watch-stdin", "--mx", "unsigned.test=10:mx.unsigned.test", "--mx",
              "unsigned.test=20:127.0.0.2", "--a", "mx.unsigned.test=127.0.0.2", "--tlsa",
              "_25._tcp.mx.unsigned.test=3:1:1:" + std::string(64, 'c'), "--ad",
              "_25._tcp.mx.unsigned.test"});
  Server mx(peer_argv({"--listen", "127.0.0.2:25"}, ns.exec()));

  MxAudit a = audit_mx(ns, "unsigned.test");
  INFO(a.doc.dump(2));
  CHECK(a.severity("dane", "mx.unsigned.test") == "info");
  CHECK(a.findings.find("dane")->second["title"].get<std::string>().find("does not apply") !=
        std::string::npos);
  REQUIRE(a.doc["mx"].size() == 2);
  CHECK(a.doc["mx"][0]["dane"] == "not-applicable");
  CHECK(a.doc["mx"][0]["address_dnssec"] == false);
  CHECK(a.severity("mx-starttls", "127.0.0.2") == "warning");
  CHECK(a.doc["mx"][1]["handshake"] == false);
}
