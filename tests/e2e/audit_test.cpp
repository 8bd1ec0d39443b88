// End to end: `tlsrelay audit` against real test peers on loopback, each configured with
// one weakness, names that weakness with its severity; a modern peer gets a clean report.
// Nothing is mocked: every handshake is a real one on a real socket.
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/e2e/fixture.hpp"

using namespace tlsrelay;
using namespace tlsrelay::e2e;

namespace {

struct Audit {
  int exit_code = -1;
  nlohmann::json doc;
  std::map<std::string, std::string> severity;  // finding id -> severity
  std::string raw;
};

std::vector<std::string> audit_argv(unsigned short port, const std::vector<std::string>& extra) {
  std::vector<std::string> v = {tlsrelay_bin(), "audit",  "--ca-file",  cert("ca.pem"), "--connect",
                                "127.0.0.1",    "--ehlo", "relay.test", "--timeout",    "20"};
  v.insert(v.end(), extra.begin(), extra.end());
  v.push_back("mx.test:" + std::to_string(port));
  return v;
}

Audit audit_peer(const std::vector<std::string>& peer_extra,
                 const std::vector<std::string>& audit_extra = {}) {
  Server peer(peer_argv(peer_extra));
  std::vector<std::string> argv = audit_argv(peer.port(), audit_extra);
  argv.insert(argv.begin() + 2, "--json");
  RunResult r = run(argv, std::chrono::seconds(60));
  INFO("audit stdout: " << r.out << "\naudit stderr: " << r.err);
  Audit a;
  a.exit_code = r.exit_code;
  a.raw = r.out;
  REQUIRE(!r.out.empty());
  REQUIRE(r.out.find('\n') == r.out.size() - 1);  // exactly one JSON document
  a.doc = nlohmann::json::parse(r.out);
  for (const auto& f : a.doc["findings"]) a.severity[f["id"]] = f["severity"];
  REQUIRE(a.doc["handshakes"].get<int>() <= 20);
  REQUIRE(a.doc["exit_status"] == r.exit_code);
  return a;
}

}  // namespace

TEST_CASE("audit: a modern peer gets a clean report and exit status 0", "[audit]") {
  Audit a = audit_peer(
      {"--tls-min", "1.2", "--ciphers", "ECDHE+AESGCM:ECDHE+CHACHA20", "--ocsp", "good"});
  INFO(a.doc.dump(2));
  CHECK(a.exit_code == 0);
  for (const auto& f : a.doc["findings"]) {
    INFO(f.dump());
    CHECK((f["severity"] == "ok" || f["severity"] == "info"));
  }
  CHECK(a.severity["default-offer"] == "ok");
  CHECK(a.severity["protocol-tls1.0"] == "ok");
  CHECK(a.severity["protocol-tls1.3"] == "ok");
  CHECK(a.severity["ciphers-ecdhe-aead"] == "ok");
  CHECK(a.severity["ciphers-cbc"] == "ok");
  CHECK(a.severity["ciphers-rsa-kx"] == "ok");
  CHECK(a.severity["ciphers-null-anon"] == "ok");
  CHECK(a.severity["groups"] == "ok");
  CHECK(a.severity["cert-chain"] == "ok");
  CHECK(a.severity["cert-key"] == "ok");
  CHECK(a.severity["ocsp-stapling"] == "ok");
  CHECK(a.severity["sni"] == "ok");
  CHECK(a.doc["complete"] == true);
}

TEST_CASE("audit: old versions, CBC-only suites, no TLS 1.3, no staple, other cert without SNI",
          "[audit]") {
  Audit a =
      audit_peer({"--tls-min", "1.0", "--tls-max", "1.2", "--ciphers",
                  "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA", "--cert-without-sni", "wronghost"});
  INFO(a.doc.dump(2));
  CHECK(a.exit_code == 1);
  CHECK(a.doc["worst"] == "warning");
  CHECK(a.doc["findings"][0]["severity"] == "warning");  // worst first
  CHECK(a.severity["protocol-tls1.0"] == "warning");
  CHECK(a.severity["protocol-tls1.1"] == "warning");
  CHECK(a.severity["protocol-tls1.3"] == "warning");
  CHECK(a.severity["ciphers-cbc"] == "warning");
  CHECK(a.severity["ciphers-ecdhe-aead"] == "warning");
  CHECK(a.severity["ocsp-stapling"] == "info");
  CHECK(a.severity["sni"] == "warning");
  CHECK(a.raw.find("CN=other.test") != std::string::npos);
}

TEST_CASE("audit: a weak certificate, an incomplete chain, a SHA-1 signature", "[audit]") {
  SECTION("rsa1024") {
    Audit a = audit_peer({"--cert", "rsa1024"});
    INFO(a.doc.dump(2));
    CHECK(a.exit_code == 3);
    CHECK(a.severity["cert-key"] == "critical");
    CHECK(a.raw.find("RSA-1024") != std::string::npos);
  }
  SECTION("leafonly") {
    Audit a = audit_peer({"--cert", "leafonly"});
    INFO(a.doc.dump(2));
    CHECK(a.exit_code == 3);
    CHECK(a.severity["cert-chain"] == "critical");
  }
  SECTION("sha1") {
    Audit a = audit_peer({"--cert", "sha1"});
    INFO(a.doc.dump(2));
    CHECK(a.exit_code == 3);
    CHECK(a.severity["cert-signature"] == "critical");
  }
}

TEST_CASE("audit: a TLS 1.0-only peer refuses the relay's offer and is still judged", "[audit]") {
  Audit a = audit_peer({"--tls-min", "1.0", "--tls-max", "1.0"});
  INFO(a.doc.dump(2));
  CHECK(a.exit_code == 3);
  CHECK(a.severity["default-offer"] == "critical");
  CHECK(a.severity["protocol-tls1.0"] == "warning");
  CHECK(a.severity["protocol-tls1.2"] == "critical");
  CHECK(a.severity["cert-key"] == "ok");  // from the TLS 1.0 handshake
}

TEST_CASE("audit: the human report lists the worst finding first", "[audit]") {
  Server peer(peer_argv({"--cert", "rsa1024"}));
  RunResult r = run(audit_argv(peer.port(), {}), std::chrono::seconds(60));
  INFO(r.out << r.err);
  CHECK(r.exit_code == 3);
  // The severity words that open finding lines, in the order printed: never rising.
  const std::map<std::string, int> rank = {{"OK", 0}, {"INFO", 1}, {"WARNING", 2}, {"CRITICAL", 3}};
  std::vector<int> seen;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    const std::string word = line.substr(0, line.find(' '));
    if (rank.count(word)) seen.push_back(rank.at(word));
  }
  REQUIRE(seen.size() > 3);
  CHECK(seen.front() == 3);
  CHECK(std::is_sorted(seen.rbegin(), seen.rend()));
  CHECK(r.out.find("CRITICAL  cert-key: the certificate key is too small") != std::string::npos);
}

TEST_CASE("audit: an implicit-TLS port audited as STARTTLS is told to use --tls implicit",
          "[audit]") {
  Server peer(peer_argv({"--tls", "implicit"}));
  // --timeout 2: the banner never comes, and that wait is the whole audit.
  RunResult wrong = run(audit_argv(peer.port(), {"--timeout", "2"}), std::chrono::seconds(30));
  INFO(wrong.out << wrong.err);
  CHECK(wrong.exit_code == 3);
  CHECK(wrong.out.find("1 handshake in") != std::string::npos);
  CHECK(wrong.out.find("the port answers a TLS ClientHello") != std::string::npos);
  CHECK(wrong.out.find("use --tls implicit for this port") != std::string::npos);
  Audit right = audit_peer({"--tls", "implicit"}, {"--tls", "implicit"});
  CHECK(right.severity["default-offer"] == "ok");
  CHECK(right.doc["tls"] == "implicit");
}

TEST_CASE("audit --config audits the named upstream with its own settings", "[audit]") {
  TempDir dir;
  Server weak(peer_argv({"--tls-min", "1.0", "--tls-max", "1.2"}));
  Server modern(peer_argv({"--tls-min", "1.2"}));
  const std::string path = dir.path() + "/tlsrelay.toml";
  std::ofstream(path) << "[proxy]\nlisten = [\"127.0.0.1:0\"]\nhostname = \"relay.test\"\n"
                      << "[tls]\nca_file = \"" << cert("ca.pem") << "\"\n"
                      << "[[upstream]]\nname = \"modern\"\nhost = \"mx.test\"\nport = "
                      << modern.port() << "\nconnect = \"127.0.0.1\"\n"
                      << "[[upstream]]\nname = \"weak\"\nhost = \"mx.test\"\nport = " << weak.port()
                      << "\nconnect = \"127.0.0.1\"\n";
  RunResult r = run({tlsrelay_bin(), "audit", "--json", "--config", path, "--upstream", "weak"},
                    std::chrono::seconds(60));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 1);
  auto doc = nlohmann::json::parse(r.out);
  CHECK(doc["port"] == weak.port());
  CHECK(doc["findings"][0]["id"].get<std::string>().rfind("protocol-tls1.", 0) == 0);
  // Two upstreams and no --upstream: a usage error naming them.
  RunResult none = run({tlsrelay_bin(), "audit", "--config", path});
  CHECK(none.exit_code == 2);
  CHECK(none.err.find("modern, weak") != std::string::npos);
}

TEST_CASE("audit: usage errors exit 2 and change nothing", "[audit]") {
  CHECK(run({tlsrelay_bin(), "audit"}).exit_code == 2);
  CHECK(run({tlsrelay_bin(), "audit", "--tls", "none", "mx.test"}).exit_code == 2);
  CHECK(run({tlsrelay_bin(), "audit", "--ca-file", "/nonexistent", "mx.test"}).exit_code == 2);
  RunResult help = run({tlsrelay_bin(), "audit", "--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("At most 20 handshakes") != std::string::npos);
}
