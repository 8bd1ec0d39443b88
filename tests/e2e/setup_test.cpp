// `tlsrelay setup` end to end, with a real private Postfix whose relayhost first points
// straight at the smarthost (the test peer, AUTH relay/password) with Postfix's own TLS and
// SASL, as an admin's would. setup runs inside the instance (its etc/ is /etc/postfix):
// a dry run and every refusal change nothing; --apply gives a configuration check-config
// accepts and a main.cf through which mail reaches the smarthost by way of `tlsrelay serve`;
// --undo gives main.cf and master.cf back byte for byte. Root only (Postfix, namespaces).
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>

#include "common/unique_fd.hpp"

#include "tests/e2e/fixture.hpp"
#include "tests/e2e/postfix_instance.hpp"

using namespace tlsrelay;
using namespace tlsrelay::e2e;

namespace {

constexpr const char* kPassword = "Canary-Setup-Pw-5d1e";

// What an admin had before tlsrelay: Postfix authenticating to the smarthost itself, over
// TLS it insists on.
std::string postfix_own_tls_and_sasl(const std::string& more = "") {
  return std::string("smtp_tls_security_level = encrypt\n") +
         "smtp_sasl_auth_enable = yes\n"
         "smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd\n"
         "smtp_sasl_security_options = noanonymous\n" +
         more;
}

std::string secret_file(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.path() + "/" + name;
  std::ofstream(path) << text << "\n";
  REQUIRE(chmod(path.c_str(), 0600) == 0);
  return path;
}

// The smarthost, a Postfix in front of it, and a place for tlsrelay's files that the
// service user (nobody) can reach, as /etc/tlsrelay is.
struct Site {
  explicit Site(const std::string& extra_cf = postfix_own_tls_and_sasl())
      : capture(tmp.path() + "/capture"),
        config_dir(tmp.path() + "/etc-tlsrelay"),
        smarthost(peer_argv(
            {"--auth-user", "relay", "--auth-password", kPassword, "--capture", capture})),
        postfix("[127.0.0.1]:" + std::to_string(smarthost.port()), extra_cf) {
    REQUIRE(chmod(tmp.path().c_str(), 0755) == 0);
    // The relay reads the CA file as the service user (check-config checks that too).
    REQUIRE(chmod(cert_dir().c_str(), 0755) == 0);
    main_cf = read_file(postfix.main_cf());
    master_cf = read_file(postfix.master_cf());
    REQUIRE(!main_cf.empty());
  }

  // tlsrelay setup inside the instance, with this site's smarthost and directories.
  // `prefix`: a command that runs tlsrelay, e.g. env with another PATH.
  RunResult setup(const std::vector<std::string>& more, const std::string& password_file,
                  const std::vector<std::string>& prefix = {}) const {
    std::vector<std::string> argv = prefix;
    argv.insert(
        argv.end(),
        {tlsrelay_bin(), "setup", "--smarthost", "mx.test:" + std::to_string(smarthost.port()),
         "--connect", "127.0.0.1", "--ca-file", cert("ca.pem"), "--user", "relay",
         "--password-file", password_file, "--config-dir", config_dir, "--service-user", "nobody"});
    argv.insert(argv.end(), more.begin(), more.end());
    return postfix.run(argv);
  }

  std::string postconf(const std::string& name) const {
    RunResult r = postfix.run({"postconf", "-h", name});
    REQUIRE(r.exit_code == 0);
    return r.out.substr(0, r.out.find('\n'));
  }

  bool postfix_unchanged() const {
    return read_file(postfix.main_cf()) == main_cf && read_file(postfix.master_cf()) == master_cf;
  }

  TempDir tmp;
  std::string capture;
  std::string config_dir;
  Server smarthost;
  Postfix postfix;
  std::string main_cf, master_cf;  // as they were before setup
};

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// The port of `listen = ["127.0.0.1:PORT"]` in the file setup wrote.
std::string relay_listen(const std::string& config) {
  const std::string key = "listen = [\"127.0.0.1:";
  const auto at = config.find(key);
  REQUIRE(at != std::string::npos);
  return config.substr(at + key.size(), config.find('"', at + key.size()) - at - key.size());
}

// A loopback port something listens on, that Postfix knows nothing of.
struct Listener {
  Listener() : fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    REQUIRE(listen(fd.get(), 1) == 0);
    socklen_t len = sizeof sa;
    REQUIRE(getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len) == 0);
    port = ntohs(sa.sin_port);
  }
  UniqueFd fd;
  unsigned short port = 0;
};

}  // namespace

TEST_CASE("setup: a dry run probes, shows every change and changes nothing", "[setup]") {
  Site site;
  const std::string pw = secret_file(site.tmp, "pw", kPassword);
  const RunResult r = site.setup({}, pw);
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("ok: TLSv1.3") != std::string::npos);
  CHECK(r.out.find("AUTH PLAIN accepted") != std::string::npos);
  CHECK(r.out.find("postconf -e 'relayhost = [127.0.0.1]:") != std::string::npos);
  CHECK(r.out.find("# outgoing mail goes to tlsrelay on loopback (was [127.0.0.1]:" +
                   std::to_string(site.smarthost.port()) + ")") != std::string::npos);
  CHECK(r.out.find("postconf -e 'smtp_tls_security_level = may'") != std::string::npos);
  CHECK(r.out.find("postconf -e 'smtp_sasl_auth_enable = no'") != std::string::npos);
  CHECK(r.out.find("postconf -X smtp_sasl_password_maps") != std::string::npos);
  CHECK(r.out.find("| name = \"smarthost\"") != std::string::npos);
  CHECK(r.out.find("A dry run: nothing was changed") != std::string::npos);
  CHECK(r.out.find(kPassword) == std::string::npos);
  CHECK(r.err.find(kPassword) == std::string::npos);
  CHECK(site.postfix_unchanged());
  CHECK_FALSE(exists(site.config_dir));
}

TEST_CASE("setup refuses when the probe fails, and changes nothing", "[setup]") {
  Site site;
  const std::string wrong = secret_file(site.tmp, "wrong", "not-the-password");
  const RunResult r = site.setup({"--apply"}, wrong);
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
  CHECK(r.exit_code == 1);
  // The probe's own report, then one line of refusal.
  CHECK(r.out.find("tlsrelay probe mx.test:") != std::string::npos);
  CHECK(r.out.find("auth-failed") != std::string::npos);
  CHECK(r.err.find("ended auth-failed (above): nothing was changed") != std::string::npos);
  CHECK(r.out.find("not-the-password") == std::string::npos);
  CHECK(site.postfix_unchanged());
  CHECK_FALSE(exists(site.config_dir));
}

TEST_CASE("setup --apply: Postfix sends through tlsrelay; --undo puts main.cf and master.cf back",
          "[setup]") {
  Site site;
  const std::string pw = secret_file(site.tmp, "pw", kPassword);
  const RunResult r = site.setup({"--apply"}, pw);
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find(kPassword) == std::string::npos);
  CHECK(r.err.find(kPassword) == std::string::npos);

  // tlsrelay's files: a configuration check-config accepts (the secret read as the service
  // user), the secret the service user's alone.
  const std::string config_path = site.config_dir + "/tlsrelay.toml";
  const std::string config = read_file(config_path);
  INFO("tlsrelay.toml:\n" << config);
  const RunResult check = run({tlsrelay_bin(), "check-config", config_path, "--as-user", "nobody"});
  INFO("check-config: " << check.out << check.err);
  CHECK(check.exit_code == 0);
  const std::string secret = site.config_dir + "/smarthost.secret";
  struct stat st {};
  REQUIRE(stat(secret.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(st.st_uid == getpwnam("nobody")->pw_uid);
  CHECK(read_file(secret) == std::string(kPassword) + "\n");

  // Postfix's main.cf: the changes are in, master.cf is as it was, the backup is exact.
  const std::string port = relay_listen(config);
  CHECK(site.postconf("relayhost") == "[127.0.0.1]:" + port);
  CHECK(site.postconf("smtp_tls_security_level") == "may");
  CHECK(site.postconf("smtp_sasl_auth_enable") == "no");
  CHECK(site.postfix.run({"postconf", "-n"}).out.find("smtp_sasl_password_maps") ==
        std::string::npos);
  CHECK(read_file(site.postfix.master_cf()) == site.master_cf);
  CHECK(read_file(site.config_dir + "/setup-backup/main.cf") == site.main_cf);
  CHECK(read_file(site.config_dir + "/setup-backup/master.cf") == site.master_cf);

  {
    // No systemd here: the relay is started as setup said, by hand.
    Server relay({tlsrelay_bin(), "serve", "--config", config_path});
    CHECK(std::to_string(relay.port()) == port);
    submit(site.postfix.port(), "Message-ID: <setup-1@test>\r\nSubject: after setup\r\n\r\nhi\r\n");
    INFO("maillog:\n" << site.postfix.maillog() << "\nrelay:\n" << relay.stderr_text());
    REQUIRE(
        wait_until([&] { return site.postfix.maillog().find("status=sent") != std::string::npos; },
                   std::chrono::seconds(30)));
    CHECK(site.postfix.maillog().find("relay=127.0.0.1[127.0.0.1]:" + port) != std::string::npos);
    const std::string seen = read_file(site.capture);
    INFO("smarthost capture:\n" << seen);
    CHECK(seen.find("TLS-Relay: upstream=smarthost; host=mx.test;") != std::string::npos);
    CHECK(seen.find("Subject: after setup") != std::string::npos);
  }

  // A second --apply keeps the first backup: --undo goes back to before the first setup.
  const RunResult again = site.setup({"--apply"}, pw);
  INFO("again:\n" << again.out << again.err);
  CHECK(again.exit_code == 0);
  CHECK(again.out.find("kept the backup of an earlier setup") != std::string::npos);

  // Whatever changed since (setup itself leaves master.cf alone), --undo gives back both
  // files as they were before the first setup.
  std::ofstream(site.postfix.master_cf(), std::ios::app) << "# edited after setup\n";
  const RunResult undo =
      site.postfix.run({tlsrelay_bin(), "setup", "--undo", "--config-dir", site.config_dir});
  INFO("undo:\n" << undo.out << undo.err);
  CHECK(undo.exit_code == 0);
  CHECK(read_file(site.postfix.main_cf()) == site.main_cf);
  CHECK(read_file(site.postfix.master_cf()) == site.master_cf);
  CHECK(site.postconf("relayhost") == "[127.0.0.1]:" + std::to_string(site.smarthost.port()));
  CHECK(undo.out.find("kept tlsrelay's own files") != std::string::npos);
  CHECK(exists(config_path));

  const RunResult twice =
      site.postfix.run({tlsrelay_bin(), "setup", "--undo", "--config-dir", site.config_dir});
  CHECK(twice.exit_code == 1);
  CHECK(twice.err.find("nothing to undo") != std::string::npos);
}

TEST_CASE("setup --milter appends to the milters there, which stay first", "[setup]") {
  Site site(
      postfix_own_tls_and_sasl("smtpd_milters = inet:127.0.0.1:8891\n"
                               "non_smtpd_milters = $smtpd_milters\n"));
  const std::string pw = secret_file(site.tmp, "pw", kPassword);
  const RunResult r = site.setup({"--milter", "--apply"}, pw);
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
  REQUIRE(r.exit_code == 0);
  const std::string config = read_file(site.config_dir + "/tlsrelay.toml");
  INFO("tlsrelay.toml:\n" << config);
  const auto socket_at = config.find("socket = \"inet:");
  REQUIRE(socket_at != std::string::npos);
  const std::string milter_port =
      config.substr(socket_at + 15, config.find('@', socket_at) - socket_at - 15);
  CHECK(site.postconf("smtpd_milters") == "inet:127.0.0.1:8891, inet:127.0.0.1:" + milter_port);
  // It reads smtpd_milters, so it has ours already; not twice.
  const std::string n = site.postfix.run({"postconf", "-n"}).out;
  CHECK(n.find("non_smtpd_milters = $smtpd_milters\n") != std::string::npos);
  CHECK(site.postconf("milter_default_action") == "accept");
  // The milter reads the relay's status where the relay serves it.
  CHECK(config.find("status_url = \"http://127.0.0.1:") != std::string::npos);
  const RunResult check = run(
      {tlsrelay_bin(), "check-config", site.config_dir + "/tlsrelay.toml", "--as-user", "nobody"});
  INFO("check-config: " << check.out << check.err);
  CHECK(check.exit_code == 0);

  const RunResult undo =
      site.postfix.run({tlsrelay_bin(), "setup", "--undo", "--config-dir", site.config_dir});
  CHECK(undo.exit_code == 0);
  CHECK(site.postfix_unchanged());
}

// --apply's later steps fail after earlier ones changed things: each takes back what it
// must, so that Postfix is as it was and no backup of an unchanged Postfix is left.
TEST_CASE("setup --apply takes back what it did when a later step fails", "[setup]") {
  Site site;
  const std::string pw = secret_file(site.tmp, "pw", kPassword);
  SECTION("check-config, reading the CA file as the service user, fails") {
    // The probe ran as root and read it; the relay runs as nobody and could not.
    REQUIRE(chmod(cert_dir().c_str(), 0700) == 0);
    const RunResult r = site.setup({"--apply"}, pw);
    REQUIRE(chmod(cert_dir().c_str(), 0755) == 0);
    INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("[tls] ca_file: as nobody: cannot read") != std::string::npos);
    CHECK(r.err.find("tlsrelay setup: the configuration fails check-config (above)") !=
          std::string::npos);
    CHECK(site.postfix_unchanged());
    CHECK_FALSE(exists(site.config_dir));
  }
  SECTION("postfix check fails after the postconf commands") {
    const std::string bin = site.tmp.path() + "/bin";
    REQUIRE(mkdir(bin.c_str(), 0755) == 0);
    {
      std::ofstream fake(bin + "/postfix");
      fake << "#!/bin/sh\n"
           << "if [ \"$1\" = check ]; then echo 'postfix: fatal: simulated' >&2; exit 1; fi\n"
           << "exec /usr/sbin/postfix \"$@\"\n";
    }
    REQUIRE(chmod((bin + "/postfix").c_str(), 0755) == 0);
    const RunResult r =
        site.setup({"--apply"}, pw, {"env", "PATH=" + bin + ":/usr/sbin:/usr/bin:/sbin:/bin"});
    INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("ran postconf -e 'relayhost = [127.0.0.1]:") != std::string::npos);
    CHECK(r.err.find("postfix: fatal: simulated") != std::string::npos);
    CHECK(r.err.find("tlsrelay setup: postfix check failed (above): main.cf and master.cf are "
                     "put back") != std::string::npos);
    CHECK(site.postfix_unchanged());
    CHECK_FALSE(exists(site.config_dir + "/setup-backup"));
  }
}

// One Postfix for all of them (each start costs seconds); each refusal leaves it as it was.
TEST_CASE("setup's refusals are one line and change nothing", "[setup]") {
  Site site;
  const std::string pw = secret_file(site.tmp, "pw", kPassword);
  auto refused = [&](const std::string& what, const RunResult& r, int code,
                     const std::string& reason) {
    INFO(what << "\nstdout:\n" << r.out << "\nstderr:\n" << r.err);
    CHECK(r.exit_code == code);
    CHECK(r.err.find("tlsrelay setup: " + reason) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(site.postfix_unchanged());
    CHECK_FALSE(exists(site.config_dir));
  };
  refused("a service user that does not exist",
          site.setup({"--service-user", "no-such-user-tlsrelay", "--apply"}, pw), 1,
          "the service user no-such-user-tlsrelay does not exist");
  {
    const Listener taken;
    const std::string busy = std::to_string(taken.port);
    refused("a port asked for that is in use", site.setup({"--relay-port", busy, "--apply"}, pw), 1,
            "--relay-port " + busy + ": the port is in use on 127.0.0.1");
  }
  const std::string named = std::to_string(site.postfix.port());  // its smtpd
  refused("a port asked for that Postfix names", site.setup({"--http-port", named, "--apply"}, pw),
          1, "--http-port " + named + ": Postfix's configuration names this port already");
  refused("an unknown option", site.setup({"--aply"}, pw), 2, "unknown option --aply");
  refused(
      "no password file and no terminal to ask on",
      site.postfix.run({tlsrelay_bin(), "setup", "--smarthost",
                        "mx.test:" + std::to_string(site.smarthost.port()), "--user", "relay",
                        "--config-dir", site.config_dir, "--service-user", "nobody", "--apply"}),
      2, "--password-file PATH is needed");
  {
    const std::string hidden = site.postfix.main_cf() + ".hidden";
    REQUIRE(rename(site.postfix.main_cf().c_str(), hidden.c_str()) == 0);
    const RunResult r = site.setup({"--apply"}, pw);
    REQUIRE(rename(hidden.c_str(), site.postfix.main_cf().c_str()) == 0);
    refused("an unreadable main.cf", r, 1,
            "cannot read Postfix's settings (postconf -h config_directory): postconf: fatal: "
            "open /etc/postfix/main.cf");
  }
  // /usr/sbin (and /sbin, a link to it on Debian) emptied in the instance's namespace.
  refused("no Postfix at all",
          site.postfix.run({"sh", "-c",
                            "mount -t tmpfs none /usr/sbin && PATH=/usr/bin:/bin exec \"$@\"", "sh",
                            tlsrelay_bin(), "setup", "--smarthost", "mx.test", "--config-dir",
                            site.config_dir, "--apply"}),
          1, "Postfix is not installed");
}
