// ServerSession, the upstream side of the envelope: MAIL (opening the route), RCPT and DATA
// relayed in lockstep, the reply to our final dot, and the upstream connection's life
// between transactions (kept, reset, pooled, let go). Every answer of the upstream is
// judged by client_fsm's judge(); the code here carries the verdict out.
#include <cassert>

#include "proxy/policy/policy.hpp"
#include "proxy/policy/replies.hpp"
#include "proxy/server/server_session.hpp"

namespace tlsrelay::proxy {

namespace asio = boost::asio;

std::chrono::milliseconds ServerSession::stage_timeout(UpstreamStage stage) const {
  switch (timer(stage)) {
    case StageTimer::Command:
      return config_->command_timeout;
    case StageTimer::DataBlock:
      return config_->data_block_timeout;
    case StageTimer::DataDone:
      return config_->data_done_timeout;
  }
  assert(false && "unknown stage timer");
  return config_->command_timeout;
}

// What the message needs that this upstream lacks, so that it is refused rather than relayed
// without it: REQUIRETLS over verified TLS (RFC 8689 4.2.1), SMTPUTF8 (RFC 6531 3.4),
// BINARYMIME (RFC 3030 3). 8BITMIME goes on regardless. The same for a replay.
std::optional<std::string> ServerSession::upstream_lacks(const MailParams& mail) const {
  const UpstreamCaps caps = caps_from_ehlo(upstream_->facts().smtp.extensions);
  if (mail.requiretls &&
      !carries_requiretls(upstream_->facts(), caps.requiretls, upstream_->reusable())) {
    return std::string("REQUIRETLS");
  }
  for (const std::string& missing : missing_extensions(mail, caps)) {
    if (missing == "SMTPUTF8" || missing == "BINARYMIME") return missing;
  }
  return std::nullopt;
}

asio::awaitable<bool> ServerSession::relay_mail(const MailParams& mail) {
  transaction_id_ = id_ + "." + std::to_string(++transactions_);
  transaction_start_ = std::chrono::steady_clock::now();
  failures_.clear();
  accepted_rcpts_.clear();
  replay_.clear();
  replays_ = 0;
  co_await keep_upstream_only_if_reusable();
  // A reload since the last transaction: this one runs under the new configuration.
  config_ = current_config_.get();
  // Round 2 only when a reused connection (kept from this session's last transaction, or
  // from the pool) turned out dead at MAIL: that is not the message's failure, so open a
  // fresh route transparently.
  Verdict verdict;
  for (int round = 1; round <= 2; ++round) {
    bool reused = upstream_ != nullptr;
    if (!upstream_) {
      const RouteRequest request{transaction_id_, mail.requiretls, round == 1};
      RouteResult route = co_await open_route(config_->routes, telemetry_, pool_, request);
      for (auto& f : route.failures) failures_.push_back(std::move(f));
      if (!route.session) {
        log_transaction(route.failure_reply, 0);
        fsm_.mail_done(route.failure_reply);
        co_return co_await send(route.failure_reply);
      }
      upstream_ = std::move(route.session);
      reused = route.pooled;
    }
    if (const auto lacking = upstream_lacks(mail)) {
      const Reply refused = with_txn(*lacking == "REQUIRETLS"
                                         ? requiretls_reply(upstream_->describe())
                                         : extension_missing_reply(upstream_->describe(), *lacking),
                                     transaction_id_);
      log_transaction(refused, 0);
      fsm_.mail_done(refused);
      co_return co_await send(refused);
    }
    std::string command = format_mail(mail, caps_from_ehlo(upstream_->facts().smtp.extensions));
    const UpstreamOutcome r =
        co_await upstream_->command(std::move(command), stage_timeout(UpstreamStage::Mail));
    verdict = judge(UpstreamStage::Mail, r, upstream_->describe(), transaction_id_);
    // A server that timed out the idle connection may have said 421 before closing it.
    if (reused && round == 1 &&
        (verdict.kind == Verdict::Kind::Lost || verdict.kind == Verdict::Kind::Closing)) {
      log_line(id_, LogFields("reused-upstream-lost")
                        .add("upstream", upstream_->describe())
                        .add("action", "reconnect"));
      co_await abort_upstream();
      continue;
    }
    break;
  }
  co_await carry_out(verdict);
  if (verdict.kind != Verdict::Kind::Accepted) log_transaction(verdict.reply, 0);
  fsm_.mail_done(verdict.reply);
  co_return co_await send(verdict.reply);
}

asio::awaitable<bool> ServerSession::relay_rcpt(const RcptParams& rcpt) {
  const UpstreamOutcome none;
  Verdict verdict;
  for (;;) {
    // The upstream died at an earlier RCPT: this one is answered as lost too.
    if (!upstream_) {
      verdict = judge(UpstreamStage::Rcpt, none, "the upstream", transaction_id_);
      break;
    }
    std::string command = format_rcpt(rcpt, caps_from_ehlo(upstream_->facts().smtp.extensions));
    const UpstreamOutcome r =
        co_await upstream_->command(std::move(command), stage_timeout(UpstreamStage::Rcpt));
    verdict = judge(UpstreamStage::Rcpt, r, upstream_->describe(), transaction_id_);
    if (verdict.kind == Verdict::Kind::Lost && verdict.may_replay) {
      const auto failed = co_await replace_upstream(verdict, UpstreamStage::Rcpt);
      if (!failed) continue;  // this RCPT again, on the new upstream
      verdict.reply = *failed;
    }
    break;
  }
  co_await carry_out(verdict);
  if (verdict.kind == Verdict::Kind::Accepted) accepted_rcpts_.push_back(rcpt);
  fsm_.rcpt_done(verdict.reply);
  co_return co_await send(verdict.reply);
}

asio::awaitable<std::optional<Reply>> ServerSession::open_upstream_data() {
  // Without an upstream (it died after RCPT) the client still gets a reply, and no 354:
  // nothing is read as message data that we could not deliver.
  if (!upstream_) {
    const UpstreamOutcome none;
    co_return judge(UpstreamStage::Data, none, "the upstream", transaction_id_).reply;
  }
  std::string data_command = "DATA";
  UpstreamOutcome r =
      co_await upstream_->command(std::move(data_command), stage_timeout(UpstreamStage::Data));
  Verdict verdict = judge(UpstreamStage::Data, r, upstream_->describe(), transaction_id_);
  // Lost: a new upstream gets the envelope again, and DATA once more (no second replay).
  if (verdict.kind == Verdict::Kind::Lost && verdict.may_replay) {
    if (auto failed = co_await replace_upstream(verdict, UpstreamStage::Data)) co_return failed;
    data_command = "DATA";
    r = co_await upstream_->command(std::move(data_command), stage_timeout(UpstreamStage::Data));
    verdict = judge(UpstreamStage::Data, r, upstream_->describe(), transaction_id_);
  }
  // Refused: the upstream still holds MAIL and RCPT, which the RSET clears.
  co_await carry_out(verdict);
  if (verdict.kind == Verdict::Kind::Accepted) co_return std::nullopt;
  co_return verdict.reply;
}

asio::awaitable<Reply> ServerSession::upstream_final_reply() {
  const UpstreamOutcome r = co_await upstream_->reply(stage_timeout(UpstreamStage::EndOfData));
  const Verdict verdict =
      judge(UpstreamStage::EndOfData, r, upstream_->describe(), transaction_id_);
  co_await carry_out(verdict);
  co_return verdict.reply;
}

asio::awaitable<void> ServerSession::carry_out(const Verdict& verdict) {
  switch (verdict.connection) {
    case Verdict::Connection::Keep:
      co_return;
    case Verdict::Connection::Reset:
      co_await reset_upstream();
      co_return;
    case Verdict::Connection::Abort:
      co_await abort_upstream();
      co_return;
  }
}

asio::awaitable<void> ServerSession::abort_upstream() {
  if (!upstream_) co_return;
  co_await upstream_->abort();
  upstream_.reset();
}

asio::awaitable<void> ServerSession::quit_upstream() {
  if (!upstream_) co_return;
  co_await upstream_->quit();
  upstream_.reset();
}

asio::awaitable<void> ServerSession::reset_upstream() {
  if (!upstream_) co_return;
  std::string rset = "RSET";
  const UpstreamOutcome r =
      co_await upstream_->command(std::move(rset), stage_timeout(UpstreamStage::Rset));
  const Verdict verdict = judge(UpstreamStage::Rset, r, upstream_->describe(), transaction_id_);
  assert(verdict.connection != Verdict::Connection::Reset);  // no RSET answers RSET
  co_await carry_out(verdict);
}

// Between transactions the session keeps only a connection the next message may take as it
// is: alive, opened with the upstream's normal profile under the configuration in force
// now (not one a reload replaced), and young enough. A compat or
// plaintext fallback was the policy's answer for one message under that message's own
// requirements (a REQUIRETLS message never gets one); the next message gets its own route.
// The age limit is the pool's, so that a long client session does not keep a certificate
// unchecked (upstream_pool.hpp).
asio::awaitable<void> ServerSession::keep_upstream_only_if_reusable() {
  if (!upstream_) co_return;
  if (upstream_->broken()) {
    co_await abort_upstream();
  } else if (!upstream_->reusable() ||
             upstream_->config_generation() != current_config_.get()->generation ||
             std::chrono::steady_clock::now() - upstream_->opened_at() >=
                 config_->settings.proxy.reuse_time_limit) {
    pool_.retire(std::move(upstream_));  // QUIT in the background
  }
}

asio::awaitable<void> ServerSession::release_upstream() {
  if (!upstream_) co_return;
  // Whatever the client left half done (MAIL, RCPT) is cleared before anybody reuses it;
  // a connection that does not answer RSET with 250 is not clean and is closed.
  if (!upstream_->broken() && upstream_->reusable()) {
    std::string rset = "RSET";
    const UpstreamOutcome r =
        co_await upstream_->command(std::move(rset), stage_timeout(UpstreamStage::Rset));
    if (judge(UpstreamStage::Rset, r, upstream_->describe(), transaction_id_).kind ==
        Verdict::Kind::Accepted) {
      pool_.give(std::move(upstream_), config_->routes);
      co_return;
    }
  }
  // The session ends: a connection still alive is let go politely.
  if (upstream_->broken()) {
    co_await abort_upstream();
  } else {
    co_await quit_upstream();
  }
}

}  // namespace tlsrelay::proxy
