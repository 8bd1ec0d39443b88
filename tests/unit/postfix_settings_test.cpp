// `tlsrelay setup`'s pure part: Postfix's parameters in, the postconf commands out
// (proxy/cli/postfix_settings.hpp), and the configuration it writes (setup_config.hpp).
#include <catch2/catch.hpp>

#include "config/loader.hpp"
#include "proxy/cli/postfix_settings.hpp"
#include "proxy/cli/setup_config.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;

namespace {

std::vector<std::string> command_lines(const PostfixPlan& plan) {
  std::vector<std::string> lines;
  for (const auto& c : plan.changes) lines.push_back(c.command_line());
  return lines;
}

constexpr const char* kOurRelayhost = "postconf -e 'relayhost = [127.0.0.1]:10587'";

}  // namespace

TEST_CASE("postconf -n output is read as name = value", "[setup]") {
  const auto p = parse_postconf(
      "relayhost = [smtp.gmail.com]:587\n"
      "smtpd_milters = inet:127.0.0.1:8891, inet:127.0.0.1:8893\n"
      "empty_one =\n"
      "smtp/unix/smtp_tls_security_level = encrypt\n"
      "postconf: warning: /etc/postfix/main.cf: unused parameter: foo=bar\n"
      "not a parameter line\n");
  CHECK(p.at("relayhost") == "[smtp.gmail.com]:587");
  CHECK(p.at("smtpd_milters") == "inet:127.0.0.1:8891, inet:127.0.0.1:8893");
  CHECK(p.at("empty_one").empty());
  CHECK(p.at("smtp/unix/smtp_tls_security_level") == "encrypt");
  CHECK(p.size() == 4);  // the warning's name has spaces: no parameter
}

// One parameter state a row: main.cf as postconf -n shows it -> the commands, besides the
// relayhost line every row gets unless it says otherwise.
TEST_CASE("each parameter's state gives its postconf command, and only when needed", "[setup]") {
  using Lines = std::vector<std::string>;
  auto [main_cf, expected] = GENERATE(table<std::string, Lines>({
      // Nothing set: Postfix delivered to MX hosts itself.
      {"", {kOurRelayhost}},
      // Already ours: nothing at all.
      {"relayhost = [127.0.0.1]:10587", {}},
      {"relayhost = [smtp.gmail.com]:587", {kOurRelayhost}},
      // TLS levels that refuse the plaintext loopback hop become may; others stay.
      {"smtp_tls_security_level = encrypt",
       {kOurRelayhost, "postconf -e 'smtp_tls_security_level = may'"}},
      {"smtp_tls_security_level = secure",
       {kOurRelayhost, "postconf -e 'smtp_tls_security_level = may'"}},
      {"smtp_tls_security_level = verify",
       {kOurRelayhost, "postconf -e 'smtp_tls_security_level = may'"}},
      {"smtp_tls_security_level = dane",
       {kOurRelayhost, "postconf -e 'smtp_tls_security_level = may'"}},
      {"smtp_tls_security_level = dane-only",
       {kOurRelayhost, "postconf -e 'smtp_tls_security_level = may'"}},
      {"smtp_tls_security_level = fingerprint",
       {kOurRelayhost, "postconf -e 'smtp_tls_security_level = may'"}},
      {"smtp_tls_security_level = Encrypt",
       {kOurRelayhost, "postconf -e 'smtp_tls_security_level = may'"}},
      {"smtp_tls_security_level = may", {kOurRelayhost}},
      {"smtp_tls_security_level = none", {kOurRelayhost}},
      // The obsolete switch counts only while no level is set.
      {"smtp_enforce_tls = yes", {kOurRelayhost, "postconf -e 'smtp_tls_security_level = may'"}},
      {"smtp_enforce_tls = yes\nsmtp_tls_security_level = may", {kOurRelayhost}},
      // SASL: Postfix stops authenticating, its password table goes.
      {"smtp_sasl_auth_enable = yes", {kOurRelayhost, "postconf -e 'smtp_sasl_auth_enable = no'"}},
      {"smtp_sasl_auth_enable = no", {kOurRelayhost}},
      {"smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd",
       {kOurRelayhost, "postconf -X smtp_sasl_password_maps"}},
      {"smtp_sasl_password_maps =", {kOurRelayhost}},
      // Implicit TLS (465) was Postfix's; the hop to tlsrelay is plain.
      {"smtp_tls_wrappermode = yes", {kOurRelayhost, "postconf -X smtp_tls_wrappermode"}},
      {"smtp_tls_wrappermode = no", {kOurRelayhost}},
      // The usual Gmail recipe, whole, in the order setup runs it.
      {"relayhost = [smtp.gmail.com]:465\nsmtp_tls_security_level = encrypt\n"
       "smtp_sasl_auth_enable = yes\nsmtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd\n"
       "smtp_tls_wrappermode = yes",
       {kOurRelayhost, "postconf -e 'smtp_tls_security_level = may'",
        "postconf -e 'smtp_sasl_auth_enable = no'", "postconf -X smtp_sasl_password_maps",
        "postconf -X smtp_tls_wrappermode"}},
      // Without --milter the milter lists are not touched.
      {"smtpd_milters = inet:127.0.0.1:8891", {kOurRelayhost}},
  }));
  INFO("main.cf:\n" << main_cf);
  const PostfixPlan plan = plan_postfix(parse_postconf(main_cf), {}, RelayHop{10587, {}});
  CHECK(command_lines(plan) == expected);
  CHECK(plan.advice.empty());
}

TEST_CASE("every change says why", "[setup]") {
  const PostfixPlan plan = plan_postfix(
      parse_postconf("relayhost = [smtp.gmail.com]:587\nsmtp_tls_security_level = encrypt\n"), {},
      RelayHop{10600, 10601});
  REQUIRE(plan.changes.size() == 5);
  CHECK(plan.changes[0].argv ==
        std::vector<std::string>{"postconf", "-e", "relayhost = [127.0.0.1]:10600"});
  CHECK(plan.changes[0].why.find("was [smtp.gmail.com]:587") != std::string::npos);
  CHECK(plan.changes[1].why.find("'encrypt' refuses") != std::string::npos);
  for (const auto& c : plan.changes) CHECK_FALSE(c.why.empty());
}

// --milter: ours goes after what is there, never instead of it (an OpenDKIM or rspamd milter
// must keep running first), and only once.
TEST_CASE("the milter lists get ours appended, once", "[setup]") {
  using Lines = std::vector<std::string>;
  auto [main_cf, expected] = GENERATE(table<std::string, Lines>({
      // Empty lists: ours alone; the default action is set since it is unset.
      {"",
       {"postconf -e 'smtpd_milters = inet:127.0.0.1:10588'",
        "postconf -e 'non_smtpd_milters = inet:127.0.0.1:10588'",
        "postconf -e 'milter_default_action = accept'"}},
      {"smtpd_milters =\nnon_smtpd_milters = \nmilter_default_action = tempfail",
       {"postconf -e 'smtpd_milters = inet:127.0.0.1:10588'",
        "postconf -e 'non_smtpd_milters = inet:127.0.0.1:10588'"}},
      // An existing list stays first.
      {"smtpd_milters = inet:127.0.0.1:8891\nnon_smtpd_milters = inet:127.0.0.1:8891\n"
       "milter_default_action = accept",
       {"postconf -e 'smtpd_milters = inet:127.0.0.1:8891, inet:127.0.0.1:10588'",
        "postconf -e 'non_smtpd_milters = inet:127.0.0.1:8891, inet:127.0.0.1:10588'"}},
      // Separated by white space, with a trailing comma, with a { } group: kept as written.
      {"smtpd_milters = inet:localhost:11332 unix:/run/opendkim.sock,\n"
       "milter_default_action = accept",
       {"postconf -e 'smtpd_milters = inet:localhost:11332 unix:/run/opendkim.sock, "
        "inet:127.0.0.1:10588'",
        "postconf -e 'non_smtpd_milters = inet:127.0.0.1:10588'"}},
      {"smtpd_milters = { inet:127.0.0.1:8891, connect_timeout=10s }\n"
       "milter_default_action = accept",
       {"postconf -e 'smtpd_milters = { inet:127.0.0.1:8891, connect_timeout=10s }, "
        "inet:127.0.0.1:10588'",
        "postconf -e 'non_smtpd_milters = inet:127.0.0.1:10588'"}},
      // Already there (plain, or as a group's socket): nothing to do.
      {"smtpd_milters = inet:127.0.0.1:8891, inet:127.0.0.1:10588\n"
       "non_smtpd_milters = inet:127.0.0.1:10588\nmilter_default_action = accept",
       {}},
      {"smtpd_milters = { inet:127.0.0.1:10588, default_action=accept }\n"
       "non_smtpd_milters = { inet:127.0.0.1:10588, default_action=accept }\n"
       "milter_default_action = tempfail",
       {}},
      // non_smtpd_milters = $smtpd_milters gets ours through smtpd_milters: not twice.
      {"smtpd_milters = inet:127.0.0.1:8891\nnon_smtpd_milters = $smtpd_milters\n"
       "milter_default_action = accept",
       {"postconf -e 'smtpd_milters = inet:127.0.0.1:8891, inet:127.0.0.1:10588'"}},
      {"smtpd_milters = inet:127.0.0.1:8891\nnon_smtpd_milters = ${smtpd_milters}\n"
       "milter_default_action = accept",
       {"postconf -e 'smtpd_milters = inet:127.0.0.1:8891, inet:127.0.0.1:10588'"}},
  }));
  INFO("main.cf:\n" << main_cf);
  std::string with_relayhost = "relayhost = [127.0.0.1]:10587\n" + main_cf;
  const PostfixPlan plan = plan_postfix(parse_postconf(with_relayhost), {}, RelayHop{10587, 10588});
  CHECK(command_lines(plan) == expected);
}

// A static: or inline: table holds the password itself: named, never shown.
TEST_CASE("the password table's value is shown only when it names files", "[setup]") {
  auto why = [](const std::string& maps) {
    const PostfixPlan plan = plan_postfix(
        parse_postconf("relayhost = [127.0.0.1]:10587\nsmtp_sasl_password_maps = " + maps), {},
        RelayHop{10587, {}});
    REQUIRE(plan.changes.size() == 1);
    CHECK(plan.changes[0].argv ==
          std::vector<std::string>{"postconf", "-X", "smtp_sasl_password_maps"});
    return plan.changes[0].why;
  };
  CHECK(why("hash:/etc/postfix/sasl_passwd").find("hash:/etc/postfix/sasl_passwd") !=
        std::string::npos);
  CHECK(why("static:relay:Canary-Pw-1").find("Canary") == std::string::npos);
  CHECK(why("inline:{ [smtp.gmail.com]:587 = me:Canary-Pw-2 }").find("Canary") ==
        std::string::npos);
  CHECK(why("hash:/etc/postfix/a, static:relay:Canary-Pw-3").find("Canary") == std::string::npos);
}

TEST_CASE("append_milter keeps the list and adds ours at the end", "[setup]") {
  const PostfixParameters none;
  CHECK(append_milter("", "inet:127.0.0.1:10588", none) == "inet:127.0.0.1:10588");
  CHECK(append_milter("  ", "inet:127.0.0.1:10588", none) == "inet:127.0.0.1:10588");
  CHECK(append_milter("inet:127.0.0.1:8891", "inet:127.0.0.1:10588", none) ==
        "inet:127.0.0.1:8891, inet:127.0.0.1:10588");
  CHECK(append_milter("inet:127.0.0.1:8891, inet:127.0.0.1:10588", "inet:127.0.0.1:10588", none) ==
        std::nullopt);
  // A different port of ours is a different milter.
  CHECK(append_milter("inet:127.0.0.1:10589", "inet:127.0.0.1:10588", none) ==
        "inet:127.0.0.1:10589, inet:127.0.0.1:10588");
}

TEST_CASE("a milter already configured makes the global default action worth a word", "[setup]") {
  const PostfixPlan plan = plan_postfix(
      parse_postconf("relayhost = [127.0.0.1]:10587\nsmtpd_milters = inet:127.0.0.1:8891"), {},
      RelayHop{10587, 10588});
  REQUIRE(plan.advice.size() == 1);
  CHECK(plan.advice[0].find("inet:127.0.0.1:8891 too") != std::string::npos);
}

TEST_CASE("tables that route around tlsrelay are named, never changed", "[setup]") {
  const PostfixPlan plan = plan_postfix(
      parse_postconf("relayhost = [127.0.0.1]:10587\n"
                     "transport_maps = hash:/etc/postfix/transport\n"
                     "sender_dependent_relayhost_maps = hash:/etc/postfix/sender_relay\n"),
      {}, RelayHop{10587, {}});
  CHECK(plan.changes.empty());
  REQUIRE(plan.advice.size() == 2);
  CHECK(plan.advice[0].rfind("transport_maps = hash:/etc/postfix/transport: ", 0) == 0);
  CHECK(plan.advice[1].rfind("sender_dependent_relayhost_maps = hash:/etc/postfix/sender_relay",
                             0) == 0);
}

TEST_CASE("a transport or protocol that bypasses relayhost is named", "[setup]") {
  auto advice = [](const std::string& main_cf) {
    return plan_postfix(parse_postconf("relayhost = [127.0.0.1]:10587\n" + main_cf), {},
                        RelayHop{10587, {}})
        .advice;
  };
  CHECK(advice("default_transport = smtp").empty());
  CHECK(advice("default_transport = smtp:[192.0.2.1]").empty());
  CHECK(advice("inet_protocols = all").empty());
  CHECK(advice("inet_protocols = ipv4").empty());
  const auto lmtp = advice("default_transport = lmtp");
  REQUIRE(lmtp.size() == 1);
  CHECK(lmtp[0].rfind("default_transport = lmtp: ", 0) == 0);
  const auto v6 = advice("inet_protocols = ipv6");
  REQUIRE(v6.size() == 1);
  CHECK(v6[0].rfind("inet_protocols = ipv6: Postfix cannot reach tlsrelay", 0) == 0);
}

TEST_CASE("master.cf overrides that defeat the change are named", "[setup]") {
  const PostfixPlan plan =
      plan_postfix(parse_postconf("relayhost = [127.0.0.1]:10587"),
                   parse_postconf("smtp/unix/smtp_tls_security_level = encrypt\n"
                                  "relay/unix/smtp_tls_security_level = may\n"
                                  "smtp/unix/smtp_sasl_auth_enable = yes\n"),
                   RelayHop{10587, {}});
  CHECK(plan.changes.empty());
  REQUIRE(plan.advice.size() == 2);
  CHECK(plan.advice[0].find("service smtp/unix sets -o smtp_sasl_auth_enable=yes") !=
        std::string::npos);
  CHECK(plan.advice[1].find("service smtp/unix sets -o smtp_tls_security_level=encrypt") !=
        std::string::npos);
}

TEST_CASE("ports Postfix names are found in master.cf and main.cf", "[setup]") {
  const std::string services =
      "smtp       inet  n       -       y       -       -       smtpd\n"
      "submission inet  n       -       y       -       -       smtpd -o syslog_name=postfix/sub\n"
      "127.0.0.1:10025 inet n  -       n       -       -       smtpd -o content_filter=\n"
      "10587      inet  n       -       n       -       -       smtpd\n"
      "amavis     unix  -       -       -       -       2       smtp -o "
      "smtp_send_xforward_command=yes\n"
      "pickup     unix  n       -       y       60      1       pickup\n";
  const auto main_cf = parse_postconf(
      "content_filter = amavis:[127.0.0.1]:10024\nsmtpd_milters = inet:localhost:8891, "
      "inet:127.0.0.1:11332\nmyhostname = mail.example.com\nrelayhost = [smtp.gmail.com]:587\n");
  const auto ports = ports_named(services, main_cf);
  CHECK(ports == std::set<std::uint16_t>{25, 587, 10024, 10025, 10587, 8891, 11332});
}

TEST_CASE("a port is picked from the preferred one up, avoiding what is named and well-known",
          "[setup]") {
  auto all_free = [](std::uint16_t) { return true; };
  CHECK(pick_port(10587, {}, all_free) == 10587);
  CHECK(pick_port(10587, {10587, 10588}, all_free) == 10589);
  CHECK(pick_port(10587, {}, [](std::uint16_t p) { return p != 10587; }) == 10588);
  CHECK(pick_port(10023, {}, all_free) == 10023);
  CHECK(pick_port(10024, {}, all_free) == 10027);  // amavisd-new's three
  CHECK(pick_port(8891, {}, all_free) == 8892);    // OpenDKIM
  CHECK(pick_port(9325, {}, [](std::uint16_t) { return false; }) == std::nullopt);
}

TEST_CASE("shell quoting survives a paste", "[setup]") {
  CHECK(shell_quote("smtp_sasl_password_maps") == "smtp_sasl_password_maps");
  CHECK(shell_quote("relayhost = [127.0.0.1]:10587") == "'relayhost = [127.0.0.1]:10587'");
  CHECK(shell_quote("it's") == "'it'\\''s'");
  CHECK(shell_quote("") == "''");
  CHECK(shell_quote("$smtpd_milters") == "'$smtpd_milters'");
}

TEST_CASE("the configuration setup writes loads as written", "[setup]") {
  SetupValues v;
  v.host = "smtp.gmail.com";
  v.port = 465;
  v.tls = TlsMode::Implicit;
  v.connect = "192.0.2.10";
  v.ca_file = "/etc/ssl/certs/my \"quoted\" ca.pem";
  v.auth_user = "me@example.com";
  v.secret_path = "/etc/tlsrelay/smarthost.secret";
  v.hostname = "mail.example.com";
  v.service_user = "tlsrelay";
  v.relay_port = 10587;
  v.http_port = 9325;
  v.milter_port = 10588;
  v.events_log = "/var/log/tlsrelay/events.jsonl";
  v.written_on = "2026-12-01";
  const std::string text = render_config(v);
  INFO(text);
  const config::Settings s = config::parse_settings(text, "setup.toml");
  REQUIRE(s.upstreams.size() == 1);
  const auto& u = s.upstreams[0];
  CHECK(u.name == "smarthost");
  CHECK(u.host == "smtp.gmail.com");
  CHECK(u.port == 465);
  CHECK(u.tls == TlsMode::Implicit);
  CHECK(u.connect->to_string() == "192.0.2.10");
  CHECK(u.auth_user == "me@example.com");
  CHECK(u.auth_password_file == "/etc/tlsrelay/smarthost.secret");
  CHECK(s.tls.ca_file == "/etc/ssl/certs/my \"quoted\" ca.pem");
  REQUIRE(s.proxy.listen.size() == 1);
  CHECK(s.proxy.listen[0].port == 10587);
  CHECK(s.proxy.hostname == "mail.example.com");
  CHECK(s.proxy.user == "tlsrelay");
  CHECK(s.http.listen->port == 9325);
  CHECK(s.log.events == "/var/log/tlsrelay/events.jsonl");
  REQUIRE(s.milter);
  CHECK(s.milter->socket == "inet:10588@127.0.0.1");
  CHECK(s.milter->status_url == "http://127.0.0.1:9325/status");
  CHECK_FALSE(config::status_url_problem(s));
}

TEST_CASE("xoauth2 and no AUTH give their own keys", "[setup]") {
  SetupValues v;
  v.host = "smtp.gmail.com";
  v.hostname = "mail.example.com";
  v.service_user = "tlsrelay";
  v.written_on = "2026-12-01";
  SECTION("xoauth2: the secret is the token") {
    v.auth_user = "me@example.com";
    v.mechanism = AuthMechanism::Xoauth2;
    v.secret_path = "/etc/tlsrelay/smarthost.secret";
    const auto s = config::parse_settings(render_config(v), "setup.toml");
    CHECK(s.upstreams[0].auth_mechanism == AuthMechanism::Xoauth2);
    CHECK(s.upstreams[0].oauth_token_file == "/etc/tlsrelay/smarthost.secret");
    CHECK_FALSE(s.upstreams[0].auth_password_file);
  }
  SECTION("no --user: no credentials, no [tls], no [milter], no [log]") {
    const std::string text = render_config(v);
    const auto s = config::parse_settings(text, "setup.toml");
    CHECK_FALSE(s.upstreams[0].auth_user);
    CHECK(text.find("[tls]") == std::string::npos);
    CHECK_FALSE(s.milter);
    CHECK_FALSE(s.log.events);
  }
}
