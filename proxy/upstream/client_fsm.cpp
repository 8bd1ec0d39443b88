#include "proxy/upstream/client_fsm.hpp"

#include <array>
#include <boost/asio/error.hpp>
#include <cassert>
#include <cstddef>

#include "proxy/policy/replies.hpp"

namespace tlsrelay::proxy {

namespace {

// Postfix's xfer_states: one row per stage, in the enum's order.
struct StageRow {
  UpstreamStage stage;
  std::string_view name;
  std::string_view phrase;
  StageTimer timer;
  // A loss here may be replayed on a new route: the transaction is open and its envelope is
  // ours to send again. Not at MAIL (nothing is carried over yet: the session opens a route
  // for a kept connection that died while idle), not after the dot (RFC 1047), not at RSET.
  bool replayable;
};

constexpr std::array<StageRow, 6> kStages{{
    {UpstreamStage::Mail, "mail", "MAIL FROM", StageTimer::Command, false},
    {UpstreamStage::Rcpt, "rcpt", "RCPT TO", StageTimer::Command, true},
    {UpstreamStage::Data, "data", "DATA", StageTimer::Command, true},
    {UpstreamStage::Message, "message", "DATA", StageTimer::DataBlock, true},
    {UpstreamStage::EndOfData, "end-of-data", "end of DATA", StageTimer::DataDone, false},
    {UpstreamStage::Rset, "rset", "RSET", StageTimer::Command, false},
}};

const StageRow& row(UpstreamStage s) {
  const auto i = static_cast<std::size_t>(s);
  assert(i < kStages.size() && kStages[i].stage == s);
  return kStages[i];
}

// The reply that lets the transaction go on at `stage`. RFC 5321 4.3.2: 354 is DATA's only
// intermediate reply, and only to DATA; RSET is always 250 ("4.1.1.5: MUST send a 250").
// While the message is written nothing is read, so no reply is right there.
bool accepts(UpstreamStage stage, int code) {
  switch (stage) {
    case UpstreamStage::Mail:
    case UpstreamStage::Rcpt:
    case UpstreamStage::EndOfData:
      return code / 100 == 2;
    case UpstreamStage::Data:
      return code == 354;
    case UpstreamStage::Rset:
      return code == 250;
    case UpstreamStage::Message:
      return false;
  }
  assert(false && "unknown upstream stage");
  return false;
}

// The upstream may refuse these stages with its own 4xx/5xx, which our client is owed as it
// is. RSET cannot be refused (a server that does not reset is in a state we do not know),
// and the message's octets get no reply of their own.
bool refusable(UpstreamStage stage) {
  return stage != UpstreamStage::Rset && stage != UpstreamStage::Message;
}

}  // namespace

std::string_view to_string(UpstreamStage s) {
  return row(s).name;
}

std::string_view phrase(UpstreamStage s) {
  return row(s).phrase;
}

StageTimer timer(UpstreamStage s) {
  return row(s).timer;
}

std::string_view to_string(Verdict::Kind k) {
  switch (k) {
    case Verdict::Kind::Accepted:
      return "accepted";
    case Verdict::Kind::Refused:
      return "refused";
    case Verdict::Kind::Closing:
      return "closing";
    case Verdict::Kind::Unexpected:
      return "unexpected";
    case Verdict::Kind::Lost:
      return "lost";
  }
  return "?";
}

FailureClass loss_class(const UpstreamLoss& loss) {
  // Our own deadline cancels the socket, so its error is operation_aborted: the flag decides.
  if (loss.timed_out) return FailureClass::Timeout;
  if (loss.error == boost::asio::error::connection_reset ||
      loss.error == boost::asio::error::broken_pipe) {
    return FailureClass::ConnectionReset;
  }
  return FailureClass::ConnectionClosed;
}

Verdict judge(UpstreamStage stage, const UpstreamOutcome& outcome, const std::string& upstream,
              std::string_view txn) {
  const StageRow& r = row(stage);
  Verdict v;
  if (!outcome.reply) {
    v.kind = Verdict::Kind::Lost;
    v.lost = loss_class(outcome.loss);
    v.reply = with_txn(lost_upstream_reply(upstream, std::string(r.phrase), v.lost), txn);
    v.connection = Verdict::Connection::Abort;
    v.may_replay = r.replayable;
    return v;
  }
  const Reply& got = *outcome.reply;
  if (accepts(stage, got.code)) {
    v.kind = Verdict::Kind::Accepted;
    v.reply = got;
    v.connection = Verdict::Connection::Keep;
  } else if (got.code == 421) {
    // RFC 5321 3.8: the server is closing the transmission channel, whatever the stage.
    v.kind = Verdict::Kind::Closing;
    v.reply = got;
    v.connection = Verdict::Connection::Abort;
  } else if (refusable(stage) && (got.code / 100 == 4 || got.code / 100 == 5)) {
    v.kind = Verdict::Kind::Refused;
    v.reply = got;
    v.connection =
        stage == UpstreamStage::Data ? Verdict::Connection::Reset : Verdict::Connection::Keep;
  } else {
    v.kind = Verdict::Kind::Unexpected;
    v.reply = with_txn(unexpected_reply(upstream, std::string(r.phrase), got), txn);
    v.connection = Verdict::Connection::Abort;
  }
  return v;
}

}  // namespace tlsrelay::proxy
