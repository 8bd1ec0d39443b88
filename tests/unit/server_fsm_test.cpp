// The client-facing state machine, scripted: each step is a command line, the action kind
// and reply code expected, and (for relayed commands) the upstream's reply fed back.
#include <catch2/catch.hpp>

#include "proxy/server_fsm.hpp"

using namespace tlsrelay::proxy;
using K = ServerFsm::Action::Kind;

namespace {

struct Step {
  std::string line;
  K kind;
  int code;          // our reply's code when kind is Reply/Close/ResetTransaction
  int upstream = 0;  // the upstream's reply code for relayed commands
};

void run_script(const std::vector<Step>& steps, std::size_t max_errors = 20) {
  ServerFsm fsm(ServerOptions{"relay.test", 1000, 2, max_errors});
  for (const Step& s : steps) {
    INFO("command: " << s.line << " in state " << to_string(fsm.state()));
    ServerFsm::Action a = fsm.on_command(s.line);
    REQUIRE(a.kind == s.kind);
    if (s.kind == K::Reply || s.kind == K::Close || s.kind == K::ResetTransaction) {
      CHECK(a.reply.code == s.code);
    }
    Reply up;
    up.code = s.upstream;
    if (s.kind == K::RelayMail) fsm.mail_done(up);
    if (s.kind == K::RelayRcpt) fsm.rcpt_done(up);
    if (s.kind == K::RelayData) fsm.transaction_done();
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
              {"STARTTLS", K::Reply, 502},
              {"BAZ", K::Close, 421}},
             5);
}

TEST_CASE("EHLO inside a transaction resets it", "[server-fsm]") {
  run_script({{"EHLO c", K::Reply, 250},
              {"MAIL FROM:<a@example.com>", K::RelayMail, 0, 250},
              {"EHLO c", K::ResetTransaction, 250},
              {"RCPT TO:<b@example.com>", K::Reply, 503}});
}
