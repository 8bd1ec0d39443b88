// The upstream dialogue's one judgement, without sockets: every stage against every kind of
// reply and every way of losing the connection, and the loss-to-class mapping.
#include <boost/asio/error.hpp>
#include <catch2/catch.hpp>
#include <string>

#include "proxy/policy/replies.hpp"
#include "proxy/upstream/client_fsm.hpp"

using namespace tlsrelay;
using namespace tlsrelay::proxy;
using VK = proxy::Verdict::Kind;
using VC = proxy::Verdict::Connection;
using S = UpstreamStage;

namespace {

const std::string kRoute = "gmail smtp.gmail.com[192.0.2.1]:587";

UpstreamOutcome replied(int code, const std::string& text = "text") {
  UpstreamOutcome o;
  o.reply = make_reply(code, "", text);
  return o;
}

UpstreamOutcome lost(boost::system::error_code ec, bool timed_out = false) {
  UpstreamOutcome o;
  o.loss = UpstreamLoss{ec, timed_out};
  return o;
}

bool contains(const Reply& r, const std::string& what) {
  return r.first_line().find(what) != std::string::npos;
}

}  // namespace

TEST_CASE("each stage has its name, its phrase and its time-out", "[client-fsm]") {
  auto [stage, name, text, clock] = GENERATE(table<S, std::string, std::string, StageTimer>({
      {S::Mail, "mail", "MAIL FROM", StageTimer::Command},
      {S::Rcpt, "rcpt", "RCPT TO", StageTimer::Command},
      {S::Data, "data", "DATA", StageTimer::Command},
      {S::Message, "message", "DATA", StageTimer::DataBlock},
      {S::EndOfData, "end-of-data", "end of DATA", StageTimer::DataDone},
      {S::Rset, "rset", "RSET", StageTimer::Command},
  }));
  INFO("stage " << name);
  CHECK(to_string(stage) == name);
  CHECK(phrase(stage) == text);
  CHECK(timer(stage) == clock);
}

// Columns: the upstream's reply code; rows: what it means at each stage. 354 goes on only
// at DATA; RSET has only 250; 421 closes everywhere; a refusal at DATA leaves MAIL and RCPT
// on the upstream, so it is RSET.
TEST_CASE("every stage against every kind of reply", "[client-fsm]") {
  auto [stage, code, kind, connection] = GENERATE(table<S, int, VK, VC>({
      // MAIL FROM
      {S::Mail, 150, VK::Unexpected, VC::Abort},
      {S::Mail, 250, VK::Accepted, VC::Keep},
      {S::Mail, 251, VK::Accepted, VC::Keep},
      {S::Mail, 334, VK::Unexpected, VC::Abort},
      {S::Mail, 354, VK::Unexpected, VC::Abort},
      {S::Mail, 450, VK::Refused, VC::Keep},
      {S::Mail, 421, VK::Closing, VC::Abort},
      {S::Mail, 550, VK::Refused, VC::Keep},
      // RCPT TO
      {S::Rcpt, 150, VK::Unexpected, VC::Abort},
      {S::Rcpt, 250, VK::Accepted, VC::Keep},
      {S::Rcpt, 251, VK::Accepted, VC::Keep},
      {S::Rcpt, 334, VK::Unexpected, VC::Abort},
      {S::Rcpt, 354, VK::Unexpected, VC::Abort},
      {S::Rcpt, 452, VK::Refused, VC::Keep},
      {S::Rcpt, 421, VK::Closing, VC::Abort},
      {S::Rcpt, 550, VK::Refused, VC::Keep},
      // DATA
      {S::Data, 150, VK::Unexpected, VC::Abort},
      {S::Data, 250, VK::Unexpected, VC::Abort},
      {S::Data, 334, VK::Unexpected, VC::Abort},
      {S::Data, 354, VK::Accepted, VC::Keep},
      {S::Data, 451, VK::Refused, VC::Reset},
      {S::Data, 421, VK::Closing, VC::Abort},
      {S::Data, 554, VK::Refused, VC::Reset},
      // the message's octets: nothing is read there, so any reply is out of place
      {S::Message, 150, VK::Unexpected, VC::Abort},
      {S::Message, 250, VK::Unexpected, VC::Abort},
      {S::Message, 354, VK::Unexpected, VC::Abort},
      {S::Message, 451, VK::Unexpected, VC::Abort},
      {S::Message, 421, VK::Closing, VC::Abort},
      {S::Message, 554, VK::Unexpected, VC::Abort},
      // end of DATA
      {S::EndOfData, 150, VK::Unexpected, VC::Abort},
      {S::EndOfData, 250, VK::Accepted, VC::Keep},
      {S::EndOfData, 334, VK::Unexpected, VC::Abort},
      {S::EndOfData, 354, VK::Unexpected, VC::Abort},
      {S::EndOfData, 451, VK::Refused, VC::Keep},
      {S::EndOfData, 421, VK::Closing, VC::Abort},
      {S::EndOfData, 552, VK::Refused, VC::Keep},
      // RSET
      {S::Rset, 150, VK::Unexpected, VC::Abort},
      {S::Rset, 250, VK::Accepted, VC::Keep},
      {S::Rset, 251, VK::Unexpected, VC::Abort},
      {S::Rset, 354, VK::Unexpected, VC::Abort},
      {S::Rset, 450, VK::Unexpected, VC::Abort},
      {S::Rset, 421, VK::Closing, VC::Abort},
      {S::Rset, 500, VK::Unexpected, VC::Abort},
  }));
  INFO("stage " << to_string(stage) << ", reply " << code);
  const UpstreamOutcome o = replied(code, "said so");
  const proxy::Verdict v = judge(stage, o, kRoute);
  CHECK(to_string(v.kind) == to_string(kind));
  CHECK(v.connection == connection);
  CHECK_FALSE(v.may_replay);  // a reply is never a loss
  if (kind == VK::Unexpected) {
    // Ours: 451 4.5.0 naming the upstream, the stage and what it said.
    CHECK(v.reply.code == 451);
    CHECK(v.reply.enhanced == "4.5.0");
    CHECK(contains(v.reply, kRoute + " answered " + std::string(phrase(stage)) + " with \"" +
                                std::to_string(code) + " said so\""));
  } else {
    // The upstream's own reply, as it came.
    CHECK(v.reply.code == code);
    CHECK(v.reply.first_line() == std::to_string(code) + " said so");
  }
}

TEST_CASE("no reply: the loss is named by class and stage; a replay only before the dot",
          "[client-fsm]") {
  const auto reset = make_error_code(boost::asio::error::connection_reset);
  const auto pipe = make_error_code(boost::asio::error::broken_pipe);
  const auto eof = make_error_code(boost::asio::error::eof);
  const auto aborted = make_error_code(boost::asio::error::operation_aborted);
  const boost::system::error_code none;
  auto [stage, may_replay] = GENERATE(table<S, bool>({
      {S::Mail, false},  // nothing to carry over yet: a reused connection is reopened instead
      {S::Rcpt, true},
      {S::Data, true},
      {S::Message, true},
      {S::EndOfData, false},  // RFC 1047: the message may have been delivered
      {S::Rset, false},
  }));
  auto [ec, timed_out, cls, enhanced,
        words] = GENERATE_COPY(table<boost::system::error_code, bool, FailureClass, std::string,
                                     std::string>({
      {aborted, true, FailureClass::Timeout, "4.4.1", "no reply in time to "},
      {reset, true, FailureClass::Timeout, "4.4.1", "no reply in time to "},
      {reset, false, FailureClass::ConnectionReset, "4.4.2", "the connection was reset during "},
      {pipe, false, FailureClass::ConnectionReset, "4.4.2", "the connection was reset during "},
      {eof, false, FailureClass::ConnectionClosed, "4.4.2", "the connection was closed during "},
      {aborted, false, FailureClass::ConnectionClosed, "4.4.2",
       "the connection was closed during "},
      // not SMTP, or no connection at all
      {none, false, FailureClass::ConnectionClosed, "4.4.2", "the connection was closed during "},
  }));
  INFO("stage " << to_string(stage) << ", error " << ec.message() << ", timed out " << timed_out);
  const UpstreamOutcome o = lost(ec, timed_out);
  const proxy::Verdict v = judge(stage, o, kRoute);
  CHECK(v.kind == VK::Lost);
  CHECK(v.lost == cls);
  CHECK(v.connection == VC::Abort);
  CHECK(v.may_replay == may_replay);
  CHECK(v.reply.code == 451);
  CHECK(v.reply.enhanced == enhanced);
  CHECK(contains(v.reply, kRoute + " " + std::string(to_string(cls)) + ": " + words +
                              std::string(phrase(stage))));
  const bool after_dot = stage == S::EndOfData;
  CHECK(contains(v.reply, "a duplicate is possible") == after_dot);
  CHECK(contains(v.reply, "the message was not delivered") == !after_dot);
}

TEST_CASE("the loss classes: our deadline, a reset, anything else closed", "[client-fsm]") {
  using boost::asio::error::make_error_code;
  CHECK(loss_class(UpstreamLoss{}) == FailureClass::ConnectionClosed);
  CHECK(loss_class(UpstreamLoss{make_error_code(boost::asio::error::operation_aborted), true}) ==
        FailureClass::Timeout);
  CHECK(loss_class(UpstreamLoss{make_error_code(boost::asio::error::connection_reset), false}) ==
        FailureClass::ConnectionReset);
  CHECK(loss_class(UpstreamLoss{make_error_code(boost::asio::error::broken_pipe), false}) ==
        FailureClass::ConnectionReset);
  CHECK(loss_class(UpstreamLoss{make_error_code(boost::asio::error::eof), false}) ==
        FailureClass::ConnectionClosed);
  CHECK(loss_class(UpstreamLoss{make_error_code(boost::asio::error::connection_aborted), false}) ==
        FailureClass::ConnectionClosed);
}

TEST_CASE("no connection to ask: the reply names \"the upstream\"", "[client-fsm]") {
  const UpstreamOutcome none;
  const proxy::Verdict v = judge(S::Rcpt, none, "the upstream");
  CHECK(v.kind == VK::Lost);
  CHECK(v.reply.first_line() ==
        "451 4.4.2 tlsrelay: the upstream connection-closed: the connection was closed during "
        "RCPT TO; the message was not delivered, retry later");
}

TEST_CASE("our replies end with the transaction id; the upstream's pass unchanged",
          "[client-fsm][txn]") {
  const UpstreamOutcome none;
  const proxy::Verdict lost_one = judge(S::Rcpt, none, "the upstream", "3f.2");
  CHECK(lost_one.reply.first_line() ==
        "451 4.4.2 tlsrelay: the upstream connection-closed: the connection was closed during "
        "RCPT TO; the message was not delivered, retry later; txn 3f.2");
  const proxy::Verdict odd = judge(S::Rcpt, replied(354, "go ahead"), kRoute, "3f.2");
  CHECK(odd.kind == VK::Unexpected);
  CHECK(odd.reply.first_line().substr(odd.reply.first_line().size() - 10) == "; txn 3f.2");
  const proxy::Verdict refused = judge(S::Rcpt, replied(550, "5.1.1 no such user"), kRoute, "3f.2");
  CHECK(refused.reply.first_line() == "550 5.1.1 no such user");
  const proxy::Verdict closing = judge(S::Mail, replied(421, "4.3.2 bye"), kRoute, "3f.2");
  CHECK(closing.reply.first_line() == "421 4.3.2 bye");
}

TEST_CASE("with_txn keeps the line within 480 octets and a replay failure keeps the id last",
          "[client-fsm][txn]") {
  const Reply longest = make_reply(451, "4.4.2", std::string(600, 'x'));
  const Reply tagged = with_txn(longest, "1a.9");
  CHECK(tagged.first_line().size() == 4 + 480);  // "451 " and the line Postfix logs whole
  CHECK(tagged.first_line().substr(tagged.first_line().size() - 10) == "; txn 1a.9");
  CHECK(with_txn(longest, "").first_line() == longest.first_line());

  const UpstreamOutcome none;
  const Reply lost = judge(S::Data, none, "the upstream", "1a.9").reply;
  const Reply failed = replay_failed_reply(lost, "no new route: 451 4.4.1 timeout");
  CHECK(failed.first_line().find(
            "retry later; replay: no new route: 451 4.4.1 timeout; txn 1a.9") != std::string::npos);
  CHECK(failed.first_line().find("txn") == failed.first_line().rfind("txn"));
}
