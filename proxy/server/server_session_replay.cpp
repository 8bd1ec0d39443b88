// ServerSession, continued: carrying a transaction over to a new upstream when the one it
// was on is lost before our final dot (replay_buffer.hpp keeps the data). The client never learns
// of it, except from the TLS-Relay-Failure field the message gets; the message either
// reaches the new upstream whole, or the client gets the 4xx it would have got without a
// replay. Never after the final dot went out: then the message may have been delivered
// (RFC 1047), and a replay would send it twice.
#include <algorithm>

#include "common/text.hpp"
#include "proxy/policy/policy.hpp"
#include "proxy/policy/replies.hpp"
#include "proxy/server/command_parser.hpp"
#include "proxy/server/limits.hpp"
#include "proxy/server/server_session.hpp"

namespace tlsrelay::proxy {

namespace asio = boost::asio;

namespace {

// One replay per transaction: a second loss on a fresh connection is the route's problem,
// which the next try of the client's queue (with route health) deals with better.
constexpr int kMaxReplays = 1;
// Not worth a new route with less time than this left of the policy's deadline.
constexpr auto kMinReplayTime = std::chrono::seconds(2);
// The replay buffer goes to the new upstream in pieces this large.
constexpr std::size_t kReplayPiece = 64 * 1024;

// Sends one command; what went wrong, unless the reply is of `code_class` (2 for 2xx).
asio::awaitable<std::optional<std::string>> expect_reply(UpstreamSession& upstream,
                                                         std::string line, int code_class,
                                                         std::string what,
                                                         std::chrono::milliseconds timeout) {
  auto r = co_await upstream.command(std::move(line), timeout);
  if (!r.reply) co_return what + ": " + std::string(to_string(r.lost));
  if (r.reply->code / 100 != code_class) {
    co_return what + " answered \"" + printable(r.reply->first_line(), 200) + "\"";
  }
  co_return std::nullopt;
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

asio::awaitable<bool> ServerSession::flush_data(std::string& out, DataWriter& writer,
                                                std::size_t& content_from, bool last) {
  // After the one replay there is none to keep the data for.
  if (replays_ < kMaxReplays) {
    replay_.append(std::string_view(out).substr(std::min(content_from, out.size())));
  }
  content_from = 0;
  if (last) writer.finish();
  bool ok = co_await upstream_->write(out, config_->data_block_timeout);
  out.clear();
  if (ok) co_return true;
  // A write that failed never handed the last byte to the kernel, so the final dot (the
  // last octets) cannot have reached the upstream: a replay delivers the message once.
  const std::string stage = "DATA";
  Reply reply = lost_upstream_reply(upstream_->describe(), stage, upstream_->lost());
  if (co_await replace_upstream(stage, upstream_->lost(), reply, true)) {
    if (!last) co_return true;
    std::string dot;
    DataWriter end(dot);
    end.finish();
    ok = co_await upstream_->write(dot, config_->data_block_timeout);
    if (ok) co_return true;
    reply = lost_upstream_reply(upstream_->describe(), stage, upstream_->lost());
  }
  replay_failure_ = reply;
  co_return false;
}

asio::awaitable<bool> ServerSession::replace_upstream(const std::string& stage, FailureClass lost,
                                                      Reply& reply, bool in_data) {
  if (!upstream_) co_return false;
  const auto deadline = transaction_start_ + config_->settings.policy.deadline;
  const char* refused = nullptr;
  if (replays_ >= kMaxReplays) {
    refused = "replayed once already";
  } else if (!replay_allowed(config_->settings.policy, lost)) {
    refused = "the policy defers this class";
  } else if (in_data && !replay_.usable()) {
    refused = "no replay buffer";
  } else if (std::chrono::steady_clock::now() + kMinReplayTime > deadline) {
    refused = "the policy deadline is spent";
  }
  const std::string old = upstream_->describe();
  if (refused) {
    log_line(id_, LogFields("no-replay")
                      .add("txn", transaction_id_)
                      .add("upstream", old)
                      .add("class", to_string(lost))
                      .add("stage", stage)
                      .add("why", refused + (in_data && !replay_.usable() ? ": " + replay_.error()
                                                                          : std::string())));
    co_return false;
  }
  ++replays_;
  // The lost connection is an attempt that failed, for the message's TLS-Relay-Failure.
  FailedAttempt failed{upstream_->facts(), tls::Verdict{}};
  failed.verdict.cls = lost;
  failed.verdict.phase = Phase::Transaction;
  failed.verdict.transient = true;
  failed.verdict.detail = "lost during " + stage;
  failures_.push_back(std::move(failed));
  log_line(id_, LogFields("replay")
                    .add("txn", transaction_id_)
                    .add("upstream", old)
                    .add("class", to_string(lost))
                    .add("stage", stage)
                    .add("rcpts", accepted_rcpts_.size())
                    .add("bytes", in_data ? replay_.size() : 0));
  co_await drop_upstream(false);

  RouteRequest request{transaction_id_, fsm_.mail().requiretls, false, deadline};
  RouteResult route = co_await open_route(config_->routes, telemetry_, pool_, request);
  for (auto& f : route.failures) failures_.push_back(std::move(f));
  if (!route.session) {
    reply = replay_failed_reply(reply, "no new route: " + route.failure_reply.first_line());
    co_return false;
  }
  upstream_ = std::move(route.session);
  std::optional<std::string> why = co_await replay_envelope(in_data, deadline);
  if (why) {
    reply = replay_failed_reply(reply, upstream_->describe() + " " + *why);
    co_await drop_upstream(false);
    co_return false;
  }
  log_line(
      id_,
      LogFields("replayed").add("txn", transaction_id_).add("upstream", upstream_->describe()));
  co_return true;
}

// MAIL, every RCPT the first upstream accepted (each must be accepted again: their 2xx were
// our client's answer already), and in the data phase DATA, fresh trace headers naming the
// lost attempt, and the data so far. Returns what went wrong, if anything.
asio::awaitable<std::optional<std::string>> ServerSession::replay_envelope(
    bool in_data, std::chrono::steady_clock::time_point deadline) {
  const MailParams& mail = fsm_.mail();
  const UpstreamCaps caps = caps_from_ehlo(upstream_->facts().smtp.extensions);
  if (mail.requiretls &&
      !carries_requiretls(upstream_->facts(), caps.requiretls, upstream_->reusable())) {
    co_return std::string("does not offer REQUIRETLS with verified TLS");
  }
  // What relay_mail() refuses for, and nothing more (8BITMIME goes on regardless there).
  for (const std::string& missing : missing_extensions(mail, caps)) {
    if (missing == "SMTPUTF8" || missing == "BINARYMIME") co_return "does not offer " + missing;
  }
  std::string command = format_mail(mail, caps);
  std::string what = "MAIL FROM";
  if (auto bad = co_await expect_reply(*upstream_, std::move(command), 2, std::move(what),
                                       config_->command_timeout))
    co_return bad;
  for (const RcptParams& rcpt : accepted_rcpts_) {
    command = format_rcpt(rcpt, caps);
    what = "RCPT TO:<" + rcpt.forward_path + ">";
    if (auto bad = co_await expect_reply(*upstream_, std::move(command), 2, std::move(what),
                                         config_->command_timeout))
      co_return bad;
  }
  if (!in_data) co_return std::nullopt;
  command = "DATA";
  what = "DATA";
  if (auto bad = co_await expect_reply(*upstream_, std::move(command), 3, std::move(what),
                                       config_->command_timeout))
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
      co_return "DATA: " + std::string(to_string(upstream_->lost()));
    }
    out.clear();
  }
  co_return std::nullopt;
}

}  // namespace tlsrelay::proxy
