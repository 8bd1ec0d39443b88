// Our trace fields and the guard in front of them (issue 17 item 3): the client's own bytes
// never become part of a field we write, and the client's fields never pass as ours.
#include <catch2/catch.hpp>

#include "common/log.hpp"
#include "common/text.hpp"
#include "proxy/policy/policy.hpp"
#include "proxy/server/trace_headers.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;
using tlsrelay::tls::AttemptFacts;

namespace {

AttemptFacts upstream_facts() {
  AttemptFacts f;
  f.upstream.name = "primary";
  f.upstream.host = "mx.test";
  f.network.address = "127.0.0.1";
  f.tls.version = "TLSv1.3";
  f.tls.cipher = "TLS_AES_256_GCM_SHA384";
  f.tls.handshake_done = true;
  f.certificate.verified = true;
  return f;
}

// Our fields, then the client's lines through the guard, as the upstream would get them.
std::string relayed(const std::vector<std::string>& client_lines) {
  std::string out;
  DataWriter writer(out);
  for (const auto& field : trace_fields(upstream_facts(), {})) writer.line(field);
  ClientHeaderGuard guard;
  for (const auto& l : client_lines) guard.line(l, writer);
  writer.finish();
  return out;
}

// The header section as a reader sees it: unfolded fields up to the first empty line.
std::vector<std::string> header_fields(const std::string& wire) {
  std::vector<std::string> fields;
  std::size_t at = 0;
  for (;;) {
    const std::size_t end = wire.find("\r\n", at);
    const std::string line = wire.substr(at, end - at);
    at = end + 2;
    if (line.empty() || line == ".") break;
    if ((line[0] == ' ' || line[0] == '\t') && !fields.empty()) {
      fields.back() += line;
    } else {
      fields.push_back(line);
    }
  }
  return fields;
}

}  // namespace

TEST_CASE("a client's TLS-Relay fields are renamed, never passed on as ours", "[headers]") {
  auto [line, renamed] = GENERATE(table<std::string, std::string>({
      {"TLS-Relay: upstream=evil; verify=ok", "X-Untrusted-TLS-Relay: upstream=evil; verify=ok"},
      {"tls-relay:verify=ok", "X-Untrusted-tls-relay:verify=ok"},
      {"TLS-Relay-Failure: attempt=1", "X-Untrusted-TLS-Relay-Failure: attempt=1"},
      {"TLS-Relay \t: obsolete form", "X-Untrusted-TLS-Relay \t: obsolete form"},
  }));
  const std::string wire = relayed({"Subject: s", line, "\tcontinued", "", "body"});
  INFO(tlsrelay::printable(wire, 2000));
  const auto fields = header_fields(wire);
  REQUIRE(fields.size() == 3);
  CHECK(fields[0].rfind("TLS-Relay: upstream=primary;", 0) == 0);
  CHECK(fields[1] == "Subject: s");
  CHECK(fields[2] == renamed + "\tcontinued");
  // Exactly one field of ours.
  int ours = 0;
  for (const auto& f : fields) ours += starts_field(f, "TLS-Relay") ? 1 : 0;
  CHECK(ours == 1);
}

TEST_CASE("fields with other names, and our names in the body, pass byte for byte", "[headers]") {
  const std::vector<std::string> lines = {"X-TLS-Relay: theirs", "TLS-Relayed: no",
                                          "Subject: TLS-Relay: in a value", "",
                                          "TLS-Relay: in the body"};
  const std::string wire = relayed(lines);
  CHECK(wire.find("\r\nX-TLS-Relay: theirs\r\nTLS-Relayed: no\r\nSubject: TLS-Relay: in a "
                  "value\r\n\r\nTLS-Relay: in the body\r\n.\r\n") != std::string::npos);
  CHECK(wire.find("X-Untrusted") == std::string::npos);
}

TEST_CASE("a first line that begins with white space does not fold into our field", "[headers]") {
  const auto ws = GENERATE(as<std::string>{}, " ", "\t");
  const std::string wire =
      relayed({ws + "; verify=ok; tls=TLSv1.3", "TLS-Relay: after it", "Subject: s"});
  INFO(tlsrelay::printable(wire, 2000));
  const auto fields = header_fields(wire);
  REQUIRE(fields.size() == 1);
  CHECK(fields[0].find("verify=ok; tls=TLSv1.3") == std::string::npos);
  CHECK(fields[0].find("attempts=1") != std::string::npos);
  // The client's lines follow the end of our header section unchanged: the section had
  // ended for them already, so nothing in it is a field to rename.
  CHECK(wire.find("\r\n\r\n" + ws + "; verify=ok; tls=TLSv1.3\r\nTLS-Relay: after it\r\n") !=
        std::string::npos);
}

TEST_CASE("a line that is no field ends the header section, explicitly", "[headers]") {
  // Parsers disagree here: Postfix takes such a line as the start of the body, a lenient
  // reader reads fields up to the first empty line and would see the TLS-Relay after it as
  // a second field of ours. An empty line before it makes every reader agree.
  const std::string wire = relayed({"Subject: s", "not a field", "TLS-Relay: body now"});
  INFO(tlsrelay::printable(wire, 2000));
  CHECK(wire.find("\r\nSubject: s\r\n\r\nnot a field\r\nTLS-Relay: body now\r\n") !=
        std::string::npos);
  const auto fields = header_fields(wire);
  REQUIRE(fields.size() == 2);
  CHECK(fields[1] == "Subject: s");
}

TEST_CASE("a renamed field stays within 998 octets a line", "[headers]") {
  const std::string value(986, 'v');  // "TLS-Relay: " + 986 = 997 octets: legal as sent
  const std::string wire = relayed({"TLS-Relay: " + value, "Subject: s"});
  for (std::size_t at = 0, end; (end = wire.find("\r\n", at)) != std::string::npos; at = end + 2) {
    CHECK(end - at <= 998);
  }
  const auto fields = header_fields(wire);
  REQUIRE(fields.size() == 3);
  CHECK(fields[1].rfind("X-Untrusted-TLS-Relay:", 0) == 0);
  CHECK(fields[1].find(value) != std::string::npos);
}

TEST_CASE("a fallback route says so in TLS-Relay", "[headers]") {
  const auto fields = trace_fields(upstream_facts(), {}, "compat");
  CHECK(fields.front().find("attempts=1; profile=compat") != std::string::npos);
  CHECK(trace_fields(upstream_facts(), {}).front().find("profile=") == std::string::npos);
}

TEST_CASE("verify=ok only from positive evidence", "[headers]") {
  AttemptFacts f = upstream_facts();
  f.certificate.verified = false;  // e.g. an anonymous suite: the handshake finished
  const auto fields = trace_fields(f, {});
  CHECK(fields.front().find("verify=none") != std::string::npos);
  CHECK(fields.front().find("verify=ok") == std::string::npos);
}

TEST_CASE("REQUIRETLS travels only over verified TLS 1.2+ to a server that offers it", "[policy]") {
  auto [version, verified, offers, normal, ok] =
      GENERATE(table<std::string, bool, bool, bool, bool>({
          {"TLSv1.3", true, true, true, true},
          {"TLSv1.2", true, true, true, true},
          {"TLSv1", true, true, true, false},     // TLS 1.0, however it came about
          {"TLSv1.1", true, true, true, false},   //
          {"TLSv1.3", false, true, true, false},  // an anonymous suite, or nothing proved
          {"TLSv1.3", true, false, true, false},  // no REQUIRETLS in EHLO
          {"", false, true, true, false},         // plaintext
          // The compat profile, even at TLS 1.2 and verified: at security level 0 a
          // 1024-bit RSA certificate or 3DES passes.
          {"TLSv1.2", true, true, false, false},
      }));
  AttemptFacts f = upstream_facts();
  f.tls.version = version;
  f.certificate.verified = verified;
  CHECK(carries_requiretls(f, offers, normal) == ok);
}

TEST_CASE("log values cannot close early or add keys", "[log]") {
  using tlsrelay::log_value;
  auto [text, shown] = GENERATE(table<std::string, std::string>({
      {"plain", "plain"},
      {"", "\"\""},
      {"two words", "\"two words\""},
      {"<\"a\\\" class=ok\"@x>", "\"<\\\"a\\\\\\\" class=ok\\\"@x>\""},
      {"250 ok\" class=ok upstream=evil", "\"250 ok\\\" class=ok upstream=evil\""},
      {"a=b", "\"a=b\""},
      {"line\r\nevent=forged", "\"line\\r\\nevent=forged\""},
  }));
  CHECK(log_value(text) == shown);
}

TEST_CASE("a log line from hostile values parses back into the same keys", "[log]") {
  const std::string from = "<\"a\\\" class=ok\"@x>";
  const std::string reply = "250 2.0.0 ok\" class=ok upstream=evil ms=\"1";
  const std::string text = LogFields("transaction").add("from", from).add("reply", reply).text();
  const auto pairs = parse_log_fields(text);
  INFO(text);
  REQUIRE(pairs.size() == 3);
  CHECK(pairs[0] == std::make_pair(std::string("event"), std::string("transaction")));
  CHECK(pairs[1] == std::make_pair(std::string("from"), from));
  CHECK(pairs[2] == std::make_pair(std::string("reply"), reply));
}
