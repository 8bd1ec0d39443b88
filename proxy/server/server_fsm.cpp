#include "proxy/server/server_fsm.hpp"

#include <cassert>

#include "proxy/policy/replies.hpp"

namespace tlsrelay::proxy {

namespace {}  // namespace

std::string_view to_string(ServerFsm::State s) {
  switch (s) {
    case ServerFsm::State::Greeting:
      return "greeting";
    case ServerFsm::State::Ready:
      return "ready";
    case ServerFsm::State::MailGiven:
      return "mail-given";
    case ServerFsm::State::RcptGiven:
      return "rcpt-given";
    case ServerFsm::State::Data:
      return "data";
    case ServerFsm::State::Chunking:
      return "chunking";
    case ServerFsm::State::Closed:
      return "closed";
  }
  return "?";
}

void ServerFsm::enter(State s) {
  state_ = s;
}

Reply ServerFsm::greeting() const {
  Reply r;
  r.code = 220;
  r.lines.push_back(opt_.hostname + " ESMTP tlsrelay");
  return r;
}

ServerFsm::Action ServerFsm::reply(int code, std::string enhanced, std::string text) {
  Action a;
  a.reply = make_reply(code, std::move(enhanced), std::move(text));
  return a;
}

// A client that keeps sending bad commands is cut off, as Postfix does after
// smtpd_hard_error_limit errors: it is broken or probing us.
ServerFsm::Action ServerFsm::error(int code, std::string enhanced, std::string text) {
  if (++errors_ >= opt_.max_errors) {
    Action a = reply(421, "4.7.0", opt_.hostname + " Error: too many errors");
    a.kind = Action::Kind::Close;
    enter(State::Closed);
    return a;
  }
  return reply(code, std::move(enhanced), std::move(text));
}

Reply ServerFsm::ehlo_reply() const {
  Reply r;
  r.code = 250;
  r.lines = {opt_.hostname, "PIPELINING", "SIZE " + std::to_string(opt_.max_message_size),
             "ENHANCEDSTATUSCODES", "8BITMIME", "SMTPUTF8", "DSN",
             // We can keep the promise: every upstream hop is verified TLS unless policy
             // allows plaintext, which a REQUIRETLS message never gets (RFC 8689 4.1).
             "REQUIRETLS",
             // BDAT is turned into lines and relayed as DATA, so BINARYMIME (content without
             // lines, RFC 3030 3) is not offered with it.
             "CHUNKING"};
  // RFC 3207 4.2: once TLS is up, STARTTLS is not offered again.
  if (opt_.starttls && !tls_active_) r.lines.emplace_back("STARTTLS");
  return r;
}

// The client's syntax errors count towards max_errors like our own refusals.
ServerFsm::Action ServerFsm::refuse(const Reply& bad) {
  Action a = error(bad.code, bad.enhanced, "");
  a.reply = bad;
  return a;
}

// One case per verb, as in Postfix's smtpd command table; the longer ones have a function.
ServerFsm::Action ServerFsm::on_command(std::string_view line) {
  assert(state_ != State::Data && state_ != State::Closed);
  auto parsed = parse_command(line);
  if (auto* bad = std::get_if<Reply>(&parsed)) return refuse(*bad);
  const Command& cmd = std::get<Command>(parsed);
  using V = Command::Verb;
  const bool in_transaction =
      state_ == State::MailGiven || state_ == State::RcptGiven || state_ == State::Chunking;

  switch (cmd.verb) {
    case V::Ehlo:
    case V::Helo:
      return on_helo(cmd, in_transaction);
    case V::Mail:
      return on_mail(cmd.arg, in_transaction);
    case V::Rcpt:
      return on_rcpt(cmd.arg, in_transaction);
    case V::Data:
      return on_data(cmd.arg);
    case V::Bdat:
      return on_bdat(cmd.arg, in_transaction);
    case V::Rset: {
      if (!cmd.arg.empty()) return error(501, "5.5.4", "Syntax: RSET");
      Action a = reply(250, "2.0.0", "Ok");
      if (in_transaction) a.kind = Action::Kind::ResetTransaction;
      mail_ = MailParams{};
      recipients_ = rcpt_commands_ = 0;
      if (state_ != State::Greeting) enter(State::Ready);
      return a;
    }
    case V::Noop:
      return reply(250, "2.0.0", "Ok");
    case V::Quit: {
      Action a = reply(221, "2.0.0", "Bye");
      a.kind = Action::Kind::Close;
      enter(State::Closed);
      return a;
    }
    case V::Vrfy:
      return reply(252, "2.5.2", "Cannot VRFY user; try RCPT to attempt delivery");
    case V::Expn:
      return error(502, "5.5.1", "Error: command not implemented");
    case V::Help:
      return reply(214, "2.0.0", "Ok, see RFC 5321");
    case V::Starttls:
      return on_starttls(cmd.arg, in_transaction);
    case V::Auth:
      return error(503, "5.5.1", "Error: authentication not enabled");
    case V::Unknown:
      return error(500, "5.5.2", "Error: command not recognized");
  }
  return error(500, "5.5.2", "Error: command not recognized");
}

ServerFsm::Action ServerFsm::on_helo(const Command& cmd, bool in_transaction) {
  auto domain = parse_ehlo(cmd.arg);
  if (auto* bad = std::get_if<Reply>(&domain)) return refuse(*bad);
  helo_ = std::get<std::string>(domain);
  esmtp_ = cmd.verb == Command::Verb::Ehlo;
  // RFC 5321 4.1.4: EHLO in a transaction resets it, like RSET.
  Action a;
  a.kind = in_transaction ? Action::Kind::ResetTransaction : Action::Kind::Reply;
  a.reply = esmtp_ ? ehlo_reply() : make_reply(250, "", opt_.hostname);
  mail_ = MailParams{};
  recipients_ = rcpt_commands_ = 0;
  enter(State::Ready);
  return a;
}

ServerFsm::Action ServerFsm::on_mail(std::string_view arg, bool in_transaction) {
  if (state_ == State::Greeting) return error(503, "5.5.1", "Error: send HELO/EHLO first");
  if (in_transaction) return error(503, "5.5.1", "Error: nested MAIL command");
  auto p = parse_mail(arg);
  if (auto* bad = std::get_if<Reply>(&p)) return refuse(*bad);
  MailParams mp = std::get<MailParams>(p);
  // Not offered (see ehlo_reply): binary content cannot be turned into the lines we
  // relay, and RFC 3030 3 forbids DATA for it.
  if (mp.body == MailParams::Body::BinaryMime) {
    return error(555, "5.5.4", "Error: BODY=BINARYMIME is not supported");
  }
  if (mp.size && *mp.size > opt_.max_message_size) {
    return error(552, "5.3.4", "Message size exceeds fixed limit");
  }
  if (!esmtp_ &&
      (mp.size || mp.smtputf8 || mp.requiretls || mp.body != MailParams::Body::Unspecified)) {
    return error(555, "5.5.4", "Error: MAIL parameters need EHLO");
  }
  Action a;
  a.kind = Action::Kind::RelayMail;
  a.mail = mp;
  mail_ = std::move(mp);
  return a;
}

ServerFsm::Action ServerFsm::on_rcpt(std::string_view arg, bool in_transaction) {
  if (!in_transaction) return error(503, "5.5.1", "Error: need MAIL command");
  if (state_ == State::Chunking) return error(503, "5.5.1", "Error: RCPT after BDAT");
  if (recipients_ >= opt_.max_recipients) {
    // RFC 5321 4.5.3.1.10: 452 "too many recipients", the client retries the rest.
    return reply(452, "4.5.3", "Error: too many recipients");
  }
  auto p = parse_rcpt(arg, mail_.smtputf8);
  if (auto* bad = std::get_if<Reply>(&p)) return refuse(*bad);
  ++rcpt_commands_;
  Action a;
  a.kind = Action::Kind::RelayRcpt;
  a.rcpt = std::get<RcptParams>(p);
  return a;
}

ServerFsm::Action ServerFsm::on_data(std::string_view arg) {
  if (!arg.empty()) return error(501, "5.5.4", "Syntax: DATA");
  // RFC 3030 2: DATA and BDAT do not mix in one transaction; the chunks stay valid.
  if (state_ == State::Chunking) return error(503, "5.5.1", "Error: DATA after BDAT");
  if (state_ == State::MailGiven) return error(554, "5.5.1", "Error: no valid recipients");
  if (state_ != State::RcptGiven) return error(503, "5.5.1", "Error: need RCPT command");
  Action a;
  a.kind = Action::Kind::RelayData;
  enter(State::Data);
  return a;
}

ServerFsm::Action ServerFsm::on_starttls(std::string_view arg, bool in_transaction) {
  if (!opt_.starttls) return error(502, "5.5.1", "Error: STARTTLS is not offered");
  if (!arg.empty()) return error(501, "5.5.4", "Syntax: STARTTLS");
  // RFC 3207 4.2: no second handshake on top of the first.
  if (tls_active_) return error(503, "5.5.1", "Error: TLS already active");
  if (state_ == State::Greeting) return error(503, "5.5.1", "Error: send EHLO first");
  if (in_transaction) return error(503, "5.5.1", "Error: MAIL transaction in progress");
  Action a = reply(220, "2.0.0", "Ready to start TLS");
  a.kind = Action::Kind::StartTls;
  return a;
}

// RFC 3030 2: the chunk's octets follow the BDAT line whatever we answer, so a BDAT we
// refuse still has its octets read and dropped; they are never taken as commands. Reading
// them is bounded by max_message_size: a chunk that would take the message past it (or a
// refused one larger than it) would have us read up to 2^64 octets to find the next
// command, so we hang up with 421 instead, before reading any (Postfix does the same). So we
// do when the size cannot be read at all.
ServerFsm::Action ServerFsm::on_bdat(std::string_view arg, bool in_transaction) {
  auto p = parse_bdat(arg);
  if (auto* bad = std::get_if<Reply>(&p)) return close_with(*bad);
  const BdatParams bdat = std::get<BdatParams>(p);
  const std::uint64_t before = state_ == State::Chunking ? bdat_announced_ : 0;
  const std::uint64_t max = opt_.max_message_size;
  if (bdat.size > max || (in_transaction && before > max - bdat.size)) {
    return close_with(too_big_closing_reply(opt_.hostname));
  }
  if (!in_transaction) return discard(bdat.size, error(503, "5.5.1", "Error: need MAIL command"));
  if (state_ == State::MailGiven) {
    return discard(bdat.size, error(554, "5.5.1", "Error: no valid recipients"));
  }
  Action a;
  a.kind = Action::Kind::RelayBdat;
  a.bdat = bdat;
  bdat_announced_ = before + bdat.size;
  enter(State::Chunking);
  return a;
}

ServerFsm::Action ServerFsm::close_with(const Reply& reply) {
  Action a;
  a.kind = Action::Kind::Close;
  a.reply = reply;
  enter(State::Closed);
  return a;
}

ServerFsm::Action ServerFsm::discard(std::uint64_t size, Action a) {
  if (a.kind == Action::Kind::Close) return a;  // too many errors: we hang up instead
  a.kind = Action::Kind::DiscardBdat;
  a.bdat.size = size;
  return a;
}

void ServerFsm::mail_done(const Reply& upstream) {
  if (upstream.code / 100 == 2) {
    recipients_ = 0;
    enter(State::MailGiven);
  } else {
    mail_ = MailParams{};
  }
}

void ServerFsm::rcpt_done(const Reply& upstream) {
  if (upstream.code / 100 == 2) {
    ++recipients_;
    enter(State::RcptGiven);
  }
}

void ServerFsm::bdat_chunk_done() {
  assert(state_ == State::Chunking);
}

void ServerFsm::tls_started() {
  assert(!tls_active_);
  tls_active_ = true;
  helo_.clear();
  esmtp_ = false;
  mail_ = MailParams{};
  recipients_ = rcpt_commands_ = 0;
  enter(State::Greeting);
}

void ServerFsm::transaction_done() {
  mail_ = MailParams{};
  recipients_ = rcpt_commands_ = 0;
  if (state_ != State::Closed) enter(State::Ready);
}

}  // namespace tlsrelay::proxy
