// The client-facing state machine, scripted: each step is a command line, the action kind
// and reply code expected, and (for relayed commands) the upstream's reply fed back.
#include <algorithm>
#include <catch2/catch.hpp>

#include "proxy/server/server_fsm.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;
using K = ServerFsm::Action::Kind;

namespace {

struct Step {
  std::string line;
  K kind;
  int code;          // our reply's code when kind is Reply/Close/ResetTransaction
  int upstream = 0;  // the upstream's reply code for relayed commands
};

// For BDAT steps `upstream` is the chunk's outcome: 250 for a chunk relayed and accepted
// (the transaction goes on unless it was LAST), anything else ends the transaction. For
// STARTTLS, 220 means the handshake succeeded.
void run_script(const std::vector<Step>& steps, std::size_t max_errors = 20,
                bool starttls = false) {
  ServerFsm fsm(ServerOptions{"relay.test", 1000, 2, max_errors, starttls});
  for (const Step& s : steps) {
    INFO("command: " << s.line << " in state " << to_string(fsm.state()));
    ServerFsm::Action a = fsm.on_command(s.line);
    REQUIRE(a.kind == s.kind);
    if (s.kind == K::Reply || s.kind == K::Close || s.kind == K::ResetTransaction ||
        s.kind == K::DiscardBdat || s.kind == K::StartTls) {
      CHECK(a.reply.code == s.code);
    }
    Reply up;
    up.code = s.upstream;
    if (s.kind == K::RelayMail) fsm.mail_done(up);
    if (s.kind == K::RelayRcpt) fsm.rcpt_done(up);
    if (s.kind == K::RelayData) fsm.transaction_done();
    if (s.kind == K::RelayBdat) {
      if (s.upstream == 250 && !a.bdat.last) {
        fsm.bdat_chunk_done();
      } else {
        fsm.transaction_done();
      }
    }
    if (s.kind == K::StartTls && s.upstream == 220) fsm.tls_started();
  }
}

}  // namespace

TEST_CASE("a whole transaction is relayed in lockstep", "[server-fsm]") {
  run_script({{"EHLO client.test", K::Reply, 250},
              {"MAIL FROM:<a@example.com> SIZE=100", K::RelayMail, 0, 250},
              {"RCPT TO:<b@example.com>", K::RelayRcpt, 0, 250},
              {"RCPT TO:<c@example.com>", K::RelayRcpt, 0, 550},
              {"DATA", K::RelayData, 0},
              {"MAIL FROM:<>", K::RelayMail, 0, 250},
              {"RSET", K::ResetTransaction, 250},
              {"QUIT", K::Close, 221}});
}

TEST_CASE("commands out of sequence get 503, never reach the upstream", "[server-fsm]") {
  run_script({{"MAIL FROM:<a@example.com>", K::Reply, 503},
              {"HELO client.test", K::Reply, 250},
              {"RCPT TO:<b@example.com>", K::Reply, 503},
              {"DATA", K::Reply, 503},
              {"MAIL FROM:<a@example.com>", K::RelayMail, 0, 250},
              {"MAIL FROM:<a@example.com>", K::Reply, 503},
              {"DATA", K::Reply, 554}});
}

TEST_CASE("a refused MAIL leaves no transaction open", "[server-fsm]") {
  run_script({{"EHLO c", K::Reply, 250},
              {"MAIL FROM:<a@example.com>", K::RelayMail, 0, 451},
              {"RCPT TO:<b@example.com>", K::Reply, 503}});
}

TEST_CASE("limits: message size announced too big, too many recipients", "[server-fsm]") {
  run_script({{"EHLO c", K::Reply, 250},
              {"MAIL FROM:<a@example.com> SIZE=1001", K::Reply, 552},
              {"MAIL FROM:<a@example.com> SIZE=999", K::RelayMail, 0, 250},
              {"RCPT TO:<1@example.com>", K::RelayRcpt, 0, 250},
              {"RCPT TO:<2@example.com>", K::RelayRcpt, 0, 250},
              {"RCPT TO:<3@example.com>", K::Reply, 452}});
}

TEST_CASE("ESMTP parameters need EHLO", "[server-fsm]") {
  run_script({{"HELO c", K::Reply, 250}, {"MAIL FROM:<a@example.com> SIZE=10", K::Reply, 555}});
}

TEST_CASE("VRFY, EXPN, HELP, NOOP, unknown; too many errors closes", "[server-fsm]") {
  run_script({{"EHLO c", K::Reply, 250},
              {"VRFY root", K::Reply, 252},
              {"NOOP", K::Reply, 250},
              {"HELP", K::Reply, 214},
              {"EXPN list", K::Reply, 502},
              {"FOO", K::Reply, 500},
              {"BAR", K::Reply, 500},
              {"STARTTLS", K::Reply, 502},  // not configured
              {"BAZ", K::Close, 421}},
             5);
}

TEST_CASE("EHLO inside a transaction resets it", "[server-fsm]") {
  run_script({{"EHLO c", K::Reply, 250},
              {"MAIL FROM:<a@example.com>", K::RelayMail, 0, 250},
              {"EHLO c", K::ResetTransaction, 250},
              {"RCPT TO:<b@example.com>", K::Reply, 503}});
}

// ---- BDAT (RFC 3030) ------------------------------------------------------------------

TEST_CASE("EHLO offers CHUNKING but not BINARYMIME; STARTTLS only when configured",
          "[server-fsm][bdat][starttls]") {
  for (bool starttls : {false, true}) {
    ServerFsm fsm(ServerOptions{"relay.test", 1000, 2, 20, starttls});
    auto a = fsm.on_command("EHLO c");
    const auto& l = a.reply.lines;
    CHECK(std::find(l.begin(), l.end(), "CHUNKING") != l.end());
    CHECK(std::find(l.begin(), l.end(), "BINARYMIME") == l.end());
    CHECK((std::find(l.begin(), l.end(), "STARTTLS") != l.end()) == starttls);
  }
}

TEST_CASE("BDAT chunks: sequences and the 503 cases", "[server-fsm][bdat]") {
  struct Script {
    const char* name;
    std::vector<Step> steps;
  };
  auto script = GENERATE(values<Script>({
      {"two chunks and LAST, then a new transaction",
       {{"EHLO c", K::Reply, 250},
        {"MAIL FROM:<a@example.com>", K::RelayMail, 0, 250},
        {"RCPT TO:<b@example.com>", K::RelayRcpt, 0, 250},
        {"BDAT 10", K::RelayBdat, 0, 250},
        {"BDAT 0", K::RelayBdat, 0, 250},
        {"BDAT 5 LAST", K::RelayBdat, 0, 250},
        {"BDAT 5", K::DiscardBdat, 503},  // after LAST: no transaction
        {"MAIL FROM:<a@example.com>", K::RelayMail, 0, 250}}},
      {"BDAT without MAIL: 503, octets still read",
       {{"EHLO c", K::Reply, 250}, {"BDAT 3 LAST", K::DiscardBdat, 503}, {"NOOP", K::Reply, 250}}},
      {"BDAT before EHLO: 503", {{"BDAT 3", K::DiscardBdat, 503}}},
      {"BDAT without an accepted RCPT: 554, octets still read",
       {{"EHLO c", K::Reply, 250},
        {"MAIL FROM:<a@example.com>", K::RelayMail, 0, 250},
        {"RCPT TO:<b@example.com>", K::RelayRcpt, 0, 550},
        {"BDAT 3 LAST", K::DiscardBdat, 554}}},
      {"DATA after BDAT: 503, the chunks stay",
       {{"EHLO c", K::Reply, 250},
        {"MAIL FROM:<a@example.com>", K::RelayMail, 0, 250},
        {"RCPT TO:<b@example.com>", K::RelayRcpt, 0, 250},
        {"BDAT 1", K::RelayBdat, 0, 250},
        {"DATA", K::Reply, 503},
        {"RCPT TO:<c@example.com>", K::Reply, 503},
        {"MAIL FROM:<a@example.com>", K::Reply, 503},
        {"NOOP", K::Reply, 250},
        {"BDAT 1 LAST", K::RelayBdat, 0, 250}}},
      {"a failed chunk ends the transaction; the next BDAT is 503",
       {{"EHLO c", K::Reply, 250},
        {"MAIL FROM:<a@example.com>", K::RelayMail, 0, 250},
        {"RCPT TO:<b@example.com>", K::RelayRcpt, 0, 250},
        {"BDAT 1", K::RelayBdat, 0, 552},
        {"BDAT 1 LAST", K::DiscardBdat, 503}}},
      {"RSET and EHLO in the middle of chunks reset the transaction",
       {{"EHLO c", K::Reply, 250},
        {"MAIL FROM:<a@example.com>", K::RelayMail, 0, 250},
        {"RCPT TO:<b@example.com>", K::RelayRcpt, 0, 250},
        {"BDAT 1", K::RelayBdat, 0, 250},
        {"RSET", K::ResetTransaction, 250},
        {"BDAT 1 LAST", K::DiscardBdat, 503},
        {"MAIL FROM:<a@example.com>", K::RelayMail, 0, 250},
        {"RCPT TO:<b@example.com>", K::RelayRcpt, 0, 250},
        {"BDAT 1", K::RelayBdat, 0, 250},
        {"EHLO c", K::ResetTransaction, 250},
        {"BDAT 1 LAST", K::DiscardBdat, 503}}},
      {"a BDAT whose size cannot be read: 501 and hang up (its octets cannot be found)",
       {{"EHLO c", K::Reply, 250},
        {"MAIL FROM:<a@example.com>", K::RelayMail, 0, 250},
        {"RCPT TO:<b@example.com>", K::RelayRcpt, 0, 250},
        {"BDAT x LAST", K::Close, 501}}},
      // Issue 17 item 9: past max_message_size (1000 here) nothing more is read.
      {"a chunk that takes the message past max_message_size: 421, hang up before reading",
       {{"EHLO c", K::Reply, 250},
        {"MAIL FROM:<a@example.com>", K::RelayMail, 0, 250},
        {"RCPT TO:<b@example.com>", K::RelayRcpt, 0, 250},
        {"BDAT 600", K::RelayBdat, 0, 250},
        {"BDAT 401 LAST", K::Close, 421}}},
      {"chunks that add up to exactly max_message_size are relayed",
       {{"EHLO c", K::Reply, 250},
        {"MAIL FROM:<a@example.com>", K::RelayMail, 0, 250},
        {"RCPT TO:<b@example.com>", K::RelayRcpt, 0, 250},
        {"BDAT 600", K::RelayBdat, 0, 250},
        {"BDAT 400 LAST", K::RelayBdat, 0, 250},
        {"MAIL FROM:<a@example.com>", K::RelayMail, 0, 250},
        {"RCPT TO:<b@example.com>", K::RelayRcpt, 0, 250},
        {"BDAT 1000 LAST", K::RelayBdat, 0, 250}}},
      {"a 2^64-1 octet chunk: 421 at once",
       {{"EHLO c", K::Reply, 250},
        {"MAIL FROM:<a@example.com>", K::RelayMail, 0, 250},
        {"RCPT TO:<b@example.com>", K::RelayRcpt, 0, 250},
        {"BDAT 18446744073709551615 LAST", K::Close, 421}}},
      {"a refused BDAT larger than max_message_size: 421, its octets are not read",
       {{"EHLO c", K::Reply, 250}, {"BDAT 1001", K::Close, 421}}},
      {"a refused BDAT within max_message_size: 503, its octets read and dropped",
       {{"EHLO c", K::Reply, 250}, {"BDAT 1000", K::DiscardBdat, 503}}},
      {"BODY=BINARYMIME is not offered",
       {{"EHLO c", K::Reply, 250}, {"MAIL FROM:<a@example.com> BODY=BINARYMIME", K::Reply, 555}}},
  }));
  INFO(script.name);
  run_script(script.steps);
}

TEST_CASE("BDAT refusals count as errors; at the limit we hang up without reading",
          "[server-fsm][bdat]") {
  run_script(
      {{"EHLO c", K::Reply, 250}, {"BDAT 1", K::DiscardBdat, 503}, {"BDAT 1", K::Close, 421}}, 2);
}

TEST_CASE("the relayed BDAT carries its size and LAST", "[server-fsm][bdat]") {
  ServerFsm fsm(ServerOptions{"relay.test", 1000, 2, 20});
  fsm.on_command("EHLO c");
  REQUIRE(fsm.on_command("MAIL FROM:<a@example.com>").kind == K::RelayMail);
  fsm.mail_done(Reply{250, "", {}});
  REQUIRE(fsm.on_command("RCPT TO:<b@example.com>").kind == K::RelayRcpt);
  fsm.rcpt_done(Reply{250, "", {}});
  auto a = fsm.on_command("BDAT 234 LAST");
  REQUIRE(a.kind == K::RelayBdat);
  CHECK(a.bdat == BdatParams{234, true});
  CHECK(fsm.state() == ServerFsm::State::Chunking);
  auto d = fsm.on_command("BDAT 77");
  CHECK(d.kind == K::RelayBdat);
}

// ---- STARTTLS (RFC 3207) towards our clients ------------------------------------------

TEST_CASE("STARTTLS rules", "[server-fsm][starttls]") {
  struct Script {
    const char* name;
    std::vector<Step> steps;
  };
  auto script = GENERATE(values<Script>({
      {"arguments: 501", {{"EHLO c", K::Reply, 250}, {"STARTTLS foo", K::Reply, 501}}},
      {"before EHLO: 503", {{"STARTTLS", K::Reply, 503}}},
      {"inside a transaction: 503",
       {{"EHLO c", K::Reply, 250},
        {"MAIL FROM:<a@example.com>", K::RelayMail, 0, 250},
        {"STARTTLS", K::Reply, 503}}},
      {"after TLS: EHLO again first, MAIL before it is 503, a second STARTTLS is 503",
       {{"EHLO c", K::Reply, 250},
        {"STARTTLS", K::StartTls, 220, 220},
        {"MAIL FROM:<a@example.com>", K::Reply, 503},
        {"STARTTLS", K::Reply, 503},
        {"EHLO c", K::Reply, 250},
        {"STARTTLS", K::Reply, 503},
        {"MAIL FROM:<a@example.com>", K::RelayMail, 0, 250}}},
  }));
  INFO(script.name);
  run_script(script.steps, 20, true);
}

TEST_CASE("after TLS the EHLO reply no longer offers STARTTLS", "[server-fsm][starttls]") {
  ServerFsm fsm(ServerOptions{"relay.test", 1000, 2, 20, true});
  fsm.on_command("EHLO c");
  auto a = fsm.on_command("STARTTLS");
  REQUIRE(a.kind == K::StartTls);
  CHECK(a.reply.code == 220);
  fsm.tls_started();
  CHECK(fsm.tls_active());
  CHECK(fsm.state() == ServerFsm::State::Greeting);
  CHECK(fsm.client_name().empty());
  auto e = fsm.on_command("EHLO c");
  const auto& l = e.reply.lines;
  CHECK(std::find(l.begin(), l.end(), "STARTTLS") == l.end());
}
