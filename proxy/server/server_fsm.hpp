// The client-facing ESMTP state machine (RFC 5321 4.1, 4.3.2): which command is allowed in
// which state, what we answer ourselves, and what must be relayed to the upstream in
// lockstep (MAIL, RCPT, DATA), whose replies become ours; BDAT chunks (RFC 3030) and
// STARTTLS towards our client (RFC 3207) are decided here and carried out by the session.
//
// No I/O: the session feeds command lines and the upstream's replies, and carries out the
// returned actions. Not thread-safe; one per client connection.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/smtp_reply.hpp"
#include "proxy/server/command_parser.hpp"

namespace tlsrelay::proxy {

struct ServerOptions {
  std::string hostname = "localhost";
  std::uint64_t max_message_size = 52428800;
  std::size_t max_recipients = 1000;
  std::size_t max_errors = 20;  // Postfix smtpd_hard_error_limit
  bool starttls = false;        // [proxy] tls_cert/tls_key are set: offer STARTTLS
};

class ServerFsm {
 public:
  // Chunking: a BDAT transaction whose chunks so far were accepted, waiting for the next
  // BDAT (RFC 3030 2); the chunk octets themselves are read by the session, never here.
  enum class State { Greeting, Ready, MailGiven, RcptGiven, Data, Chunking, Closed };

  struct Action {
    enum class Kind {
      Reply,             // send `reply` and go on
      Close,             // send `reply`, then close the connection
      RelayMail,         // open the upstream route and send MAIL with `mail`
      RelayRcpt,         // send RCPT with `rcpt` upstream
      RelayData,         // send DATA upstream; on 354 answer 354 and stream the message
      ResetTransaction,  // RSET upstream (if any), then send `reply`
      RelayBdat,         // read `bdat.size` octets as message data; then bdat_done()
      DiscardBdat,       // read and drop `bdat.size` octets (RFC 3030 2), then send `reply`
      StartTls,          // send `reply` (220), drop buffered input, handshake; tls_started()
    };
    Kind kind = Kind::Reply;
    Reply reply;
    MailParams mail;
    RcptParams rcpt;
    BdatParams bdat;
  };

  explicit ServerFsm(ServerOptions options) : opt_(std::move(options)) {}

  Reply greeting() const;
  Action on_command(std::string_view line);

  // Upstream results of relayed commands.
  void mail_done(const Reply& upstream);
  void rcpt_done(const Reply& upstream);
  // A BDAT chunk that was not LAST went upstream and was answered 250: await the next.
  void bdat_chunk_done();
  // The transaction ended (final reply sent, or aborted): back to Ready.
  void transaction_done();
  // The TLS handshake after our 220 succeeded: RFC 3207 4.2, the client starts afresh with
  // EHLO, and STARTTLS is neither offered nor accepted again.
  void tls_started();

  State state() const { return state_; }
  std::size_t recipients() const { return recipients_; }
  const MailParams& mail() const { return mail_; }
  const std::string& client_name() const { return helo_; }
  bool tls_active() const { return tls_active_; }

 private:
  void enter(State s);
  Action reply(int code, std::string enhanced, std::string text);
  Action error(int code, std::string enhanced, std::string text);
  Reply ehlo_reply() const;
  Action refuse(const Reply& bad);
  Action on_helo(const Command& cmd, bool in_transaction);
  Action on_mail(std::string_view arg, bool in_transaction);
  Action on_rcpt(std::string_view arg, bool in_transaction);
  Action on_data(std::string_view arg);
  Action on_starttls(std::string_view arg, bool in_transaction);
  Action on_bdat(std::string_view arg, bool in_transaction);
  Action discard(std::uint64_t size, Action a);
  Action close_with(const Reply& reply);

  ServerOptions opt_;
  State state_ = State::Greeting;
  std::string helo_;
  bool esmtp_ = false;
  MailParams mail_;
  std::size_t recipients_ = 0;
  std::size_t rcpt_commands_ = 0;
  std::size_t errors_ = 0;
  std::uint64_t bdat_announced_ = 0;  // octets of this transaction's BDAT chunks so far
  bool tls_active_ = false;
};

std::string_view to_string(ServerFsm::State s);

}  // namespace tlsrelay::proxy
