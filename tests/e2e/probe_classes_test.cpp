// End to end: `tlsrelay probe` against real misbehaving servers on loopback names each
// failure class of failure-classes.md. Every server here is tlsrelay-testpeer really doing
// the wrong thing on a real socket; nothing is mocked.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/stat.h>
#include <catch2/catch.hpp>
#include <fstream>

#include "tests/e2e/fixture.hpp"

using namespace tlsrelay;
using namespace tlsrelay::e2e;

namespace {

Probe probe_peer(const std::vector<std::string>& peer_extra,
                 const std::vector<std::string>& probe_extra = {},
                 const std::string& timeout = "3") {
  Server peer(peer_argv(peer_extra));
  return probe(local_args(peer.port(), probe_extra, timeout));
}

void expect(const Probe& p, const std::string& cls, const std::string& phase) {
  INFO("record: " << p.record.dump(2));
  CHECK(p.record["class"] == cls);
  if (phase.empty()) {
    CHECK(p.record["phase"].is_null());
  } else {
    CHECK(p.record["phase"] == phase);
  }
}

std::string secret_file(const TempDir& dir, const std::string& content) {
  std::string path = dir.path() + "/secret";
  std::ofstream(path) << content << "\n";
  chmod(path.c_str(), 0600);
  return path;
}

}  // namespace

TEST_CASE("a healthy STARTTLS server is ok, with the whole handshake captured", "[ok]") {
  Probe p = probe_peer({"--cert", "good"});
  INFO(p.record.dump(2));
  REQUIRE(p.exit_code == 0);
  CHECK(p.record["class"] == "ok");
  CHECK(p.record["phase"].is_null());
  CHECK(p.record["tls"]["version"] == "TLSv1.3");
  CHECK(p.record["tls"]["sni"] == "mx.test");
  CHECK(p.record["certificate"]["verify_result"] == 0);
  CHECK(p.record["certificate"]["chain"].size() == 2);
  CHECK(p.record["certificate"]["chain"][0]["san"][0] == "mx.test");
  CHECK(p.record["smtp"]["banner"].get<std::string>().rfind("220 ", 0) == 0);
  CHECK(p.record["timings_ms"]["tls_handshake"].is_number());
  CHECK(p.record["upstream"]["address"] == "127.0.0.1");
}

TEST_CASE("implicit TLS (port 465 style) is ok", "[ok]") {
  Probe p = probe_peer({"--tls", "implicit"}, {"--tls", "implicit"});
  expect(p, "ok", "");
  CHECK(p.record["timings_ms"]["starttls"].is_null());
}

TEST_CASE("AUTH PLAIN after TLS is ok and the password never shows", "[ok][auth]") {
  TempDir dir;
  Server peer(peer_argv({"--auth-user", "relay", "--auth-password", "s3cret-pw"}));
  Probe p = probe(local_args(peer.port(), {"--auth-user", "relay", "--auth-password-file",
                                           secret_file(dir, "s3cret-pw")}));
  INFO(p.record.dump(2));
  CHECK(p.record["class"] == "ok");
  CHECK(p.record["timings_ms"]["auth"].is_number());
  CHECK(p.raw.find("s3cret-pw") == std::string::npos);
  CHECK(p.raw.find("AUTH PLAIN ***") != std::string::npos);
}

TEST_CASE("certificate failures are told apart", "[certificate]") {
  SECTION("expired") {
    Probe p = probe_peer({"--cert", "expired"});
    expect(p, "certificate-expired", "certificate");
    CHECK(p.record["certificate"]["verify_result"] == 10);
    CHECK(p.record["certificate"]["verify_depth"] == 0);
    CHECK(p.record["hint"].get<std::string>().find("2021-01-01") != std::string::npos);
  }
  SECTION("not yet valid, with a correct clock") {
    Probe p = probe_peer({"--cert", "notyet"});
    expect(p, "certificate-not-yet-valid", "certificate");
  }
  SECTION("wrong host: the names it does carry are in the detail") {
    Probe p = probe_peer({"--cert", "wronghost"});
    expect(p, "certificate-host-mismatch", "certificate");
    CHECK(p.record["detail"].get<std::string>().find("other.test") != std::string::npos);
    CHECK(p.record["rfc8460"] == "certificate-host-mismatch");
  }
  SECTION("leaf only: the missing intermediate is named") {
    Probe p = probe_peer({"--cert", "leafonly"});
    expect(p, "certificate-chain-incomplete", "certificate");
    CHECK(p.record["certificate"]["chain"].size() == 1);
    CHECK(p.record["hint"].get<std::string>().find("tlsrelay test intermediate") !=
          std::string::npos);
  }
  SECTION("untrusted root sent in the chain") {
    Probe p = probe_peer({"--cert", "untrusted"});
    expect(p, "certificate-untrusted", "certificate");
    CHECK(p.record["hint"].get<std::string>().find("Untrusted Private Root") != std::string::npos);
  }
  SECTION("untrusted root not sent: the chain reaches a CA we do not have") {
    Probe p = probe_peer({"--cert", "untrusted-noroot"});
    expect(p, "certificate-untrusted", "certificate");
  }
  SECTION("self-signed") {
    Probe p = probe_peer({"--cert", "selfsigned"});
    expect(p, "certificate-self-signed", "certificate");
  }
  SECTION("RSA-1024 key") {
    Probe p = probe_peer({"--cert", "rsa1024"});
    expect(p, "certificate-weak", "certificate");
  }
  SECTION("SHA-1 signature") {
    Probe p = probe_peer({"--cert", "sha1"});
    expect(p, "certificate-weak", "certificate");
  }
}

// A hostile or broken server's chain costs bounded memory and gets its own diagnosis: the
// record keeps 16 certificates whatever is sent, OpenSSL follows at most 9 CAs, and a
// Certificate message over 100 KiB is refused while it is still being read.
TEST_CASE("deep and oversized certificate chains are bounded and named", "[certificate]") {
  SECTION("21 certificates in a row under the trusted root: too deep, not untrusted") {
    Probe p = probe_peer({"--cert", "deepchain"});
    expect(p, "certificate-invalid", "certificate");
    CHECK(p.record["certificate"]["verify_result"] == 22);  // X509_V_ERR_CERT_CHAIN_TOO_LONG
    CHECK(p.record["certificate"]["chain"].size() == 16);
    CHECK(p.record["detail"].get<std::string>().find("sent 21 certificates") != std::string::npos);
    CHECK(p.record["hint"].get<std::string>().find("deeper than the 9") != std::string::npos);
  }
  SECTION("a leaf with 6,001 names (over 100 KiB) is refused at the size limit") {
    Probe p = probe_peer({"--cert", "hugecert"});
    expect(p, "tls-error", "tls-handshake");
    CHECK(p.record["detail"].get<std::string>().find("excessive message size") !=
          std::string::npos);
    CHECK(p.record["tls"]["alerts_sent"][0] == "illegal_parameter");
    CHECK(p.record["certificate"]["chain"].empty());
    CHECK(p.record["hint"].get<std::string>().find("over 100 KiB") != std::string::npos);
  }
}

// We ask every server for a stapled OCSP response. One signed by the issuer that says
// "revoked" names the certificate revoked; "good", none, or one signed by somebody who is
// neither the issuer nor its delegated responder (the server itself, or the trusted root
// above the issuer) changes nothing: soft fail, and a forgery cannot turn a good
// certificate bad.
TEST_CASE("a stapled OCSP response that says revoked is certificate-revoked", "[certificate]") {
  SECTION("good, TLS 1.3") {
    Probe p = probe_peer({"--ocsp", "good"});
    expect(p, "ok", "");
  }
  SECTION("revoked, TLS 1.3") {
    Probe p = probe_peer({"--ocsp", "revoked"});
    expect(p, "certificate-revoked", "certificate");
    CHECK(p.record["certificate"]["verify_result"] == 23);  // X509_V_ERR_CERT_REVOKED
    CHECK(p.record["hint"].get<std::string>().find("revoked") != std::string::npos);
  }
  SECTION("revoked, TLS 1.2 (the staple comes in CertificateStatus)") {
    Probe p = probe_peer({"--ocsp", "revoked", "--tls-max", "1.2"});
    expect(p, "certificate-revoked", "certificate");
  }
  SECTION("revoked, the certificate named by a SHA-256 CertID") {
    Probe p = probe_peer({"--ocsp", "revoked-sha256"});
    expect(p, "certificate-revoked", "certificate");
  }
  SECTION("revoked, but signed by the server's own key: ignored") {
    Probe p = probe_peer({"--ocsp", "forged-by-server"});
    expect(p, "ok", "");
  }
  SECTION("revoked, but signed by the trusted root instead of the issuer: ignored") {
    Probe p = probe_peer({"--ocsp", "forged-by-root", "--tls-max", "1.2"});
    expect(p, "ok", "");
  }
}

TEST_CASE("after a version or suite mismatch the hint names what the server speaks", "[tls]") {
  SECTION("TLS 1.0 only: the class stays, the hint names TLS 1.0 and the compat setting") {
    Probe p = probe_peer({"--tls-min", "1.0", "--tls-max", "1.0"});
    expect(p, "tls-protocol-mismatch", "tls-handshake");
    const std::string hint = p.record["hint"];
    CHECK(hint.find("the server speaks only TLS 1.0;") != std::string::npos);
    CHECK(hint.find("[upstream.compat] profile with min_version = \"1.0\"") != std::string::npos);
  }
  SECTION("CAMELLIA only: the hint names the suite") {
    Probe p = probe_peer({"--tls-max", "1.2", "--ciphers", "CAMELLIA128-SHA", "--seclevel", "0"});
    expect(p, "tls-no-shared-cipher", "tls-handshake");
    const std::string hint = p.record["hint"];
    CHECK(hint.find("its only suite is CAMELLIA128-SHA;") != std::string::npos);
    CHECK(hint.find("profile with ciphers = \"CAMELLIA128-SHA\" would reach it") !=
          std::string::npos);
  }
  SECTION("NULL only: the hint names the suites, and no compat profile reaches them") {
    Probe p =
        probe_peer({"--tls-max", "1.2", "--ciphers", "ECDHE-RSA-NULL-SHA:NULL-SHA256:@SECLEVEL=0"});
    expect(p, "tls-no-shared-cipher", "tls-handshake");
    const std::string hint = p.record["hint"];
    CHECK(hint.find("its only suites are ") != std::string::npos);
    CHECK(hint.find("ECDHE-RSA-NULL-SHA") != std::string::npos);
    CHECK(hint.find("NULL-SHA256") != std::string::npos);
    CHECK(hint.find("no [upstream.compat] profile would reach it") != std::string::npos);
  }
}

TEST_CASE(
    "after a version mismatch the hint says whether the configured compat profile reaches "
    "the server",
    "[tls]") {
  TempDir dir;
  Server peer(peer_argv({"--tls-min", "1.0", "--tls-max", "1.0"}));
  auto config = [&](const std::string& compat_min) {
    const std::string path = dir.path() + "/tlsrelay-" + compat_min + ".toml";
    std::ofstream(path) << "[proxy]\nlisten = [\"127.0.0.1:0\"]\nhostname = \"relay.test\"\n"
                        << "[tls]\nca_file = \"" << cert("ca.pem") << "\"\n"
                        << "[[upstream]]\nname = \"old\"\nhost = \"mx.test\"\nport = "
                        << peer.port() << "\nconnect = \"127.0.0.1\"\ntimeout_s = 3\n"
                        << "[upstream.compat]\nmin_version = \"" << compat_min << "\"\n";
    return path;
  };
  Probe reaches = probe({"--config", config("1.0")});
  expect(reaches, "tls-protocol-mismatch", "tls-handshake");
  CHECK(reaches.record["hint"].get<std::string>().find(
            "the compat profile ([upstream.compat]) would reach it.") != std::string::npos);
  Probe not_reaches = probe({"--config", config("1.1")});
  CHECK(not_reaches.record["hint"].get<std::string>().find("would not reach it either") !=
        std::string::npos);
  // With --compat the profile that failed is the compat one: no advice to configure it.
  Probe compat_failed = probe({"--config", config("1.1"), "--compat"});
  expect(compat_failed, "tls-protocol-mismatch", "tls-handshake");
  const std::string hint = compat_failed.record["hint"];
  CHECK(hint.find("would not reach it either") != std::string::npos);
  CHECK(hint.find("an [upstream.compat] profile with") == std::string::npos);
}

TEST_CASE("TLS negotiation failures are told apart", "[tls]") {
  SECTION("TLS 1.0 only") {
    Probe p = probe_peer({"--tls-min", "1.0", "--tls-max", "1.0"});
    expect(p, "tls-protocol-mismatch", "tls-handshake");
  }
  SECTION("no cipher in common") {
    Probe p = probe_peer({"--tls-max", "1.2", "--ciphers", "ADH-AES128-GCM-SHA256:@SECLEVEL=0"});
    expect(p, "tls-no-shared-cipher", "tls-handshake");
    CHECK(p.record["tls"]["alerts_received"][0] == "handshake_failure");
  }
  SECTION("1024-bit DHE") {
    Probe p = probe_peer({"--dh1024"});
    expect(p, "tls-weak-parameters", "tls-handshake");
  }
  SECTION("SNI required, none sent because the host is an IP address") {
    Server peer(peer_argv({"--require-sni", "mx.test"}));
    Probe p = probe({"--ca-file", cert("ca.pem"), "--timeout", "3",
                     "127.0.0.1:" + std::to_string(peer.port())});
    expect(p, "tls-sni-required", "tls-handshake");
    CHECK(p.record["tls"]["sni"].is_null());
  }
  SECTION("client certificate required, TLS 1.3 (alert after our Finished)") {
    Probe p = probe_peer({"--require-client-cert"});
    expect(p, "tls-client-certificate-required", "tls-handshake");
    CHECK(p.record["tls"]["failed_after_handshake"] == true);
  }
  SECTION("client certificate required, TLS 1.2 (handshake_failure after CertificateRequest)") {
    Probe p = probe_peer({"--require-client-cert", "--tls-max", "1.2"});
    expect(p, "tls-client-certificate-required", "tls-handshake");
  }
  SECTION("any other fatal alert") {
    Probe p = probe_peer({"--behaviour", "alert:access_denied"});
    expect(p, "tls-alert", "tls-handshake");
    CHECK(p.record["detail"].get<std::string>().find("access_denied") != std::string::npos);
  }
}

TEST_CASE("STARTTLS failures are told apart", "[starttls]") {
  SECTION("not offered") {
    expect(probe_peer({"--behaviour", "no-starttls"}), "starttls-not-offered", "ehlo");
  }
  SECTION("masked by a middlebox as XXXXXXXA") {
    Probe p = probe_peer({"--behaviour", "starttls-masked"});
    expect(p, "starttls-stripped", "ehlo");
    CHECK(p.record["detail"].get<std::string>().find("XXXXXXXA") != std::string::npos);
  }
  SECTION("refused with 454") {
    Probe p = probe_peer({"--behaviour", "starttls-454"});
    expect(p, "starttls-rejected", "starttls");
    CHECK(p.record["transient"] == true);
  }
  SECTION("bytes injected after the 220") {
    Probe p = probe_peer({"--behaviour", "starttls-injection"});
    expect(p, "starttls-injection", "starttls");
    // Nothing after the injection was answered: no second EHLO, no TLS.
    CHECK(p.record["tls"]["version"].is_null());
  }
  SECTION("implicit TLS spoken to a plaintext port") {
    Probe p = probe_peer({}, {"--tls", "implicit"});
    expect(p, "tls-mode-mismatch", "tls-handshake");
  }
  SECTION("STARTTLS spoken to an implicit-TLS port") {
    Probe p = probe_peer({"--tls", "implicit"}, {}, "1.5");
    expect(p, "tls-mode-mismatch", "banner");
  }
}

TEST_CASE("SMTP greeting and EHLO failures", "[smtp]") {
  SECTION("554 banner") {
    Probe p = probe_peer({"--behaviour", "banner-554"});
    expect(p, "banner-rejected", "banner");
    CHECK(p.record["transient"] == false);
  }
  SECTION("421 banner is transient") {
    Probe p = probe_peer({"--behaviour", "banner-421"});
    expect(p, "banner-rejected", "banner");
    CHECK(p.record["transient"] == true);
  }
  SECTION("an SSH server") {
    Probe p = probe_peer({"--behaviour", "banner-ssh"});
    expect(p, "not-smtp", "banner");
    CHECK(p.record["hint"].get<std::string>().find("SSH") != std::string::npos);
  }
  SECTION("a web server") {
    expect(probe_peer({"--behaviour", "banner-http"}), "not-smtp", "banner");
  }
  SECTION("EHLO and HELO refused") {
    expect(probe_peer({"--behaviour", "ehlo-reject"}), "ehlo-rejected", "ehlo");
  }
  // Bounded memory for hostile replies: given up at the limit, not at the time-out (which
  // is what a client that keeps collecting would reach, if its memory lasted).
  SECTION("an EHLO reply that never ends") {
    Probe p = probe_peer({"--behaviour", "ehlo-endless"}, {}, "20");
    expect(p, "not-smtp", "ehlo");
    CHECK(p.record["detail"].get<std::string>().find("a reply of more than 200 lines") == 0);
  }
  SECTION("a greeting line that never ends") {
    Probe p = probe_peer({"--behaviour", "banner-endless-line"}, {}, "20");
    expect(p, "not-smtp", "banner");
    CHECK(p.record["detail"].get<std::string>().find("a reply line longer than 4096 octets") == 0);
  }
}

TEST_CASE("connection faults: silence, reset, close, stalls, refused", "[network]") {
  SECTION("silence after connect") {
    Probe p = probe_peer({"--behaviour", "silent"}, {}, "1.5");
    expect(p, "timeout", "banner");
  }
  SECTION("RST after the ClientHello") {
    Probe p = probe_peer({"--behaviour", "rst-after-clienthello"});
    expect(p, "connection-reset", "tls-handshake");
    CHECK(p.record["network"]["errno"] == "ECONNRESET");
  }
  SECTION("EOF after the ClientHello") {
    Probe p = probe_peer({"--behaviour", "eof-after-clienthello"});
    expect(p, "connection-closed", "tls-handshake");
    CHECK(p.record["detail"].get<std::string>().find("0 bytes") != std::string::npos);
  }
  SECTION("stall after the ClientHello: 0 bytes of the server's flight") {
    Probe p = probe_peer({"--behaviour", "stall-after-clienthello"}, {}, "1.5");
    expect(p, "timeout", "tls-handshake");
    CHECK(p.record["tls"]["bytes_received"] == 0);
  }
  SECTION("stall after 1,400 bytes of the server's flight (MTU black hole)") {
    Probe p = probe_peer({"--behaviour", "partial-flight:1400"}, {}, "1.5");
    expect(p, "timeout", "tls-handshake");
    CHECK(p.record["tls"]["bytes_received"] == 1400);
    CHECK(p.record["detail"].get<std::string>().find("1400 bytes") != std::string::npos);
    CHECK(p.record["hint"].get<std::string>().find("MTU") != std::string::npos);
  }
  SECTION("refused: a port where nothing listens") {
    // A bound but not listening socket answers SYN with RST and keeps the port ours.
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    socklen_t len = sizeof sa;
    getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    Probe p = probe(local_args(ntohs(sa.sin_port)));
    close(fd);
    expect(p, "connect-refused", "connect");
    CHECK(p.record["network"]["errno"] == "ECONNREFUSED");
  }
}

TEST_CASE("AUTH failures", "[auth]") {
  TempDir dir;
  const std::string pw = secret_file(dir, "wrong-password");
  SECTION("535 from the server") {
    Server peer(peer_argv(
        {"--behaviour", "auth-fail", "--auth-user", "relay", "--auth-password", "right"}));
    Probe p = probe(local_args(peer.port(), {"--auth-user", "relay", "--auth-password-file", pw}));
    expect(p, "auth-failed", "auth");
    CHECK(p.raw.find("wrong-password") == std::string::npos);
  }
  SECTION("AUTH offered before TLS but not after") {
    Server peer(peer_argv(
        {"--behaviour", "no-auth-after-tls", "--auth-user", "relay", "--auth-password", "right"}));
    Probe p = probe(local_args(peer.port(), {"--auth-user", "relay", "--auth-password-file", pw}));
    expect(p, "auth-unavailable", "auth");
  }
}

TEST_CASE("our own broken setup is local-config", "[local]") {
  TempDir dir;
  std::string bad = dir.path() + "/not-pem.crt";
  std::ofstream(bad) << "this is not a certificate\n";
  Server peer(peer_argv({}));
  Probe p = probe({"--ca-file", bad, "--connect", "127.0.0.1", "--timeout", "3",
                   "mx.test:" + std::to_string(peer.port())});
  expect(p, "local-config", "tls-handshake");
  CHECK(p.record["hint"].get<std::string>().find(bad) != std::string::npos);
}

TEST_CASE("usage errors exit 2 with a one-line reason", "[cli]") {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {tlsrelay_bin(), "probe"},
           {tlsrelay_bin(), "probe", "--tls", "sometimes", "mx.test"},
           {tlsrelay_bin(), "probe", "--timeout", "-1", "mx.test"},
           {tlsrelay_bin(), "probe", "--connect", "not-an-ip", "mx.test"},
           {tlsrelay_bin(), "probe", "mx.test:99999"},
           {tlsrelay_bin(), "frobnicate"}}) {
    RunResult r = run(args);
    INFO("args: " << args.back() << " stderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
}

TEST_CASE("a group- or world-readable password file is refused", "[cli][auth]") {
  TempDir dir;
  std::string path = dir.path() + "/pw";
  std::ofstream(path) << "secret\n";
  chmod(path.c_str(), 0644);
  RunResult r =
      run({tlsrelay_bin(), "probe", "--auth-user", "u", "--auth-password-file", path, "mx.test"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("chmod 600") != std::string::npos);
}

TEST_CASE("--envelope tests MAIL and RCPT after AUTH, then RSET; no DATA", "[ok][auth]") {
  TempDir dir;
  const std::string capture = dir.path() + "/capture";
  Server peer(peer_argv({"--auth-user", "relay", "--auth-password", "pw-1", "--reject-rcpt",
                         "nobody@example.org", "--capture", capture}));
  const std::vector<std::string> auth = {"--auth-user", "relay", "--auth-password-file",
                                         secret_file(dir, "pw-1")};
  SECTION("accepted") {
    std::vector<std::string> extra = auth;
    extra.insert(extra.end(), {"--envelope", "me@example.org,you@example.org"});
    Probe p = probe(local_args(peer.port(), extra));
    INFO(p.raw << p.err);
    CHECK(p.exit_code == 0);
    CHECK(p.record["class"] == "ok");
    CHECK(p.record["envelope"]["accepted"] == true);
    CHECK(p.record["envelope"]["steps"].size() == 3);
    const std::string seen = read_file(capture);
    CHECK(seen.find("MAIL FROM:<me@example.org>\r\nRCPT TO:<you@example.org>\r\nRSET\r\n") !=
          std::string::npos);
    CHECK(seen.find("DATA") == std::string::npos);
  }
  SECTION("a recipient the smarthost refuses: exit 1 and its reply") {
    std::vector<std::string> extra = auth;
    extra.insert(extra.end(), {"--envelope", "me@example.org,nobody@example.org"});
    Probe p = probe(local_args(peer.port(), extra));
    CHECK(p.exit_code == 1);
    CHECK(p.record["class"] == "ok");  // the route is fine; the envelope is not
    CHECK(p.record["envelope"]["accepted"] == false);
    CHECK(p.record["envelope"]["steps"][1]["reply"].get<std::string>().rfind("550 5.1.1", 0) == 0);
  }
}

TEST_CASE("--auth-mech xoauth2 with --token-file", "[ok][auth]") {
  TempDir dir;
  Server peer(peer_argv({"--auth-user", "me@example.org", "--auth-password", "ya29.token-1"}));
  Probe p =
      probe(local_args(peer.port(), {"--auth-user", "me@example.org", "--auth-mech", "xoauth2",
                                     "--token-file", secret_file(dir, "ya29.token-1")}));
  INFO(p.raw);
  CHECK(p.record["class"] == "ok");
  CHECK(p.raw.find("AUTH XOAUTH2 ***") != std::string::npos);
  CHECK(p.raw.find("ya29") == std::string::npos);
}

TEST_CASE("--config --upstream probes an upstream as the relay would", "[ok][auth]") {
  TempDir dir;
  Server peer(peer_argv({"--auth-user", "relay", "--auth-password", "pw-2"}));
  const std::string config = dir.path() + "/relay.toml";
  std::ofstream(config) << "[proxy]\nlisten = [\"127.0.0.1:10025\"]\nhostname = \"relay.test\"\n"
                        << "[tls]\nca_file = \"" << cert("ca.pem") << "\"\n"
                        << "[[upstream]]\nname = \"other\"\nhost = \"nowhere.test\"\n"
                        << "[[upstream]]\nname = \"smarthost\"\nhost = \"mx.test\"\nport = "
                        << peer.port() << "\nconnect = \"127.0.0.1\"\ntimeout_s = 3\n"
                        << "auth_user = \"relay\"\nauth_password_file = \""
                        << secret_file(dir, "pw-2") << "\"\n";
  Probe p = probe({"--config", config, "--upstream", "smarthost"});
  INFO(p.raw << p.err);
  CHECK(p.record["class"] == "ok");
  CHECK(p.record["upstream"]["name"] == "smarthost");
  CHECK(p.raw.find("C: EHLO relay.test") != std::string::npos);
  CHECK(p.raw.find("AUTH PLAIN ***") != std::string::npos);
  const RunResult which = run({tlsrelay_bin(), "probe", "--config", config});
  CHECK(which.exit_code == 2);
  CHECK(which.err.find("--upstream NAME is needed") != std::string::npos);
}
