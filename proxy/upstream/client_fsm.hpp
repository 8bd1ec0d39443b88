// Our side of the SMTP dialogue with the upstream during a transaction (RFC 5321 4.1.1,
// 3.8): the stages (MAIL, RCPT, DATA, the message's octets, end of DATA, RSET), the phrase
// each is named by in our replies and logs, which time-out bounds it, and the one judgement
// of what the upstream answered at a stage: go on, pass its refusal on, drop a connection
// that is closing (421), take a reply that makes no sense there as a failure, or, when no
// reply came, name how the connection was lost (timeout, reset, closed) and whether a new
// route may take the transaction over (only before our final dot: RFC 1047). Opening a
// connection (greeting, EHLO, STARTTLS, AUTH) is tls/connector's, not this.
//
// No I/O: UpstreamSession reports what came back (a reply, or the raw socket error), the
// client session carries out the verdict. Pure functions on values; thread-safe.
#pragma once

#include <boost/system/error_code.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/failure_class.hpp"
#include "common/smtp_reply.hpp"

namespace tlsrelay::proxy {

enum class UpstreamStage {
  Mail,       // MAIL FROM sent; its reply awaited
  Rcpt,       // RCPT TO sent
  Data,       // DATA sent; 354 awaited
  Message,    // the message's octets are being written (no reply is read until the dot)
  EndOfData,  // our final dot went out: the reply to the message
  Rset,       // RSET: the envelope cleared before the next transaction or the pool
};
// "mail", "rcpt", "data", "message", "end-of-data", "rset".
std::string_view to_string(UpstreamStage s);
// As our replies and logs name the stage: "MAIL FROM", "RCPT TO", "DATA" (also while the
// message is written), "end of DATA", "RSET".
std::string_view phrase(UpstreamStage s);

// Which configured time-out bounds a stage's I/O: command_s, data_block_s or data_done_s.
enum class StageTimer { Command, DataBlock, DataDone };
StageTimer timer(UpstreamStage s);

// How the connection was lost, as the socket layer saw it; loss_class() says what it means.
struct UpstreamLoss {
  // None: the answer was not SMTP, or there was no connection to ask.
  boost::system::error_code error;
  bool timed_out = false;  // our deadline fired (the error is then operation_aborted)
};
// Timeout when our deadline fired; connection-reset for an RST or a write into a connection
// the peer reset (EPIPE); connection-closed for everything else (EOF, not SMTP, no connection).
FailureClass loss_class(const UpstreamLoss& loss);

// What came back at a stage: the upstream's whole reply, or how the connection was lost.
struct UpstreamOutcome {
  std::optional<Reply> reply;  // none: lost (`loss` says how)
  UpstreamLoss loss;
};

struct Verdict {
  enum class Kind {
    Accepted,    // the stage's positive reply (2xx; 354 to DATA; 250 to RSET): go on
    Refused,     // the upstream's own 4xx or 5xx (not 421): our client gets it as it is
    Closing,     // 421: our client gets it, and the upstream is closing (RFC 5321 3.8)
    Unexpected,  // a reply that makes no sense at this stage (354 to RCPT): our 451 4.5.0
    Lost,        // no reply (timeout, reset, closed): our 451 naming the class
  };
  // What becomes of the upstream connection.
  enum class Connection {
    Keep,   // it stands where it stood
    Reset,  // RSET it: DATA was refused, so it still holds this transaction's MAIL and RCPT
    Abort,  // close it at once, without QUIT: gone, closing, or in a state we do not know
  };

  Kind kind = Kind::Lost;
  Reply reply;  // what our client gets: the upstream's own reply, or ours
  Connection connection = Connection::Abort;
  FailureClass lost = FailureClass::Ok;  // Lost: how (timeout, connection-reset, -closed)
  // Lost before our final dot, in a transaction that has something to carry over (RCPT,
  // DATA, the message): a new route may replay it where the policy allows
  // (replay_bar() in policy.hpp). Never after the dot: the message may have been delivered.
  bool may_replay = false;
};
// "accepted", "refused", "closing", "unexpected", "lost".
std::string_view to_string(Verdict::Kind k);

// The upstream's answer at `stage`, judged; `upstream` names it in our replies ("gmail
// smtp.gmail.com[142.250.102.108]:587", or "the upstream" when there is no connection), and
// `txn`, the transaction id, ends them (the upstream's own replies pass unchanged).
Verdict judge(UpstreamStage stage, const UpstreamOutcome& outcome, const std::string& upstream,
              std::string_view txn = {});

}  // namespace tlsrelay::proxy
