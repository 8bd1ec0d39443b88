#include "tests/e2e/fixture.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <memory>
#include <sstream>

#include "common/failure_class.hpp"

namespace tlsrelay::e2e {

const std::string& tlsrelay_bin() {
  static const std::string p = TLSRELAY_BIN;
  return p;
}

const std::string& testpeer_bin() {
  static const std::string p = TESTPEER_BIN;
  return p;
}

const std::string& cert_dir() {
  static std::unique_ptr<TempDir> dir;
  if (!dir) {
    dir = std::make_unique<TempDir>();
    RunResult r = run({testpeer_bin(), "gen-certs", dir->path()});
    if (r.exit_code != 0) FAIL("gen-certs failed: " << r.err);
  }
  return dir->path();
}

std::string cert(const std::string& file) {
  return cert_dir() + "/" + file;
}

std::vector<std::string> peer_argv(const std::vector<std::string>& extra,
                                   const std::vector<std::string>& prefix) {
  std::vector<std::string> v = prefix;
  v.insert(v.end(), {testpeer_bin(), "smtp", "--cert-dir", cert_dir(), "--watch-stdin"});
  v.insert(v.end(), extra.begin(), extra.end());
  return v;
}

Probe probe(const std::vector<std::string>& args, const std::vector<std::string>& prefix) {
  std::vector<std::string> argv = prefix;
  argv.push_back(tlsrelay_bin());
  argv.push_back("probe");
  argv.push_back("--json");
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = run(argv, std::chrono::seconds(60));
  Probe p;
  p.exit_code = r.exit_code;
  p.raw = r.out;
  p.err = r.err;
  INFO("probe stdout: " << r.out << "\nprobe stderr: " << r.err);
  REQUIRE((r.exit_code == 0 || r.exit_code == 1));
  REQUIRE(!r.out.empty());
  REQUIRE(r.out.back() == '\n');
  REQUIRE(r.out.find('\n') == r.out.size() - 1);  // exactly one line, one object
  p.record = nlohmann::json::parse(r.out);
  REQUIRE(p.record.is_object());
  require_complete_record(p.record);
  // 0 exactly when the attempt ended ok (and, with --envelope, MAIL and RCPT were accepted).
  const bool envelope_ok =
      !p.record.contains("envelope") || p.record["envelope"]["accepted"] == true;
  REQUIRE((r.exit_code == 0) == (p.record["class"] == "ok" && envelope_ok));
  return p;
}

std::vector<std::string> local_args(unsigned short port, const std::vector<std::string>& extra,
                                    const std::string& timeout) {
  std::vector<std::string> v = {"--ca-file", cert("ca.pem"), "--connect", "127.0.0.1",
                                "--timeout", timeout,        "--ehlo",    "relay.test"};
  v.insert(v.end(), extra.begin(), extra.end());
  v.push_back("mx.test:" + std::to_string(port));
  return v;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

unsigned short free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  socklen_t len = sizeof sa;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  close(fd);
  return ntohs(sa.sin_port);
}

void require_complete_record(const nlohmann::json& r) {
  using nlohmann::json;
  auto has = [&](const json& obj, const char* key) {
    INFO("record: " << r.dump() << "\nmissing key: " << key);
    REQUIRE(obj.contains(key));
    return obj[key];
  };
  for (const char* k :
       {"time", "class", "group", "phase", "rfc8460", "transient", "fault", "hint", "detail",
        "upstream", "tls", "certificate", "smtp", "network", "openssl_errors", "timings_ms"}) {
    has(r, k);
  }
  for (const char* k : {"name", "host", "port", "address", "tls_mode"}) has(r["upstream"], k);
  for (const char* k :
       {"version", "cipher", "sni", "alerts_received", "alerts_sent", "session_reused"}) {
    has(r["tls"], k);
  }
  for (const char* k : {"verify_result", "verify_depth", "chain"}) has(r["certificate"], k);
  for (const char* k : {"banner", "extensions", "transcript"}) has(r["smtp"], k);
  for (const char* k : {"errno", "bytes_received_in_phase"}) has(r["network"], k);
  for (const char* k :
       {"dns", "connect", "banner", "ehlo", "starttls", "tls_handshake", "auth", "total"}) {
    has(r["timings_ms"], k);
  }
  REQUIRE(r["time"].is_string());
  REQUIRE(r["transient"].is_boolean());
  REQUIRE(r["tls"]["alerts_received"].is_array());
  REQUIRE(r["certificate"]["chain"].is_array());
  REQUIRE(r["smtp"]["transcript"].is_array());
  REQUIRE(r["openssl_errors"].is_array());
  REQUIRE(r["timings_ms"]["total"].is_number());

  auto cls = class_from_string(r["class"].get<std::string>());
  INFO("class " << r["class"]);
  REQUIRE(cls.has_value());
  const ClassInfo& ci = info(*cls);
  auto str_or_null = [](std::string_view s) { return s.empty() ? json(nullptr) : json(s); };
  CHECK(r["group"] == str_or_null(to_string(ci.group)));
  CHECK(r["rfc8460"] == str_or_null(ci.rfc8460));
  CHECK(r["fault"] == str_or_null(to_string(ci.fault)));
  if (*cls != FailureClass::Ok) {
    CHECK(r["hint"].is_string());
    CHECK(!r["hint"].get<std::string>().empty());
    CHECK(r["phase"].is_string());
    if (ci.transience == Transience::Always) CHECK(r["transient"] == true);
    if (ci.transience == Transience::Never) CHECK(r["transient"] == false);
  }
}

}  // namespace tlsrelay::e2e
