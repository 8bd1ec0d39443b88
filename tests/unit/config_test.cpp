// The configuration: TOML into typed settings, every error with FILE:LINE:COL, the policy
// rule resolution, secret files and `tlsrelay check-config`.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/failure_class.hpp"
#include "config/cidr.hpp"
#include "config/config_error.hpp"
#include "config/loader.hpp"
#include "config/policy_rules.hpp"
#include "config/secret_file.hpp"
#include "proxy/cli/check_config_command.hpp"

using namespace tlsrelay;
using namespace tlsrelay::config;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr const char* kUpstream = "[[upstream]]\nname = \"u\"\nhost = \"smtp.example.net\"\n";

// The message of the ConfigError that parsing `text` throws, or "" when it does not throw.
std::string error_of(const std::string& text) {
  try {
    (void)parse_settings(text, "t.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// A private directory for files the test makes, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "tlsrelay-config-test.XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& content, mode_t mode) const {
    const std::string p = (path_ / name).string();
    std::ofstream(p, std::ios::binary) << content;
    chmod(p.c_str(), mode);
    return p;
  }

 private:
  fs::path path_;
};

std::string example_path() {
#ifdef TLSRELAY_EXAMPLES_DIR
  return std::string(TLSRELAY_EXAMPLES_DIR) + "/tlsrelay.toml";
#elif defined(TLSRELAY_SOURCE_DIR)
  // Not __FILE__: with ccache's base_dir it is relative to the build directory.
  return std::string(TLSRELAY_SOURCE_DIR) + "/examples/tlsrelay.toml";
#else
  return (fs::path(__FILE__).parent_path() / "../../examples/tlsrelay.toml").string();
#endif
}

IpAddress ip(const std::string& text) {
  auto a = parse_ip_address(text);
  REQUIRE(a);
  return *a;
}

}  // namespace

TEST_CASE("a minimal configuration gets every documented default", "[config]") {
  const Settings s = parse_settings(kUpstream, "t.toml");
  CHECK(s.source == "t.toml");
  REQUIRE(s.proxy.listen.size() == 1);
  CHECK(s.proxy.listen[0].to_string() == "127.0.0.1:10587");
  REQUIRE(s.proxy.allow_clients.size() == 2);
  CHECK(s.proxy.allow_clients[0].to_string() == "127.0.0.1/32");
  CHECK(s.proxy.allow_clients[1].to_string() == "::1/128");
  CHECK_FALSE(s.proxy.hostname.empty());
  CHECK(s.proxy.max_message_size == 52428800);
  CHECK(s.proxy.max_recipients == 1000);
  CHECK(s.proxy.max_line_length == 1000);
  CHECK(s.proxy.bare_newlines == BareNewlines::Reject);
  CHECK_FALSE(s.proxy.tls_cert);
  CHECK_FALSE(s.proxy.tls_key);
  CHECK_FALSE(s.proxy.user);
  CHECK(s.proxy.timeouts.command == 300s);
  CHECK(s.proxy.timeouts.data_block == 180s);
  CHECK(s.proxy.timeouts.data_done == 600s);
  CHECK(s.proxy.replay_memory_bytes == 1048576);
  CHECK(s.proxy.max_connections == 200);
  CHECK(s.proxy.max_connections_per_client == 50);
  CHECK(s.proxy.idle_upstream == 30s);
  CHECK(s.proxy.pool_size_per_upstream == 8);
  CHECK(s.proxy.reuse_time_limit == 300s);
  CHECK(s.proxy.max_connection_rate_per_client == 0);
  CHECK(s.tls.ca_file == "/etc/ssl/certs/ca-certificates.crt");
  CHECK(s.tls.min_version == "1.2");
  REQUIRE(s.upstreams.size() == 1);
  const UpstreamSettings& u = s.upstreams[0];
  CHECK(u.name == "u");
  CHECK(u.host == "smtp.example.net");
  CHECK(u.port == 25);
  CHECK(u.tls == TlsMode::Starttls);
  CHECK_FALSE(u.connect);
  CHECK_FALSE(u.sni);
  CHECK_FALSE(u.auth_user);
  CHECK_FALSE(u.auth_password_file);
  CHECK_FALSE(u.auth_mechanism);
  CHECK_FALSE(u.oauth_token_file);
  CHECK_FALSE(u.allow_plaintext);
  CHECK(u.timeout == 30s);
  CHECK_FALSE(u.compat);
  CHECK(u.at.to_string() == "t.toml:1:1");
  CHECK(s.policy.deadline == 60s);
  CHECK(s.policy.backoff == std::vector<Duration>{1s, 4s});
  CHECK(s.policy.rules.empty());
  CHECK(s.headers.enabled);
  CHECK_FALSE(s.log.events);
  CHECK_FALSE(s.http.listen);
  CHECK(s.http.allowed_hosts.empty());
  CHECK_FALSE(s.milter);
}

TEST_CASE("a full configuration parses into the right values", "[config]") {
  const std::string text = R"(
[proxy]
listen = ["0.0.0.0:2525", "[2001:db8::1]:25"]
allow_clients = ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"]
hostname = "relay.example.net"
max_message_size = 1000000
max_recipients = 100
max_line_length = 2000
bare_newlines = "normalize"
tls_cert = "/etc/tlsrelay/cert.pem"
tls_key = "/etc/tlsrelay/key.pem"
user = "tlsrelay"
replay_memory_bytes = 0
max_connections = 10
max_connections_per_client = 10
idle_upstream_s = 2.5
reuse_time_limit_s = 120
pool_size_per_upstream = 0
[proxy.timeouts]
command_s = 60
data_block_s = 0.5
data_done_s = 900

[tls]
ca_file = "/tmp/ca.pem"
min_version = "1.3"

[[upstream]]
name = "primary"
host = "mx.example.net"
port = 587
tls = "starttls"
connect = "192.0.2.10"
sni = ""
auth_user = "me@example.net"
auth_password_file = "/etc/tlsrelay/primary.secret"
auth_mechanism = "plain"
timeout_s = 10
compat = { min_version = "1.0", max_version = "1.2", ciphers = "DEFAULT:@SECLEVEL=0", ciphersuites = "TLS_AES_128_GCM_SHA256", groups = "X25519", security_level = 0 }

[[upstream]]
name = "oauth"
host = "2001:db8::25"
tls = "implicit"
auth_user = "me@example.net"
auth_mechanism = "xoauth2"
oauth_token_file = "/etc/tlsrelay/token"

[[upstream]]
name = "plain"
host = "192.0.2.99"
tls = "none"
allow_plaintext = true

[policy]
deadline_s = 120
backoff_s = [0.5, 2, 8]
[policy.rules]
"network" = ["retry:3", "next-address", "next-upstream", "defer"]
"certificate-expired" = ["compat", "plaintext", "reject"]
"default" = ["retry", "defer"]

[headers]
enabled = false
[log]
events = "/var/log/tlsrelay/events.jsonl"
[http]
listen = "[::1]:9325"
allowed_hosts = ["relay.example.net", "Status.Example.", "192.0.2.25", "2001:db8::25"]
[milter]
socket = "unix:/run/tlsrelay/milter.sock"
status_url = "http://127.0.0.1:9325/status"
policy = "tempfail"
)";
  const Settings s = parse_settings(text, "full.toml");
  REQUIRE(s.proxy.listen.size() == 2);
  CHECK(s.proxy.listen[0].to_string() == "0.0.0.0:2525");
  CHECK(s.proxy.listen[1].to_string() == "[2001:db8::1]:25");
  REQUIRE(s.proxy.allow_clients.size() == 3);
  CHECK(s.proxy.allow_clients[1].to_string() == "2001:db8::/32");
  CHECK(s.proxy.allow_clients[2].to_string() == "198.51.100.7/32");
  CHECK(s.proxy.hostname == "relay.example.net");
  CHECK(s.proxy.max_message_size == 1000000);
  CHECK(s.proxy.max_recipients == 100);
  CHECK(s.proxy.max_line_length == 2000);
  CHECK(s.proxy.bare_newlines == BareNewlines::Normalize);
  CHECK(s.proxy.tls_cert == "/etc/tlsrelay/cert.pem");
  CHECK(s.proxy.tls_key == "/etc/tlsrelay/key.pem");
  CHECK(s.proxy.user == "tlsrelay");
  CHECK(s.proxy.replay_memory_bytes == 0);
  CHECK(s.proxy.max_connections == 10);
  CHECK(s.proxy.max_connections_per_client == 10);
  CHECK(s.proxy.idle_upstream == 2500ms);
  CHECK(s.proxy.reuse_time_limit == 120s);
  CHECK(s.proxy.pool_size_per_upstream == 0);
  CHECK(s.proxy.timeouts.command == 60s);
  CHECK(s.proxy.timeouts.data_block == 500ms);
  CHECK(s.proxy.timeouts.data_done == 900s);
  CHECK(s.tls.ca_file == "/tmp/ca.pem");
  CHECK(s.tls.min_version == "1.3");

  REQUIRE(s.upstreams.size() == 3);
  const auto& p = s.upstreams[0];
  CHECK(p.name == "primary");
  CHECK(p.port == 587);
  CHECK(p.connect == ip("192.0.2.10"));
  CHECK(p.sni == "");
  CHECK(p.auth_user == "me@example.net");
  CHECK(p.auth_password_file == "/etc/tlsrelay/primary.secret");
  CHECK(p.auth_password_file_at.to_string() == "full.toml:36:1");
  CHECK(p.auth_mechanism == AuthMechanism::Plain);
  CHECK(p.timeout == 10s);
  REQUIRE(p.compat);
  CHECK(p.compat->min_version == "1.0");
  CHECK(p.compat->max_version == "1.2");
  CHECK(p.compat->ciphers == "DEFAULT:@SECLEVEL=0");
  CHECK(p.compat->ciphersuites == "TLS_AES_128_GCM_SHA256");
  CHECK(p.compat->groups == "X25519");
  CHECK(p.compat->security_level == 0);
  CHECK(p.at.to_string() == "full.toml:28:1");
  const auto& o = s.upstreams[1];
  CHECK(o.host == "2001:db8::25");
  CHECK(o.tls == TlsMode::Implicit);
  CHECK(o.port == 465);
  CHECK(o.auth_mechanism == AuthMechanism::Xoauth2);
  CHECK(o.oauth_token_file == "/etc/tlsrelay/token");
  CHECK(o.oauth_token_file_at.to_string() == "full.toml:47:1");
  const auto& n = s.upstreams[2];
  CHECK(n.tls == TlsMode::None);
  CHECK(n.port == 25);
  CHECK(n.allow_plaintext);

  CHECK(s.policy.deadline == 120s);
  CHECK(s.policy.backoff == std::vector<Duration>{500ms, 2s, 8s});
  REQUIRE(s.policy.rules.size() == 3);
  CHECK(to_string(s.policy.rules.at("network")) == "retry:3, next-address, next-upstream, defer");
  CHECK(s.policy.rules.at("certificate-expired") ==
        std::vector<Action>{{ActionKind::Compat}, {ActionKind::Plaintext}, {ActionKind::Reject}});
  CHECK(s.policy.rules.at("default") ==
        std::vector<Action>{{ActionKind::Retry, 1}, {ActionKind::Defer}});
  CHECK_FALSE(s.headers.enabled);
  CHECK(s.log.events == "/var/log/tlsrelay/events.jsonl");
  REQUIRE(s.http.listen);
  CHECK(s.http.listen->to_string() == "[::1]:9325");
  CHECK(s.http.allowed_hosts == std::vector<std::string>{"relay.example.net", "Status.Example.",
                                                         "192.0.2.25", "2001:db8::25"});
  REQUIRE(s.milter);
  CHECK(s.milter->socket == "unix:/run/tlsrelay/milter.sock");
  CHECK(s.milter->status_url == "http://127.0.0.1:9325/status");
  CHECK(s.milter->policy == MilterPolicy::Tempfail);
}

TEST_CASE("the upstream port follows the TLS mode unless given", "[config]") {
  auto [lines, port] = GENERATE(table<std::string, int>({
      {"", 25},
      {"tls = \"starttls\"\n", 25},
      {"tls = \"none\"\n", 25},
      {"tls = \"implicit\"\n", 465},
      {"tls = \"implicit\"\nport = 2465\n", 2465},
      {"port = 587\n", 587},
  }));
  INFO(lines);
  const Settings s = parse_settings(std::string(kUpstream) + lines, "t.toml");
  CHECK(s.upstreams.at(0).port == port);
}

// Each row: the file, then the first error line's exact "LINE:COL: " position and a phrase
// of its message.
TEST_CASE("a bad configuration names file, line, column and what was expected", "[config]") {
  auto [what, text, where,
        phrase] = GENERATE(table<std::string, std::string, std::string, std::string>({
      {"broken TOML", "[proxy\n", "1:7", "invalid TOML"},
      {"unclosed string", "[tls]\nca_file = \"/x\n", "2:14", "invalid TOML"},
      {"unknown top-level key", std::string("prxy = 1\n") + kUpstream, "1:1",
       "unknown key \"prxy\" at the top level"},
      {"unknown top-level table", std::string("[prxy]\n") + kUpstream, "1:2",
       "unknown key \"prxy\" at the top level (did you mean \"proxy\"?)"},
      {"unknown key in [proxy]", std::string("[proxy]\nhostnme = \"a\"\n") + kUpstream, "2:1",
       "unknown key \"hostnme\" in [proxy] (did you mean \"hostname\"?)"},
      {"unknown key in [[upstream]]", std::string(kUpstream) + "tsl = \"none\"\n", "4:1",
       "unknown key \"tsl\" in [[upstream]] (did you mean \"tls\"?)"},
      {"wrong type", std::string("[proxy]\nmax_message_size = \"50M\"\n") + kUpstream, "2:20",
       "[proxy] max_message_size must be an integer, not a string"},
      {"wrong type for a table", std::string("tls = 1\n") + kUpstream, "1:7",
       "tls must be a table, not an integer"},
      {"bad tls mode", std::string(kUpstream) + "tls = \"startls\"\n", "4:7",
       "[[upstream]] tls must be \"starttls\", \"implicit\" or \"none\", not \"startls\""},
      {"bad CIDR prefix", std::string("[proxy]\nallow_clients = [\"10.0.0.0/33\"]\n") + kUpstream,
       "2:18", "allow_clients[0] \"10.0.0.0/33\" is not a CIDR range: the prefix length"},
      {"CIDR with host bits",
       std::string("[proxy]\nallow_clients = [\"::1/128\", \"192.0.2.1/24\"]\n") + kUpstream,
       "2:29", "did you mean 192.0.2.0/24?"},
      {"CIDR with a host name",
       std::string("[proxy]\nallow_clients = [\"localhost/8\"]\n") + kUpstream, "2:18",
       "is not a CIDR range"},
      {"bad listen address", std::string("[proxy]\nlisten = [\"localhost:25\"]\n") + kUpstream,
       "2:11", "[proxy] listen[0] \"localhost:25\" is not a listen address"},
      {"listen IPv6 without brackets", std::string("[proxy]\nlisten = [\"::1:25\"]\n") + kUpstream,
       "2:11", "needs brackets"},
      {"listen without port", std::string("[proxy]\nlisten = [\"127.0.0.1\"]\n") + kUpstream,
       "2:11", "the port is missing"},
      {"bad http listen", std::string("[http]\nlisten = \"127.0.0.1:99999\"\n") + kUpstream, "2:10",
       "the port must be a number 0..65535"},
      {"allowed_hosts not an array",
       std::string("[http]\nallowed_hosts = \"relay.example.net\"\n") + kUpstream, "2:17",
       "[http] allowed_hosts must be an array, not a string"},
      {"allowed_hosts with a port",
       std::string("[http]\nallowed_hosts = [\"a.example\", \"relay.example.net:9325\"]\n") +
           kUpstream,
       "2:31",
       "[http] allowed_hosts[1] \"relay.example.net:9325\" must be a host name or an IP address "
       "without a port"},
      {"allowed_hosts IPv6 in brackets",
       std::string("[http]\nallowed_hosts = [\"[::1]\"]\n") + kUpstream, "2:18",
       "without a port (and an IPv6 address without brackets)"},
      {"allowed_hosts wildcard", std::string("[http]\nallowed_hosts = [\"*\"]\n") + kUpstream,
       "2:18", "allowed_hosts[0] \"*\" must be a host name or an IP address"},
      {"allowed_hosts empty name", std::string("[http]\nallowed_hosts = [\"\"]\n") + kUpstream,
       "2:18", "allowed_hosts[0] must not be empty"},
      {"allowed_hosts not strings", std::string("[http]\nallowed_hosts = [9325]\n") + kUpstream,
       "2:18", "allowed_hosts[0] must be a string, not an integer"},
      {"milter status_url names a host the relay refuses",
       std::string("[http]\nlisten = \"127.0.0.1:9325\"\nallowed_hosts = [\"a.example\"]\n"
                   "[milter]\nstatus_url = \"http://relay.example.net:9325/status\"\n") +
           kUpstream,
       "5:14",
       "[milter] status_url names the host \"relay.example.net\", which the relay does not "
       "answer: add it to [http] allowed_hosts"},
      {"auth with allow_plaintext",
       std::string(kUpstream) +
           "auth_user = \"me\"\nauth_password_file = \"/s\"\nallow_plaintext = true\n",
       "6:19", "credentials never travel in clear"},
      {"auth with tls none",
       std::string(kUpstream) + "tls = \"none\"\nauth_user = \"me\"\nauth_password_file = \"/s\"\n",
       "5:13", "not allowed with tls = \"none\""},
      {"auth_user without password file", std::string(kUpstream) + "auth_user = \"me\"\n", "4:13",
       "auth_user needs auth_password_file"},
      {"password file without auth_user", std::string(kUpstream) + "auth_password_file = \"/s\"\n",
       "4:22", "auth_password_file needs auth_user"},
      {"xoauth2 without token file",
       std::string(kUpstream) + "auth_user = \"me\"\nauth_mechanism = \"xoauth2\"\n", "5:18",
       "needs oauth_token_file"},
      {"token file without xoauth2",
       std::string(kUpstream) +
           "auth_user = \"me\"\nauth_password_file = \"/s\"\noauth_token_file = \"/t\"\n",
       "6:20", "only for auth_mechanism = \"xoauth2\""},
      {"bad auth mechanism",
       std::string(kUpstream) +
           "auth_user = \"me\"\nauth_password_file = \"/s\"\nauth_mechanism = \"cram-md5\"\n",
       "6:18", "must be \"plain\", \"login\" or \"xoauth2\", not \"cram-md5\""},
      {"duplicate upstream names", std::string(kUpstream) + kUpstream, "5:8",
       "[[upstream]] name \"u\" is already used (line 2)"},
      {"no upstream", "[proxy]\nhostname = \"a.example\"\n", "1:1",
       "at least one upstream (smarthost) is required"},
      {"upstream as a single table", "[upstream]\nname = \"u\"\n", "1:1",
       "upstream must be written [[upstream]]"},
      {"upstream without host", "[[upstream]]\nname = \"u\"\n", "1:1",
       "[[upstream]] is missing the required key \"host\""},
      {"bad upstream name", "[[upstream]]\nname = \"my relay\"\nhost = \"a.example\"\n", "2:8",
       "[[upstream]] name must be 1..64 of letters"},
      {"bad upstream host", "[[upstream]]\nname = \"u\"\nhost = \"smtp gmail com\"\n", "3:8",
       "must be a domain name or an IP address"},
      {"connect is not an IP", std::string(kUpstream) + "connect = \"mx.example.net\"\n", "4:11",
       "[[upstream]] connect must be an IP address"},
      {"port out of range", std::string(kUpstream) + "port = 0\n", "4:8",
       "[[upstream]] port must be from 1 to 65535, not 0"},
      {"zero timeout", std::string(kUpstream) + "timeout_s = 0\n", "4:13",
       "timeout_s must be from 0.001 to 3600 seconds, not 0"},
      {"bad policy key", std::string(kUpstream) + "[policy.rules]\n\"certficate\" = [\"defer\"]\n",
       "5:1",
       "\"certficate\" is not a failure class, a group or \"default\" (did you mean "
       "\"certificate\"?)"},
      {"ok is no failure", std::string(kUpstream) + "[policy.rules]\nok = [\"defer\"]\n", "5:1",
       "\"ok\" is not a failure class"},
      {"bad action",
       std::string(kUpstream) + "[policy.rules]\nnetwork = [\"retry\", \"next-host\"]\n", "5:21",
       "[policy.rules] \"network\": \"next-host\" is not an action"},
      {"retry count too high", std::string(kUpstream) + "[policy.rules]\ndns = [\"retry:11\"]\n",
       "5:8", "retry:N needs N from 1 to 10"},
      {"count on another action", std::string(kUpstream) + "[policy.rules]\ndns = [\"defer:2\"]\n",
       "5:8", "only retry takes a count"},
      {"defer not last",
       std::string(kUpstream) + "[policy.rules]\ndefault = [\"defer\", \"next-upstream\"]\n",
       "5:12", "\"defer\" must be the last action"},
      {"reject not last",
       std::string(kUpstream) + "[policy.rules]\ntls = [\"reject\", \"defer\"]\n", "5:8",
       "\"reject\" must be the last action"},
      {"empty rule", std::string(kUpstream) + "[policy.rules]\ntls = []\n", "5:7",
       "must list at least one action"},
      {"min_version bad", std::string("[tls]\nmin_version = \"1.4\"\n") + kUpstream, "2:15",
       "[tls] min_version must be \"1.0\", \"1.1\", \"1.2\" or \"1.3\", not \"1.4\""},
      {"min_version as a number", std::string("[tls]\nmin_version = 1.2\n") + kUpstream, "2:15",
       "not a floating-point number"},
      {"compat max below min",
       std::string(kUpstream) + "[upstream.compat]\nmin_version = \"1.2\"\nmax_version = \"1.1\"\n",
       "6:15", "[upstream.compat] max_version \"1.1\" is below min_version \"1.2\""},
      {"compat security level", std::string(kUpstream) + "compat = { security_level = 6 }\n",
       "4:29", "security_level must be from 0 to 5"},
      {"line length below RFC 5321", std::string("[proxy]\nmax_line_length = 998\n") + kUpstream,
       "2:19", "max_line_length must be from 1000"},
      {"bare_newlines bad", std::string("[proxy]\nbare_newlines = \"accept\"\n") + kUpstream,
       "2:17", "must be \"reject\" or \"normalize\""},
      {"tls_cert without tls_key", std::string("[proxy]\ntls_cert = \"/c.pem\"\n") + kUpstream,
       "2:12", "tls_cert needs tls_key as well"},
      {"bad hostname", std::string("[proxy]\nhostname = \"relay example\"\n") + kUpstream, "2:12",
       "[proxy] hostname must be a domain name"},
      {"per-client above total",
       std::string("[proxy]\nmax_connections = 5\nmax_connections_per_client = 6\n") + kUpstream,
       "3:30", "must not exceed max_connections (5)"},
      {"unknown timeout", std::string("[proxy.timeouts]\ncommand = 5\n") + kUpstream, "2:1",
       "unknown key \"command\" in [proxy.timeouts]"},
      {"negative backoff", std::string("[policy]\nbackoff_s = [1, -1]\n") + kUpstream, "2:17",
       "backoff_s[1] must be from 0 to 3600 seconds, not -1"},
      {"control character", std::string("[log]\nevents = \"/a\\nb\"\n") + kUpstream, "2:10",
       "must not contain control characters"},
      {"bad milter policy", std::string("[milter]\npolicy = \"drop\"\n") + kUpstream, "2:10",
       "must be \"accept\", \"tempfail\" or \"hold\""},
      {"headers enabled not a bool", std::string("[headers]\nenabled = \"yes\"\n") + kUpstream,
       "2:11", "[headers] enabled must be true or false, not a string"},
  }));
  INFO(what);
  const std::string message = error_of(text);
  REQUIRE_FALSE(message.empty());
  const std::string first = message.substr(0, message.find('\n'));
  CHECK(first.rfind("t.toml:" + where + ": ", 0) == 0);
  CHECK_THAT(first, Catch::Contains(phrase));
}

TEST_CASE("every problem is reported, one line each, in file order", "[config]") {
  const std::string text =
      "[policy]\n"
      "deadline_s = \"soon\"\n"
      "[proxy]\n"
      "listen = [\"nowhere\"]\n"
      "[[upstream]]\n"
      "name = \"u\"\n"
      "tls = \"ssl\"\n";
  try {
    (void)parse_settings(text, "multi.toml");
    FAIL("no ConfigError");
  } catch (const ConfigError& e) {
    REQUIRE(e.lines().size() == 4);
    CHECK(e.lines()[0].rfind("multi.toml:2:14: [policy] deadline_s", 0) == 0);
    CHECK(e.lines()[1].rfind("multi.toml:4:11: [proxy] listen[0]", 0) == 0);
    CHECK(e.lines()[2].rfind("multi.toml:5:1: [[upstream]] is missing the required key \"host\"",
                             0) == 0);
    CHECK(e.lines()[3].rfind("multi.toml:7:7: [[upstream]] tls", 0) == 0);
    CHECK(std::string(e.what()) ==
          e.lines()[0] + "\n" + e.lines()[1] + "\n" + e.lines()[2] + "\n" + e.lines()[3]);
  }
}

TEST_CASE("load_settings names an unreadable file", "[config]") {
  try {
    (void)load_settings("/nonexistent/tlsrelay.toml");
    FAIL("no ConfigError");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), Catch::StartsWith("/nonexistent/tlsrelay.toml: cannot read"));
  }
}

TEST_CASE("Cidr::contains matches IPv4, IPv6 and IPv4-mapped clients", "[config][cidr]") {
  auto [range, client, inside] = GENERATE(table<std::string, std::string, bool>({
      {"127.0.0.1/32", "127.0.0.1", true},
      {"127.0.0.1/32", "127.0.0.2", false},
      {"192.0.2.0/24", "192.0.2.255", true},
      {"192.0.2.0/24", "192.0.3.0", false},
      {"192.0.2.128/25", "192.0.2.129", true},
      {"192.0.2.128/25", "192.0.2.127", false},
      {"10.0.0.0/9", "10.127.255.255", true},
      {"10.0.0.0/9", "10.128.0.0", false},
      {"0.0.0.0/0", "203.0.113.9", true},
      {"0.0.0.0/0", "2001:db8::1", false},
      {"::1/128", "::1", true},
      {"::1/128", "::2", false},
      {"::1/128", "127.0.0.1", false},
      {"2001:db8::/32", "2001:db8:ffff::1", true},
      {"2001:db8::/32", "2001:db9::1", false},
      {"2001:db8::/33", "2001:db8:7fff::1", true},
      {"2001:db8::/33", "2001:db8:8000::1", false},
      {"::/0", "2001:db8::1", true},
      // A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d.
      {"127.0.0.1/32", "::ffff:127.0.0.1", true},
      {"127.0.0.1/32", "::ffff:127.0.0.2", false},
      {"192.0.2.0/24", "::ffff:192.0.2.77", true},
      {"192.0.2.0/24", "::ffff:198.51.100.1", false},
      {"192.0.2.0/24", "::192.0.2.77", false},  // IPv4-compatible is not IPv4-mapped
      {"::ffff:0:0/96", "192.0.2.1", true},
      {"::ffff:192.0.2.0/120", "192.0.2.1", true},
      {"::ffff:192.0.2.0/120", "192.0.3.1", false},
  }));
  INFO(range << " vs " << client);
  std::string why;
  auto cidr = parse_cidr(range, why);
  REQUIRE(cidr);
  CHECK(cidr->contains(ip(client)) == inside);
}

TEST_CASE("parse_cidr refuses what is not exactly one range", "[config][cidr]") {
  auto [text, phrase] = GENERATE(table<std::string, std::string>({
      {"", "expected ADDRESS/PREFIX"},
      {"10.0.0.0/", "prefix length must be a number"},
      {"10.0.0.0/8x", "prefix length must be a number"},
      {"10.0.0.0/33", "0..32"},
      {"::/129", "0..128"},
      {"10.1.0.0/8", "did you mean 10.0.0.0/8?"},
      {"2001:db8::1/32", "did you mean 2001:db8::/32?"},
      {"10.1/8", "expected ADDRESS/PREFIX"},
      {"fe80::1%eth0/64", "expected ADDRESS/PREFIX"},
      {"localhost", "expected ADDRESS/PREFIX"},
  }));
  INFO(text);
  std::string why;
  CHECK_FALSE(parse_cidr(text, why));
  CHECK_THAT(why, Catch::Contains(phrase));
}

TEST_CASE("listen addresses: IP:PORT and [IPv6]:PORT only", "[config]") {
  auto [text, canonical] = GENERATE(table<std::string, std::string>({
      {"127.0.0.1:10025", "127.0.0.1:10025"},
      {"0.0.0.0:0", "0.0.0.0:0"},
      {"[::1]:25", "[::1]:25"},
      {"[2001:DB8:0:0::1]:465", "[2001:db8::1]:465"},
      {"[::ffff:192.0.2.1]:25", "[::ffff:192.0.2.1]:25"},
      {"::1:25", ""},
      {"[::1]", ""},
      {"[::1]:", ""},
      {"[127.0.0.1]:25", ""},
      {"127.0.0.1:65536", ""},
      {"127.0.0.1:-1", ""},
      {"localhost:25", ""},
      {"127.0.0.1", ""},
      {"", ""},
  }));
  INFO(text);
  std::string why;
  auto sa = parse_socket_address(text, why);
  if (canonical.empty()) {
    CHECK_FALSE(sa);
    CHECK_FALSE(why.empty());
  } else {
    REQUIRE(sa);
    CHECK(sa->to_string() == canonical);
  }
}

TEST_CASE("actions parse into kind and count", "[config][policy]") {
  auto [text, canonical] = GENERATE(table<std::string, std::string>({
      {"retry", "retry:1"},
      {"retry:1", "retry:1"},
      {"retry:10", "retry:10"},
      {"next-address", "next-address"},
      {"next-upstream", "next-upstream"},
      {"compat", "compat"},
      {"plaintext", "plaintext"},
      {"defer", "defer"},
      {"reject", "reject"},
      {"retry:0", ""},
      {"retry:11", ""},
      {"retry:", ""},
      {"retry:x", ""},
      {"retry:-1", ""},
      {"Retry", ""},
      {"defer:1", ""},
      {"", ""},
  }));
  INFO(text);
  std::string why;
  auto a = parse_action(text, why);
  if (canonical.empty()) {
    CHECK_FALSE(a);
    CHECK_FALSE(why.empty());
  } else {
    REQUIRE(a);
    CHECK(to_string(*a) == canonical);
  }
}

TEST_CASE("effective_rule: class beats group beats default, built-ins fill gaps",
          "[config][policy]") {
  PolicySettings with;
  with.rules["network"] = {{ActionKind::Retry, 2}, {ActionKind::Defer}};
  with.rules["connect-refused"] = {{ActionKind::NextUpstream}, {ActionKind::Reject}};
  with.rules["default"] = {{ActionKind::Reject}};
  with.rules["starttls"] = {{ActionKind::Retry, 3}, {ActionKind::Defer}};
  const PolicySettings none;

  auto [policy_name, cls, group, actions, source, builtin] =
      GENERATE(table<std::string, std::string, std::string, std::string, std::string, bool>({
          // the file's rules
          {"with", "connect-refused", "network", "next-upstream, reject", "connect-refused", false},
          {"with", "timeout", "network", "retry:2, defer", "network", false},
          {"with", "certificate-expired", "certificate", "next-upstream, defer", "certificate",
           true},  // a built-in group rule beats the file's "default"
          {"with", "starttls-rejected", "starttls", "retry:3, defer", "starttls", false},
          // the built-in class rule still protects starttls-injection from a group rule
          {"with", "starttls-injection", "starttls", "next-upstream, defer", "starttls-injection",
           true},
          {"with", "made-up", "made-up-group", "reject", "default", false},
          // only built-ins
          {"none", "timeout", "network", "retry:1, next-address, next-upstream, defer", "network",
           true},
          {"none", "dns-failure", "dns", "next-upstream, defer", "dns", true},
          {"none", "not-smtp", "smtp", "next-upstream, defer", "smtp", true},
          {"none", "tls-alert", "tls", "next-upstream, defer", "tls", true},
          {"none", "auth-failed", "auth", "next-upstream, defer", "auth", true},
          {"none", "local-config", "local", "next-upstream, defer", "local", true},
          {"none", "starttls-injection", "starttls", "next-upstream, defer", "starttls-injection",
           true},
          {"none", "made-up", "", "next-upstream, defer", "default", true},
      }));
  INFO(policy_name << " " << cls);
  const EffectiveRule r = effective_rule(policy_name == "with" ? with : none, cls, group);
  CHECK(to_string(r.actions) == actions);
  CHECK(r.source == source);
  CHECK(r.builtin == builtin);
}

TEST_CASE("built-in rules never retry a STARTTLS injection", "[config][policy]") {
  for (auto* c = tlsrelay::all_classes_begin(); c != tlsrelay::all_classes_end(); ++c) {
    if (c->group != tlsrelay::FailureGroup::Starttls) continue;
    INFO(c->name);
    for (const Action& a : effective_rule(PolicySettings{}, c->name, to_string(c->group)).actions) {
      CHECK(a.kind != ActionKind::Retry);
    }
  }
}

TEST_CASE("every built-in rule key is a class, a group or default", "[config][policy]") {
  for (const auto& [key, actions] : builtin_rules()) {
    INFO(key);
    CHECK((key == "default" || tlsrelay::is_group_name(key) || tlsrelay::class_from_string(key)));
    REQUIRE_FALSE(actions.empty());
    CHECK(actions.back().kind == ActionKind::Defer);
  }
}

TEST_CASE("read_secret wants a private, non-empty, one-line file", "[config][secret]") {
  TempDir dir;
  auto [content, mode, secret, phrase] =
      GENERATE(table<std::string, mode_t, std::string, std::string>({
          {"app-password\n", 0600, "app-password", ""},
          {"app-password\r\n", 0400, "app-password", ""},
          {"no newline", 0600, "no newline", ""},
          {"app-password\n", 0644, "", "is readable by group or others (mode 0644); chmod 600 it"},
          {"app-password\n", 0640, "", "is readable by group or others (mode 0640)"},
          {"app-password\n", 0604, "", "is readable by group or others (mode 0604)"},
          {"app-password\n", 0620, "", "writable or executable by group or others (mode 0620)"},
          {"", 0600, "", "is empty"},
          {"\n\n", 0600, "", "is empty"},
          {"one\ntwo\n", 0600, "", "holds more than one line"},
      }));
  INFO(content << " mode " << mode);
  const std::string path = dir.write("secret", content, mode);
  if (phrase.empty()) {
    CHECK(read_secret(path) == secret);
  } else {
    try {
      (void)read_secret(path);
      FAIL("no ConfigError");
    } catch (const ConfigError& e) {
      CHECK_THAT(e.what(), Catch::StartsWith("secret file " + path + " "));
      CHECK_THAT(e.what(), Catch::Contains(phrase));
    }
  }
}

TEST_CASE("read_secret names a missing file and refuses a directory", "[config][secret]") {
  TempDir dir;
  const std::string missing = dir.write("x", "", 0600) + ".missing";
  CHECK_THROWS_WITH(read_secret(missing), Catch::Contains("No such file or directory"));
  const std::string d = fs::path(missing).parent_path().string();
  CHECK_THROWS_WITH(read_secret(d), Catch::Contains("is not a regular file"));
}

TEST_CASE("the example configuration is valid", "[config][example]") {
  const Settings s =
      tlsrelay::proxy::check_config(example_path(), tlsrelay::proxy::CheckOptions{false});
  REQUIRE(s.upstreams.size() == 2);
  CHECK(s.upstreams[0].name == "gmail-587");
  CHECK(s.upstreams[0].host == "smtp.gmail.com");
  CHECK(s.upstreams[0].port == 587);
  CHECK(s.upstreams[0].tls == TlsMode::Starttls);
  CHECK(s.upstreams[0].auth_password_file == "/etc/tlsrelay/gmail.secret");
  CHECK(s.upstreams[1].name == "gmail-465");
  CHECK(s.upstreams[1].host == "smtp.gmail.com");
  CHECK(s.upstreams[1].port == 465);
  CHECK(s.upstreams[1].tls == TlsMode::Implicit);
  CHECK(s.upstreams[1].auth_password_file == s.upstreams[0].auth_password_file);
  // Gmail needs no compat profile; the example must not weaken TLS.
  CHECK_FALSE(s.upstreams[0].compat);
  CHECK_FALSE(s.upstreams[1].compat);
  CHECK(s.milter.has_value());
  CHECK_FALSE(s.policy.rules.empty());
}

namespace {

struct CommandResult {
  int status;
  std::string out, err;
};

CommandResult run_check_config(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const int status = tlsrelay::proxy::check_config_command(args, out, err);
  return {status, out.str(), err.str()};
}

}  // namespace

TEST_CASE("check-config: ok line, error lines, usage errors", "[config][check-config]") {
  TempDir dir;
  const std::string good_secret = dir.write("good.secret", "pw\n", 0600);
  const std::string open_secret = dir.write("open.secret", "pw\n", 0644);
  const std::string good = dir.write("good.toml",
                                     "[[upstream]]\n"
                                     "name = \"gmail\"\n"
                                     "host = \"smtp.gmail.com\"\n"
                                     "port = 587\n"
                                     "auth_user = \"me\"\n"
                                     "auth_password_file = \"" +
                                         good_secret +
                                         "\"\n"
                                         "[[upstream]]\n"
                                         "name = \"backup\"\n"
                                         "host = \"mail.example.net\"\n"
                                         "tls = \"implicit\"\n"
                                         "[policy.rules]\n"
                                         "network = [\"retry:2\", \"defer\"]\n",
                                     0644);
  const std::string exposed = dir.write("exposed.toml",
                                        "[[upstream]]\n"
                                        "name = \"gmail\"\n"
                                        "host = \"smtp.gmail.com\"\n"
                                        "auth_user = \"me\"\n"
                                        "  auth_password_file = \"" +
                                            open_secret + "\"\n",
                                        0644);
  const std::string broken =
      dir.write("broken.toml", "[[upstream]]\nname = \"a\"\ntls = 1\n", 0644);

  SECTION("a valid file prints one ok line with its upstreams") {
    const auto r = run_check_config({good});
    CHECK(r.status == 0);
    CHECK(r.out == good + ": ok (2 upstreams: gmail smtp.gmail.com:587 starttls, backup " +
                       "mail.example.net:465 implicit)\n");
    CHECK(r.err.empty());
  }
  SECTION("--explain adds one line per failure class, from the file's rule or a built-in") {
    const auto r = run_check_config({good, "--explain"});
    CHECK(r.status == 0);
    CHECK_THAT(r.out, Catch::Contains("\ntimeout -> retry:2, defer (from rule \"network\")\n"));
    CHECK_THAT(r.out, Catch::Contains("\ncertificate-expired -> next-upstream, defer (from "
                                      "built-in rule \"certificate\")\n"));
    CHECK_THAT(r.out, Catch::Contains("\nstarttls-injection -> next-upstream, defer (from "
                                      "built-in rule \"starttls-injection\")\n"));
    const auto classes = tlsrelay::all_classes_end() - tlsrelay::all_classes_begin();
    const std::string explained = tlsrelay::proxy::explain_policy(PolicySettings{});
    CHECK(std::count(explained.begin(), explained.end(), '\n') == classes - 1);
    CHECK_THAT(explained, !Catch::Contains("ok ->"));
  }
  SECTION("an exposed secret file is a config error at its key") {
    const auto r = run_check_config({exposed});
    CHECK(r.status == 1);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::StartsWith(exposed +
                                        ":5:3: [[upstream]] auth_password_file: "
                                        "secret file " +
                                        open_secret + " is readable by group or others"));
  }
  SECTION("a missing secret file is a config error") {
    const auto r = run_check_config({dir.write("missing.toml",
                                               "[[upstream]]\nname = \"a\"\nhost = \"a.example\"\n"
                                               "auth_user = \"me\"\n"
                                               "auth_password_file = \"/nonexistent/secret\"\n",
                                               0644)});
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Catch::Contains(":5:1: [[upstream]] auth_password_file: cannot open"));
  }
  SECTION("every problem is one line on stderr, exit 1") {
    const auto r = run_check_config({broken});
    CHECK(r.status == 1);
    CHECK(r.out.empty());
    CHECK(r.err == broken + ":1:1: [[upstream]] is missing the required key \"host\"\n" + broken +
                       ":3:7: [[upstream]] tls must be \"starttls\", \"implicit\" or \"none\", "
                       "not an integer\n");
  }
  SECTION("usage errors exit 2 with one line") {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {}, {good, good}, {good, "--explian"}, {"--explain=yes", good}}) {
      const auto r = run_check_config(args);
      INFO(r.err);
      CHECK(r.status == 2);
      CHECK(r.out.empty());
      CHECK_THAT(r.err, Catch::StartsWith("tlsrelay check-config: "));
      CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    }
  }
}

TEST_CASE("[milter]: every key read, and each bad value named at its line and column",
          "[config][milter]") {
  SECTION("all keys") {
    const Settings s = parse_settings(std::string(kUpstream) +
                                          "[milter]\n"
                                          "socket = \"inet6:8891@::1\"\n"
                                          "status_url = \"http://[::1]:9325/status\"\n"
                                          "policy = \"hold\"\n"
                                          "failing_states = [\"failing\", \"degraded\"]\n"
                                          "cache_s = 2.5\n"
                                          "timeout_s = 0.2\n"
                                          "route_header = false\n"
                                          "inbound_header = false\n",
                                      "m.toml");
    REQUIRE(s.milter);
    const MilterSettings& m = *s.milter;
    CHECK(m.socket == "inet6:8891@::1");
    CHECK(m.status_url == "http://[::1]:9325/status");
    CHECK(m.status_host == "::1");
    CHECK(m.status_port == 9325);
    CHECK(m.status_target == "/status");
    CHECK(m.policy == MilterPolicy::Hold);
    CHECK(m.degraded_is_failing);
    CHECK(m.cache == 2500ms);
    CHECK(m.timeout == 200ms);
    CHECK_FALSE(m.route_header);
    CHECK_FALSE(m.inbound_header);
    CHECK(m.at.to_string() == "m.toml:4:1");
  }
  SECTION("defaults") {
    const Settings s = parse_settings(std::string(kUpstream) +
                                          "[milter]\nsocket = \"unix:/run/m.sock\"\n"
                                          "status_url = \"http://localhost\"\n",
                                      "m.toml");
    REQUIRE(s.milter);
    CHECK(s.milter->policy == MilterPolicy::Accept);
    CHECK_FALSE(s.milter->degraded_is_failing);
    CHECK(s.milter->cache == 1s);
    CHECK(s.milter->timeout == 500ms);
    CHECK(s.milter->status_host == "localhost");
    CHECK(s.milter->status_port == 80);
    CHECK(s.milter->status_target == "/");
    CHECK(s.milter->route_header);
    CHECK(s.milter->inbound_header);
  }
  SECTION("a status_url host the relay answers: localhost, an IP, a name in allowed_hosts") {
    for (const char* url :
         {"http://localhost:9325/status", "http://LocalHost.:9325/", "http://192.0.2.1:9325/status",
          "http://[::1]:9325/status", "http://Relay.Example.NET.:9325/status"}) {
      INFO(url);
      CHECK(error_of("[http]\nlisten = \"0.0.0.0:9325\"\nallowed_hosts = "
                     "[\"relay.example.net\"]\n[milter]\nstatus_url = \"" +
                     std::string(url) + "\"\n" + kUpstream) == "");
    }
    // Without [http] listen this file does not configure the relay's server: not checked.
    CHECK(error_of("[milter]\nstatus_url = \"http://relay.example.net/status\"\n" +
                   std::string(kUpstream)) == "");
  }
  SECTION("bad values") {
    auto [what, lines, where,
          phrase] = GENERATE(table<std::string, std::string, std::string, std::string>({
        {"Postfix's socket order", "socket = \"inet:127.0.0.1:8891\"", "2:10",
         "is written PORT@HOST here (libmilter), e.g. \"inet:8891@127.0.0.1\""},
        {"socket without a kind", "socket = \"/run/m.sock\"", "2:10",
         "must start with \"unix:\", \"local:\", \"inet:\" or \"inet6:\""},
        {"relative unix socket", "socket = \"unix:m.sock\"", "2:10", "needs an absolute path"},
        {"socket port 0", "socket = \"inet:0@127.0.0.1\"", "2:10", "needs a port from 1 to 65535"},
        {"socket bad host", "socket = \"inet:25@bad host\"", "2:10",
         "neither an IP address nor a domain name"},
        {"https status", "status_url = \"https://127.0.0.1/status\"", "2:14", "must be http://"},
        {"status without scheme", "status_url = \"127.0.0.1:9325/status\"", "2:14",
         "must start with \"http://\""},
        {"status bad port", "status_url = \"http://127.0.0.1:99999/status\"", "2:14",
         "needs a port from 1 to 65535"},
        {"status no host", "status_url = \"http:///status\"", "2:14", "needs a host"},
        {"policy", "policy = \"drop\"", "2:10", "must be \"accept\", \"tempfail\" or \"hold\""},
        {"failing_states without failing", "failing_states = [\"degraded\"]", "2:18",
         "must include \"failing\""},
        {"failing_states unknown word", "failing_states = [\"failing\", \"down\"]", "2:30",
         "failing_states[1] must be \"failing\" or \"degraded\", not \"down\""},
        {"cache_s zero", "cache_s = 0", "2:11", "cache_s must be from 0.1 to 60 seconds"},
        {"timeout_s too long", "timeout_s = 30", "2:13", "timeout_s must be from 0.01 to 10"},
        {"route_header not a bool", "route_header = 1", "2:16",
         "route_header must be true or false"},
        {"unknown key", "polcy = \"hold\"", "2:1",
         "unknown key \"polcy\" in [milter] (did you mean \"policy\"?)"},
    }));
    INFO(what);
    const std::string message = error_of("[milter]\n" + lines + "\n" + kUpstream);
    REQUIRE_FALSE(message.empty());
    const std::string first = message.substr(0, message.find('\n'));
    CHECK(first.rfind("t.toml:" + where + ": ", 0) == 0);
    CHECK_THAT(first, Catch::Contains(phrase));
  }
}
