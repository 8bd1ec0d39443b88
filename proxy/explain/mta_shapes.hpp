// The shapes of the MTA log lines `tlsrelay explain` reads (issue 20), kept as data: one row
// per shape with the MTA, the programs that write it, a small pattern, the event kind, the
// direction and how its failure classes are read. The patterns come from the MTAs' own
// format strings (cited per row in mta_shapes.cpp) and from real runs.
//
// Pattern language (no regular expressions, no backtracking): literal text, and
//   {peer}   Postfix's "name[addr]" with an optional ":port" (ends at its ']')
//   {epeer}  Exim's "name [addr]" with an optional ":port" (ends at its ']')
//   {speer}  Sendmail's relay: "name", "name. [addr]", "[addr]"
//   {host}   a bare host name
//   {detail} {stage} {_}  text, up to the next literal (or the end of the message)
// A placeholder that is not self-delimiting ends at the first occurrence of the literal
// after it; the whole message must be consumed. Matching is linear in the message.
//
// Fast path: a line whose program is not an MTA's is rejected by classify_program() before
// any row is tried, and rows are tried only for their programs. Immutable data; thread-safe.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <vector>

#include "proxy/explain/log_event.hpp"

namespace tlsrelay::explain {

// Which program wrote a line, as a bit set of the rows' `programs`.
enum ProgramBits : std::uint8_t {
  kNotMta = 0,
  kPostfixClient = 1,  // postfix/smtp, postfix/lmtp (and any "postfix-xxx/" instance)
  kPostfixServer = 2,  // postfix/smtpd
  kExim = 4,           // exim, exim4 (syslog) and Exim's own mainlog
  kSendmail = 8,       // sm-mta, sendmail, sm-msp-queue
};
// postfix/tlsproxy speaks TLS for both smtp(8) and postscreen/smtpd: kPostfixClient|Server.
std::uint8_t classify_program(std::string_view program);

// How a row's failure classes are read from what it captured.
enum class Reading : std::uint8_t {
  Fixed,           // the row's own candidates
  Reason,          // openssl_reasons.hpp on {detail}; the row's candidates when none match
  ConnectErrno,    // connect(2)'s words: refused, timed out, unreachable (required)
  Dns,             // resolver words: "Host not found" vs "try again"
  LostStage,       // lost connection while/after {stage}
  TimeoutStage,    // timed out while/after {stage}
  SmtpReply,       // "host X said: 454 ... (in reply to STARTTLS command)"
  RefusedToTalk,   // "host X refused to talk to me: 554 ...": greeting, EHLO 421 or HELO
  Pipelining,      // smtpd's "improper command pipelining": a ClientHello's bytes, or none
  SendmailVerify,  // verify=OK|FAIL|NO|NONE|NOT|SOFTWARE|PROTOCOL|TEMP
  SendmailArg1,    // ruleset=tls_server, arg1=SOFTWARE|FAIL|NO|...
  PostfixStatus,   // QUEUEID: to=<..>, relay=.., status=deferred (reason)
  EximDelivery,    // MSGID == / ** / => / -> addr ... H=host [addr]: reason
  SendmailStatus,  // QID: to=.., relay=.., stat=Deferred: reason
  None,            // no classes (retry time not reached, ...)
};

// How a row takes part in the per-pid correlation of LogReader.
enum class Correlate : std::uint8_t {
  None,
  Opens,      // "SSL_connect error to ...: -1": the library's reasons follow on the next lines
  Continues,  // "warning: TLS library problem: ...": a reason for the pid's open event
};

struct Shape {
  std::string_view id;  // "postfix-ssl-connect-error": names the row in tests and docs
  Mta mta;
  std::uint8_t programs;  // ProgramBits
  std::string_view pattern;
  EventKind kind;
  Direction direction;
  Reading reading;
  std::initializer_list<FailureClass> candidates;
  std::string_view stage;  // fixed stage, unless {stage} captures one
  Correlate correlate = Correlate::None;
  bool reason_only = false;  // only inside a status line's reason, never a line of its own
  bool in_reason = false;    // also tried inside a status line's reason
  // The line sums up, in coarser words, an attempt that an earlier line of it described
  // (smtpd's "lost connection after STARTTLS" after "SSL_accept error"): see route_book.hpp.
  bool sums_up = false;
};

const Shape* shapes_begin();
const Shape* shapes_end();

// What one message said, as views into it (or into static text).
struct Recognised {
  const Shape* shape = nullptr;
  EventKind kind = EventKind::TlsFailure;
  Direction direction = Direction::Outbound;
  std::string_view host, address, queue_id, stage, detail;
  std::uint16_t port = 0;
  std::vector<FailureClass> candidates;
};

// Tries the rows of `programs` on `message` (the text after "program[pid]: ").
bool recognise(std::uint8_t programs, std::string_view message, Recognised& out);

// The candidates a reason text (OpenSSL's, a verify string, ...) can mean; empty if none.
std::vector<FailureClass> reason_candidates(std::string_view detail);

}  // namespace tlsrelay::explain
