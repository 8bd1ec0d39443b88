// ServerSession, continued: carrying a transaction over to a new upstream when the one it
// was on is lost before our final dot (replay_buffer.hpp keeps the data; whether to try is
// the policy's replay_bar()). The client never learns of it, except from the
// TLS-Relay-Failure field the message gets; the message either reaches the new upstream
// whole, or the client gets the 4xx it would have got without a replay. Never after the
// final dot went out: then the message may have been delivered (RFC 1047), and a replay
// would send it twice.
#include <algorithm>

#include "common/text.hpp"
#include "proxy/policy/policy.hpp"
#include "proxy/policy/replies.hpp"
#include "proxy/server/server_session.hpp"

namespace tlsrelay::proxy {

namespace asio = boost::asio;

namespace {

// The replay buffer goes to the new upstream in pieces this large.
constexpr std::size_t kReplayPiece = 64 * 1024;

// One command of the replay; what went wrong, unless the upstream accepted it. `what` names
// the command in the reason ("RCPT TO:<b@example.com>").
asio::awaitable<std::optional<std::string>> replay_step(UpstreamSession& upstream, std::string line,
                                                        UpstreamStage stage,
                                                        const std::string& what,
                                                        std::chrono::milliseconds timeout) {
  const UpstreamOutcome r = co_await upstream.command(std::move(line), timeout);
  const Verdict verdict = judge(stage, r, upstream.describe());
  if (verdict.kind == Verdict::Kind::Accepted) co_return std::nullopt;
  if (!r.reply) co_return what + ": " + std::string(to_string(verdict.lost));
  co_return what + " answered \"" + printable(r.reply->first_line(), 200) + "\"";
}

// A phase's time-out, cut to what is left of the replay's deadline: the whole replay is
// bounded by [policy] deadline_s, not by a command_s per command.
std::chrono::milliseconds within(std::chrono::steady_clock::time_point deadline,
                                 std::chrono::milliseconds timeout) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return std::clamp(left, std::chrono::milliseconds(1), timeout);
}

}  // namespace

asio::awaitable<std::optional<Reply>> ServerSession::replace_upstream(const Verdict& lost,
                                                                      UpstreamStage stage) {
  if (!upstream_) co_return lost.reply;
  const bool in_data = stage == UpstreamStage::Message;
  const std::string phase(phrase(stage));
  const auto deadline = transaction_start_ + config_->settings.policy.deadline;
  const LostTransaction facts{
      lost.lost, replays_, in_data, replay_.usable(), std::chrono::steady_clock::now(), deadline};
  const ReplayBar bar = replay_bar(config_->settings.policy, facts);
  const std::string old = upstream_->describe();
  if (bar != ReplayBar::None) {
    log_line(id_, LogFields("no-replay")
                      .add("txn", transaction_id_)
                      .add("upstream", old)
                      .add("class", to_string(lost.lost))
                      .add("stage", phase)
                      .add("why", std::string(to_string(bar)) + (in_data && !replay_.usable()
                                                                     ? ": " + replay_.error()
                                                                     : std::string())));
    co_await abort_upstream();
    co_return lost.reply;
  }
  ++replays_;
  // The lost connection is an attempt that failed, for the message's TLS-Relay-Failure.
  FailedAttempt failed{upstream_->facts(), tls::Verdict{}};
  failed.verdict.cls = lost.lost;
  failed.verdict.phase = Phase::Transaction;
  failed.verdict.transient = true;
  failed.verdict.detail = "lost during " + phase;
  failures_.push_back(std::move(failed));
  log_line(id_, LogFields("replay")
                    .add("txn", transaction_id_)
                    .add("upstream", old)
                    .add("class", to_string(lost.lost))
                    .add("stage", phase)
                    .add("rcpts", accepted_rcpts_.size())
                    .add("bytes", in_data ? replay_.size() : 0));
  co_await abort_upstream();

  RouteRequest request{transaction_id_, fsm_.mail().requiretls, false, deadline};
  RouteResult route = co_await open_route(config_->routes, telemetry_, pool_, request);
  for (auto& f : route.failures) failures_.push_back(std::move(f));
  if (!route.session) {
    co_return replay_failed_reply(lost.reply, "no new route: " + route.failure_reply.first_line());
  }
  upstream_ = std::move(route.session);
  const std::optional<std::string> why = co_await replay_envelope(in_data, deadline);
  if (why) {
    const Reply failed_reply = replay_failed_reply(lost.reply, upstream_->describe() + " " + *why);
    co_await abort_upstream();
    co_return failed_reply;
  }
  log_line(
      id_,
      LogFields("replayed").add("txn", transaction_id_).add("upstream", upstream_->describe()));
  co_return std::nullopt;
}

// MAIL, every RCPT the first upstream accepted (each must be accepted again: their 2xx were
// our client's answer already), and in the data phase DATA, fresh trace headers naming the
// lost attempt, and the data so far. Returns what went wrong, if anything.
asio::awaitable<std::optional<std::string>> ServerSession::replay_envelope(
    bool in_data, std::chrono::steady_clock::time_point deadline) {
  const MailParams& mail = fsm_.mail();
  // What relay_mail() refuses for, and nothing more (8BITMIME goes on regardless there).
  if (const auto lacking = upstream_lacks(mail)) {
    co_return *lacking == "REQUIRETLS" ? std::string("does not offer REQUIRETLS with verified TLS")
                                       : "does not offer " + *lacking;
  }
  const UpstreamCaps caps = caps_from_ehlo(upstream_->facts().smtp.extensions);
  std::string command = format_mail(mail, caps);
  std::string what = "MAIL FROM";
  if (auto bad = co_await replay_step(*upstream_, std::move(command), UpstreamStage::Mail, what,
                                      stage_timeout(UpstreamStage::Mail)))
    co_return bad;
  for (const RcptParams& rcpt : accepted_rcpts_) {
    command = format_rcpt(rcpt, caps);
    what = "RCPT TO:<" + rcpt.forward_path + ">";
    if (auto bad = co_await replay_step(*upstream_, std::move(command), UpstreamStage::Rcpt, what,
                                        stage_timeout(UpstreamStage::Rcpt)))
      co_return bad;
  }
  if (!in_data) co_return std::nullopt;
  command = "DATA";
  what = "DATA";
  if (auto bad = co_await replay_step(*upstream_, std::move(command), UpstreamStage::Data, what,
                                      stage_timeout(UpstreamStage::Data)))
    co_return bad;
  std::string out;
  DataWriter headers(out);
  write_trace_headers(headers);
  for (std::uint64_t sent = 0; out.size() > 0 || sent < replay_.size();) {
    std::string piece = replay_.read(sent, kReplayPiece);
    if (piece.empty() && sent < replay_.size()) co_return "replay buffer: " + replay_.error();
    sent += piece.size();
    out += piece;
    if (!co_await upstream_->write(out, within(deadline, config_->data_block_timeout))) {
      co_return "DATA: " + std::string(to_string(loss_class(upstream_->loss())));
    }
    out.clear();
  }
  co_return std::nullopt;
}

}  // namespace tlsrelay::proxy
