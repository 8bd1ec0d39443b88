// The client-facing ESMTP state machine (RFC 5321 4.1, 4.3.2): which command is allowed in
// which state, what we answer ourselves, and what must be relayed to the upstream in
// lockstep (MAIL, RCPT, DATA), whose replies become ours.
//
// No I/O: the session feeds command lines and the upstream's replies, and carries out the
// returned actions. Not thread-safe; one per client connection.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/command_parser.hpp"
#include "tls/smtp_reply.hpp"

namespace tlsrelay::proxy {

using tls::Reply;

struct ServerOptions {
  std::string hostname = "localhost";
  std::uint64_t max_message_size = 52428800;
  std::size_t max_recipients = 1000;
  std::size_t max_errors = 20;  // Postfix smtpd_hard_error_limit
};

class ServerFsm {
 public:
  enum class State { Greeting, Ready, MailGiven, RcptGiven, Data, Closed };

  struct Action {
    enum class Kind {
      Reply,             // send `reply` and go on
      Close,             // send `reply`, then close the connection
      RelayMail,         // open the upstream route and send MAIL with `mail`
      RelayRcpt,         // send RCPT with `rcpt` upstream
      RelayData,         // send DATA upstream; on 354 answer 354 and stream the message
      ResetTransaction,  // RSET upstream (if any), then send `reply`
    };
    Kind kind = Kind::Reply;
    Reply reply;
    MailParams mail;
    RcptParams rcpt;
  };

  explicit ServerFsm(ServerOptions options) : opt_(std::move(options)) {}

  Reply greeting() const;
  Action on_command(std::string_view line);

  // Upstream results of relayed commands.
  void mail_done(const Reply& upstream);
  void rcpt_done(const Reply& upstream);
  // The transaction ended (final reply sent, or aborted): back to Ready.
  void transaction_done();

  State state() const { return state_; }
  std::size_t recipients() const { return recipients_; }
  const MailParams& mail() const { return mail_; }
  const std::string& client_name() const { return helo_; }

 private:
  void enter(State s);
  Action reply(int code, std::string enhanced, std::string text);
  Action error(int code, std::string enhanced, std::string text);
  Reply ehlo_reply() const;

  ServerOptions opt_;
  State state_ = State::Greeting;
  std::string helo_;
  bool esmtp_ = false;
  MailParams mail_;
  std::size_t recipients_ = 0;
  std::size_t rcpt_commands_ = 0;
  std::size_t errors_ = 0;
};

std::string_view to_string(ServerFsm::State s);

}  // namespace tlsrelay::proxy
